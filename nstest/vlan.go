package nstest

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
)

// A VLANOption configures a port's membership of a VLAN (see SetVLAN).
type VLANOption func(*vlanConfig)

type vlanConfig struct {
	tagged bool
}

// Tagged makes the port a tagged member of the VLAN, as a trunk port is: its
// frames of that VLAN carry an 802.1Q tag, and the port keeps its other
// VLANs. Hosts behind a tagged port need a VLAN device (CONFIG_VLAN_8021Q) to
// use it; a veth between two bridges (ConnectBridges) needs nothing.
func Tagged() VLANOption { return func(c *vlanConfig) { c.tagged = true } }

// SetVLAN makes a bridge port a member of VLAN vid (1..4094). The bridge must
// have VLAN filtering (VLANFiltering). On a host's interface made by Connect,
// SetVLAN applies to its bridge port in the fabric (Peer), so
//
//	t.Connect(h1, br, "10.0.0.1/24").SetVLAN(10)
//
// puts h1 in VLAN 10.
//
// By default the port becomes an access port of vid: untagged member with vid
// as its PVID, so the host's plain frames belong to vid, and it leaves every
// other VLAN it carried untagged, the default VLAN 1 included. With Tagged it
// becomes a tagged member of vid in addition to its other VLANs.
func (i *Interface) SetVLAN(vid int, opts ...VLANOption) error {
	var c vlanConfig
	for _, o := range opts {
		o(&c)
	}
	port, err := i.bridgePort(vid)
	if err != nil {
		return err
	}
	h := port.host
	if c.tagged {
		if err := h.use(func() error { return h.nl.BridgeVlanAdd(port.link(), uint16(vid), false, false, false, false) }); err != nil {
			return fmt.Errorf("nstest: interface %s: VLAN %d tagged: %w", i, vid, err)
		}
		return nil
	}
	if err := h.use(func() error { return h.nl.BridgeVlanAdd(port.link(), uint16(vid), true, true, false, false) }); err != nil {
		return fmt.Errorf("nstest: interface %s: VLAN %d untagged: %w", i, vid, err)
	}
	vlans, err := port.vlans()
	if err != nil {
		return fmt.Errorf("nstest: interface %s: VLAN %d: %w", i, vid, err)
	}
	for _, v := range vlans {
		if int(v.Vid) != vid && v.EngressUntag() {
			if err := h.use(func() error { return h.nl.BridgeVlanDel(port.link(), v.Vid, false, true, false, false) }); err != nil {
				return fmt.Errorf("nstest: interface %s: VLAN %d: leave untagged VLAN %d: %w", i, vid, v.Vid, err)
			}
		}
	}
	return nil
}

// RemoveVLAN takes a bridge port (or a Connect interface's bridge port) out
// of VLAN vid. A port in no VLAN carries no frames.
func (i *Interface) RemoveVLAN(vid int) error {
	port, err := i.bridgePort(vid)
	if err != nil {
		return err
	}
	h := port.host
	if err := h.use(func() error { return h.nl.BridgeVlanDel(port.link(), uint16(vid), false, false, false, false) }); err != nil {
		return fmt.Errorf("nstest: interface %s: remove VLAN %d: %w", i, vid, err)
	}
	return nil
}

// VLANs returns the VLAN ids the bridge port (or a Connect interface's bridge
// port) is a member of, in increasing order.
func (i *Interface) VLANs() ([]int, error) {
	port, err := i.bridgePort(1)
	if err != nil {
		return nil, err
	}
	vs, err := port.vlans()
	if err != nil {
		return nil, fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	var out []int
	for _, v := range vs {
		out = append(out, int(v.Vid))
	}
	return out, nil
}

// bridgePort returns the bridge port that VLAN calls on i act on, checking
// vid and the bridge's VLAN filtering.
func (i *Interface) bridgePort(vid int) (*Interface, error) {
	if vid < 1 || vid > 4094 {
		return nil, fmt.Errorf("nstest: interface %s: VLAN %d: out of range 1..4094", i, vid)
	}
	port := i.portSide()
	l, err := port.linkByIndex()
	if err != nil {
		return nil, fmt.Errorf("nstest: interface %s: VLAN %d: %w", i, vid, err)
	}
	master := l.Attrs().MasterIndex
	if master == 0 {
		return nil, fmt.Errorf("nstest: interface %s: VLAN %d: %s is not a bridge port", i, vid, port)
	}
	var ml netlink.Link
	err = port.host.use(func() (err error) { ml, err = port.host.nl.LinkByIndex(master); return err })
	if err != nil {
		return nil, fmt.Errorf("nstest: interface %s: VLAN %d: bridge of %s: %w", i, vid, port, err)
	}
	br, ok := ml.(*netlink.Bridge)
	if !ok {
		return nil, fmt.Errorf("nstest: interface %s: VLAN %d: %s is enslaved to %q, not a bridge", i, vid, port, ml.Attrs().Name)
	}
	if br.VlanFiltering == nil || !*br.VlanFiltering {
		return nil, fmt.Errorf("nstest: interface %s: VLAN %d: bridge %q has no VLAN filtering (make it with nstest.VLANFiltering())", i, vid, br.Name)
	}
	return port, nil
}

// vlans lists the port's VLAN memberships.
func (i *Interface) vlans() ([]*nl.BridgeVlanInfo, error) {
	var all map[int32][]*nl.BridgeVlanInfo
	err := i.host.use(func() (err error) { all, err = i.host.nl.BridgeVlanList(); return err })
	if err != nil {
		return nil, fmt.Errorf("list VLANs: %w", err)
	}
	return all[int32(i.index)], nil
}
