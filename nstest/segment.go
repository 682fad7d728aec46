package nstest

import (
	"fmt"
	"net/netip"
	"sort"
)

// Addresses are unique per L2 segment, not per topology, so that two
// isolated LANs may both use 192.168.1.0/24 behind two NAT routers, and two
// routers may both have fe80::1. An L2 segment is what a frame can reach:
// a bridge (Linux or Open vSwitch) with everything plugged into it, bridges
// cabled with ConnectBridges counting as one, the bridges of an overlay's
// sites joined by VXLAN counting as one; a direct Link; a VLAN device's VLAN
// on its parent's segment; a dummy interface alone. Bridges' VLAN filtering
// is not taken into account: a filtering bridge counts as one segment.
//
// Two rules, checked whenever an address is added and whenever a
// ConnectBridges or SetMaster joins two segments:
//   - an address appears at most once on a segment;
//   - an address other than a link-local one appears at most once in a
//     namespace (a host's interfaces, or the fabric's bridges), whatever
//     their segments: the kernel would have two routes for one subnet.
//
// How a node name that may then stand for several addresses is resolved is
// said once, on Topology.Resolve.

// bridgeKey names a bridge by its namespace and interface index: the
// fabric's bridges and the sites' br0.
type bridgeKey struct {
	h     *Host
	index int
}

// vlanKey names a VLAN on a segment.
type vlanKey struct {
	segment any
	vid     int
}

// segments is a union-find of interfaces and bridges into L2 segments.
type segments struct{ up map[any]any }

func (s *segments) find(x any) any {
	root := x
	for {
		p, ok := s.up[root]
		if !ok || p == root {
			break
		}
		root = p
	}
	for x != root { // path compression
		next := s.up[x]
		s.up[x] = root
		x = next
	}
	return root
}

func (s *segments) union(a, b any) {
	ra, rb := s.find(a), s.find(b)
	if ra != rb {
		s.up[ra] = rb
	}
}

func (s *segments) same(a, b any) bool { return s.find(a) == s.find(b) }

// segments computes the topology's L2 segments as they stand, with extra:
// interfaces being built, not yet recorded in their hosts (their peers are
// taken too).
func (t *Topology) segments(extra ...*Interface) *segments {
	t.mu.Lock()
	hosts := append([]*Host(nil), t.hosts...)
	if t.fabric != nil {
		hosts = append(hosts, t.fabric)
	}
	overlays := append([]*Overlay(nil), t.drawn.overlays...)
	t.mu.Unlock()

	seen := map[*Interface]bool{}
	var all []*Interface
	add := func(i *Interface) {
		if i != nil && !seen[i] {
			seen[i] = true
			all = append(all, i)
		}
	}
	for _, h := range hosts {
		for _, i := range h.Interfaces() {
			add(i)
		}
	}
	for _, i := range extra {
		add(i)
		add(i.peer)
	}
	s := &segments{up: map[any]any{}}
	type vlan struct {
		i, lower *Interface
		vid      int
		depth    int
	}
	var vlans []vlan
	for _, i := range all {
		i.mu.Lock()
		port, lower, vid := i.port, i.lower, i.vid
		i.mu.Unlock()
		s.find(i)
		if i.peer != nil {
			s.union(i, i.peer)
		}
		if port != 0 {
			s.union(i, bridgeKey{i.host, port})
		}
		if lower != nil {
			d := 1
			for l := lower; l.lower != nil; l = l.lower {
				d++
			}
			vlans = append(vlans, vlan{i, lower, vid, d})
		}
	}
	for _, o := range overlays {
		sites := o.Sites()
		for k := 1; k < len(sites); k++ {
			s.union(bridgeKey{sites[0].machine, sites[0].brIndex}, bridgeKey{sites[k].machine, sites[k].brIndex})
		}
	}
	// A VLAN's segment is known once its parent's is: shallow ones first.
	sort.SliceStable(vlans, func(a, b int) bool { return vlans[a].depth < vlans[b].depth })
	for _, v := range vlans {
		s.union(v.i, vlanKey{s.find(v.lower), v.vid})
	}
	return s
}

// addrClaim is an address held by an interface or a bridge.
type addrClaim struct {
	p     netip.Prefix
	owner any // *Interface or *Bridge
}

