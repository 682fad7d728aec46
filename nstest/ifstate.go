package nstest

import (
	"bytes"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

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
