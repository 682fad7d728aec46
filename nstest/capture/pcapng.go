package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"strings"
	"time"
)

// pcapng block types and option codes (draft-ietf-opsawg-pcapng).
const (
	blockSHB = 0x0a0d0d0a // section header
	blockIDB = 0x00000001 // interface description
	blockEPB = 0x00000006 // enhanced packet

	byteOrderMagic = 0x1a2b3c4d

	optEnd      = 0
	optComment  = 1
	shbUserAppl = 4
	ifName      = 2
	ifDesc      = 3
	ifTsresol   = 9
	epbFlags    = 2

	// epb_flags bits 0-1: the packet's direction.
	epbInbound  = 1
	epbOutbound = 2

	// pcapngMaxBlock bounds a block read from a file, so that a corrupt
	// length cannot make ReadPcapng allocate gigabytes.
	pcapngMaxBlock = 1 << 26
)

// PcapngInterface describes one interface of a pcapng file: its Interface
// Description Block.
type PcapngInterface struct {
	Name        string   // if_name, e.g. "ns1:eth0"
	Description string   // if_description, free text; omitted when empty
	Comment     string   // opt_comment, free text; omitted when empty
	LinkType    LinkType // link type of the interface's packets
	SnapLen     int      // bytes kept of each packet; 0 means DefaultSnapLen
}

// PcapngWriter writes a pcapng stream: one section header, then interface
// descriptions and packets, each packet naming its interface. Timestamps are
// written at nanosecond resolution (if_tsresol 9) and each packet's
// direction as its epb_flags option. tshark and Wireshark show the interface
// names; tcpdump (libpcap) reads the file only when all interfaces share one
// link type and one snap length. PcapngWriter is not safe for concurrent use.
type PcapngWriter struct {
	w       io.Writer
	header  bool
	snaplen []uint32 // per interface, indexed by interface ID
	buf     []byte
}

// NewPcapngWriter returns a PcapngWriter that writes to w. The section
// header is written with the first interface, or by WriteHeader.
func NewPcapngWriter(w io.Writer) *PcapngWriter { return &PcapngWriter{w: w} }

// WriteHeader writes the section header if nothing has been written yet,
// so that a stream with no interface is still a valid pcapng file.
func (w *PcapngWriter) WriteHeader() error {
	if w.header {
		return nil
	}
	b := w.block(blockSHB)
	b = binary.LittleEndian.AppendUint32(b, byteOrderMagic)
	b = binary.LittleEndian.AppendUint16(b, 1) // version 1.0
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0)) // section length not given
	b = appendOption(b, shbUserAppl, []byte("nstest/capture"))
	b = appendOption(b, optEnd, nil)
	if err := w.flushBlock(b); err != nil {
		return fmt.Errorf("capture: write pcapng section header: %w", err)
	}
	w.header = true
	return nil
}

// AddInterface writes the description of one more interface and returns
// its ID, which WritePacket takes. IDs count from 0 in the order interfaces
// are added.
func (w *PcapngWriter) AddInterface(ifc PcapngInterface) (int, error) {
	if ifc.SnapLen < 0 {
		return 0, fmt.Errorf("capture: pcapng interface %q: snap length %d: must not be negative", ifc.Name, ifc.SnapLen)
	}
	if ifc.LinkType > 0xffff {
		return 0, fmt.Errorf("capture: pcapng interface %q: link type %d: does not fit in 16 bits", ifc.Name, ifc.LinkType)
	}
	if err := w.WriteHeader(); err != nil {
		return 0, err
	}
	snaplen := uint32(ifc.SnapLen)
	if snaplen == 0 {
		snaplen = DefaultSnapLen
	}
	b := w.block(blockIDB)
	b = binary.LittleEndian.AppendUint16(b, uint16(ifc.LinkType))
	b = binary.LittleEndian.AppendUint16(b, 0) // reserved
	b = binary.LittleEndian.AppendUint32(b, snaplen)
	if ifc.Name != "" {
		b = appendOption(b, ifName, []byte(ifc.Name))
	}
	if ifc.Description != "" {
		b = appendOption(b, ifDesc, []byte(ifc.Description))
	}
	if ifc.Comment != "" {
		b = appendOption(b, optComment, []byte(ifc.Comment))
	}
	b = appendOption(b, ifTsresol, []byte{9}) // nanoseconds
	b = appendOption(b, optEnd, nil)
	if err := w.flushBlock(b); err != nil {
		return 0, fmt.Errorf("capture: write pcapng interface %q: %w", ifc.Name, err)
	}
	w.snaplen = append(w.snaplen, snaplen)
	return len(w.snaplen) - 1, nil
}