// ownerNode is what stands for an address's owner in the segments.
func (t *Topology) ownerNode(owner any) any {
	if b, ok := owner.(*Bridge); ok {
		return bridgeKey{t.fabricHost(), b.index}
	}
	return owner
}

// ownerHost is the namespace an owner is in.
func (t *Topology) ownerHost(owner any) *Host {
	if i, ok := owner.(*Interface); ok {
		return i.host
	}
	return t.fabricHost()
}

func (t *Topology) fabricHost() *Host {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fabric
}

// ownerName names an owner in messages: "h1:eth0" or "bridge br1".
func ownerName(owner any) string {
	if b, ok := owner.(*Bridge); ok {
		return "bridge " + b.name
	}
	return owner.(*Interface).String()
}

// holderName is the name of the node an owner belongs to.
func holderName(owner any) string {
	if b, ok := owner.(*Bridge); ok {
		return b.name
	}
	return owner.(*Interface).host.name
}

// clash says why a and b may not both hold address x, or "" if they may.
func (t *Topology) clash(s *segments, x netip.Addr, a, b any) string {
	if !x.IsLinkLocalUnicast() && t.ownerHost(a) == t.ownerHost(b) {
		return "in the same namespace"
	}
	if s.same(t.ownerNode(a), t.ownerNode(b)) {
		return "on the same L2 segment"
	}
	return ""
}

// interfacesOf returns the interfaces among the claims' owners and owner.
func interfacesOf(cs []addrClaim, owner any) []*Interface {
	var out []*Interface
	for _, c := range append(cs, addrClaim{owner: owner}) {
		if i, ok := c.owner.(*Interface); ok {
			out = append(out, i)
		}
	}
	return out
}

// claimAddr records that owner (an *Interface or a *Bridge, its port or
// peer already set) holds p, or reports a conflict with an owner that
// holds it already.
func (t *Topology) claimAddr(p netip.Prefix, owner any) error {
	t.addrMu.Lock()
	defer t.addrMu.Unlock()
	a := p.Addr()
	others := t.addrs[a]
	if len(others) > 0 {
		s := t.segments(interfacesOf(others, owner)...)
		for _, o := range others {
			if why := t.clash(s, a, o.owner, owner); why != "" {
				return fmt.Errorf("address %q: conflict: %s already has %s %s", p, ownerName(o.owner), a, why)
			}
		}
	}
	t.addrs[a] = append(others, addrClaim{p, owner})
	return nil
}

// releaseAddr forgets that owner holds p.
func (t *Topology) releaseAddr(p netip.Prefix, owner any) {
	t.addrMu.Lock()
	defer t.addrMu.Unlock()
	cs := t.addrs[p.Addr()]
	for k, c := range cs {
		if c.owner == owner {
			cs = append(cs[:k:k], cs[k+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(t.addrs, p.Addr())
	} else {
		t.addrs[p.Addr()] = cs
	}
}

// checkJoin reports the first address that would appear twice on one
// segment once extra (interfaces being built, or changed, with their ports
// set) join the segments they name.
func (t *Topology) checkJoin(extra ...*Interface) error {
	t.addrMu.Lock()
	defer t.addrMu.Unlock()
	var s *segments
	var addrs []netip.Addr
	for a, cs := range t.addrs {
		if len(cs) > 1 {
			addrs = append(addrs, a)
		}
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	for _, a := range addrs {
		cs := t.addrs[a]
		if s == nil {
			s = t.segments(extra...)
		}
		for k, c := range cs {
			for _, d := range cs[k+1:] {
				if s.same(t.ownerNode(c.owner), t.ownerNode(d.owner)) {
					return fmt.Errorf("address conflict: it would join %s and %s, which both have %s, on one L2 segment", ownerName(c.owner), ownerName(d.owner), a)
				}
			}
		}
	}
	return nil
}

// holders returns the names of the nodes that hold address a, in order;
// with nodesOnly, without the fabric (whose interfaces are nobody's node).
func (t *Topology) holders(a netip.Addr, nodesOnly bool) []string {
	t.addrMu.Lock()
	cs := append([]addrClaim(nil), t.addrs[a.WithZone("")]...)
	t.addrMu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, c := range cs {
		if i, ok := c.owner.(*Interface); ok && nodesOnly && i.host.kind == kindFabric {
			continue
		}
		if n := holderName(c.owner); !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
