package nstest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vishvananda/netlink/nl"

	"github.com/nstest/harness/internal/fastnl"
)

// Options of a Linux bridge (AddBridge, Host.AddBridge) and the setters that
// change them on a live bridge. The kernel counts these times in hundredths
// of a second (USER_HZ clock ticks), so they are given in steps of 10ms.

// bridgeSettings are the options given; nil means the kernel's default.
type bridgeSettings struct {
	ageing   *time.Duration
	snooping *bool
	stp      *bool
	fwdDelay *time.Duration
	errs     []error // bad values, reported by check
}

// AgeingTime sets how long the bridge remembers the port a MAC address was
// last seen on (the kernel's default is 300s). A frame to an address it does
// not know is flooded to every port. Zero makes the bridge learn nothing, so
// that it floods every frame, as a hub does.
func AgeingTime(d time.Duration) BridgeOption {
	return func(c *bridgeConfig) {
		if err := checkTicks("ageing time", d, 0, maxTicks); err != nil {
			c.set.errs = append(c.set.errs, err)
			return
		}
		c.set.ageing = &d
	}
}

// MulticastSnooping turns IGMP and MLD snooping on (the kernel's default) or
// off. With it on, the bridge sends multicast frames only to the ports whose
// hosts joined the group, once it has heard a querier; off, it floods them.
func MulticastSnooping(on bool) BridgeOption {
	return func(c *bridgeConfig) { c.set.snooping = &on }
}

// STP turns the kernel's Spanning Tree Protocol on or off (off by default).
// With STP on, the bridge exchanges BPDUs with the bridges it is cabled to
// and blocks ports that would close a loop. It also delays forwarding: a
// port that comes up listens, then learns, for the bridge's forward delay
// each (15s by default; see ForwardDelay), before it forwards frames, so a
// host connected to it can send nothing for 30s. nstest waits for that,
// watching the port's state over netlink, before anything is sent through
// the topology (Ping, Dial, Command, InNS, ...): with the default forward
// delay, the first such call after Connect takes 30s.
func STP(on bool) BridgeOption {
	return func(c *bridgeConfig) { c.set.stp = &on }
}

// ForwardDelay sets the time a port of an STP bridge spends listening, and
// then learning, before it forwards: 2s to 30s, the kernel's limits with STP
// on (15s by default). It matters only with STP: without, a port forwards as
// soon as it is up. ForwardDelay(2*time.Second) makes a port forward 4s
// after it comes up, the shortest the kernel allows.
func ForwardDelay(d time.Duration) BridgeOption {
	return func(c *bridgeConfig) {
		if err := checkTicks("forward delay", d, 2*time.Second, 30*time.Second); err != nil {
			c.set.errs = append(c.set.errs, err)
			return
		}
		c.set.fwdDelay = &d
	}
}

// maxTicks is the longest time a 32-bit count of hundredths of a second holds.
const maxTicks = time.Duration(1<<32-1) * tick

// tick is the kernel's clock_t unit in bridge attributes (USER_HZ = 100).
const tick = 10 * time.Millisecond

// checkTicks validates a time the kernel takes in hundredths of a second.
func checkTicks(what string, d, lo, hi time.Duration) error {
	switch {
	case d < lo || d > hi:
		return fmt.Errorf("%s %v: out of range %v..%v", what, d, lo, hi)
	case d%tick != 0:
		return fmt.Errorf("%s %v: not a multiple of 10ms, the kernel's unit", what, d)
	}
	return nil
}

// check reports the bad values given.
func (s bridgeSettings) check() error { return errors.Join(s.errs...) }

// onlyLinux refuses the options an Open vSwitch bridge does not take.
func (s bridgeSettings) onlyLinux() error {
	if err := s.check(); err != nil {
		return err
	}
	var names []string
	for _, o := range []struct {
		set  bool
		name string
	}{{s.ageing != nil, "AgeingTime"}, {s.snooping != nil, "MulticastSnooping"}, {s.stp != nil, "STP"}, {s.fwdDelay != nil, "ForwardDelay"}} {
		if o.set {
			names = append(names, o.name)
		}
	}
	if len(names) > 0 {
		return fmt.Errorf("%s: options of Linux bridges, not of OVS bridges", strings.Join(names, ", "))
	}
	return nil
}

