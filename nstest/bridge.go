package nstest

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/fastnl"
	"github.com/nstest/harness/internal/kconfig"
)

// Bridge is a Linux bridge, or an Open vSwitch bridge (see OVS), in the
// topology's fabric namespace, or a Linux bridge inside a host
// (Host.AddBridge).
type Bridge struct {
	topo  *Topology
	name  string
	index int
	host  *Host // the namespace it is in: the fabric, or a host

	mu    sync.Mutex
	addrs []netip.Prefix
	hasLL bool // IPv6 link-local generation turned on (see addVeth)
	stp   stpState

	ovs *ovsSwitch // the daemons of an Open vSwitch bridge; nil for a Linux bridge
}

type bridgeConfig struct {
	vlanFiltering bool
	ovs           bool
	set           bridgeSettings // AgeingTime, STP, ...
}

// A BridgeOption configures a bridge.
type BridgeOption func(*bridgeConfig)

// VLANFiltering turns on the bridge's VLAN filtering, so that its ports carry
// only the VLANs they are members of.
func VLANFiltering() BridgeOption { return func(c *bridgeConfig) { c.vlanFiltering = true } }

// AddBridge adds a Linux bridge, up, to the topology's fabric namespace. Its
// name is an interface name: at most 15 bytes. A bridge asking for a feature
// the kernel lacks (VLANFiltering without CONFIG_BRIDGE_VLAN_FILTERING)
// skips the test, naming the kernel option; so does OVS without the Debian
// package openvswitch-switch, naming the package.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value; it skips the test
// when the kernel lacks what the options ask for.
func (t *Topology) AddBridge(name string, opts ...BridgeOption) *Bridge {
	t.tb.Helper()
	b, err := t.addBridge(name, opts)
	if errors.Is(err, ErrUnsupported) || errors.Is(err, errMissingProgram) {
		t.tb.Skipf("%v", err)
	}
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return b
}

func (t *Topology) addBridge(name string, opts []BridgeOption) (*Bridge, error) {
	var bc bridgeConfig
	for _, o := range opts {
		o(&bc)
	}
	if len(name) > 15 {
		return nil, fmt.Errorf("nstest: bridge %q: name is %d bytes, over the 15 bytes an interface name may have", name, len(name))
	}
	t.mu.Lock()
	if err := t.checkName("bridge", name); err != nil {
		t.mu.Unlock()
		return nil, err
	}
	t.nodes[name] = nil
	t.mu.Unlock()
	b, err := t.makeBridge(name, bc)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		delete(t.nodes, name)
		return nil, fmt.Errorf("nstest: bridge %q: %w", name, err)
	}
	if b.host == nil {
		b.host = b.ovs.fab
	}
	t.nodes[name] = b
	t.bridges = append(t.bridges, b)
	return b, nil
}

func (t *Topology) makeBridge(name string, bc bridgeConfig) (*Bridge, error) {
	if bc.ovs {
		if bc.vlanFiltering {
			return nil, errors.New("VLANFiltering applies to Linux bridges, not to OVS bridges")
		}
		if err := bc.set.onlyLinux(); err != nil {
			return nil, err
		}
		return t.makeOVSBridge(name)
	}
	fab, err := t.getFabric()
	if err != nil {
		return nil, err
	}
	return makeLinuxBridge(fab, name, bc)
}

// makeLinuxBridge makes a Linux bridge, up, in h's namespace.
func makeLinuxBridge(h *Host, name string, bc bridgeConfig) (*Bridge, error) {
	if err := bc.set.check(); err != nil {
		return nil, err
	}
	br := &Bridge{topo: h.topo, name: name, host: h}
	br.stp.apply(bc.set)
	for try := 0; ; try++ {
		br.index = h.allocIndex()
		// In a host's namespace, unlike the fabric (see newHost), a new
		// bridge would make an IPv6 link-local address, and its router
		// solicitations, DAD probes and MLD reports would flood every port:
		// none until it gets an IPv6 address (AddAddr). The kernel refuses
		// the mode in the creation message, so the bridge comes up after.
		inHost := h.kind != kindFabric
		fb := fastnl.Bridge{Name: name, Index: br.index, Up: !inHost, VLANFiltering: bc.vlanFiltering, Data: bc.set.attrs()}
		err := h.use(func() error {
			if err := h.fnl.Do(fastnl.AddBridge(fb)); err != nil || !inHost {
				return err
			}
			if err := h.fnl.Do(fastnl.SetAddrGenMode(br.index, nl.IN6_ADDR_GEN_MODE_NONE), fastnl.SetUp(br.index)); err != nil {
				h.fnl.Do(fastnl.DelLink(br.index)) // nothing half-built
				return fmt.Errorf("set bridge up: %w", err)
			}
			return nil
		})
		if errors.Is(err, unix.EBUSY) && try < maxIndexTries {
			continue // the index was taken
		}
		if err != nil {
			option := "CONFIG_BRIDGE"
			if bc.vlanFiltering {
				option = "CONFIG_BRIDGE_VLAN_FILTERING"
			}
			return nil, fmt.Errorf("add bridge: %w", kconfig.Check(err, option))
		}
		return br, nil
	}
}

