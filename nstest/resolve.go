package nstest

import (
	"errors"
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
// subnet of one of from's addresses, and on that address's L2 segment.
func (t *Topology) direct(from *Host, cands []addrClaim) (addrClaim, bool) {
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
				return c, true
			}
		}
	}
	return addrClaim{}, false
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
		if c, ok := t.direct(from, cands); ok {
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
// of dst when dst is valid.
func (t *Topology) gatewayAddr(h *Host, name string, dst netip.Prefix) (netip.Addr, bool) {
	cs, _ := t.nodeClaims(name)
	var cands []addrClaim
	for _, c := range cs {
		if !dst.IsValid() || c.p.Addr().Is4() == dst.Addr().Is4() {
			cands = append(cands, c)
		}
	}
	c, ok := t.direct(h, cands)
	return c.p.Addr(), ok
}

// nameOf returns the name of the node that has address a, "r1 or r2" when
// several nodes on different segments have it, or "".
func (t *Topology) nameOf(a netip.Addr) string {
	return strings.Join(t.holders(a, true), " or ")
}

// resolveHostPort replaces a node name in the host part of "host:port" by its
// address.
func (t *Topology) resolveHostPort(from *Host, address string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return address, nil // let the net package report it
	}
	if host == "" {
		return address, nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return address, nil
	}
	a, ok, err := t.lookup(from, host, 0)
	if err != nil {
		return "", err
	}
	if !ok {
		if host == "localhost" {
			return address, nil
		}
		// No name service inside a topology: say so instead of timing out.
		return "", fmt.Errorf("%q is neither an IP address nor a node of topology %q", host, t.name)
	}
	return net.JoinHostPort(a.String(), port), nil
}

// resolveFor returns the address that to names for a check from the host
// from: an IP address as it is, or the address of the node called to, of
// the family the options ask for.
func (t *Topology) resolveFor(from *Host, to string, fam ping.Family) (netip.Addr, error) {
	if a, err := netip.ParseAddr(to); err == nil {
		if fam != 0 && ping.FamilyOf(a) != fam {
			return a, fmt.Errorf("%s is not an %v address", a, fam)
		}
		return a, nil
	}
	if fam == 0 {
		a, err := t.resolve(from, to)
		if err != nil { // the message goes after "nstest: a -> b: ..."
			return a, errors.New(strings.TrimPrefix(err.Error(), "nstest: "))
		}
		return a, nil
	}
	a, ok, err := t.lookup(from, to, fam)
	if !ok {
		return netip.Addr{}, fmt.Errorf("%q is neither an IP address nor a node of topology %q", to, t.name)
	}
	return a, err
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

// resolveAddrPort resolves "host:port", where host may be a node name, to
// an address and port of the family the options ask for.
func (t *Topology) resolveAddrPort(from *Host, address string, c checkConfig) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: want host:port", address)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: port %q: want a number 0..65535", address, port)
	}
	a, err := t.resolveFor(from, host, c.family)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
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

// Resolve returns the address that s names: an IP address as it is, or an
// address of the host, router or bridge called s. Ping, Dial, Listen, the
// assertions, Firewall, Masquerade and ForwardPort resolve names the same
// way, for the host they act from; AddRoute's gateway is the gateway's
// address the host reaches directly. The rule, in order:
//
//  1. Only global addresses count (unique local ones such as fd00::/8
//     included, link-local ones not), of one family: the one a check asks
//     for (IPv4, IPv6), else IPv4, unless the asking host has no IPv4
//     address and the node has an IPv6 one.
//  2. From a host, the first address the host reaches directly: inside the
//     subnet of one of the host's addresses, on that interface's L2 segment.
//     So "r1" from a host of r1's LAN is r1's LAN address, and from the
//     other side of r1 its address there.
//  3. Else the first address no other node holds.
//  4. Else the name is ambiguous, an error where it is used that lists
//     the addresses it could mean: give the address instead. Addresses are
//     unique per L2 segment, not per topology (segment.go), so that two
//     LANs may both be 192.168.1.0/24 behind NAT routers; a host of one
//     is then a name other hosts cannot always resolve.
//
// Resolve itself acts from no host: rules 1, 3 and 4 apply.
func (t *Topology) Resolve(s string) (netip.Addr, error) {
	if t.isClosed() {
		return netip.Addr{}, fmt.Errorf("nstest: resolve %q: %w", s, ErrClosed)
	}
	return t.resolve(nil, s)
}

func (t *Topology) resolve(from *Host, s string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	a, ok, err := t.lookup(from, s, 0)
	if err != nil {
		return a, fmt.Errorf("nstest: %w", err)
	}
	if !ok {
		return a, fmt.Errorf("nstest: %q is neither an IP address nor a node of topology %q", s, t.name)
	}
	return a, nil
}
