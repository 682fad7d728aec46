package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// LinkType is a pcap link-layer header type (a LINKTYPE_ value).
type LinkType uint32

// Link types of the interfaces a capture may be opened on.
const (
	LinkTypeEthernet LinkType = 1   // LINKTYPE_ETHERNET: veth, bridges, loopback, tap
	LinkTypeRaw      LinkType = 101 // LINKTYPE_RAW: IPv4 or IPv6 with no link header (tun)
)

// Magic numbers of classic pcap files.
const (
	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d
)

// Writer writes a classic pcap stream: a 24-byte file header, then one
// record per packet. It writes the nanosecond-resolution variant (magic
// 0xa1b23c4d), which tcpdump, tshark and Wireshark read; timestamps keep the
// kernel's full precision. Writer is not safe for concurrent use.
type Writer struct {
	w        io.Writer
	snaplen  uint32
	linkType LinkType
	header   bool
	buf      [16]byte
}

// NewWriter returns a Writer that writes packets to w. The file header,
// naming snaplen and linkType, is written with the first packet or by Flush.
func NewWriter(w io.Writer, snaplen int, linkType LinkType) *Writer {
	if snaplen <= 0 {
		snaplen = DefaultSnapLen
	}
	return &Writer{w: w, snaplen: uint32(snaplen), linkType: linkType}
}

func (w *Writer) writeHeader() error {
	if w.header {
		return nil
	}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:4], magicNano)
	binary.LittleEndian.PutUint16(h[4:6], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:8], 4)
	// h[8:16]: thiszone and sigfigs, always zero.
	binary.LittleEndian.PutUint32(h[16:20], w.snaplen)
	binary.LittleEndian.PutUint32(h[20:24], uint32(w.linkType))
	if _, err := w.w.Write(h[:]); err != nil {
		return fmt.Errorf("capture: write pcap header: %w", err)
	}
	w.header = true
	return nil
}

// WriteHeader writes the file header if no packet has been written yet, so
// that a capture with no packets still makes a valid, empty pcap file.
func (w *Writer) WriteHeader() error { return w.writeHeader() }

// WritePacket writes one record: data (cut to the snap length) captured at
// ts, from a frame that was origLen bytes long on the wire. An origLen
// smaller than len(data) is taken as len(data).
func (w *Writer) WritePacket(ts time.Time, data []byte, origLen int) error {
	if err := w.writeHeader(); err != nil {
		return err
	}
	if len(data) > int(w.snaplen) {
		data = data[:w.snaplen]
	}
	origLen = max(origLen, len(data))
	ns := ts.UnixNano()
	binary.LittleEndian.PutUint32(w.buf[0:4], uint32(ns/1e9))
	binary.LittleEndian.PutUint32(w.buf[4:8], uint32(ns%1e9))
	binary.LittleEndian.PutUint32(w.buf[8:12], uint32(len(data)))
	binary.LittleEndian.PutUint32(w.buf[12:16], uint32(origLen))
	if _, err := w.w.Write(w.buf[:]); err != nil {
		return fmt.Errorf("capture: write pcap record: %w", err)
	}
	if _, err := w.w.Write(data); err != nil {
		return fmt.Errorf("capture: write pcap record: %w", err)
	}
	return nil
}

// WritePackets writes packets in pcap format to w, with the file header.
func WritePackets(w io.Writer, snaplen int, linkType LinkType, pkts []Packet) error {
	bw := bufio.NewWriter(w)
	pw := NewWriter(bw, snaplen, linkType)
	if err := pw.WriteHeader(); err != nil {
		return err
	}
	for i := range pkts {
		if err := pw.WritePacket(pkts[i].Time, pkts[i].Data, pkts[i].Length); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("capture: write pcap: %w", err)
	}
	return nil
}

// ReadPcap reads a classic pcap stream (either byte order, microsecond or
// nanosecond timestamps) with Ethernet or raw IP link type and decodes every
// record. Packets read back have no direction or interface.
func ReadPcap(r io.Reader) ([]Packet, LinkType, error) {
	br := bufio.NewReader(r)
	var h [24]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, 0, fmt.Errorf("capture: read pcap header: %w", err)
	}
	var order binary.ByteOrder = binary.LittleEndian
	nano := false
	switch binary.LittleEndian.Uint32(h[0:4]) {
	case magicMicro:
	case magicNano:
		nano = true
	default:
		order = binary.BigEndian
		switch binary.BigEndian.Uint32(h[0:4]) {
		case magicMicro:
		case magicNano:
			nano = true
		default:
			return nil, 0, fmt.Errorf("capture: read pcap: bad magic %#08x", binary.LittleEndian.Uint32(h[0:4]))
		}
	}
	linkType := LinkType(order.Uint32(h[20:24]) & 0x0fffffff)
	if linkType != LinkTypeEthernet && linkType != LinkTypeRaw {
		return nil, linkType, fmt.Errorf("capture: read pcap: link type %d not supported", linkType)
	}
	var pkts []Packet
	var rec [16]byte
	for {
		if _, err := io.ReadFull(br, rec[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return pkts, linkType, nil
			}
			return pkts, linkType, fmt.Errorf("capture: read pcap record %d: %w", len(pkts)+1, err)
		}
		sec, frac := int64(order.Uint32(rec[0:4])), int64(order.Uint32(rec[4:8]))
		if !nano {
			frac *= 1000
		}
		n := order.Uint32(rec[8:12])
		if n > 1<<26 {
			return pkts, linkType, fmt.Errorf("capture: read pcap record %d: length %d too large", len(pkts)+1, n)
		}
		p := Packet{Time: time.Unix(sec, frac), Length: int(order.Uint32(rec[12:16]))}
		var err error
		if p.Data, err = readN(br, int(n)); err != nil {
			return pkts, linkType, fmt.Errorf("capture: read pcap record %d: %w", len(pkts)+1, err)
		}
		p.decode(linkType)
		pkts = append(pkts, p)
	}
}

// ReadFile reads the pcap file at path with ReadPcap, or the pcapng file
// with ReadPcapng; for a pcapng file the link type returned is that of the
// first packet's interface.
func ReadFile(path string) ([]Packet, LinkType, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("capture: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if magic, _ := br.Peek(4); len(magic) == 4 && binary.LittleEndian.Uint32(magic) == blockSHB {
		return readPcapng(br)
	}
	return ReadPcap(br)
}

// readN reads n bytes. A large n is not trusted up front: the buffer grows
// as the bytes arrive, so that a corrupt length in a short file costs no
// more memory than the file.
func readN(r io.Reader, n int) ([]byte, error) {
	if n <= 64<<10 {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	var buf bytes.Buffer
	if m, err := io.CopyN(&buf, r, int64(n)); m < int64(n) {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
}
