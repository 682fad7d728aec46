package firewall

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/kconfig"
)

// Masquerade rewrites the source address of packets leaving outIface to the
// address of outIface, as a home router does (SNAT masquerade, IPv4 and
// IPv6). With src set (an address or CIDR), only packets from there are
// rewritten. Replies are translated back by connection tracking.
func Masquerade(n Namespace, outIface, src string) error {
	what := fmt.Sprintf("firewall: masquerade on %q", outIface)
	if outIface == "" {
		return fmt.Errorf("%s: interface name is empty", what)
	}
	if err := checkIface(outIface); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	m := matchIface(expr.MetaKeyOIFNAME, outIface)
	text := "postrouting oifname " + outIface
	if src != "" {
		p, err := parseAddr(src)
		if err != nil {
			return fmt.Errorf("%s: src %q: %w", what, src, err)
		}
		m = append(m, matchFamily(familyOf(p))...)
		m = append(m, matchAddr(p, true)...)
		text += " saddr " + src
	}
	m = append(m, &expr.Counter{}, &expr.Masq{})
	return addOne(n, snatChain, m, text+" masquerade", what, "CONFIG_NFT_MASQ")
}

// ForwardPort sends proto ("tcp" or "udp") packets arriving for port on
// inIface ("" for any interface) to the address and port to (DNAT), as a
// router's port forwarding does. to's port 0 keeps the original port. Only
// packets that enter the namespace are forwarded, not those it sends itself.
func ForwardPort(n Namespace, proto string, port uint16, to netip.AddrPort, inIface string) error {
	what := fmt.Sprintf("firewall: forward %s port %d to %s", proto, port, to)
	if proto != "tcp" && proto != "udp" {
		return fmt.Errorf("%s: proto %q: not tcp or udp", what, proto)
	}
	if port == 0 {
		return fmt.Errorf("%s: port 0", what)
	}
	if !to.Addr().IsValid() || to.Addr().Zone() != "" {
		return fmt.Errorf("%s: invalid destination address", what)
	}
	if err := checkIface(inIface); err != nil {
		return fmt.Errorf("%s: in iface %q: %w", what, inIface, err)
	}
	addr := to.Addr().Unmap()
	nfproto := uint32(unix.NFPROTO_IPV4)
	fam := 4
	if addr.Is6() {
		nfproto, fam = unix.NFPROTO_IPV6, 6
	}
	var m []expr.Any
	text := "prerouting"
	if inIface != "" {
		m = append(m, matchIface(expr.MetaKeyIIFNAME, inIface)...)
		text += " iifname " + inIface
	}
	m = append(m, matchFamily(fam)...)
	m = append(m, matchProto(protoNumbers[proto])...)
	m = append(m, matchPort(2, port)...)
	m = append(m, &expr.Counter{}, &expr.Immediate{Register: 1, Data: addr.AsSlice()})
	nat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: nfproto, RegAddrMin: 1}
	if to.Port() != 0 {
		m = append(m, &expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, to.Port())})
		nat.RegProtoMin = 2
	}
	m = append(m, nat)
	dest := to.String()
	if to.Port() == 0 {
		dest = addr.String()
	}
	text += fmt.Sprintf(" %s dport %d dnat to %s", proto, port, dest)
	return addOne(n, dnatChain, m, text, what, "CONFIG_NFT_NAT")
}

// ClampMSS lowers the maximum segment size announced in forwarded TCP SYNs
// and SYN-ACKs (leaving by outIface, or any interface if "") to what the route's MTU
// allows, the usual fix for a path MTU black hole: TCP then never sends
// segments too large for the narrow link, so lost ICMP "fragmentation
// needed" messages no longer matter. It is nft's
// `tcp flags syn tcp option maxseg size set rt mtu`; the kernel only ever
// lowers the value.
func ClampMSS(n Namespace, outIface string) error {
	what := fmt.Sprintf("firewall: clamp MSS on %q", outIface)
	if err := checkIface(outIface); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var m []expr.Any
	text := "forward"
	if outIface != "" {
		m = append(m, matchIface(expr.MetaKeyOIFNAME, outIface)...)
		text += " oifname " + outIface
	}
	m = append(m, matchProto(unix.IPPROTO_TCP)...)
	m = append(m,
		// tcp flags & syn != 0
		&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 1, Mask: []byte{0x02}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: []byte{0}},
		&expr.Counter{},
		// tcp option maxseg size set rt mtu
		&expr.Rt{Register: reg, Key: expr.RtTCPMSS},
		&expr.Byteorder{SourceRegister: reg, DestRegister: reg, Op: expr.ByteorderHton, Len: 2, Size: 2},
		&expr.Exthdr{Op: expr.ExthdrOpTcpopt, Type: 2, Offset: 2, Len: 2, SourceRegister: reg},
	)
	return addOne(n, clampChain, m, text+" tcp flags syn tcp option maxseg size set rt mtu", what, "CONFIG_NFT_EXTHDR")
}

// addOne appends one rule to a chain of the package's table, creating both
// as needed; the rule needs the kernel options named by needs.
func addOne(n Namespace, spec *chainSpec, exprs []expr.Any, text, what string, needs ...string) error {
	return session(n, func(c *nftables.Conn) error {
		t := ensureTable(c)
		ch := spec.add(c, t)
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs, UserData: comment(text)})
		if err := c.Flush(); err != nil {
			return fmt.Errorf("%s: %w", what, kconfig.Check(err, append([]string{"CONFIG_NF_TABLES_INET"}, needs...)...))
		}
		return nil
	})
}
