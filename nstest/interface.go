package nstest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const nodad = unix.IFA_F_NODAD

// Interface is one end of a veth pair, in a host's namespace or, for the
// bridge side of Connect, in the bridge's (the fabric, or a host's).
type Interface struct {
	host  *Host
	name  string
	index int
	peer  *Interface

	mu         sync.Mutex
	addrs      []netip.Prefix
	lossByDrop bool       // Impair installed an nf_tables drop rule for loss
	cable      [2]*Bridge // for ConnectBridges: this end's bridge, the other's
	noLL       bool       // made without an IPv6 link-local address (see addVeth)
	ovs        *ovsSwitch // a port of an Open vSwitch bridge run by these daemons

	// What Graph draws, also under mu:
	impair Impairment // the last one Impair set
	master int        // index of the bridge it is enslaved to, or 0

	// Its L2 segment besides its peer, for address uniqueness (segment.go),
	// set before its addresses are claimed:
	port  int        // index of the bridge (Linux or Open vSwitch) it is a port of, in its namespace, or 0
	lower *Interface // a VLAN device's parent
	vid   int        // a VLAN device's VLAN ID
}

// Name returns the interface's name in its namespace, such as "eth0".
func (i *Interface) Name() string { return i.name }

// String returns "host:name".
func (i *Interface) String() string { return i.host.name + ":" + i.name }

// Index returns the interface's index in its namespace.
func (i *Interface) Index() int { return i.index }

// Host returns the namespace the interface is in.
func (i *Interface) Host() *Host { return i.host }

// Peer returns the other end of the veth pair: for an interface made by
// Connect, the bridge port in the fabric.
func (i *Interface) Peer() *Interface { return i.peer }

// Addrs returns the interface's addresses in the order they were added.
func (i *Interface) Addrs() []netip.Prefix {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]netip.Prefix(nil), i.addrs...)
}

// SetDown sets the interface administratively down. Its peer loses carrier.
func (i *Interface) SetDown() error {
	h := i.host
	if err := h.use(func() error { return h.nl.LinkSetDown(i.link()) }); err != nil {
		return fmt.Errorf("nstest: interface %s: set down: %w", i, err)
	}
	return nil
}

// SetUp sets the interface up. Traffic sent through the topology afterwards
// waits until the link is operationally up.
func (i *Interface) SetUp() error {
	h := i.host
	if err := h.use(func() error { return h.nl.LinkSetUp(i.link()) }); err != nil {
		return fmt.Errorf("nstest: interface %s: set up: %w", i, err)
	}
	i.host.topo.pend(i)
	if i.peer != nil {
		i.host.topo.pend(i.peer)
	}
	return nil
}