// attrs returns the IFLA_BR_* attributes for the options given. The kernel
// applies them in its own order, the forward delay before STP.
func (s bridgeSettings) attrs() []*nl.RtAttr {
	var out []*nl.RtAttr
	if s.fwdDelay != nil {
		out = append(out, nl.NewRtAttr(nl.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(uint32(*s.fwdDelay/tick))))
	}
	if s.ageing != nil {
		out = append(out, nl.NewRtAttr(nl.IFLA_BR_AGEING_TIME, nl.Uint32Attr(uint32(*s.ageing/tick))))
	}
	if s.stp != nil {
		v := uint32(0)
		if *s.stp {
			v = 1
		}
		out = append(out, nl.NewRtAttr(nl.IFLA_BR_STP_STATE, nl.Uint32Attr(v)))
	}
	if s.snooping != nil {
		v := byte(0)
		if *s.snooping {
			v = 1
		}
		out = append(out, nl.NewRtAttr(nl.IFLA_BR_MCAST_SNOOPING, []byte{v}))
	}
	return out
}

// stpState is what readiness needs to know of a bridge: whether its ports
// take time to forward. The Bridge's mu guards it.
type stpState struct {
	on, wasOn bool
	fwdDelay  time.Duration
}

// defaultForwardDelay is a new bridge's forward delay in the kernel.
const defaultForwardDelay = 15 * time.Second

func (s *stpState) apply(set bridgeSettings) {
	if s.fwdDelay == 0 {
		s.fwdDelay = defaultForwardDelay
	}
	if set.stp != nil {
		s.on = *set.stp
		s.wasOn = s.wasOn || s.on
	}
	if set.fwdDelay != nil {
		s.fwdDelay = *set.fwdDelay
	}
}

// settle is how long a port of an STP bridge may take to forward after it
// comes up: listening and learning, a forward delay each. Turning STP off
// does not cut that short for a port on its way (the kernel's timers still
// run), so a bridge that ever had STP keeps its settle time.
func (b *Bridge) settle() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.stp.wasOn {
		return 0
	}
	return 2 * b.stp.fwdDelay
}

// settleTime is the longest time a port of a bridge in h's namespace may
// take to forward after it comes up (see STP): readiness waits that much
// longer for h's links.
func (h *Host) settleTime() time.Duration {
	var d time.Duration
	for _, b := range h.Bridges() {
		d = max(d, b.settle())
	}
	return d
}

// SetAgeingTime changes how long the bridge remembers where a MAC address
// is (see AgeingTime); zero makes it flood every frame. Entries it learned
// before are kept until the new ageing time has passed.
func (b *Bridge) SetAgeingTime(d time.Duration) error {
	return b.set("ageing time "+d.String(), AgeingTime(d))
}

// SetMulticastSnooping turns the bridge's IGMP and MLD snooping on or off
// (see MulticastSnooping).
func (b *Bridge) SetMulticastSnooping(on bool) error {
	return b.set(fmt.Sprintf("multicast snooping %s", onOff(on)), MulticastSnooping(on))
}

// SetSTP turns the kernel's Spanning Tree Protocol on or off for the bridge
// (see STP). Turned on, ports that forward keep forwarding until a BPDU says
// otherwise, and ports that come up later take twice the forward delay to
// forward. Turned off, ports that come up later forward at once, but a port
// already listening or learning goes on until its forward delay timers
// end. Traffic sent through the topology waits for such ports.
func (b *Bridge) SetSTP(on bool) error {
	if err := b.set(fmt.Sprintf("STP %s", onOff(on)), STP(on)); err != nil {
		return err
	}
	// Ports may be on their way to forwarding, or leave it: readiness looks
	// at every port again.
	b.topo.pend(b.portIfaces()...)
	return nil
}

// set applies one option to a live Linux bridge.
func (b *Bridge) set(what string, o BridgeOption) error {
	var c bridgeConfig
	o(&c)
	if err := c.set.check(); err != nil {
		return fmt.Errorf("nstest: bridge %q: %w", b, err)
	}
	if b.ovs != nil {
		return fmt.Errorf("nstest: bridge %q: %s: %w", b, what, c.set.onlyLinux())
	}
	h := b.host
	err := h.use(func() error { return h.fnl.Do(fastnl.SetBridge(b.index, c.set.attrs()...)) })
	if err != nil {
		return fmt.Errorf("nstest: bridge %q: set %s: %w", b, what, err)
	}
	b.mu.Lock()
	b.stp.apply(c.set)
	b.mu.Unlock()
	return nil
}

// portIfaces returns the interfaces of the topology that are ports of the
// bridge, as the topology recorded them.
func (b *Bridge) portIfaces() []*Interface {
	var out []*Interface
	for _, i := range b.host.Interfaces() {
		i.mu.Lock()
		m := i.master
		i.mu.Unlock()
		if m == b.index {
			out = append(out, i)
		}
	}
	return out
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
