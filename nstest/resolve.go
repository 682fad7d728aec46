package nstest

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nstest/harness/nstest/ping"
)

// nodeClaims returns the addresses of the host, router or bridge called
// name with what holds each, in order, and whether there is such a node.
func (t *Topology) nodeClaims(name string) ([]addrClaim, bool) {
	t.mu.Lock()
	n := t.nodes[name]
	t.mu.Unlock()
	var out []addrClaim
	switch n := n.(type) {
	case *Host:
		out = n.claims()
	case *Bridge:
		for _, p := range n.Addrs() {
			out = append(out, addrClaim{p, n})
		}
	default:
		return nil, false
	}
	return out, true
}

// claims returns the host's addresses with the interface (or, for the
// fabric, the bridge) holding each.
func (h *Host) claims() []addrClaim {
	var out []addrClaim
	if h.kind == kindFabric {
		for _, b := range h.topo.Bridges() {
			for _, p := range b.Addrs() {
				out = append(out, addrClaim{p, b})
			}
		}
	}
	for _, i := range h.Interfaces() {
		for _, p := range i.Addrs() {
			out = append(out, addrClaim{p, i})
		}
	}
	return out
}

// direct returns the first of cands that from reaches directly: inside the
// subnet of one of from's addresses, and on that address's L2 segment; and
// that address of from's, through which it is reached.
func (t *Topology) direct(from *Host, cands []addrClaim) (c, via addrClaim, ok bool) {
	own := from.claims()
	var s *segments
	for _, c := range cands {
		for _, o := range own {
			if o.p.Addr().Is4() != c.p.Addr().Is4() || !o.p.Masked().Contains(c.p.Addr()) {
				continue
			}
			if s == nil {
				s = t.segments()
			}
			if s.same(t.ownerNode(o.owner), t.ownerNode(c.owner)) {
				return c, o, true
			}
		}
	}
	return addrClaim{}, addrClaim{}, false
}