// SetMTU sets the interface's MTU. Only this end changes: a veth drops frames
// larger than the receiving end's MTU, which is how path-MTU problems are
// reproduced. An interface with IPv6 addresses refuses an MTU below 1280,
// IPv6's minimum: the kernel would drop its IPv6 addresses.
func (i *Interface) SetMTU(mtu int) error {
	if mtu < 68 || mtu > 65535 {
		return fmt.Errorf("nstest: interface %s: MTU %d: out of range 68..65535", i, mtu)
	}
	if err := checkIPv6MTU(mtu, i.Addrs()); err != nil {
		return fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	h := i.host
	if err := h.use(func() error { return h.nl.LinkSetMTU(i.link(), mtu) }); err != nil {
		return fmt.Errorf("nstest: interface %s: set MTU %d: %w", i, mtu, err)
	}
	return nil
}

// MTU returns the interface's current MTU.
func (i *Interface) MTU() (int, error) {
	l, err := i.linkByIndex()
	if err != nil {
		return 0, fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	return l.Attrs().MTU, nil
}

// AddAddr adds an address, in CIDR form, to the interface. IPv6 addresses
// skip duplicate address detection and are usable at once.
func (i *Interface) AddAddr(cidr string) error {
	p, err := parsePrefix(cidr)
	if err == nil {
		err = i.addAddr(p)
	}
	if err != nil {
		return fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	return nil
}

func (i *Interface) addAddr(p netip.Prefix) error {
	if err := i.host.topo.claimAddr(p, i); err != nil {
		return err
	}
	if err := i.linkLocalFor(p); err != nil {
		i.host.topo.releaseAddr(p, i)
		return err
	}
	h := i.host
	if err := h.use(func() error { return h.nl.AddrAdd(i.link(), nlAddr(p)) }); err != nil {
		i.host.topo.releaseAddr(p, i)
		return fmt.Errorf("add address %s: %w", p, err)
	}
	i.mu.Lock()
	i.addrs = append(i.addrs, p)
	i.mu.Unlock()
	return nil
}

// linkLocalFor gives the interface its IPv6 link-local address back before
// it gets its first IPv6 address p.
func (i *Interface) linkLocalFor(p netip.Prefix) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !p.Addr().Is6() || !i.noLL {
		return nil
	}
	if err := enableLinkLocal(i.host, i.name); err != nil {
		return err
	}
	i.noLL = false
	return nil
}

// linkByIndex asks the kernel for the interface, in its host's namespace.
func (i *Interface) linkByIndex() (netlink.Link, error) {
	h := i.host
	var l netlink.Link
	err := h.use(func() (err error) { l, err = h.nl.LinkByIndex(i.index); return err })
	return l, err
}

// link names the interface for netlink calls without a lookup.
func (i *Interface) link() netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: i.name, Index: i.index}}
}

var ifNameChars = regexp.MustCompile(`^[^/:\s]+$`)

// checkIfName validates an interface name given by the user; "" means none.
func checkIfName(n string) error {
	switch {
	case n == "":
		return nil
	case len(n) > 15:
		return fmt.Errorf("interface name %q: %d bytes, over the 15 bytes Linux allows", n, len(n))
	case !ifNameChars.MatchString(n) || n == "." || n == "..":
		return fmt.Errorf("interface name %q: must not contain '/', ':' or spaces", n)
	}
	return nil
}

// DelAddr removes an address, in CIDR form, from the interface.
func (i *Interface) DelAddr(cidr string) error {
	p, err := parsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	i.mu.Lock()
	k := -1
	for j, q := range i.addrs {
		if q == p {
			k = j
		}
	}
	i.mu.Unlock()
	if k < 0 {
		return fmt.Errorf("nstest: interface %s: address %s: not on this interface", i, p)
	}
	h := i.host
	if err := h.use(func() error { return h.nl.AddrDel(i.link(), nlAddr(p)) }); err != nil {
		return fmt.Errorf("nstest: interface %s: delete address %s: %w", i, p, err)
	}
	i.mu.Lock()
	for j, q := range i.addrs {
		if q == p {
			i.addrs = append(i.addrs[:j], i.addrs[j+1:]...)
			break
		}
	}
	i.mu.Unlock()
	i.host.topo.releaseAddr(p, i)
	return nil
}

