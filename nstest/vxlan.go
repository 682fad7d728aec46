package nstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/kconfig"
)

// VXLANPort is the IANA UDP port for VXLAN, which overlays use.
const VXLANPort = 4789

// VXLANOverhead is what VXLAN over IPv4 adds to every frame it carries: an
// outer Ethernet header (14 bytes), IPv4 header (20), UDP header (8) and
// VXLAN header (8), 50 bytes in all. An overlay on an underlay with a
// 1500-byte MTU carries at most 1450-byte packets. Hosts that keep the usual
// 1500 have their full-size packets dropped silently by the site's bridge,
// except TCP's large GSO batches, which the bridge lets through to the VXLAN
// device; that answers them with an ICMP "fragmentation needed" appearing to
// come from the destination (Linux 5.9 and later), so TCP copes as long as
// the ICMP reaches the sender.
const VXLANOverhead = 50

// Overlay is a VXLAN network joining sites: namespaces that stand for
// separate machines (the seed tutorial's "namespaces in two VMs"), each with
// its own bridge and hosts, connected only by an underlay network. Frames a
// site's bridge sends to another site travel inside UDP datagrams between the
// sites' underlay addresses, as they would between two VMs or two data
// centres.
//
// The underlay is a bridge of the topology's fabric named after the overlay;
// each site is a namespace (a Host of kind "site") whose eth0 is plugged into
// it, and which holds a bridge "br0" and a VXLAN device "vxlan<VNI>" enslaved
// to br0, with destination port 4789 and MAC learning. Frames for unknown or
// broadcast destinations are sent to every other site (head-end replication
// through all-zero FDB entries, no multicast). The VXLAN device's MTU is the
// underlay's minus VXLANOverhead; hosts plugged into a site keep 1500 unless
// told otherwise, which reproduces the classic overlay MTU problems (see
// VXLANOverhead).
//
// The same overlay runs between real machines. On each machine, with
// UNDERLAY_IP its own address on the network between them, PEER_IP the
// other's, and eth0 the interface that reaches it:
//
//	ip link add vxlan42 type vxlan id 42 dstport 4789 local UNDERLAY_IP dev eth0
//	bridge fdb append 00:00:00:00:00:00 dev vxlan42 dst PEER_IP   # once per peer
//	ip link add br0 type bridge
//	ip link set vxlan42 master br0 && ip link set vxlan42 up && ip link set br0 up
//
// then plug the machine's containers, VMs or namespaces into br0 (a veth
// per namespace, its other end `master br0`), with overlay addresses from one
// subnet and an MTU of at most the underlay's minus 50 (or raise the
// underlay's MTU to 1550). UDP port 4789 must pass between the machines'
// underlay addresses in both directions. An nstest topology on each machine
// can play one site: build its hosts on a bridge as usual and add the VXLAN
// device to the fabric namespace by hand (Topology.Fabric().Do with
// netlink), with a veth from the fabric to the real underlay interface's
// namespace; nstest itself never touches the machine's own namespace.
type Overlay struct {
	topo     *Topology
	name     string
	vni      int
	underlay *Bridge

	mu    sync.Mutex
	sites []*Site
}

// Site is one machine of an Overlay: a namespace with an underlay address,
// a bridge and the VXLAN device joining that bridge to the other sites.
type Site struct {
	overlay  *Overlay
	machine  *Host
	uplink   *Interface
	addr     netip.Addr
	brIndex  int
	vxIndex  int
	vxName   string
	overhead int
}

// AddOverlay adds a VXLAN overlay with the given VNI (1..16777215) and its
// underlay: a bridge in the fabric called name (at most 15 bytes). Add
// machines to it with AddSite.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value; it skips the test
// when the kernel lacks VXLAN.
func (t *Topology) AddOverlay(name string, vni int) *Overlay {
	t.tb.Helper()
	if vni < 1 || vni > 1<<24-1 {
		t.tb.Fatalf("nstest: overlay %q: VNI %d: out of range 1..16777215", name, vni)
	}
	br, err := t.addBridge(name, nil)
	if errors.Is(err, ErrUnsupported) {
		t.tb.Skipf("nstest: overlay %q: %v", name, err)
	}
	if err != nil {
		t.tb.Fatalf("nstest: overlay %q: %v", name, err)
	}
	o := &Overlay{topo: t, name: name, vni: vni, underlay: br}
	t.mu.Lock()
	t.drawn.overlays = append(t.drawn.overlays, o)
	t.mu.Unlock()
	return o
}

// Name returns the overlay's name, which is also its underlay bridge's.
func (o *Overlay) Name() string { return o.name }

// VNI returns the overlay's VXLAN network identifier.
func (o *Overlay) VNI() int { return o.vni }

// Underlay returns the bridge of the underlay network, in the fabric.
func (o *Overlay) Underlay() *Bridge { return o.underlay }

// Sites returns the overlay's sites in the order they were added.
func (o *Overlay) Sites() []*Site {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*Site(nil), o.sites...)
}

// AddSite adds a machine to the overlay: a namespace called name whose eth0
// is on the underlay with the address underlayAddr (an IPv4 CIDR such as
// "192.168.100.1/24"), a bridge br0 and a VXLAN device joining br0 to every
// other site of the overlay. A kernel without VXLAN devices (CONFIG_VXLAN)
// skips the test, naming the option.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value; it skips the test
// when the kernel lacks what a site needs.
func (o *Overlay) AddSite(name, underlayAddr string) *Site {
	t := o.topo
	t.tb.Helper()
	s, err := o.addSite(name, underlayAddr)
	if errors.Is(err, ErrUnsupported) {
		t.tb.Skipf("%v", err)
	}
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return s
}