// WritePacket writes p as captured on interface id (from AddInterface): its
// time, length on the wire, data cut to the interface's snap length, and
// direction (inbound, or outbound when p.Outgoing).
func (w *PcapngWriter) WritePacket(id int, p *Packet) error {
	if id < 0 || id >= len(w.snaplen) {
		return fmt.Errorf("capture: write pcapng packet: interface ID %d: %d interfaces added", id, len(w.snaplen))
	}
	data := p.Data
	if len(data) > int(w.snaplen[id]) {
		data = data[:w.snaplen[id]]
	}
	var ts uint64
	if t := p.Time; t.After(time.Unix(0, 0)) {
		ts = uint64(t.UnixNano())
	}
	flags := uint32(epbInbound)
	if p.Outgoing {
		flags = epbOutbound
	}
	b := w.block(blockEPB)
	b = binary.LittleEndian.AppendUint32(b, uint32(id))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(max(p.Length, len(data))))
	b = appendPadded(b, data)
	b = appendOption(b, epbFlags, binary.LittleEndian.AppendUint32(nil, flags))
	b = appendOption(b, optEnd, nil)
	if err := w.flushBlock(b); err != nil {
		return fmt.Errorf("capture: write pcapng packet: %w", err)
	}
	return nil
}

// block starts a block of type typ in the writer's buffer; flushBlock fills
// in its length and writes it.
func (w *PcapngWriter) block(typ uint32) []byte {
	b := binary.LittleEndian.AppendUint32(w.buf[:0], typ)
	return binary.LittleEndian.AppendUint32(b, 0) // total length, set by flushBlock
}

