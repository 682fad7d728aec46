package firewall

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// reg is the data register the expressions load into and compare from.
const reg = 1

var protoNumbers = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "icmp": unix.IPPROTO_ICMP, "icmpv6": unix.IPPROTO_ICMPV6}

// icmpType is a type and, where it matters, a code.
type icmpType struct {
	typ  byte
	code int // -1: any code
}

var icmpTypes = map[string]map[string]icmpType{
	"icmp": {
		"echo-reply":              {0, -1},
		"destination-unreachable": {3, -1},
		"frag-needed":             {3, 4},
		"packet-too-big":          {3, 4},
		"echo-request":            {8, -1},
		"time-exceeded":           {11, -1},
	},
	"icmpv6": {
		"destination-unreachable": {1, -1},
		"packet-too-big":          {2, -1},
		"frag-needed":             {2, -1},
		"time-exceeded":           {3, -1},
		"echo-request":            {128, -1},
		"echo-reply":              {129, -1},
		"neighbor-solicitation":   {135, -1},
		"neighbor-advertisement":  {136, -1},
	},
}

// compile validates the rule and returns the expressions of the one or two
// kernel rules that implement it (a Reject without Proto becomes a TCP-reset
// rule for TCP and an ICMP rule for the rest).
func (r Rule) compile() ([][]expr.Any, error) {
	if chains[r.Chain] == nil {
		return nil, fmt.Errorf("chain %d: not Input, Output or Forward", int(r.Chain))
	}
	if r.Action < Accept || r.Action > Reject {
		return nil, fmt.Errorf("action %d: not Accept, Drop or Reject", int(r.Action))
	}
	var m []expr.Any
	family := 0 // 4, 6 or 0 for both

	var src, dst netip.Prefix
	var err error
	if r.Src != "" {
		if src, err = parseAddr(r.Src); err != nil {
			return nil, fmt.Errorf("src %q: %w", r.Src, err)
		}
		family = familyOf(src)
	}
	if r.Dst != "" {
		if dst, err = parseAddr(r.Dst); err != nil {
			return nil, fmt.Errorf("dst %q: %w", r.Dst, err)
		}
		if family != 0 && family != familyOf(dst) {
			return nil, fmt.Errorf("src %q and dst %q: mix IPv4 and IPv6", r.Src, r.Dst)
		}
		family = familyOf(dst)
	}
	switch r.Proto {
	case "":
	case "tcp", "udp":
	case "icmp":
		if family == 6 {
			return nil, fmt.Errorf("proto %q with an IPv6 address: use icmpv6", r.Proto)
		}
		family = 4
	case "icmpv6":
		if family == 4 {
			return nil, fmt.Errorf("proto %q with an IPv4 address: use icmp", r.Proto)
		}
		family = 6
	default:
		return nil, fmt.Errorf("proto %q: not tcp, udp, icmp or icmpv6", r.Proto)
	}
	if (r.SrcPort != 0 || r.DstPort != 0) && r.Proto != "tcp" && r.Proto != "udp" {
		return nil, fmt.Errorf("port with proto %q: ports need tcp or udp", r.Proto)
	}
	var icmp icmpType
	if r.ICMPType != "" {
		types, ok := icmpTypes[r.Proto]
		if !ok {
			return nil, fmt.Errorf("icmp type %q with proto %q: needs proto icmp or icmpv6", r.ICMPType, r.Proto)
		}
		if icmp, ok = types[r.ICMPType]; !ok {
			return nil, fmt.Errorf("icmp type %q: unknown for %s", r.ICMPType, r.Proto)
		}
	}
	if r.InIface != "" {
		if r.Chain == Output {
			return nil, fmt.Errorf("in iface %q: output packets have no input interface", r.InIface)
		}
		if err := checkIface(r.InIface); err != nil {
			return nil, fmt.Errorf("in iface %q: %w", r.InIface, err)
		}
	}
	if r.OutIface != "" {
		if r.Chain == Input {
			return nil, fmt.Errorf("out iface %q: input packets have no output interface", r.OutIface)
		}
		if err := checkIface(r.OutIface); err != nil {
			return nil, fmt.Errorf("out iface %q: %w", r.OutIface, err)
		}
	}
	if math.IsNaN(r.Probability) || r.Probability < 0 || r.Probability > 100 {
		return nil, fmt.Errorf("probability %g: not a percentage between 0 and 100", r.Probability)
	}
	var states uint32
	if r.State != "" {
		if states, _, err = parseState(r.State); err != nil {
			return nil, err
		}
	}

	if family != 0 {
		m = append(m, matchFamily(family)...)
	}
	if r.InIface != "" {
		m = append(m, matchIface(expr.MetaKeyIIFNAME, r.InIface)...)
	}
	if r.OutIface != "" {
		m = append(m, matchIface(expr.MetaKeyOIFNAME, r.OutIface)...)
	}
	if src.IsValid() {
		m = append(m, matchAddr(src, true)...)
	}
	if dst.IsValid() {
		m = append(m, matchAddr(dst, false)...)
	}
	if r.Proto != "" {
		m = append(m, matchProto(protoNumbers[r.Proto])...)
	}
	if r.SrcPort != 0 {
		m = append(m, matchPort(0, r.SrcPort)...)
	}
	if r.DstPort != 0 {
		m = append(m, matchPort(2, r.DstPort)...)
	}
	if r.ICMPType != "" {
		m = append(m, matchICMP(icmp)...)
	}
	if states != 0 {
		m = append(m, matchState(states)...)
	}
	if r.Probability != 0 && r.Probability < 100 {
		m = append(m, matchRandom(r.Probability)...)
	}

	verdict := func(m []expr.Any, v expr.Any) []expr.Any {
		out := append([]expr.Any{}, m...)
		return append(out, &expr.Counter{}, v)
	}
	switch r.Action {
	case Accept:
		return [][]expr.Any{verdict(m, &expr.Verdict{Kind: expr.VerdictAccept})}, nil
	case Drop:
		return [][]expr.Any{verdict(m, &expr.Verdict{Kind: expr.VerdictDrop})}, nil
	}
	rst := &expr.Reject{Type: unix.NFT_REJECT_TCP_RST}
	unreachable := func(code uint8) *expr.Reject {
		return &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: code}
	}
	switch r.Proto {
	case "tcp":
		return [][]expr.Any{verdict(m, rst)}, nil
	case "udp":
		return [][]expr.Any{verdict(m, unreachable(unix.NFT_REJECT_ICMPX_PORT_UNREACH))}, nil
	case "icmp", "icmpv6":
		return [][]expr.Any{verdict(m, unreachable(unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED))}, nil
	}
	tcp := append(append([]expr.Any{}, m...), matchProto(unix.IPPROTO_TCP)...)
	return [][]expr.Any{verdict(tcp, rst), verdict(m, unreachable(unix.NFT_REJECT_ICMPX_PORT_UNREACH))}, nil
}

