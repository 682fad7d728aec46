// Package inet holds small pieces of Internet protocol arithmetic shared by
// the pinger and the assertions' prober.
package inet

// Checksum is the Internet checksum of b (RFC 1071), as ICMP uses it.
func Checksum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
