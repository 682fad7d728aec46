package nstest_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

var (
	macA      = net.HardwareAddr{2, 0, 0, 0, 0, 0x0a}
	macB      = net.HardwareAddr{2, 0, 0, 0, 0, 0x0b}
	macSender = net.HardwareAddr{2, 0, 0, 0, 0, 0x02}
	macNobody = net.HardwareAddr{2, 0, 0, 0, 0, 0xee} // never a source: unknown to every bridge
	macBcast  = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	macMcast  = net.HardwareAddr{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}
)

var frameSeq atomic.Int64

// frame makes a distinct frame of the experimental EtherType.
func frame(t *testing.T, dst, src net.HardwareAddr) []byte {
	t.Helper()
	f, err := nstest.EthernetFrame(dst, src, nstest.EtherTypeExperimental, fmt.Appendf(nil, "frame %d", frameSeq.Add(1)))
	require.NoError(t, err)
	return f
}

type watcher struct {
	host string
	c    *capture.Capture
}

// watch captures on each host's eth0.
func watch(t *testing.T, hosts ...*nstest.Host) []watcher {
	var ws []watcher
	for _, h := range hosts {
		ws = append(ws, watcher{h.Name(), h.Capture("eth0")})
	}
	return ws
}

// deliver sends f and then a frame to broadcast behind it from the
// interface, and returns which hosts other than the sender received f.
func deliver(t *testing.T, from *nstest.Interface, f []byte, ws []watcher) []string {
	t.Helper()
	return deliverBehind(t, from, f, macBcast, ws)
}

// deliverBehind is deliver with a marker frame to markerDst, which must
// reach every watched host: once it has, a host that has not got f will not
// (SendFrame keeps the order).
func deliverBehind(t *testing.T, from *nstest.Interface, f []byte, markerDst net.HardwareAddr, ws []watcher) []string {
	t.Helper()
	marker := frame(t, markerDst, net.HardwareAddr{2, 0, 0, 0, 0, 0xff})
	require.NoError(t, from.SendFrame(f, marker))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := []string{}
	for _, w := range ws {
		if w.host == from.Host().Name() {
			continue
		}
		if _, err := w.c.Wait(ctx, arrived(marker), 1); err != nil {
			t.Fatalf("%s: the marker frame behind the frame never arrived: %v", w.host, err)
		}
		if w.c.Count(arrived(f)) > 0 {
			got = append(got, w.host)
		}
	}
	return got
}

func arrived(f []byte) capture.Filter {
	return func(p *capture.Packet) bool { return !p.Outgoing && bytes.Equal(p.Data, f) }
}

// learned returns br's learned entry for m, or nil.
func learned(t *testing.T, br *nstest.Bridge, m net.HardwareAddr) *nstest.FDBEntry {
	t.Helper()
	es, err := br.FDB()
	require.NoError(t, err)
	for _, e := range es {
		if bytes.Equal(e.MAC, m) && e.Learned {
			return &e
		}
	}
	return nil
}

// threeOnABridge builds h1, h2, h3 on bridge br1 made with opts.
func threeOnABridge(t *testing.T, opts ...nstest.BridgeOption) (*nstest.Topology, *nstest.Bridge, []*nstest.Interface, []watcher) {
	topo := nstest.New(t)
	br := topo.AddBridge("br1", opts...)
	var es []*nstest.Interface
	var hs []*nstest.Host
	for _, n := range []string{"h1", "h2", "h3"} {
		h := topo.AddHost(n)
		hs = append(hs, h)
		es = append(es, topo.Connect(h, br))
	}
	return topo, br, es, watch(t, hs...)
}

func TestBridgeFDB(t *testing.T) {
	t.Parallel()
	_, br, e, ws := threeOnABridge(t)
	es, err := br.FDB()
	require.NoError(t, err)
	// Before any frame, only the ports' own addresses, as local entries.
	local := map[*nstest.Interface]bool{}
	for _, x := range es {
		assert.False(t, x.Learned, "%s before any frame", x)
		if x.Local && x.Port != nil {
			local[x.Port] = true
		}
	}
	assert.Equal(t, map[*nstest.Interface]bool{e[0].Peer(): true, e[1].Peer(): true, e[2].Peer(): true}, local, "local entries: %v", es)

	assert.ElementsMatch(t, []string{"h2", "h3"}, deliver(t, e[0], frame(t, macBcast, macA), ws))
	a := learned(t, br, macA)
	require.NotNil(t, a, "A was not learned")
	assert.Equal(t, e[0].Peer(), a.Port)
	assert.Equal(t, "h1-eth0", a.PortName)
	assert.Zero(t, a.VLAN, "no VLAN on a bridge without VLAN filtering")
	assert.False(t, a.Local || a.Static)
	assert.Contains(t, a.String(), "02:00:00:00:00:0a dev h1-eth0 learned")
	assert.Equal(t, []string{"h1"}, deliver(t, e[1], frame(t, macA, macSender), ws))
}