// SetMaster enslaves the interface to bridge br, which must be in the same
// namespace (the fabric, or the host of Host.AddBridge): `ip link set dev
// IFACE master BR`.
func (i *Interface) SetMaster(br *Bridge) error {
	if br == nil || br.topo != i.host.topo || br.host != i.host {
		return fmt.Errorf("nstest: interface %s: set master: only an interface in the bridge's namespace can join a bridge of its topology", i)
	}
	h := i.host
	i.mu.Lock()
	oldPort := i.port
	i.port = br.index // as it will be, to check its addresses
	i.mu.Unlock()
	err := i.host.topo.checkJoin()
	switch {
	case err != nil:
		err = fmt.Errorf("set master %s: %w", br.name, err)
	case br.ovs != nil:
		err = br.addPort(i)
	default:
		err = h.use(func() error { return h.nl.LinkSetMasterByIndex(i.link(), br.index) })
		if err != nil {
			err = fmt.Errorf("set master %s: %w", br.name, err)
		}
	}
	if err != nil {
		i.mu.Lock()
		i.port = oldPort
		i.mu.Unlock()
		return fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	i.mu.Lock()
	i.master = br.index
	i.mu.Unlock()
	i.host.topo.pend(i)
	return nil
}

// MoveTo moves the interface into host h's namespace, keeping its name, as
// `ip link set IFACE netns NS` does. Its addresses are lost and it is down
// afterwards. Moving costs the kernel a synchronisation of about 20 ms; build
// with the end in the right place when you can. Do not use the interface from
// other goroutines while it moves.
func (i *Interface) MoveTo(h *Host) error {
	if h == nil || h.topo != i.host.topo {
		return fmt.Errorf("nstest: interface %s: move: the destination is not a host of this topology", i)
	}
	from := i.host
	err := useBoth(from, h, func() error { return from.nl.LinkSetNsFd(i.link(), h.ns.Fd()) })
	if err != nil {
		return fmt.Errorf("nstest: interface %s: move to %q: %w", i, h.name, err)
	}
	var l netlink.Link
	err = h.use(func() (err error) { l, err = h.nl.LinkByName(i.name); return err })
	if err != nil {
		return fmt.Errorf("nstest: interface %s: find it in %q after the move: %w", i, h.name, err)
	}
	from.removeIface(i)
	i.mu.Lock()
	lost := i.addrs
	i.addrs = nil
	i.master = 0 // a bridge lets go of a port that leaves its namespace
	i.port = 0
	i.mu.Unlock()
	for _, p := range lost {
		from.topo.releaseAddr(p, i) // not under i.mu: claims read it
	}
	i.host, i.index = h, l.Attrs().Index
	h.addIface(i)
	return nil
}

// Delete deletes the interface; the kernel deletes its veth peer with it.
func (i *Interface) Delete() error {
	h := i.host
	if err := h.use(func() error { return h.nl.LinkDel(i.link()) }); err != nil {
		return fmt.Errorf("nstest: interface %s: delete: %w", i, err)
	}
	for _, end := range []*Interface{i, i.peer} {
		if end == nil {
			continue
		}
		end.host.removeIface(end)
		for _, p := range end.Addrs() {
			end.host.topo.releaseAddr(p, end)
		}
	}
	return nil
}

// LinkState reports whether the interface is administratively up and whether
// it has carrier, as the kernel sees it now.
func (i *Interface) LinkState() (up, carrier bool, err error) {
	l, err := i.linkByIndex()
	if err != nil {
		return false, false, fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	a := l.Attrs()
	return a.Flags&net.FlagUp != 0, a.OperState == netlink.OperUp, nil
}

// LinkState is an interface's state as the kernel reports it (`ip link
// show`).
type LinkState struct {
	// AdminUp reports that the interface was set up (IFF_UP).
	AdminUp bool
	// Carrier reports that the link layer is up (IFF_LOWER_UP): for a veth,
	// that its peer is up too.
	Carrier bool
	// OperState is the operational state of RFC 2863 as the kernel names
	// it: "up", "down", "lowerlayerdown", "dormant", "testing",
	// "notpresent" or "unknown". A veth whose peer is down is "down"
	// though set up (AdminUp without Carrier); lo is "unknown".
	OperState string
}

// LinkStats are an interface's counters since it was made (`ip -s link`).
type LinkStats struct {
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	RxErrors, TxErrors   uint64
	// RxDropped and TxDropped count packets the interface dropped, for
	// example a veth transmitting while its peer is down (TxDropped).
	RxDropped, TxDropped uint64
	Multicast            uint64 // multicast packets received
}

// attrs reads the interface's attributes from the kernel.
func (i *Interface) attrs() (*netlink.LinkAttrs, error) {
	var a *netlink.LinkAttrs
	err := i.host.use(func() error {
		l, err := i.host.nl.LinkByIndex(i.index)
		if err != nil {
			return err
		}
		a = l.Attrs()
		return nil
	})
	return a, err
}

// State returns the interface's administrative state, carrier and
// operational state as the kernel sees them now.
func (i *Interface) State() (LinkState, error) {
	a, err := i.attrs()
	if err != nil {
		return LinkState{}, fmt.Errorf("nstest: interface %s: read state: %w", i, err)
	}
	return LinkState{
		AdminUp:   a.RawFlags&unix.IFF_UP != 0,
		Carrier:   a.RawFlags&unix.IFF_LOWER_UP != 0,
		OperState: operStates[a.OperState],
	}, nil
}

// operStates names the IF_OPER_* states as `ip link` does, in lower case.
var operStates = map[netlink.LinkOperState]string{
	netlink.OperUnknown: "unknown", netlink.OperNotPresent: "notpresent", netlink.OperDown: "down",
	netlink.OperLowerLayerDown: "lowerlayerdown", netlink.OperTesting: "testing",
	netlink.OperDormant: "dormant", netlink.OperUp: "up",
}

// Stats returns the interface's packet, byte, error and drop counters.
func (i *Interface) Stats() (LinkStats, error) {
	a, err := i.attrs()
	if err != nil {
		return LinkStats{}, fmt.Errorf("nstest: interface %s: read counters: %w", i, err)
	}
	s := a.Statistics
	if s == nil {
		return LinkStats{}, fmt.Errorf("nstest: interface %s: read counters: the kernel sent none", i)
	}
	return LinkStats{
		RxPackets: s.RxPackets, TxPackets: s.TxPackets,
		RxBytes: s.RxBytes, TxBytes: s.TxBytes,
		RxErrors: s.RxErrors, TxErrors: s.TxErrors,
		RxDropped: s.RxDropped, TxDropped: s.TxDropped,
		Multicast: s.Multicast,
	}, nil
}

// HardwareAddr returns the interface's MAC address.
func (i *Interface) HardwareAddr() (net.HardwareAddr, error) {
	a, err := i.attrs()
	if err != nil {
		return nil, fmt.Errorf("nstest: interface %s: read MAC: %w", i, err)
	}
	return a.HardwareAddr, nil
}

// SetHardwareAddr sets the interface's MAC address, written as
// "02:00:00:00:00:01" (or any form net.ParseMAC reads). It must be a 6-byte
// unicast Ethernet address: not multicast or broadcast (lowest bit of the
// first byte set), not all zeros. Neighbours keep the old address in their
// caches until they ask again.
func (i *Interface) SetHardwareAddr(mac string) error {
	hw, err := net.ParseMAC(mac)
	switch {
	case err != nil || len(hw) != 6:
		return fmt.Errorf("nstest: interface %s: MAC %q: invalid: want six bytes such as 02:00:00:00:00:01", i, mac)
	case hw[0]&1 != 0:
		return fmt.Errorf("nstest: interface %s: MAC %q: a multicast address (lowest bit of the first byte set): an interface needs a unicast one, such as 02:00:00:00:00:01", i, mac)
	case bytes.Equal(hw, make([]byte, 6)):
		return fmt.Errorf("nstest: interface %s: MAC %q: all zeros: the kernel refuses it as an interface's address", i, mac)
	}
	if err := i.host.use(func() error { return i.host.nl.LinkSetHardwareAddr(i.link(), hw) }); err != nil {
		return fmt.Errorf("nstest: interface %s: set MAC %s: %w", i, hw, err)
	}
	return nil
}

// Group returns the interface's device group (0, "default", unless set).
func (i *Interface) Group() (int, error) {
	a, err := i.attrs()
	if err != nil {
		return 0, fmt.Errorf("nstest: interface %s: read group: %w", i, err)
	}
	return int(a.Group), nil
}

// SetGroup puts the interface into device group n (`ip link set dev IFACE
// group N`), 0..4294967295; tools act on a whole group at once (`ip link set
// group N down`) and routes and firewall rules can match it.
func (i *Interface) SetGroup(n int) error {
	if n < 0 || uint64(n) > 0xFFFFFFFF {
		return fmt.Errorf("nstest: interface %s: group %d: out of range 0..4294967295", i, n)
	}
	if err := i.host.use(func() error { return i.host.nl.LinkSetGroup(i.link(), n) }); err != nil {
		return fmt.Errorf("nstest: interface %s: set group %d: %w", i, n, err)
	}
	return nil
}
