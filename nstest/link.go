package nstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// A LinkOption configures a veth pair made by Link or ConnectBridges.
type LinkOption func(*linkConfig)

type linkConfig struct {
	mtu          int
	aName, bName string
}

// MTU sets the MTU of both ends of the pair. A link with an IPv6 address
// needs at least 1280, IPv6's minimum; Link refuses less.
func MTU(n int) LinkOption { return func(c *linkConfig) { c.mtu = n } }

// Names names the two ends of a pair made by Link, instead of the next free
// ethN of each host. Interface names are at most 15 bytes.
func Names(a, b string) LinkOption { return func(c *linkConfig) { c.aName, c.bName = a, b } }

// Connect plugs host h into bridge br with a veth pair: the host's end is
// named eth0, eth1, ... in order and gets addrs (CIDRs, IPv4 or IPv6); the
// other end is enslaved to br in the fabric (or, for a bridge of
// Host.AddBridge, in that host), named "h+ethN" (or, past the 15 bytes of an
// interface name, after the host and the interface's index), which no
// bridge name can be. Both ends are up when Connect returns.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value, and leaves nothing
// half-built.
func (t *Topology) Connect(h *Host, br *Bridge, addrs ...string) *Interface {
	t.tb.Helper()
	i, err := t.connect(h, br, addrs)
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return i
}

func (t *Topology) connect(h *Host, br *Bridge, addrs []string) (*Interface, error) {
	switch {
	case h == nil:
		return nil, errors.New("nstest: connect: host is nil")
	case br == nil:
		return nil, fmt.Errorf("nstest: connect %q: bridge is nil", h.name)
	case h.topo != t || br.topo != t:
		return nil, fmt.Errorf("nstest: connect %q to %q: they belong to another topology", h.name, br.name)
	}
	prefixes, err := parsePrefixes(addrs)
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	sw, err := br.where() // the fabric, or the host the bridge is in
	if err != nil {
		return nil, err
	}
	if br.ovs == nil {
		return t.plug(h, sw, br.index, true, "bridge "+strconv.Quote(br.String()), prefixes)
	}
	// An OVS bridge takes its ports through its database, not as a master.
	hi, err := t.plug(h, sw, br.index, false, "bridge "+strconv.Quote(br.name), prefixes)
	if err != nil {
		return nil, err
	}
	if err := br.addPort(hi.peer); err != nil {
		hi.Delete()
		return nil, fmt.Errorf("nstest: connect %q: %w", h.name, err)
	}
	return hi, nil
}

// plug connects host h to the bridge with index brIndex in namespace sw (the
// fabric, or a site's machine) with a veth pair: h's end is the next ethN and
// gets prefixes; the other end becomes the bridge's port, enslaved to it if
// enslave is set (an OVS bridge takes its ports otherwise). what names the
// bridge in errors.
func (t *Topology) plug(h, sw *Host, brIndex int, enslave bool, what string, prefixes []netip.Prefix) (*Interface, error) {
	name := h.allocIfName()
	pi := &Interface{host: sw, port: brIndex}
	hi := &Interface{host: h, name: name, peer: pi}
	pi.peer = hi
	master := brIndex
	if !enslave {
		master = 0
	}
	port := vethEnd{i: pi, master: master, name: portName(h.name, name)}
	if err := t.addVeth(fmt.Sprintf("connect %q to %s", h.name, what), port, vethEnd{i: hi, addrs: prefixes}, 0); err != nil {
		return nil, err
	}
	sw.addIface(pi)
	h.addIface(hi)
	t.arm(pi, hi)
	t.pend(pi, hi)
	return hi, nil
}

