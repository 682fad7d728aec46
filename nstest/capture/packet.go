package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// EtherType values the decoder understands.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeIPv6 uint16 = 0x86dd
)

// IP protocol numbers the decoder understands.
const (
	ProtoICMP   uint8 = 1
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// ARP operations.
const (
	ARPRequestOp uint16 = 1
	ARPReplyOp   uint16 = 2
)

// ICMP and ICMPv6 types used by the filters and the summary.
const (
	ICMPEchoReplyType    uint8 = 0
	ICMPUnreachableType  uint8 = 3
	ICMPRedirectType     uint8 = 5
	ICMPEchoRequestType  uint8 = 8
	ICMPTimeExceededType uint8 = 11
	ICMPParamProblemType uint8 = 12

	ICMPv6UnreachableType        uint8 = 1
	ICMPv6PacketTooBigType       uint8 = 2
	ICMPv6TimeExceededType       uint8 = 3
	ICMPv6ParamProblemType       uint8 = 4
	ICMPv6EchoRequestType        uint8 = 128
	ICMPv6EchoReplyType          uint8 = 129
	ICMPv6RouterSolicitationType uint8 = 133
	ICMPv6RouterAdvertType       uint8 = 134
	ICMPv6NeighborSolicitType    uint8 = 135
	ICMPv6NeighborAdvertType     uint8 = 136
	ICMPv6RedirectType           uint8 = 137
)

// ICMPFragNeededCode is the code of an ICMP destination unreachable
// message that says a packet with DF set needs fragmenting: the router's
// next-hop MTU is in Packet.MTU. IPv4's counterpart of ICMPv6 packet too big.
const ICMPFragNeededCode uint8 = 4

// TCPFlags is the flags byte of a TCP header (FIN is bit 0).
type TCPFlags uint8

// TCP flag bits.
const (
	TCPFin TCPFlags = 1 << iota
	TCPSyn
	TCPRst
	TCPPsh
	TCPAck
	TCPUrg
	TCPEce
	TCPCwr
)

// String formats the flags as tcpdump does: "S", "S.", "P.", "F.", "R".
func (f TCPFlags) String() string {
	var b strings.Builder
	for _, x := range []struct {
		bit TCPFlags
		c   byte
	}{{TCPFin, 'F'}, {TCPSyn, 'S'}, {TCPRst, 'R'}, {TCPPsh, 'P'}, {TCPUrg, 'U'}, {TCPEce, 'E'}, {TCPCwr, 'W'}} {
		if f&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	if f&TCPAck != 0 {
		b.WriteByte('.')
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// ARPHeader holds the fields of an Ethernet/IPv4 ARP packet.
type ARPHeader struct {
	Op                   uint16 // ARPRequestOp or ARPReplyOp
	SenderMAC, TargetMAC net.HardwareAddr
	SenderIP, TargetIP   netip.Addr
}

// Packet is one captured frame and what the decoder understood of it. The
// decoded fields are zero when the frame does not carry that layer; Data is
// shared with the capture and must not be modified.
type Packet struct {
	Time      time.Time // kernel receive timestamp; the time of reading only where the kernel gave none, counted in Stats.Unstamped
	Outgoing  bool      // sent by the captured interface's host (PACKET_OUTGOING)
	Interface string    // name of the interface the frame crossed
	Node      string    // node holding the interface, when the capture was opened with Node
	Length    int       // length of the frame on the wire
	Data      []byte    // the frame from its Ethernet header, at most the snap length

	// Link layer; for frames without one (LinkTypeRaw) only EtherType is set.
	DstMAC, SrcMAC net.HardwareAddr
	EtherType      uint16

	ARP *ARPHeader // nil unless EtherType is EtherTypeARP

	// Network layer, IPv4 or IPv6.
	Src, Dst netip.Addr
	Proto    uint8 // IPv4 protocol or IPv6 next header after extension headers
	TTL      uint8 // TTL or hop limit
	Fragment bool  // a non-first IPv4 fragment, or an IPv6 fragment: no transport layer decoded

	// Transport layer.
	SrcPort, DstPort uint16   // TCP or UDP
	TCPFlags         TCPFlags // TCP only
	Seq, Ack         uint32   // TCP only
	Window           uint16   // TCP only
	ICMPType         uint8    // ICMP or ICMPv6
	ICMPCode         uint8
	ICMPID, ICMPSeq  uint16 // echo request and reply; ICMPSeq is the record count of an MLDv2 report
	// PayloadLen is the transport payload length for TCP and UDP, and the
	// whole ICMP message length for ICMP, as tcpdump reports them.
	PayloadLen int

	// Target is the target address of an ICMPv6 neighbor solicitation,
	// advertisement or redirect.
	Target netip.Addr
	// Gateway is the better first hop that a redirect advises for
	// RedirectDst: the gateway address of an ICMP redirect, the target
	// address of an ICMPv6 redirect.
	Gateway netip.Addr
	// RedirectDst is the destination a redirect is about: the destination
	// of the packet an ICMP redirect quotes, the destination address field
	// of an ICMPv6 redirect.
	RedirectDst netip.Addr
	// MTU is the next-hop MTU of an ICMP "fragmentation needed" or ICMPv6
	// "packet too big" message.
	MTU uint32
	// Quoted is the start of the packet an ICMP or ICMPv6 error or
	// redirect refers to, decoded (addresses, protocol, ports); nil for
	// other packets, and for an ICMPv6 redirect without a redirected
	// header option.
	Quoted *Packet

	l3len  int    // bytes after the link header (ARP and unknown EtherTypes)
	rest   uint32 // bytes 4-7 of an ICMP header (the parameter problem pointer)
	quoted bool   // decoded from inside an ICMP error: no error inside it is decoded
}

// IsIPv4 reports whether the packet carries IPv4.
func (p *Packet) IsIPv4() bool { return p.EtherType == EtherTypeIPv4 && p.Src.Is4() }

// IsIPv6 reports whether the packet carries IPv6.
func (p *Packet) IsIPv6() bool { return p.EtherType == EtherTypeIPv6 && p.Src.Is6() }

// IsICMP reports whether the packet carries an ICMP or ICMPv6 message.
func (p *Packet) IsICMP() bool {
	return !p.Fragment && ((p.IsIPv4() && p.Proto == ProtoICMP) || (p.IsIPv6() && p.Proto == ProtoICMPv6))
}

// IsTCP reports whether the packet carries a TCP segment.
func (p *Packet) IsTCP() bool { return !p.Fragment && p.Src.IsValid() && p.Proto == ProtoTCP }

// IsUDP reports whether the packet carries a UDP datagram.
func (p *Packet) IsUDP() bool { return !p.Fragment && p.Src.IsValid() && p.Proto == ProtoUDP }

// decode fills the decoded fields from Data. linkType says whether Data
// starts with an Ethernet header or directly with an IP header.
func (p *Packet) decode(linkType LinkType) {
	b := p.Data
	if linkType == LinkTypeRaw {
		if len(b) == 0 {
			return
		}
		switch b[0] >> 4 {
		case 4:
			p.EtherType = EtherTypeIPv4
		case 6:
			p.EtherType = EtherTypeIPv6
		default:
			return
		}
	} else {
		if len(b) < 14 {
			return
		}
		p.DstMAC = net.HardwareAddr(b[0:6:6])
		p.SrcMAC = net.HardwareAddr(b[6:12:12])
		p.EtherType = binary.BigEndian.Uint16(b[12:14])
		b = b[14:]
		// Skip 802.1Q/802.1ad tags so tagged frames on a bridge still decode.
		for (p.EtherType == 0x8100 || p.EtherType == 0x88a8) && len(b) >= 4 {
			p.EtherType = binary.BigEndian.Uint16(b[2:4])
			b = b[4:]
		}
	}
	p.l3len = len(b)
	switch p.EtherType {
	case EtherTypeARP:
		p.decodeARP(b)
	case EtherTypeIPv4:
		p.decodeIPv4(b)
	case EtherTypeIPv6:
		p.decodeIPv6(b)
	}
}

func (p *Packet) decodeARP(b []byte) {
	// Ethernet hardware (1), IPv4 protocol, 6-byte and 4-byte addresses.
	if len(b) < 28 || binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != EtherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		return
	}
	p.ARP = &ARPHeader{
		Op:        binary.BigEndian.Uint16(b[6:8]),
		SenderMAC: net.HardwareAddr(b[8:14:14]),
		SenderIP:  netip.AddrFrom4([4]byte(b[14:18])),
		TargetMAC: net.HardwareAddr(b[18:24:24]),
		TargetIP:  netip.AddrFrom4([4]byte(b[24:28])),
	}
}

func (p *Packet) decodeIPv4(b []byte) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < 20 || len(b) < ihl {
		return
	}
	p.TTL = b[8]
	p.Proto = b[9]
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
		p.Fragment = true
		return
	}
	payloadLen := total - ihl
	if total < ihl {
		payloadLen = 0
	}
	if len(b) > total && total >= ihl {
		b = b[:total] // Ethernet padding is not payload
	}
	p.decodeL4(b[ihl:], payloadLen)
}

func (p *Packet) decodeIPv6(b []byte) {
	if len(b) < 40 || b[0]>>4 != 6 {
		return
	}
	payloadLen := int(binary.BigEndian.Uint16(b[4:6]))
	next := b[6]
	p.TTL = b[7]
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	b = b[40:]
	if len(b) > payloadLen {
		b = b[:payloadLen]
	}
	// Walk extension headers: hop-by-hop, routing, destination options, fragment.
walk:
	for {
		switch next {
		case 0, 43, 60:
			if len(b) < 8 || len(b) < (int(b[1])+1)*8 {
				break walk
			}
			n := (int(b[1]) + 1) * 8
			next, b, payloadLen = b[0], b[n:], payloadLen-n
		case 44:
			p.Fragment = true
			if len(b) >= 8 {
				next = b[0]
			}
			p.Proto = next
			return
		default:
			break walk
		}
	}
	p.Proto = next
	p.decodeL4(b, payloadLen)
}

func (p *Packet) decodeL4(b []byte, payloadLen int) {
	switch p.Proto {
	case ProtoTCP:
		if len(b) < 20 {
			return
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.Seq = binary.BigEndian.Uint32(b[4:8])
		p.Ack = binary.BigEndian.Uint32(b[8:12])
		p.TCPFlags = TCPFlags(b[13])
		p.Window = binary.BigEndian.Uint16(b[14:16])
		p.PayloadLen = max(payloadLen-int(b[12]>>4)*4, 0)
	case ProtoUDP:
		if len(b) < 8 {
			return
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.PayloadLen = max(int(binary.BigEndian.Uint16(b[4:6]))-8, 0)
	case ProtoICMP, ProtoICMPv6:
		if len(b) < 4 {
			return
		}
		p.ICMPType, p.ICMPCode = b[0], b[1]
		p.PayloadLen = payloadLen
		if len(b) < 8 {
			return
		}
		p.rest = binary.BigEndian.Uint32(b[4:8])
		if p.isEcho() || p.Proto == ProtoICMPv6 && p.ICMPType == 143 { // MLDv2 report: record count
			p.ICMPID = binary.BigEndian.Uint16(b[4:6])
			p.ICMPSeq = binary.BigEndian.Uint16(b[6:8])
		}
		if p.quoted {
			return // the first bytes of a packet an error quotes: no deeper
		}
		if p.isError() {
			if p.Proto == ProtoICMP && p.ICMPType == ICMPUnreachableType && p.ICMPCode == ICMPFragNeededCode {
				p.MTU = uint32(binary.BigEndian.Uint16(b[6:8]))
			} else if p.Proto == ProtoICMPv6 && p.ICMPType == ICMPv6PacketTooBigType {
				p.MTU = binary.BigEndian.Uint32(b[4:8])
			}
			p.quote(b[8:])
			if p.Proto == ProtoICMP && p.ICMPType == ICMPRedirectType {
				p.Gateway = netip.AddrFrom4([4]byte(b[4:8]))
				if p.Quoted != nil {
					p.RedirectDst = p.Quoted.Dst
				}
			}
		}
		if p.Proto == ProtoICMPv6 && (p.ICMPType == ICMPv6NeighborSolicitType || p.ICMPType == ICMPv6NeighborAdvertType) && len(b) >= 24 {
			p.Target = netip.AddrFrom16([16]byte(b[8:24]))
		}
		if p.Proto == ProtoICMPv6 && p.ICMPType == ICMPv6RedirectType && len(b) >= 40 {
			p.Target = netip.AddrFrom16([16]byte(b[8:24]))
			p.Gateway = p.Target
			p.RedirectDst = netip.AddrFrom16([16]byte(b[24:40]))
			p.redirectedHeader(b[40:])
		}
	}
}

// quote decodes b, the start of the packet an ICMP message refers to, into
// p.Quoted.
func (p *Packet) quote(b []byte) {
	q := &Packet{Data: b, Length: len(b), quoted: true}
	q.decode(LinkTypeRaw)
	if q.Src.IsValid() {
		p.Quoted = q
	}
}

// redirectedHeader finds the redirected header option (type 4, RFC 4861
// 4.6.3) among the options of an ICMPv6 redirect and decodes the packet it
// quotes.
func (p *Packet) redirectedHeader(b []byte) {
	for len(b) >= 8 {
		n := int(b[1]) * 8
		if n == 0 || n > len(b) {
			return
		}
		if b[0] == 4 {
			p.quote(b[8:n])
			return
		}
		b = b[n:]
	}
}

// isError reports whether p is an ICMP or ICMPv6 message that quotes the
// packet it is about: an error, or an ICMP redirect.
func (p *Packet) isError() bool {
	if p.Proto == ProtoICMP {
		switch p.ICMPType {
		case ICMPUnreachableType, ICMPRedirectType, ICMPTimeExceededType, ICMPParamProblemType:
			return true
		}
		return false
	}
	return p.ICMPType >= ICMPv6UnreachableType && p.ICMPType <= ICMPv6ParamProblemType
}

func (p *Packet) isEcho() bool {
	if p.Proto == ProtoICMP {
		return p.ICMPType == ICMPEchoRequestType || p.ICMPType == ICMPEchoReplyType
	}
	return p.ICMPType == ICMPv6EchoRequestType || p.ICMPType == ICMPv6EchoReplyType
}

// String summarizes the packet on one line the way `tcpdump -nn` does, for
// the protocols the decoder knows:
//
//	IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 27346, seq 39, length 64
//	ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28
//	IP 10.0.0.1.40000 > 10.0.0.2.53: UDP, length 12
//	IP6 fe80::1 > ff02::1: ICMP6, echo request, id 1, seq 1, length 64
func (p *Packet) String() string {
	switch {
	case p.ARP != nil:
		return p.arpString()
	case p.IsIPv4() || p.IsIPv6():
		return p.ipString()
	case p.EtherType == EtherTypeARP:
		return fmt.Sprintf("ARP, length %d", p.l3len)
	case p.SrcMAC != nil:
		// tcpdump adds the addresses for protocols it cannot decode.
		return fmt.Sprintf("%s > %s, ethertype Unknown (0x%04x), length %d", p.SrcMAC, p.DstMAC, p.EtherType, p.Length)
	default:
		return fmt.Sprintf("ethertype Unknown (0x%04x), length %d", p.EtherType, p.Length)
	}
}

func (p *Packet) arpString() string {
	a := p.ARP
	switch a.Op {
	case ARPRequestOp:
		return fmt.Sprintf("ARP, Request who-has %s tell %s, length %d", a.TargetIP, a.SenderIP, p.l3len)
	case ARPReplyOp:
		return fmt.Sprintf("ARP, Reply %s is-at %s, length %d", a.SenderIP, a.SenderMAC, p.l3len)
	}
	return fmt.Sprintf("ARP, op %d, length %d", a.Op, p.l3len)
}

func (p *Packet) ipString() string {
	ver := "IP"
	if p.IsIPv6() {
		ver = "IP6"
	}
	src, dst := p.Src.String(), p.Dst.String()
	if p.IsTCP() || p.IsUDP() {
		src = fmt.Sprintf("%s.%d", src, p.SrcPort)
		dst = fmt.Sprintf("%s.%d", dst, p.DstPort)
	}
	head := ver + " " + src + " > " + dst + ": "
	switch {
	case p.Fragment:
		return head + "fragment, proto " + fmt.Sprint(p.Proto)
	case p.IsTCP():
		// As tcpdump -S: absolute sequence numbers, shown only when the
		// segment carries data or a SYN, FIN or RST.
		s := fmt.Sprintf("Flags [%s]", p.TCPFlags)
		if p.PayloadLen > 0 || p.TCPFlags&(TCPSyn|TCPFin|TCPRst) != 0 {
			s += fmt.Sprintf(", seq %d", p.Seq)
			if p.PayloadLen > 0 {
				s += fmt.Sprintf(":%d", p.Seq+uint32(p.PayloadLen))
			}
		}
		if p.TCPFlags&TCPAck != 0 {
			s += fmt.Sprintf(", ack %d", p.Ack)
		}
		return head + s + fmt.Sprintf(", win %d, length %d", p.Window, p.PayloadLen)
	case p.IsUDP():
		return head + fmt.Sprintf("UDP, length %d", p.PayloadLen)
	case p.IsICMP() && p.Proto == ProtoICMP:
		return head + "ICMP " + p.icmpString()
	case p.IsICMP():
		return head + "ICMP6, " + p.icmp6String()
	}
	return head + fmt.Sprintf("ip-proto-%d", p.Proto)
}

func (p *Packet) icmpString() string {
	switch p.ICMPType {
	case ICMPEchoRequestType:
		return fmt.Sprintf("echo request, id %d, seq %d, length %d", p.ICMPID, p.ICMPSeq, p.PayloadLen)
	case ICMPEchoReplyType:
		return fmt.Sprintf("echo reply, id %d, seq %d, length %d", p.ICMPID, p.ICMPSeq, p.PayloadLen)
	case ICMPUnreachableType:
		return p.unreachableString() + fmt.Sprintf(", length %d", p.PayloadLen)
	case ICMPRedirectType:
		return p.redirectString() + fmt.Sprintf(", length %d", p.PayloadLen)
	case ICMPParamProblemType:
		if p.ICMPCode == 0 {
			return fmt.Sprintf("parameter problem - octet %d, length %d", p.rest>>24, p.PayloadLen)
		}
		return fmt.Sprintf("parameter problem - code %d, length %d", p.ICMPCode, p.PayloadLen)
	case ICMPTimeExceededType:
		if p.ICMPCode == 1 {
			return fmt.Sprintf("ip reassembly time exceeded, length %d", p.PayloadLen)
		}
		return fmt.Sprintf("time exceeded in-transit, length %d", p.PayloadLen)
	}
	return fmt.Sprintf("type-#%d, length %d", p.ICMPType, p.PayloadLen)
}

// redirectString follows tcpdump's wording.
func (p *Packet) redirectString() string {
	kind := [...]string{"redirect %s to net %s", "redirect %s to host %s", "redirect-tos %s to net %s", "redirect-tos %s to host %s"}
	if p.Quoted == nil {
		return fmt.Sprintf("redirect to %s, code %d", p.Gateway, p.ICMPCode)
	}
	if int(p.ICMPCode) < len(kind) {
		return fmt.Sprintf(kind[p.ICMPCode], p.RedirectDst, p.Gateway)
	}
	return fmt.Sprintf("redirect-#%d %s to %s", p.ICMPCode, p.RedirectDst, p.Gateway)
}

// unreachableText is tcpdump's wording of the ICMP unreachable codes past
// 4, with the quoted destination for %s.
var unreachableText = map[uint8]string{
	5:  "%s unreachable - source route failed",
	6:  "net %s unreachable - unknown",
	7:  "host %s unreachable - unknown",
	8:  "%s unreachable - source host isolated",
	9:  "net %s unreachable - admin prohibited",
	10: "host %s unreachable - admin prohibited",
	11: "net %s unreachable - tos prohibited",
	12: "host %s unreachable - tos prohibited",
	13: "host %s unreachable - admin prohibited filter",
	14: "host %s unreachable - host precedence violation",
	15: "host %s unreachable - precedence cutoff",
}

// unreachableString follows tcpdump's wording.
func (p *Packet) unreachableString() string {
	q := p.Quoted
	if q == nil {
		return fmt.Sprintf("unreachable, code %d", p.ICMPCode)
	}
	if f, ok := unreachableText[p.ICMPCode]; ok {
		return fmt.Sprintf(f, q.Dst)
	}
	switch p.ICMPCode {
	case 0:
		return fmt.Sprintf("net %s unreachable", q.Dst)
	case 1:
		return fmt.Sprintf("host %s unreachable", q.Dst)
	case 2:
		return fmt.Sprintf("%s protocol %d unreachable", q.Dst, q.Proto)
	case 3:
		switch {
		case q.IsUDP():
			return fmt.Sprintf("%s udp port %d unreachable", q.Dst, q.DstPort)
		case q.IsTCP():
			return fmt.Sprintf("%s tcp port %d unreachable", q.Dst, q.DstPort)
		}
		return fmt.Sprintf("%s port unreachable", q.Dst)
	case ICMPFragNeededCode:
		if p.MTU == 0 { // a router from before RFC 1191
			return fmt.Sprintf("%s unreachable - need to frag", q.Dst)
		}
		return fmt.Sprintf("%s unreachable - need to frag (mtu %d)", q.Dst, p.MTU)
	}
	return fmt.Sprintf("%s unreachable - #%d", q.Dst, p.ICMPCode)
}

func (p *Packet) unreachable6String() string {
	var s string
	switch p.ICMPCode {
	case 0:
		s = "unreachable route"
	case 1:
		s = " unreachable prohibited" // sic: tcpdump prints two spaces
	case 2:
		s = "beyond scope"
	case 3:
		s = "unreachable address"
	case 4:
		s = "unreachable port"
	default:
		return fmt.Sprintf("unknown code (%d)", p.ICMPCode)
	}
	q := p.Quoted
	switch {
	case q == nil:
		return s
	case p.ICMPCode == 4 && q.IsUDP():
		return fmt.Sprintf("%s, %s udp port %d", s, q.Dst, q.DstPort)
	case p.ICMPCode == 4 && q.IsTCP():
		return fmt.Sprintf("%s, %s tcp port %d", s, q.Dst, q.DstPort)
	case p.ICMPCode == 2:
		return fmt.Sprintf("%s %s, source address %s", s, q.Dst, q.Src)
	}
	return fmt.Sprintf("%s %s", s, q.Dst)
}

func (p *Packet) icmp6String() string {
	switch p.ICMPType {
	case ICMPv6EchoRequestType:
		return fmt.Sprintf("echo request, id %d, seq %d, length %d", p.ICMPID, p.ICMPSeq, p.PayloadLen)
	case ICMPv6EchoReplyType:
		return fmt.Sprintf("echo reply, id %d, seq %d, length %d", p.ICMPID, p.ICMPSeq, p.PayloadLen)
	case ICMPv6NeighborSolicitType:
		return fmt.Sprintf("neighbor solicitation, who has %s, length %d", p.Target, p.PayloadLen)
	case ICMPv6NeighborAdvertType:
		return fmt.Sprintf("neighbor advertisement, tgt is %s, length %d", p.Target, p.PayloadLen)
	case ICMPv6RouterSolicitationType:
		return fmt.Sprintf("router solicitation, length %d", p.PayloadLen)
	case ICMPv6RouterAdvertType:
		return fmt.Sprintf("router advertisement, length %d", p.PayloadLen)
	case ICMPv6UnreachableType:
		return "destination unreachable, " + p.unreachable6String() + fmt.Sprintf(", length %d", p.PayloadLen)
	case 143:
		return fmt.Sprintf("multicast listener report v2, %d group record(s), length %d", p.ICMPSeq, p.PayloadLen)
	case ICMPv6PacketTooBigType:
		return fmt.Sprintf("packet too big, mtu %d, length %d", p.MTU, p.PayloadLen)
	case ICMPv6TimeExceededType:
		return fmt.Sprintf("time exceeded in-transit, code %d, length %d", p.ICMPCode, p.PayloadLen)
	case ICMPv6ParamProblemType:
		if kinds := [...]string{"erroneous", "next header", "option", "incomplete header chain"}; int(p.ICMPCode) < len(kinds) {
			return fmt.Sprintf("parameter problem, %s - octet %d, length %d", kinds[p.ICMPCode], p.rest, p.PayloadLen)
		}
		return fmt.Sprintf("parameter problem, code-#%d, length %d", p.ICMPCode, p.PayloadLen)
	case ICMPv6RedirectType:
		return fmt.Sprintf("redirect, %s to %s, length %d", p.RedirectDst, p.Target, p.PayloadLen)
	}
	return fmt.Sprintf("type %d, length %d", p.ICMPType, p.PayloadLen)
}