func familyOf(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

func cmpEq(data []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data} }

func matchFamily(f int) []expr.Any {
	proto := byte(unix.NFPROTO_IPV4)
	if f == 6 {
		proto = unix.NFPROTO_IPV6
	}
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg}, cmpEq([]byte{proto})}
}

func matchProto(p byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg}, cmpEq([]byte{p})}
}

// ifname pads an interface name the way the kernel stores it, so that the
// comparison is exact rather than a prefix match.
func ifname(s string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, s)
	return b
}

func matchIface(key expr.MetaKey, name string) []expr.Any {
	return []expr.Any{&expr.Meta{Key: key, Register: reg}, cmpEq(ifname(name))}
}

// matchAddr compares the source or destination address with a prefix; the
// caller has already matched the family, which fixes the header offsets.
func matchAddr(p netip.Prefix, src bool) []expr.Any {
	addr := p.Addr().AsSlice()
	off := uint32(16) // IPv4 daddr
	switch {
	case p.Addr().Is4() && src:
		off = 12
	case p.Addr().Is6() && src:
		off = 8
	case p.Addr().Is6():
		off = 24
	}
	n := uint32(len(addr))
	e := []expr.Any{&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}}
	if p.Bits() < p.Addr().BitLen() {
		mask := make([]byte, n)
		for i := 0; i < p.Bits(); i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		e = append(e, &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: n, Mask: mask, Xor: make([]byte, n)})
	}
	return append(e, cmpEq(addr))
}

func matchPort(off uint32, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
		cmpEq(binary.BigEndian.AppendUint16(nil, port)),
	}
}

func matchICMP(t icmpType) []expr.Any {
	e := []expr.Any{
		&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		cmpEq([]byte{t.typ}),
	}
	if t.code >= 0 {
		e = append(e,
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 1, Len: 1},
			cmpEq([]byte{byte(t.code)}))
	}
	return e
}

// randomScale is the resolution of probabilities: 1/10000, 0.01%.
const randomScale = 10000

// matchRandom matches percent% of packets: numgen random mod 10000 < n. The
// generated number is in host byte order and cmp compares bytes, so it is
// converted to big endian first, as nft does.
func matchRandom(percent float64) []expr.Any {
	n := uint32(math.Round(percent * randomScale / 100))
	return []expr.Any{
		&expr.Numgen{Register: reg, Modulus: randomScale, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: reg, DestRegister: reg, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: reg, Data: binary.BigEndian.AppendUint32(nil, n)},
	}
}