// Ageing time zero: the bridge learns nothing and floods every frame, as a
// hub; given an ageing time again, it learns.
func TestBridgeAgeingTimeZeroIsAHub(t *testing.T) {
	t.Parallel()
	_, br, e, ws := threeOnABridge(t, nstest.AgeingTime(0))
	deliver(t, e[0], frame(t, macBcast, macA), ws)
	assert.Nil(t, learned(t, br, macA), "a bridge with ageing time 0 learned A")
	assert.ElementsMatch(t, []string{"h1", "h3"}, deliver(t, e[1], frame(t, macA, macSender), ws))

	require.NoError(t, br.SetAgeingTime(time.Minute))
	deliver(t, e[0], frame(t, macBcast, macA), ws)
	require.NotNil(t, learned(t, br, macA), "A was not learned with an ageing time of a minute")
	assert.Equal(t, []string{"h1"}, deliver(t, e[1], frame(t, macA, macSender), ws))
}

func TestBridgePortFlags(t *testing.T) {
	t.Parallel()
	_, br, e, ws := threeOnABridge(t)
	info, err := e[2].BridgePort()
	require.NoError(t, err)
	assert.Equal(t, nstest.PortInfo{Port: e[2].Peer(), Bridge: br, State: nstest.PortForwarding,
		Learning: true, UnicastFlood: true, MulticastFlood: true, BroadcastFlood: true}, info)

	require.NoError(t, e[2].SetBridgePort(nstest.MulticastFlood(false), nstest.BroadcastFlood(false)))
	info, err = e[2].Peer().BridgePort() // the port itself answers too
	require.NoError(t, err)
	assert.False(t, info.MulticastFlood || info.BroadcastFlood, "%v", info)
	assert.True(t, info.Learning && info.UnicastFlood, "%v", info)
	// Behind each, a frame to an unknown address, which still floods.
	assert.Equal(t, []string{"h2"}, deliverBehind(t, e[0], frame(t, macMcast, macA), macNobody, ws), "multicast")
	assert.Equal(t, []string{"h2"}, deliverBehind(t, e[0], frame(t, macBcast, macA), macNobody, ws), "broadcast")

	require.NoError(t, e[2].SetBridgePort(nstest.MulticastFlood(true), nstest.BroadcastFlood(true)))
	assert.ElementsMatch(t, []string{"h2", "h3"}, deliverBehind(t, e[0], frame(t, macMcast, macA), macNobody, ws), "multicast")
	assert.ElementsMatch(t, []string{"h2", "h3"}, deliverBehind(t, e[0], frame(t, macBcast, macA), macNobody, ws), "broadcast")
}

// With STP a new port listens and learns before it forwards; nstest waits
// for it, so the first frame sent after Connect arrives.
func TestBridgeSTPWaitsForForwarding(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1", nstest.STP(true), nstest.ForwardDelay(2*time.Second))
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	e1 := topo.Connect(h1, br)
	topo.Connect(h2, br)
	c := h2.Capture("eth0")
	f := frame(t, macBcast, macA)
	require.NoError(t, e1.SendFrame(f))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Wait(ctx, arrived(f), 1)
	assert.NoError(t, err, "the first frame through a port of an STP bridge")
	info, err := e1.BridgePort()
	require.NoError(t, err)
	assert.Equal(t, nstest.PortForwarding, info.State)

	var state strings.Builder
	require.NoError(t, topo.WriteState(&state))
	assert.Contains(t, state.String(), "stp on, forward delay 2s")
	assert.Contains(t, state.String(), "port h1-eth0 (to h1:eth0): forwarding, learning on")

	require.NoError(t, br.SetSTP(false))
	state.Reset()
	require.NoError(t, topo.WriteState(&state))
	assert.Contains(t, state.String(), "stp off")
}

func TestBridgeSettingsInState(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1", nstest.AgeingTime(90*time.Second), nstest.MulticastSnooping(false))
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	e1 := topo.Connect(h1, br)
	topo.Connect(h2, br)
	require.NoError(t, e1.SetBridgePort(nstest.Learning(false), nstest.UnicastFlood(false)))
	require.NoError(t, e1.SendFrame(frame(t, macBcast, macA)))
	var state strings.Builder
	require.NoError(t, topo.WriteState(&state))
	s := state.String()
	assert.Contains(t, s, "  bridge br1:\n    stp off, forward delay 15s, ageing time 1m30s, multicast snooping off\n")
	assert.Contains(t, s, "port h1-eth0 (to h1:eth0): forwarding, learning off, flood off, mcast_flood on, bcast_flood on")
	assert.Contains(t, s, "port h2-eth0 (to h2:eth0): forwarding, learning on, flood on")

	require.NoError(t, br.SetMulticastSnooping(true))
	state.Reset()
	require.NoError(t, topo.WriteState(&state))
	assert.Contains(t, state.String(), "ageing time 1m30s, multicast snooping on")
}

