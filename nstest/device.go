package nstest

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Devices made inside a namespace, beside the veth pairs of Connect and Link:
// 802.1Q VLAN sub-interfaces and dummy interfaces. Both are kernel modules
// (8021q, dummy) that some kernels lack: creating one there skips the test,
// naming the kernel option, as AddBridge does for VLAN filtering.

// AddVLAN adds an 802.1Q VLAN sub-interface of parent for VLAN vid (1..4094),
// as `ip link add link eth0 name eth0.10 type vlan id 10` does: in parent's
// namespace, named "<parent>.<vid>", up, with the given addresses (CIDRs).
// It sends and receives parent's frames tagged with vid, so a host (or a
// router, for a router on a stick) behind a tagged bridge port (SetVLAN with
// Tagged) takes part in that VLAN:
//
//	eth0 := topo.Connect(r, br)
//	eth0.SetVLAN(10, nstest.Tagged())
//	topo.AddVLAN(eth0, 10, "10.0.10.1/24") // r:eth0.10
//
// Like the other builders it fails the test on bad input; on a kernel
// without 802.1Q VLAN devices (CONFIG_VLAN_8021Q) it skips the test.
func (t *Topology) AddVLAN(parent *Interface, vid int, addrs ...string) *Interface {
	t.tb.Helper()
	i, err := t.addVLAN(parent, vid, addrs)
	if errors.Is(err, ErrUnsupported) {
		t.tb.Skipf("%v", err)
	}
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return i
}

func (t *Topology) addVLAN(parent *Interface, vid int, addrs []string) (*Interface, error) {
	if parent == nil {
		return nil, errors.New("nstest: add VLAN: parent interface is nil")
	}
	if parent.host.topo != t {
		return nil, fmt.Errorf("nstest: interface %s: add VLAN %d: the interface belongs to another topology", parent, vid)
	}
	if vid < 1 || vid > 4094 {
		return nil, fmt.Errorf("nstest: interface %s: add VLAN %d: out of range 1..4094", parent, vid)
	}
	name := parent.name + "." + strconv.Itoa(vid)
	if len(name) > 15 {
		return nil, fmt.Errorf("nstest: interface %s: add VLAN %d: name %q is %d bytes, over the 15 bytes Linux allows", parent, vid, name, len(name))
	}
	// A VLAN device is on its own segment: the VLAN on its parent's.
	vi := &Interface{host: parent.host, name: name, lower: parent, vid: vid}
	i, err := parent.host.addDevice(vi, addrs, func(attrs netlink.LinkAttrs) netlink.Link {
		attrs.ParentIndex = parent.index
		return &netlink.Vlan{LinkAttrs: attrs, VlanId: vid, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}
	}, "802.1Q VLAN devices", "CONFIG_VLAN_8021Q")
	if err != nil {
		return nil, fmt.Errorf("nstest: interface %s: add VLAN %d: %w", parent, vid, err)
	}
	// Its carrier follows parent's: wait for it as for a new veth.
	t.pend(i)
	return i, nil
}

// AddDummy adds a dummy interface to host h, up, with the given addresses
// (CIDRs), as `ip link add NAME type dummy` does. A dummy interface carries
// no traffic to anywhere: it holds addresses that belong to the host rather
// than to one of its links, as a router's loopback address or a service
// address announced by several servers does, and stays up whatever happens to
// the links. name "" picks "dummy0", "dummy1", ...
//
// Like the other builders it fails the test on bad input; on a kernel
// without dummy interfaces (CONFIG_DUMMY) it skips the test.
func (t *Topology) AddDummy(h *Host, name string, addrs ...string) *Interface {
	t.tb.Helper()
	i, err := t.addDummy(h, name, addrs)
	if errors.Is(err, ErrUnsupported) {
		t.tb.Skipf("%v", err)
	}
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return i
}

