package nstest

import (
	"fmt"
	"net"
	"net/netip"
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