func TestBridgeBadInput(t *testing.T) {
	nstest.New(t) // skip where namespaces cannot be built
	fabricEmpty := func(topo *nstest.Topology) {
		assert.Equal(t, []string{"lo"}, links(t, topo.Fabric()), "nothing half-built")
	}
	t.Run("negative ageing time", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddBridge("br1", nstest.AgeingTime(-time.Second))
		}, fabricEmpty, `bridge "br1"`, "ageing time -1s: out of range 0s..")
	})
	t.Run("ageing time finer than the kernel counts", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddBridge("br1", nstest.AgeingTime(15*time.Millisecond))
		}, fabricEmpty, `bridge "br1"`, "ageing time 15ms: not a multiple of 10ms")
	})
	t.Run("forward delay too short", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddBridge("br1", nstest.STP(true), nstest.ForwardDelay(time.Second))
		}, fabricEmpty, `bridge "br1"`, "forward delay 1s: out of range 2s..30s")
	})
	t.Run("STP on an OVS bridge", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddBridge("s1", nstest.OVS(), nstest.STP(true))
		}, nil, `bridge "s1"`, "STP: options of Linux bridges, not of OVS bridges")
	})
	t.Run("duplicate bridge in a host", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			sw := topo.AddHost("sw")
			sw.AddBridge("br0")
			sw.AddBridge("br0")
		}, func(topo *nstest.Topology) {
			assert.Len(t, topo.Host("sw").Bridges(), 1)
		}, `host "sw": bridge "br0": duplicate name`)
	})
	t.Run("bridge name too long", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddHost("sw").AddBridge("a-very-long-name")
		}, func(topo *nstest.Topology) {
			assert.Equal(t, []string{"lo"}, links(t, topo.Host("sw")))
		}, `host "sw": bridge "a-very-long-name"`, "16 bytes, over the 15 bytes")
	})
	t.Run("OVS in a host", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddHost("sw").AddBridge("s1", nstest.OVS())
		}, nil, `host "sw": bridge "s1"`, "an Open vSwitch bridge lives in the fabric")
	})
	t.Run("bad setter values", func(t *testing.T) {
		topo := nstest.New(t)
		br := topo.AddBridge("br1")
		err := br.SetAgeingTime(-time.Minute)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `nstest: bridge "br1": ageing time -1m0s: out of range`)
		sw := topo.AddHost("sw").AddBridge("br0")
		err = sw.SetAgeingTime(5 * time.Millisecond)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `nstest: bridge "sw:br0": ageing time 5ms: not a multiple of 10ms`)
	})
	t.Run("not a bridge port", func(t *testing.T) {
		topo := nstest.New(t)
		a, _ := topo.Link(topo.AddHost("h1"), topo.AddHost("h2"), "", "")
		err := a.SetBridgePort(nstest.Learning(false))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "interface h1:eth0: learning off: neither h1:eth0 nor its peer h2:eth0 is a port of a Linux bridge")
		_, err = a.BridgePort()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "interface h1:eth0: bridge port: neither h1:eth0 nor its peer h2:eth0 is a port")
	})
	t.Run("bad frames", func(t *testing.T) {
		_, err := nstest.EthernetFrame(net.HardwareAddr{1, 2, 3}, macA, nstest.EtherTypeExperimental, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `destination MAC "01:02:03": 3 bytes, want 6`)
		_, err = nstest.EthernetFrame(macB, macA, 0x05dc, nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "EtherType 0x05dc: below 0x0600")
		topo := nstest.New(t)
		a, _ := topo.Link(topo.AddHost("h1"), topo.AddHost("h2"), "", "")
		err = a.SendFrame(make([]byte, 60), []byte{1, 2, 3})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "interface h1:eth0: frame 1: 3 bytes, shorter than an Ethernet header")
	})
}

// A learned entry of a VLAN-filtering bridge names its VLAN. Skips where
// the kernel lacks CONFIG_BRIDGE_VLAN_FILTERING.
func TestBridgeFDBVLAN(t *testing.T) {
	t.Parallel()
	_, br, e, ws := threeOnABridge(t, nstest.VLANFiltering())
	for _, x := range e {
		require.NoError(t, x.SetVLAN(10))
	}
	deliver(t, e[0], frame(t, macBcast, macA), ws)
	a := learned(t, br, macA)
	require.NotNil(t, a, "A was not learned")
	assert.Equal(t, 10, a.VLAN)
	assert.Contains(t, a.String(), "dev h1-eth0 vlan 10 learned")
}

// Turning STP off does not make a listening port forward at once: the
// kernel's timers run on, and nstest still waits for them.
func TestBridgeSTPOffWhileListening(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1", nstest.STP(true), nstest.ForwardDelay(2*time.Second))
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	e1 := topo.Connect(h1, br)
	topo.Connect(h2, br)
	require.NoError(t, br.SetSTP(false))
	ws := watch(t, h2)
	assert.Equal(t, []string{"h2"}, deliver(t, e1, frame(t, macBcast, macA), ws))
	info, err := e1.BridgePort()
	require.NoError(t, err)
	assert.Equal(t, nstest.PortForwarding, info.State)
}
