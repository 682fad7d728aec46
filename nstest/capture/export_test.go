package capture

// Decode decodes data as a captured frame of the given link type, for the
// fuzz test.
func Decode(data []byte, lt LinkType) Packet {
	p := Packet{Data: data, Length: len(data)}
	p.decode(lt)
	return p
}