// portName returns the namer of an interface in the fabric (or a site)
// that stands for node's end called end: "node+end" ("h1+eth0", or
// "br1+br2" for a cable between bridges). '+' is not allowed in node names,
// so such a name never clashes with a bridge's, and two nodes never make the
// same one. Where that is over the 15 bytes Linux allows, or taken (a second
// attempt), the name is made from the interface's index, which is unique in
// the topology: "h1-with-a-l+1003".
func portName(node, end string) func(index int, try int) string {
	return func(index, try int) string {
		if n := node + "+" + end; len(n) <= 15 && try == 0 {
			return n
		}
		suffix := "+" + strconv.Itoa(index)
		return node[:min(len(node), 15-len(suffix))] + suffix
	}
}

func parsePrefixes(addrs []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range addrs {
		if s == "" {
			continue
		}
		p, err := parsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Link joins hosts a and b directly with a veth pair, without a bridge. Each
// end is named after the next free ethN of its host and gets its address
// (a CIDR, or "" for none). Both ends are up when Link returns.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value, and leaves nothing
// half-built.
func (t *Topology) Link(a, b *Host, aAddr, bAddr string, opts ...LinkOption) (*Interface, *Interface) {
	t.tb.Helper()
	ai, bi, err := t.link(a, b, aAddr, bAddr, opts)
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return ai, bi
}

func (t *Topology) link(a, b *Host, aAddr, bAddr string, opts []LinkOption) (*Interface, *Interface, error) {
	var lc linkConfig
	for _, o := range opts {
		o(&lc)
	}
	switch {
	case a == nil || b == nil:
		return nil, nil, errors.New("nstest: link: host is nil")
	case a == b && (lc.aName == "" || lc.aName == lc.bName):
		return nil, nil, fmt.Errorf("nstest: link %q to itself: name the two ends apart with nstest.Names", a.name)
	case a.topo != t || b.topo != t:
		return nil, nil, fmt.Errorf("nstest: link %q to %q: they belong to another topology", a.name, b.name)
	case lc.mtu != 0 && (lc.mtu < 68 || lc.mtu > 65535):
		return nil, nil, fmt.Errorf("nstest: link %q to %q: MTU %d: out of range 68..65535", a.name, b.name, lc.mtu)
	}
	for _, n := range []string{lc.aName, lc.bName} {
		if err := checkIfName(n); err != nil {
			return nil, nil, fmt.Errorf("nstest: link %q to %q: %w", a.name, b.name, err)
		}
	}
	ap, err := parsePrefixes([]string{aAddr})
	if err != nil {
		return nil, nil, fmt.Errorf("nstest: host %q: %w", a.name, err)
	}
	bp, err := parsePrefixes([]string{bAddr})
	if err != nil {
		return nil, nil, fmt.Errorf("nstest: host %q: %w", b.name, err)
	}
	if err := checkIPv6MTU(lc.mtu, append(ap, bp...)); err != nil {
		return nil, nil, fmt.Errorf("nstest: link %q to %q: %w", a.name, b.name, err)
	}
	an, bn := lc.aName, lc.bName
	if an == "" {
		an = a.allocIfName()
	}
	if bn == "" {
		bn = b.allocIfName()
	}
	ai := &Interface{host: a, name: an}
	bi := &Interface{host: b, name: bn, peer: ai}
	ai.peer = bi
	if err := t.addVeth(fmt.Sprintf("link %q to %q", a.name, b.name), vethEnd{i: ai, addrs: ap}, vethEnd{i: bi, addrs: bp}, lc.mtu); err != nil {
		return nil, nil, err
	}
	a.addIface(ai)
	b.addIface(bi)
	t.arm(ai, bi)
	t.pend(ai, bi)
	return ai, bi, nil
}

// ConnectBridges joins two bridges of the topology with a veth pair in the
// fabric, as a cable between two switches; its ends are named "a+b" and
// "b+a". A second cable between the same two bridges is refused: it would
// make a loop, and the bridges run no spanning tree.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value, and leaves nothing
// half-built.
func (t *Topology) ConnectBridges(a, b *Bridge, opts ...LinkOption) (*Interface, *Interface) {
	t.tb.Helper()
	ai, bi, err := t.connectBridges(a, b, opts)
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return ai, bi
}

func (t *Topology) connectBridges(a, b *Bridge, opts []LinkOption) (*Interface, *Interface, error) {
	var lc linkConfig
	for _, o := range opts {
		o(&lc)
	}
	switch {
	case a == nil || b == nil:
		return nil, nil, errors.New("nstest: connect bridges: bridge is nil")
	case a == b:
		return nil, nil, fmt.Errorf("nstest: connect bridge %q to itself", a.name)
	case a.topo != t || b.topo != t:
		return nil, nil, fmt.Errorf("nstest: connect bridges %q and %q: they belong to another topology", a.name, b.name)
	}
	// Each end in its bridge's namespace: the fabric, or a host's.
	aw, err := a.where()
	if err != nil {
		return nil, nil, err
	}
	bw, err := b.where()
	if err != nil {
		return nil, nil, err
	}
	// A second cable between the same two bridges would make a loop, and
	// the bridges run no spanning tree: broadcasts would circle forever.
	for _, w := range []*Host{aw, bw} {
		for _, i := range w.Interfaces() {
			if i.cable == [2]*Bridge{a, b} || i.cable == [2]*Bridge{b, a} {
				return nil, nil, fmt.Errorf("nstest: connect bridges %q and %q: they are already joined (by %s and %s); a second cable would make a loop, and the bridges run no spanning tree", a.name, b.name, i.name, i.peer.name)
			}
		}
	}
	ai := &Interface{host: aw, cable: [2]*Bridge{a, b}, port: a.index}
	bi := &Interface{host: bw, peer: ai, cable: [2]*Bridge{b, a}, port: b.index}
	ai.peer = bi
	if err := t.checkJoin(ai, bi); err != nil {
		return nil, nil, fmt.Errorf("nstest: connect bridges %q and %q: %w", a.name, b.name, err)
	}
	// An OVS bridge takes its ports through its database, not as a master.
	am, bm := a.index, b.index
	if a.ovs != nil {
		am = 0
	}
	if b.ovs != nil {
		bm = 0
	}
	ae := vethEnd{i: ai, master: am, name: portName(a.name, b.name)}
	be := vethEnd{i: bi, master: bm, name: portName(b.name, a.name)}
	if err := t.addVeth(fmt.Sprintf("connect bridges %q and %q", a.name, b.name), ae, be, lc.mtu); err != nil {
		return nil, nil, err
	}
	for _, e := range []struct {
		br   *Bridge
		port *Interface
	}{{a, ai}, {b, bi}} {
		if e.br.ovs == nil {
			continue
		}
		if err := e.br.addPort(e.port); err != nil {
			ai.Delete()
			return nil, nil, fmt.Errorf("nstest: connect bridges %q and %q: %w", a.name, b.name, err)
		}
	}
	aw.addIface(ai)
	bw.addIface(bi)
	t.arm(ai, bi)
	t.pend(ai, bi)
	return ai, bi, nil
}

// ipv6MinMTU is the smallest MTU of a link that carries IPv6 (RFC 8200).
const ipv6MinMTU = 1280

// checkIPv6MTU refuses an MTU below IPv6's minimum for an interface with
// IPv6 addresses: the kernel turns IPv6 off on such a link and drops its
// addresses, silently when the MTU changes, with "invalid argument" when an
// address is added.
func checkIPv6MTU(mtu int, addrs []netip.Prefix) error {
	if mtu == 0 || mtu >= ipv6MinMTU {
		return nil
	}
	for _, p := range addrs {
		if p.Addr().Is6() {
			return fmt.Errorf("MTU %d: below %d, the minimum for IPv6, on an interface with IPv6 address %s (the kernel would drop its IPv6 addresses); remove them or use IPv4 only", mtu, ipv6MinMTU, p)
		}
	}
	return nil
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