// lookup resolves the name of a node to one of its addresses by the rule
// documented on Resolve, for the host from (nil for none), of family fam
// (0: as the rule says). The boolean reports whether name names a node.
func (t *Topology) lookup(from *Host, name string, fam ping.Family) (netip.Addr, bool, error) {
	cs, ok := t.nodeClaims(name)
	if !ok {
		return netip.Addr{}, false, nil
	}
	var has4, has6 bool
	for _, c := range cs {
		if a := c.p.Addr(); a.IsGlobalUnicast() {
			has4, has6 = has4 || a.Is4(), has6 || a.Is6()
		}
	}
	if fam == 0 {
		if !has4 && !has6 {
			return netip.Addr{}, true, fmt.Errorf("%q has no address", name)
		}
		want4 := from == nil
		if from != nil {
			for _, p := range from.Addrs() {
				want4 = want4 || p.Addr().Is4()
			}
		}
		fam = ping.IPv6
		if has4 && (want4 || !has6) {
			fam = ping.IPv4
		}
	}
	var cands []addrClaim
	for _, c := range cs {
		if a := c.p.Addr(); a.IsGlobalUnicast() && ping.FamilyOf(a) == fam {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		ps := make([]netip.Prefix, len(cs))
		for k, c := range cs {
			ps[k] = c.p
		}
		return netip.Addr{}, true, fmt.Errorf("%s has no %v address (it has: %s)", name, fam, prefixList(ps))
	}
	if from != nil {
		if c, _, ok := t.direct(from, cands); ok {
			return c.p.Addr(), true, nil
		}
	}
	var could []string
	for _, c := range cands {
		hs := t.holders(c.p.Addr(), false)
		if len(hs) <= 1 {
			return c.p.Addr(), true, nil
		}
		var others []string
		for _, h := range hs {
			if h != name {
				others = append(others, h+"'s")
			}
		}
		could = append(could, fmt.Sprintf("%s (also %s)", c.p.Addr(), strings.Join(others, " and ")))
	}
	where := ""
	if from != nil {
		where = ", and none is on a subnet and L2 segment of " + from.name
	}
	return netip.Addr{}, true, fmt.Errorf("%q is ambiguous: it could mean %s, an address other nodes hold too on other L2 segments%s; give the address instead of the name",
		name, strings.Join(could, " or "), where)
}

// gatewayAddr returns the address of node name that h reaches directly (on
// one of h's subnets and on that interface's L2 segment), of the IP version
// of dst when dst is valid, and the index of the link h reaches it through.
func (t *Topology) gatewayAddr(h *Host, name string, dst netip.Prefix) (netip.Addr, int, bool) {
	cs, _ := t.nodeClaims(name)
	var cands []addrClaim
	for _, c := range cs {
		if !dst.IsValid() || c.p.Addr().Is4() == dst.Addr().Is4() {
			cands = append(cands, c)
		}
	}
	c, via, ok := t.direct(h, cands)
	switch o := via.owner.(type) {
	case *Interface:
		return c.p.Addr(), o.index, ok
	case *Bridge:
		return c.p.Addr(), o.index, ok
	}
	return c.p.Addr(), 0, ok
}

// nameOf returns the name of the node that has address a, "r1 or r2" when
// several nodes on different segments have it, or "".
func (t *Topology) nameOf(a netip.Addr) string {
	return strings.Join(t.holders(a, true), " or ")
}

// describe names an address for a message: "ns2 (10.0.0.2)" when a node has
// it, else "10.0.0.2".
func (t *Topology) describe(a netip.Addr) string {
	if n := t.nameOf(a); n != "" {
		return fmt.Sprintf("%s (%s)", n, a)
	}
	return a.String()
}

// destination names the destination of a check as the user gave it, with
// its address: "ns2 (10.0.0.2)", or "10.0.0.2 (ns2)" when given as an
// address of node ns2.
func (t *Topology) destination(to string, a netip.Addr) string {
	if !a.IsValid() {
		return to
	}
	if a.String() == to {
		if n := t.nameOf(a); n != "" {
			return fmt.Sprintf("%s (%s)", to, n)
		}
		return to
	}
	return fmt.Sprintf("%s (%s)", to, a)
}

// endpoint names a destination "ns2:8080 (10.0.0.2:8080)" as the user gave
// it, with its address.
func (t *Topology) endpoint(address string, ap netip.AddrPort) string {
	if ap.String() == address {
		if n := t.nameOf(ap.Addr()); n != "" {
			return fmt.Sprintf("%s (%s)", address, n)
		}
		return address
	}
	return fmt.Sprintf("%s (%s)", address, ap)
}

// Resolve returns the address that s names, by the one rule every call of
// nstest that takes a destination follows: Ping, Dial, DialContext, Listen,
// ListenPacket, HTTPClient, RouteGet, the assertions, Firewall rules,
// ForwardPort, and the /etc/hosts of programs. Each applies it for the host
// it acts from; Resolve itself acts from no host. s is, in order:
//
//   - An IP address: itself (with its zone, if any). A check asking for a
//     family (IPv4, IPv6), or a socket of one ("tcp4", "udp6"), refuses an
//     address of the other.
//   - The name of a host, router or bridge of the topology: one of its
//     addresses, chosen as follows.
//     1. Only global addresses count (unique local ones such as fd00::/8
//     included, link-local ones not), of one family: the one the call asks
//     for, else IPv4, unless the asking host has no IPv4 address and the
//     node has an IPv6 one.
//     2. From a host, the first address the host reaches directly: inside
//     the subnet of one of the host's addresses, on that interface's L2
//     segment. So "r1" from a host of r1's LAN is r1's LAN address, and
//     from the other side of r1 its address there.
//     3. Else the first address no other node holds.
//     4. Else the name is ambiguous, an error where it is used that lists
//     the addresses it could mean: give the address instead. Addresses
//     are unique per L2 segment, not per topology (segment.go), so that
//     two LANs may both be 192.168.1.0/24 behind NAT routers; a host of
//     one is then a name other hosts cannot always resolve.
//   - "localhost", when no node has that name: the asking host's loopback,
//     127.0.0.1, or ::1 when IPv6 is asked for.
//   - Anything else is an error naming the topology: no name service is
//     asked, inside a topology or outside it.
//
// "host:port" takes the same rule for host. AddRoute's gateway is a node's
// address that the host reaches directly (rule 2 alone). Host.Addr and
// Bridge.Addr return the first address that rule 1 counts, IPv4 first.
func (t *Topology) Resolve(s string) (netip.Addr, error) {
	if t.isClosed() {
		return netip.Addr{}, fmt.Errorf("nstest: resolve %q: %w", s, ErrClosed)
	}
	a, err := t.resolve(nil, s, 0)
	if err != nil {
		return a, fmt.Errorf("nstest: %w", err)
	}
	return a, nil
}

// resolve is Resolve's rule for the host from (nil: none), in family fam
// (0: as rule 1 says). Its errors have no "nstest: " prefix: the caller
// says who asked.
func (t *Topology) resolve(from *Host, s string, fam ping.Family) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if fam != 0 && ping.FamilyOf(a) != fam {
			return a, fmt.Errorf("%s is not an %v address", a, fam)
		}
		return a, nil
	}
	a, ok, err := t.lookup(from, s, fam)
	switch {
	case ok:
		return a, err
	case s == "localhost" && fam == ping.IPv6:
		return netip.IPv6Loopback(), nil
	case s == "localhost":
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	return netip.Addr{}, fmt.Errorf("%q is neither an IP address nor a node of topology %q", s, t.name)
}

// networkFamily is the family a socket network asks for: "tcp4" IPv4,
// "udp6" IPv6, "tcp" either (0).
func networkFamily(network string) ping.Family {
	switch {
	case strings.HasSuffix(network, "4"):
		return ping.IPv4
	case strings.HasSuffix(network, "6"):
		return ping.IPv6
	}
	return 0
}

// resolveHostPort replaces the host part of "host:port", for a socket of
// network, by the address Resolve's rule gives. An empty host (":8080",
// listen everywhere) and an address that does not split are left for the
// net package to take or to report.
func (t *Topology) resolveHostPort(from *Host, network, address string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil || host == "" {
		return address, nil
	}
	a, err := t.resolve(from, host, networkFamily(network))
	if err != nil {
		return "", err
	}
	if host == a.String() {
		return address, nil
	}
	return net.JoinHostPort(a.String(), port), nil
}

// resolveAddrPort resolves "host:port" for a check, by Resolve's rule for
// host, in the family the options ask for.
func (t *Topology) resolveAddrPort(from *Host, address string, c checkConfig) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: want host:port", address)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: port %q: want a number 0..65535", address, port)
	}
	a, err := t.resolve(from, host, c.family)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// firstGlobal returns the first address of ps that Resolve's rule 1 counts
// (global unicast, unique local included), IPv4 before IPv6, or the zero
// Addr: Host.Addr and Bridge.Addr.
func firstGlobal(ps []netip.Prefix) netip.Addr {
	var v6 netip.Addr
	for _, p := range ps {
		a := p.Addr()
		if !a.IsGlobalUnicast() {
			continue
		}
		if a.Is4() {
			return a
		}
		if !v6.IsValid() {
			v6 = a
		}
	}
	return v6
}
