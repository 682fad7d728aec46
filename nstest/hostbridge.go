package nstest

import (
	"errors"
	"fmt"
)

// AddBridge adds a Linux bridge, up, inside the host's own namespace: the
// host is then a switch, as a Mininet switch or a Gont switch node is. Connect
// plugs other hosts into it (the veth's other end becomes a port in this
// host's namespace instead of the fabric), ConnectBridges cables it to other
// bridges, and Interface.SetMaster enslaves the host's own interfaces to it.
// AddAddr on the bridge gives the host an address on the switched network,
// which its name then resolves to.
//
// The name is an interface name of the host (at most 15 bytes, unique among
// its interfaces), not a node name of the topology: two hosts may each have a
// br0. The bridge takes the options of Topology.AddBridge except OVS, whose
// bridges live in the fabric; VLANFiltering without the kernel's support
// skips the test, naming the kernel option. Errors fail the test.
func (h *Host) AddBridge(name string, opts ...BridgeOption) *Bridge {
	tb := h.topo.tb
	tb.Helper()
	b, err := h.addBridge(name, opts)
	if errors.Is(err, ErrUnsupported) {
		tb.Skipf("%v", err)
	}
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return b
}

func (h *Host) addBridge(name string, opts []BridgeOption) (*Bridge, error) {
	var bc bridgeConfig
	for _, o := range opts {
		o(&bc)
	}
	where := fmt.Sprintf("nstest: host %q: bridge %q", h.name, name)
	switch {
	case h.kind == kindFabric:
		return nil, fmt.Errorf("%s: add the fabric's bridges with Topology.AddBridge", where)
	case name == "":
		return nil, fmt.Errorf("nstest: host %q: bridge: empty name", h.name)
	case bc.ovs:
		return nil, fmt.Errorf("%s: an Open vSwitch bridge lives in the fabric: make it with Topology.AddBridge(name, nstest.OVS())", where)
	}
	if err := checkIfName(name); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	// The name is reserved while the bridge is made, so that two calls
	// cannot both take it.
	placeholder := &Bridge{name: name} // no topo: not listed
	h.mu.Lock()
	taken := h.ifNameTakenLocked(name)
	if !taken {
		h.bridges = append(h.bridges, placeholder)
	}
	h.mu.Unlock()
	if taken {
		return nil, fmt.Errorf("%s: duplicate name: the host already has an interface or bridge called %q", where, name)
	}
	b, err := makeLinuxBridge(h, name, bc)
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, x := range h.bridges {
		if x == placeholder {
			if err != nil {
				h.bridges = append(h.bridges[:k], h.bridges[k+1:]...)
			} else {
				h.bridges[k] = b
			}
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return b, nil
}

// ifNameTakenLocked reports whether the host has an interface or a bridge
// called name; the caller holds h.mu.
func (h *Host) ifNameTakenLocked(name string) bool {
	for _, i := range h.ifaces {
		if i.name == name {
			return true
		}
	}
	for _, b := range h.bridges {
		if b.name == name {
			return true
		}
	}
	return false
}

// Bridges returns the bridges in the host's namespace in the order they were
// made: for the fabric, the topology's bridges (Topology.Bridges); for a host,
// those of Host.AddBridge.
func (h *Host) Bridges() []*Bridge {
	if h.kind == kindFabric {
		return h.topo.Bridges()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Bridge
	for _, b := range h.bridges {
		if b.topo != nil {
			out = append(out, b)
		}
	}
	return out
}

// Bridge returns the bridge called name in the host's namespace, or nil.
func (h *Host) Bridge(name string) *Bridge {
	for _, b := range h.Bridges() {
		if b.name == name {
			return b
		}
	}
	return nil
}

// bridgeAt returns the bridge of the topology with the given interface index
// in h's namespace, or nil.
func (h *Host) bridgeAt(index int) *Bridge {
	for _, b := range h.Bridges() {
		if b.index == index {
			return b
		}
	}
	return nil
}