func (w *PcapngWriter) flushBlock(b []byte) error {
	n := uint32(len(b) + 4)
	binary.LittleEndian.PutUint32(b[4:8], n)
	b = binary.LittleEndian.AppendUint32(b, n)
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

func appendOption(b []byte, code uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return appendPadded(b, v)
}

// appendPadded appends v and zeros up to a multiple of 4 bytes.
func appendPadded(b, v []byte) []byte {
	b = append(b, v...)
	for n := len(v); n%4 != 0; n++ {
		b = append(b, 0)
	}
	return b
}

// pcapngName is the if_name a capture's interface gets in a pcapng file:
// "node:iface" when the capture knows its node (see Node), so that the
// eth0 of two hosts stay apart, else the interface's name.
func pcapngName(node, iface string) string {
	if node == "" {
		return iface
	}
	return node + ":" + iface
}

// WritePcapng writes the kept packets of several captures to w as one
// pcapng stream: an interface description per capture (its name, with the
// node it belongs to when the capture was opened with Node, its link type,
// and a comment with its counters), then every packet in timestamp order,
// with nanosecond timestamps and its direction. Packets of equal timestamps
// keep the order of caps. Following a packet along its path is then reading
// the file top to bottom: tshark -r FILE -T fields -e frame.interface_name.
// tcpdump reads the file too when every capture has the same link type (as
// all of a topology's veths, bridges and VXLANs do).
func WritePcapng(w io.Writer, caps ...*Capture) error {
	type entry struct {
		id int
		p  *Packet
	}
	bw := bufio.NewWriter(w)
	pw := NewPcapngWriter(bw)
	if err := pw.WriteHeader(); err != nil {
		return err
	}
	// libpcap, hence tcpdump, refuses a file whose interfaces differ in snap
	// length: every interface gets the largest, which no packet exceeds.
	snaplen := 0
	for i, c := range caps {
		if c == nil {
			return fmt.Errorf("capture: write pcapng: capture %d of %d is nil", i+1, len(caps))
		}
		snaplen = max(snaplen, c.cfg.snapLen)
	}
	var all []entry
	for _, c := range caps {
		st := c.Stats()
		pkts := c.Packets()
		id, err := pw.AddInterface(PcapngInterface{
			Name:        pcapngName(c.cfg.node, c.iface),
			Description: describeInterface(c.cfg.node, c.iface),
			Comment: fmt.Sprintf("%d packets kept of %d captured (%d evicted by the capture's limit, %d dropped by the kernel, %d without a kernel timestamp)",
				len(pkts), st.Captured, st.Evicted, st.KernelDrops, st.Unstamped),
			LinkType: c.linkType,
			SnapLen:  snaplen,
		})
		if err != nil {
			return err
		}
		for j := range pkts {
			all = append(all, entry{id, &pkts[j]})
		}
	}
	slices.SortStableFunc(all, func(a, b entry) int { return a.p.Time.Compare(b.p.Time) })
	for _, e := range all {
		if err := pw.WritePacket(e.id, e.p); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("capture: write pcapng: %w", err)
	}
	return nil
}

func describeInterface(node, iface string) string {
	if node == "" {
		return "interface " + iface
	}
	return "interface " + iface + " of " + node
}

// WritePcapngFile writes the kept packets of several captures to a pcapng
// file at path, replacing it, as WritePcapng does.
func WritePcapngFile(path string, caps ...*Capture) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if err := WritePcapng(f, caps...); err != nil {
		f.Close()
		return fmt.Errorf("capture: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	return nil
}

// pcapngIface is what the reader keeps of an interface description.
type pcapngIface struct {
	node, name string
	linkType   LinkType
	tsresol    uint8
}

// ReadPcapng reads a pcapng stream (either byte order, several sections and
// interfaces, any timestamp resolution) and decodes the Ethernet and raw IP
// packets of its enhanced packet blocks. Each packet gets its interface's
// name in Interface and Node (an if_name "ns1:eth0", as WritePcapng writes
// it, gives Node "ns1" and Interface "eth0"), and Outgoing from its
// epb_flags. Packets of other link types are returned undecoded; blocks
// other than section headers, interface descriptions and enhanced packets
// are skipped.
func ReadPcapng(r io.Reader) ([]Packet, error) {
	pkts, _, err := readPcapng(r)
	return pkts, err
}

// readPcapng is ReadPcapng, also returning the link type of the first
// packet's interface.
func readPcapng(r io.Reader) (pkts []Packet, first LinkType, err error) {
	br := bufio.NewReader(r)
	var (
		order  binary.ByteOrder
		ifaces []pcapngIface
		head   [8]byte
	)
	for n := 1; ; n++ {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			if errors.Is(err, io.EOF) && order != nil {
				return pkts, first, nil
			}
			return pkts, first, fmt.Errorf("capture: read pcapng block %d: %w", n, err)
		}
		typ := binary.LittleEndian.Uint32(head[0:4]) // the SHB's type reads the same in both orders
		if typ == blockSHB {
			var magic [4]byte
			if _, err := io.ReadFull(br, magic[:]); err != nil {
				return pkts, first, fmt.Errorf("capture: read pcapng section header: %w", err)
			}
			switch {
			case binary.LittleEndian.Uint32(magic[:]) == byteOrderMagic:
				order = binary.LittleEndian
			case binary.BigEndian.Uint32(magic[:]) == byteOrderMagic:
				order = binary.BigEndian
			default:
				return pkts, first, fmt.Errorf("capture: read pcapng: bad byte-order magic %#08x", binary.LittleEndian.Uint32(magic[:]))
			}
			ifaces = nil // interface IDs are per section
			body, err := readBlockBody(br, order, head[4:8], 4)
			if err != nil {
				return pkts, first, fmt.Errorf("capture: read pcapng section header: %w", err)
			}
			if len(body) < 12 || order.Uint16(body[0:2]) != 1 {
				return pkts, first, fmt.Errorf("capture: read pcapng section header: version not 1.x")
			}
			continue
		}
		if order == nil {
			return nil, 0, fmt.Errorf("capture: read pcapng: not a pcapng file (first block type %#08x)", typ)
		}
		typ = order.Uint32(head[0:4])
		body, err := readBlockBody(br, order, head[4:8], 0)
		if err != nil {
			return pkts, first, fmt.Errorf("capture: read pcapng block %d: %w", n, err)
		}
		switch typ {
		case blockIDB:
			if len(body) < 8 {
				return pkts, first, fmt.Errorf("capture: read pcapng block %d: interface description of %d bytes", n, len(body))
			}
			ifc := pcapngIface{linkType: LinkType(order.Uint16(body[0:2])), tsresol: 6}
			for code, v := range options(order, body[8:]) {
				switch code {
				case ifName:
					ifc.name = string(v)
					if i := strings.LastIndexByte(ifc.name, ':'); i >= 0 {
						ifc.node, ifc.name = ifc.name[:i], ifc.name[i+1:]
					}
				case ifTsresol:
					if len(v) >= 1 {
						ifc.tsresol = v[0]
					}
				}
			}
			ifaces = append(ifaces, ifc)
		case blockEPB:
			if len(body) < 20 {
				return pkts, first, fmt.Errorf("capture: read pcapng block %d: enhanced packet of %d bytes", n, len(body))
			}
			id := order.Uint32(body[0:4])
			if int64(id) >= int64(len(ifaces)) {
				return pkts, first, fmt.Errorf("capture: read pcapng block %d: packet on interface %d: %d interfaces described", n, id, len(ifaces))
			}
			ifc := ifaces[id]
			caplen := order.Uint32(body[12:16])
			if uint64(caplen) > uint64(len(body)-20) {
				return pkts, first, fmt.Errorf("capture: read pcapng block %d: captured length %d exceeds the block", n, caplen)
			}
			p := Packet{
				Time:      pcapngTime(uint64(order.Uint32(body[4:8]))<<32|uint64(order.Uint32(body[8:12])), ifc.tsresol),
				Interface: ifc.name,
				Node:      ifc.node,
				Length:    int(order.Uint32(body[16:20])),
				Data:      body[20 : 20+caplen : 20+caplen],
			}
			optStart := 20 + (int(caplen)+3)&^3
			if optStart <= len(body) {
				for code, v := range options(order, body[optStart:]) {
					if code == epbFlags && len(v) >= 4 {
						p.Outgoing = order.Uint32(v)&3 == epbOutbound
					}
				}
			}
			if ifc.linkType == LinkTypeEthernet || ifc.linkType == LinkTypeRaw {
				p.decode(ifc.linkType)
			}
			if len(pkts) == 0 {
				first = ifc.linkType
			}
			pkts = append(pkts, p)
		}
	}
}

// readBlockBody reads the rest of a block whose total length field is
// lenField, after the 8-byte head and skip bytes already read, and checks
// the trailing copy of the length. It returns the body after the skipped
// bytes, without the trailing length.
func readBlockBody(br *bufio.Reader, order binary.ByteOrder, lenField []byte, skip int) ([]byte, error) {
	total := order.Uint32(lenField)
	if total%4 != 0 || total < uint32(12+skip) || total > pcapngMaxBlock {
		return nil, fmt.Errorf("block length %d: must be a multiple of 4 between %d and %d", total, 12+skip, pcapngMaxBlock)
	}
	b, err := readN(br, int(total)-8-skip)
	if err != nil {
		return nil, err
	}
	body, trailer := b[:len(b)-4], b[len(b)-4:]
	if t := order.Uint32(trailer); t != total {
		return nil, fmt.Errorf("block length %d, trailing length %d", total, t)
	}
	return body, nil
}

// options iterates over the options of a block, up to opt_endofopt or the
// end of b; a truncated option ends the iteration.
func options(order binary.ByteOrder, b []byte) func(yield func(uint16, []byte) bool) {
	return func(yield func(uint16, []byte) bool) {
		for len(b) >= 4 {
			code, n := order.Uint16(b[0:2]), int(order.Uint16(b[2:4]))
			if code == optEnd || 4+n > len(b) {
				return
			}
			if !yield(code, b[4:4+n]) {
				return
			}
			b = b[min(4+(n+3)&^3, len(b)):]
		}
	}
}

// pcapngTime converts a timestamp in units of if_tsresol res (10^-res
// seconds, or 2^-(res&0x7f) when the high bit is set) to a time.
func pcapngTime(ts uint64, res uint8) time.Time {
	var sec, nsec uint64
	if res&0x80 != 0 {
		// The fraction times 1e9 over 2^k, through a 128-bit product.
		k := uint(res & 0x7f)
		switch {
		case k == 0:
			sec = ts
		case k < 64:
			sec = ts >> k
			hi, lo := bits.Mul64(ts&(1<<k-1), 1e9)
			nsec = hi<<(64-k) | lo>>k
		default:
			hi, _ := bits.Mul64(ts, 1e9)
			nsec = hi >> (k - 64)
		}
	} else {
		var p uint64 = 1
		for i := uint8(0); i < res && p <= ^uint64(0)/10; i++ {
			p *= 10
		}
		if res > 19 { // a unit below 10^-19 s: every timestamp is under a second
			p = 0
		}
		if p != 0 {
			sec, nsec = ts/p, ts%p
		} else {
			nsec = ts
		}
		for r := res; r < 9; r++ {
			nsec *= 10
		}
		for r := res; r > 9; r-- {
			nsec /= 10
		}
	}
	return time.Unix(int64(sec), int64(nsec))
}