// Name returns the bridge's name.
func (b *Bridge) Name() string { return b.name }

// String returns the bridge's name, or "host:name" for a bridge inside a
// host.
func (b *Bridge) String() string {
	if b.host != nil && b.host.kind != kindFabric {
		return b.host.name + ":" + b.name
	}
	return b.name
}

// Host returns the namespace the bridge is in: the fabric (Topology.Fabric),
// or the host that made it with Host.AddBridge.
func (b *Bridge) Host() *Host { return b.host }

// where returns the namespace the bridge is in.
func (b *Bridge) where() (*Host, error) {
	if b.host != nil {
		return b.host, nil
	}
	return b.topo.getFabric()
}

// Index returns the bridge's interface index in its namespace.
func (b *Bridge) Index() int { return b.index }

// AddAddr gives the bridge itself an address (a CIDR), so that the fabric
// namespace takes part in the bridged network: the seed tutorial's "bridge as
// an interface".
func (b *Bridge) AddAddr(cidr string) error {
	p, err := parsePrefix(cidr)
	if err == nil {
		err = b.addAddr(p)
	}
	if err != nil {
		return fmt.Errorf("nstest: bridge %q: %w", b.name, err)
	}
	return nil
}

func (b *Bridge) addAddr(p netip.Prefix) error {
	if err := b.topo.claimAddr(p, b); err != nil {
		return err
	}
	fab, err := b.where()
	if err != nil {
		b.topo.releaseAddr(p, b)
		return err
	}
	if err := b.linkLocalFor(p, fab); err != nil {
		b.topo.releaseAddr(p, b)
		return err
	}
	l := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: b.name, Index: b.index}}
	if err := fab.use(func() error { return fab.nl.AddrAdd(l, nlAddr(p)) }); err != nil {
		b.topo.releaseAddr(p, b)
		return fmt.Errorf("add address %s: %w", p, err)
	}
	b.mu.Lock()
	b.addrs = append(b.addrs, p)
	b.mu.Unlock()
	return nil
}

// linkLocalFor gives the bridge an IPv6 link-local address, which the
// fabric does not make by default, before its first IPv6 address p.
func (b *Bridge) linkLocalFor(p netip.Prefix, fab *Host) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !p.Addr().Is6() || b.hasLL {
		return nil
	}
	if err := enableLinkLocal(fab, b.name); err != nil {
		return err
	}
	b.hasLL = true
	return nil
}

// Addrs returns the bridge's addresses.
func (b *Bridge) Addrs() []netip.Prefix {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]netip.Prefix(nil), b.addrs...)
}

// Addr returns the bridge's first global IPv4 address, or else its first
// global IPv6 address, or the zero Addr if it has none: the rule of
// Host.Addr (see Topology.Resolve), so a link-local address is never it.
func (b *Bridge) Addr() netip.Addr { return firstGlobal(b.Addrs()) }

// Ports returns the names of the interfaces enslaved to the bridge, as the
// kernel reports them (`bridge link`, `brctl show`).
func (b *Bridge) Ports() ([]string, error) {
	if b.ovs != nil {
		out, err := b.ovs.vsctl("list-ports", b.name)
		if err != nil {
			return nil, fmt.Errorf("nstest: bridge %q: list ports: %w", b.name, err)
		}
		return strings.Fields(out), nil
	}
	fab, err := b.where()
	if err != nil {
		return nil, fmt.Errorf("nstest: bridge %q: list ports: %w", b.name, err)
	}
	var links []netlink.Link
	err = fab.use(func() (err error) { links, err = fab.nl.LinkList(); return err })
	if err != nil {
		return nil, fmt.Errorf("nstest: bridge %q: list ports: %w", b.name, err)
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == b.index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}
