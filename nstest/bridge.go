package nstest

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/fastnl"
	"github.com/nstest/harness/internal/kconfig"
)

// Bridge is a Linux bridge in the topology's fabric namespace.
type Bridge struct {
	topo  *Topology
	name  string
	index int

	mu    sync.Mutex
	addrs []netip.Prefix
	hasLL bool // IPv6 link-local generation turned on (see addVeth)
}

type bridgeConfig struct {
	vlanFiltering bool
}

// A BridgeOption configures a bridge.
type BridgeOption func(*bridgeConfig)

// VLANFiltering turns on the bridge's VLAN filtering, so that its ports carry
// only the VLANs they are members of.
func VLANFiltering() BridgeOption { return func(c *bridgeConfig) { c.vlanFiltering = true } }

// AddBridge adds a Linux bridge, up, to the topology's fabric namespace. Its
// name is an interface name: at most 15 bytes. A bridge asking for a feature
// the kernel lacks (VLANFiltering without CONFIG_BRIDGE_VLAN_FILTERING)
// skips the test, naming the kernel option.
func (t *Topology) AddBridge(name string, opts ...BridgeOption) *Bridge {
	t.tb.Helper()
	b, err := t.addBridge(name, opts)
	if errors.Is(err, ErrUnsupported) {
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
	t.nodes[name] = b
	t.bridges = append(t.bridges, b)
	return b, nil
}

func (t *Topology) makeBridge(name string, bc bridgeConfig) (*Bridge, error) {
	fab, err := t.getFabric()
	if err != nil {
		return nil, err
	}
	br := &Bridge{topo: t, name: name}
	for try := 0; ; try++ {
		br.index = fab.allocIndex()
		err := fab.fnl.Do(fastnl.AddBridge(fastnl.Bridge{Name: name, Index: br.index, Up: true, VLANFiltering: bc.vlanFiltering}))
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

// String returns the bridge's name.
func (b *Bridge) String() string { return b.name }

// Index returns the bridge's interface index in the fabric namespace.
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
	if err := b.topo.claimAddr(p, "bridge "+b.name); err != nil {
		return err
	}
	fab, err := b.topo.getFabric()
	if err != nil {
		b.topo.releaseAddr(p)
		return err
	}
	if err := b.linkLocalFor(p, fab); err != nil {
		b.topo.releaseAddr(p)
		return err
	}
	l := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: b.name, Index: b.index}}
	if err := fab.nl.AddrAdd(l, nlAddr(p)); err != nil {
		b.topo.releaseAddr(p)
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

// Addr returns the bridge's first IPv4 address, else its first IPv6 address,
// or the zero Addr.
func (b *Bridge) Addr() netip.Addr {
	var v6 netip.Addr
	for _, p := range b.Addrs() {
		if p.Addr().Is4() {
			return p.Addr()
		}
		if !v6.IsValid() {
			v6 = p.Addr()
		}
	}
	return v6
}
