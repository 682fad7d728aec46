package nstest

import (
	"fmt"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// FDBEntry is an entry of a Linux bridge's forwarding database: the port
// the bridge sends frames for a MAC address out of.
type FDBEntry struct {
	MAC net.HardwareAddr
	// Port is the port the address is on, when it is an interface of the
	// topology (for a host connected with Connect, the host's interface's
	// Peer); nil for the bridge's own address.
	Port *Interface
	// PortName is the port's name in the bridge's namespace, or the
	// bridge's name for its own address.
	PortName string
	// Local: the address of the bridge or of one of its ports; frames to it
	// are the bridge's own. It never ages out.
	Local bool
	// Static: added by hand (bridge fdb add ... static); it never ages out.
	Static bool
	// Learned: learned from the source address of a frame that arrived on
	// the port; it ages out after the bridge's ageing time (AgeingTime).
	Learned bool
	// VLAN is the entry's VLAN, 0 for none (a bridge without VLAN
	// filtering).
	VLAN int
	// Updated is how long ago the entry was last refreshed by a frame.
	Updated time.Duration
}

// String describes the entry as `bridge fdb show` does:
// "02:00:00:00:00:01 dev h1-eth0 learned".
func (e FDBEntry) String() string {
	s := e.MAC.String() + " dev " + e.PortName
	if e.VLAN != 0 {
		s += fmt.Sprintf(" vlan %d", e.VLAN)
	}
	switch {
	case e.Local:
		s += " local"
	case e.Static:
		s += " static"
	default:
		s += fmt.Sprintf(" learned %v ago", e.Updated.Round(tick))
	}
	return s
}

// FDB returns the bridge's forwarding database, as `bridge fdb show br BR`
// lists it: the addresses the bridge learned, with the port it learned each
// on, and its own (local) addresses. A frame to an address it does not list
// is flooded to every port that floods unknown unicast (UnicastFlood).
// Linux bridges only.
func (b *Bridge) FDB() ([]FDBEntry, error) {
	if b.ovs != nil {
		return nil, fmt.Errorf("nstest: bridge %q: FDB: the forwarding database of an Open vSwitch bridge is read with ovs-appctl fdb/show, not by nstest", b)
	}
	h := b.host
	var ns []netlink.Neigh
	var links []netlink.Link
	err := h.use(func() (err error) {
		if ns, err = h.nl.NeighList(0, unix.AF_BRIDGE); err != nil {
			return err
		}
		links, err = h.nl.LinkList()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nstest: bridge %q: FDB: %w", b, err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []FDBEntry
	for _, n := range ns {
		// The bridge's entries name it as their master; a device's own
		// address lists (NTF_SELF) are not the bridge's.
		if n.MasterIndex != b.index || n.Flags&unix.NTF_SELF != 0 {
			continue
		}
		e := FDBEntry{
			MAC:      n.HardwareAddr,
			PortName: names[n.LinkIndex],
			Local:    n.State&netlink.NUD_PERMANENT != 0,
			Static:   n.State&netlink.NUD_NOARP != 0,
			VLAN:     n.Vlan,
			Updated:  time.Duration(n.Updated) * tick,
		}
		e.Learned = !e.Local && !e.Static
		if n.LinkIndex != b.index {
			e.Port = h.ifaceByIndex(n.LinkIndex)
		}
		out = append(out, e)
	}
	return out, nil
}