func (t *Topology) addDummy(h *Host, name string, addrs []string) (*Interface, error) {
	if h == nil {
		return nil, errors.New("nstest: add dummy: host is nil")
	}
	if h.topo != t {
		return nil, fmt.Errorf("nstest: host %q: add dummy: the host belongs to another topology", h.name)
	}
	if name == "" {
		name = h.allocDummyName()
	}
	if err := checkIfName(name); err != nil {
		return nil, fmt.Errorf("nstest: host %q: add dummy: %w", h.name, err)
	}
	// A dummy's operational state is "unknown", never "up": nothing to wait
	// for once it is up.
	i, err := h.addDevice(&Interface{host: h, name: name}, addrs, func(attrs netlink.LinkAttrs) netlink.Link {
		return &netlink.Dummy{LinkAttrs: attrs}
	}, "dummy interfaces", "CONFIG_DUMMY")
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: add dummy %q: %w", h.name, name, err)
	}
	return i, nil
}

// allocDummyName returns the first "dummyN" that no interface of h has.
func (h *Host) allocDummyName() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	taken := map[string]bool{}
	for _, i := range h.ifaces {
		taken[i.name] = true
	}
	for n := 0; ; n++ {
		if name := "dummy" + strconv.Itoa(n); !taken[name] {
			return name
		}
	}
}

// addDevice makes a link of h's namespace with the index chosen up front (as
// for veth pairs), i, gives it addrs, sets it up and records it. On failure
// nothing is left: no link, no claimed address. A kernel that does not know
// the link's kind answers EOPNOTSUPP ("Unknown device type") once modprobe
// could not load the module, or ENOENT where modules are not loadable at
// all; both mean the kernel lacks the feature, named by what and option.
func (h *Host) addDevice(i *Interface, addrs []string, mk func(netlink.LinkAttrs) netlink.Link, what, option string) (*Interface, error) {
	ps, err := parsePrefixes(addrs)
	if err != nil {
		return nil, err
	}
	name := i.name
	if h.Interface(name) != nil {
		return nil, fmt.Errorf("an interface named %q exists already in %q", name, h.name)
	}
	var claimed []netip.Prefix
	release := func() {
		for _, p := range claimed {
			h.topo.releaseAddr(p, i)
		}
	}
	for _, p := range ps {
		if err := h.topo.claimAddr(p, i); err != nil {
			release()
			return nil, err
		}
		claimed = append(claimed, p)
	}
	// The host's handle only through use: after teardown it fails with
	// ErrClosed instead of acting anywhere else.
	err = h.use(func() error {
		for try := 0; ; try++ {
			i.index = h.allocIndex()
			err := h.nl.LinkAdd(mk(netlink.LinkAttrs{Name: name, Index: i.index}))
			if errors.Is(err, unix.EBUSY) && try < maxIndexTries {
				continue // the index was taken
			}
			if err == nil {
				break
			}
			if unsupported(err) {
				return fmt.Errorf("this kernel has no %s (%s is not set): %v: %w", what, option, err, ErrUnsupported)
			}
			if errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("an interface named %q exists already in %q", name, h.name)
			}
			return fmt.Errorf("add link: %w", err)
		}
		undo := func(err error) error {
			h.nl.LinkDel(i.link())
			return err
		}
		for _, p := range ps {
			if err := h.nl.AddrAdd(i.link(), nlAddr(p)); err != nil {
				return undo(fmt.Errorf("add address %s: %w", p, err))
			}
		}
		if err := h.nl.LinkSetUp(i.link()); err != nil {
			return undo(fmt.Errorf("set up: %w", err))
		}
		return nil
	})
	if err != nil {
		release()
		return nil, err
	}
	i.addrs = ps
	h.addIface(i)
	return i, nil
}

// unsupported reports whether creating a kernel object failed because the
// kernel lacks the feature: the errors it gives when the module is absent.
func unsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOENT) ||
		strings.Contains(strings.ToLower(err.Error()), "unknown device type")
}
