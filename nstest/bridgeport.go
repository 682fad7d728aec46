package nstest

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink/nl"

	"github.com/nstest/harness/internal/fastnl"
)

// A PortOption sets a flag of a Linux bridge port (see SetBridgePort).
type PortOption func(*portConfig)

type portConfig struct {
	attrs []*nl.RtAttr
	what  []string // "learning off", for errors
}

func portFlag(attr int, name string, on bool) PortOption {
	return func(c *portConfig) {
		v := byte(0)
		if on {
			v = 1
		}
		c.attrs = append(c.attrs, nl.NewRtAttr(attr, []byte{v}))
		c.what = append(c.what, name+" "+onOff(on))
	}
}

// Learning turns learning on (the default) or off for the port: with it off,
// the bridge does not record the source addresses of frames that arrive on
// the port, so frames to those addresses keep being flooded.
func Learning(on bool) PortOption { return portFlag(nl.IFLA_BRPORT_LEARNING, "learning", on) }

// UnicastFlood turns flooding of unknown unicast frames to the port on (the
// default) or off: with it off, a frame to a MAC address the bridge has not
// learned is not sent out of this port.
func UnicastFlood(on bool) PortOption {
	return portFlag(nl.IFLA_BRPORT_UNICAST_FLOOD, "unicast flood", on)
}

// MulticastFlood turns flooding of multicast frames that no snooped group
// claims to the port on (the default) or off.
func MulticastFlood(on bool) PortOption {
	return portFlag(nl.IFLA_BRPORT_MCAST_FLOOD, "multicast flood", on)
}

// BroadcastFlood turns flooding of broadcast frames (ARP requests, DHCP
// discovers) to the port on (the default) or off.
func BroadcastFlood(on bool) PortOption {
	return portFlag(nl.IFLA_BRPORT_BCAST_FLOOD, "broadcast flood", on)
}

// SetBridgePort sets flags of a Linux bridge port, all at once. On a host's
// interface made by Connect it applies to its bridge port (Peer), as SetVLAN
// does, so
//
//	t.Connect(h1, br, "10.0.0.1/24").SetBridgePort(nstest.Learning(false))
//
// stops br learning h1's address. The flags act on frames leaving the port
// (the flood flags) or arriving on it (Learning).
func (i *Interface) SetBridgePort(opts ...PortOption) error {
	var c portConfig
	for _, o := range opts {
		o(&c)
	}
	what := strings.Join(c.what, ", ")
	port, _, err := i.linuxPort()
	if err != nil {
		return fmt.Errorf("nstest: interface %s: %s: %w", i, what, err)
	}
	if len(c.attrs) == 0 {
		return nil
	}
	h := port.host
	if err := h.use(func() error { return h.fnl.Do(fastnl.SetBridgePort(port.index, c.attrs...)) }); err != nil {
		return fmt.Errorf("nstest: interface %s: bridge port %s: set %s: %w", i, port, what, err)
	}
	return nil
}

// PortState is the Spanning Tree state of a bridge port (BR_STATE_*).
type PortState uint8

// The states of a bridge port. Without STP a port that is up forwards; with
// STP it listens, then learns, before it forwards, and blocks when it would
// close a loop.
const (
	PortDisabled   PortState = fastnl.PortDisabled
	PortListening  PortState = fastnl.PortListening
	PortLearning   PortState = fastnl.PortLearning
	PortForwarding PortState = fastnl.PortForwarding
	PortBlocking   PortState = fastnl.PortBlocking
)

// String returns the state as `bridge link` prints it: "forwarding", ...
func (s PortState) String() string {
	switch s {
	case PortDisabled:
		return "disabled"
	case PortListening:
		return "listening"
	case PortLearning:
		return "learning"
	case PortForwarding:
		return "forwarding"
	case PortBlocking:
		return "blocking"
	}
	return "PortState(" + strconv.Itoa(int(s)) + ")"
}

// PortInfo describes a port of a Linux bridge as the kernel reports it.
type PortInfo struct {
	Port   *Interface // the port itself: for an interface made by Connect, its Peer
	Bridge *Bridge    // the bridge it belongs to
	State  PortState

	// Flags (see the PortOptions of the same names).
	Learning, UnicastFlood, MulticastFlood, BroadcastFlood bool
}

// String describes the port as `bridge -d link` does, briefly:
// "fabric:h1-eth0 master br1 state forwarding learning on flood on ...".
func (p PortInfo) String() string {
	return fmt.Sprintf("%s master %s state %s learning %s flood %s mcast_flood %s bcast_flood %s",
		p.Port, p.Bridge, p.State, onOff(p.Learning), onOff(p.UnicastFlood), onOff(p.MulticastFlood), onOff(p.BroadcastFlood))
}

// BridgePort reads the state and flags of the Linux bridge port the
// interface is (or, for an interface made by Connect, whose Peer is).
func (i *Interface) BridgePort() (PortInfo, error) {
	port, li, err := i.linuxPort()
	if err != nil {
		return PortInfo{}, fmt.Errorf("nstest: interface %s: bridge port: %w", i, err)
	}
	flag := func(t uint16) bool { v, _ := fastnl.Uint8(li.SlaveData, t); return v != 0 }
	st, _ := fastnl.Uint8(li.SlaveData, nl.IFLA_BRPORT_STATE)
	return PortInfo{
		Port:           port,
		Bridge:         port.host.bridgeAt(li.Master),
		State:          PortState(st),
		Learning:       flag(nl.IFLA_BRPORT_LEARNING),
		UnicastFlood:   flag(nl.IFLA_BRPORT_UNICAST_FLOOD),
		MulticastFlood: flag(nl.IFLA_BRPORT_MCAST_FLOOD),
		BroadcastFlood: flag(nl.IFLA_BRPORT_BCAST_FLOOD),
	}, nil
}

// portSide returns the end of i's veth pair that bridge port calls act on:
// i itself when it is enslaved to a bridge or lies in the fabric or a site's
// machine, else its peer (the bridge side of an interface made by Connect).
func (i *Interface) portSide() *Interface {
	i.mu.Lock()
	m := i.master
	i.mu.Unlock()
	if m != 0 || i.host.kind == kindFabric || i.host.kind == kindSite || i.peer == nil {
		return i
	}
	return i.peer
}

// linuxPort returns the Linux bridge port that port calls on i act on, and
// what the kernel says of it, or an error saying why there is none.
func (i *Interface) linuxPort() (*Interface, fastnl.LinkInfo, error) {
	port := i.portSide()
	h := port.host
	var li fastnl.LinkInfo
	if port.ovsPort() {
		return nil, li, fmt.Errorf("%s is a port of an Open vSwitch bridge; port flags and states are those of Linux bridges", port)
	}
	err := h.use(func() (err error) {
		li, err = h.fnl.LinkInfo(port.index)
		return err
	})
	if err != nil {
		return nil, li, fmt.Errorf("%s: %w", port, err)
	}
	switch {
	case li.SlaveKind == "openvswitch":
		return nil, li, fmt.Errorf("%s is a port of an Open vSwitch bridge; port flags and states are those of Linux bridges", port)
	case li.SlaveKind != "bridge" && port != i:
		return nil, li, fmt.Errorf("neither %s nor its peer %s is a port of a Linux bridge", i, port)
	case li.SlaveKind != "bridge":
		return nil, li, fmt.Errorf("%s is not a port of a Linux bridge", port)
	}
	return port, li, nil
}