func (o *Overlay) addSite(name, underlayAddr string) (*Site, error) {
	t := o.topo
	what := fmt.Sprintf("nstest: overlay %q: site %q", o.name, name)
	p, err := parsePrefix(underlayAddr)
	if err != nil {
		return nil, fmt.Errorf("%s: underlay %w", what, err)
	}
	if !p.Addr().Is4() {
		return nil, fmt.Errorf("%s: underlay address %q: only IPv4 underlays are supported", what, underlayAddr)
	}
	m, err := t.addHost(name, kindSite, nil)
	if err != nil {
		return nil, fmt.Errorf("nstest: overlay %q: %w", o.name, err)
	}
	up, err := t.connect(m, o.underlay, []string{underlayAddr})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	s := &Site{overlay: o, machine: m, uplink: up, addr: p.Addr(), vxName: fmt.Sprintf("vxlan%d", o.vni), overhead: VXLANOverhead}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", Flags: net.FlagUp}}
	if err := m.use(func() error { return m.nl.LinkAdd(br) }); err != nil {
		return nil, fmt.Errorf("%s: add bridge br0: %w", what, kconfig.Check(err, "CONFIG_BRIDGE"))
	}
	s.brIndex = br.Index
	vx := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: s.vxName, MasterIndex: br.Index},
		VxlanId:      o.vni,
		VtepDevIndex: up.index,
		SrcAddr:      p.Addr().AsSlice(),
		Port:         VXLANPort,
		Learning:     true,
	}
	if err := m.use(func() error { return m.nl.LinkAdd(vx) }); err != nil {
		return nil, fmt.Errorf("%s: add VXLAN device %s (VNI %d): %w", what, s.vxName, o.vni, kconfig.Check(err, "CONFIG_VXLAN"))
	}
	s.vxIndex = vx.Index
	if err := m.use(func() error { return m.nl.LinkSetUp(vx) }); err != nil {
		return nil, fmt.Errorf("%s: set %s up: %w", what, s.vxName, err)
	}
	o.mu.Lock()
	others := append([]*Site(nil), o.sites...)
	o.sites = append(o.sites, s)
	o.mu.Unlock()
	for _, e := range others {
		if err := s.flood(e.addr); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if err := e.flood(s.addr); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	return s, nil
}

// flood makes the site send broadcast and unknown-destination frames to the
// VTEP at remote, as `bridge fdb append 00:00:00:00:00:00 dev vxlanN dst
// remote` does.
func (s *Site) flood(remote netip.Addr) error {
	n := &netlink.Neigh{
		LinkIndex:    s.vxIndex,
		Family:       unix.AF_BRIDGE,
		State:        netlink.NUD_PERMANENT | netlink.NUD_NOARP,
		Flags:        netlink.NTF_SELF,
		IP:           remote.AsSlice(),
		HardwareAddr: make(net.HardwareAddr, 6),
	}
	m := s.machine
	if err := m.use(func() error { return m.nl.NeighAppend(n) }); err != nil {
		return fmt.Errorf("site %q: flood to VTEP %s on %s: %w", s.machine.name, remote, s.vxName, err)
	}
	return nil
}

// Name returns the site's name, which is also its machine's.
func (s *Site) Name() string { return s.machine.name }

// String returns the site's name.
func (s *Site) String() string { return s.machine.name }

// Machine returns the namespace standing for the site's machine; its eth0 is
// on the underlay.
func (s *Site) Machine() *Host { return s.machine }

// Uplink returns the machine's interface on the underlay, which carries the
// encapsulated traffic (UDP port VXLANPort).
func (s *Site) Uplink() *Interface { return s.uplink }

// Addr returns the site's underlay address, its VXLAN tunnel endpoint.
func (s *Site) Addr() netip.Addr { return s.addr }

// MTU returns the largest packet the overlay carries from this site: the
// VXLAN device's MTU, the uplink's minus VXLANOverhead.
func (s *Site) MTU() (int, error) {
	m := s.machine
	var l netlink.Link
	err := m.use(func() (err error) { l, err = m.nl.LinkByIndex(s.vxIndex); return err })
	if err != nil {
		return 0, fmt.Errorf("nstest: site %q: %s: %w", s.machine.name, s.vxName, err)
	}
	return l.Attrs().MTU, nil
}

// Connect plugs host h into the site's bridge with a veth pair, as Topology
// Connect does for the fabric's bridges: the host's end is named eth0,
// eth1, ... and gets addrs (overlay addresses); the other end, in the site's
// namespace, is enslaved to br0. Both ends keep the default 1500-byte MTU:
// set the host's end to Site.MTU, or the underlay's MTU VXLANOverhead bytes
// higher, to carry full-size packets.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value, and leaves nothing
// half-built.
func (s *Site) Connect(h *Host, addrs ...string) *Interface {
	t := s.overlay.topo
	t.tb.Helper()
	i, err := s.connect(h, addrs)
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return i
}

func (s *Site) connect(h *Host, addrs []string) (*Interface, error) {
	t := s.overlay.topo
	m := s.machine
	switch {
	case h == nil:
		return nil, fmt.Errorf("nstest: site %q: connect: host is nil", m.name)
	case h.topo != t:
		return nil, fmt.Errorf("nstest: site %q: connect %q: it belongs to another topology", m.name, h.name)
	case h == m:
		return nil, fmt.Errorf("nstest: site %q: connect: a site cannot be plugged into itself", m.name)
	}
	prefixes, err := parsePrefixes(addrs)
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return t.plug(h, m, s.brIndex, true, "site "+strconv.Quote(m.name), prefixes)
}
