// The behaviour: a switch (here a Linux bridge) does not know at first
// which port leads to which MAC address, so it floods a frame for an
// unknown address out of every port: every host on the switch sees traffic
// meant for another. It learns from the source address of each frame that
// arrives, and from then on sends frames for that address out of that port
// only. Two port flags change this, as switches in data centres use them:
// with learning off on a port, the address behind it is never learned and
// frames to it keep flooding; with unknown-unicast flooding off, a frame to
// an address the switch does not know reaches nobody.
//
// The frames are raw Ethernet frames with made-up addresses (A behind h1, B
// behind h3), sent with SendFrame and seen with captures on the hosts.
package scenarios_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

func TestBridgeLearningAndFlooding(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	h1, h2, h3 := topo.AddHost("h1"), topo.AddHost("h2"), topo.AddHost("h3")
	e1, e2, e3 := topo.Connect(h1, br), topo.Connect(h2, br), topo.Connect(h3, br)
	hosts := watch(t, h1, h2, h3)
	macA, macB, macU := parseMAC(t, "02:00:00:00:00:0a"), parseMAC(t, "02:00:00:00:00:0b"), parseMAC(t, "02:00:00:00:00:99")
	mac2 := parseMAC(t, "02:00:00:00:00:02") // h2's

	// The failure: br1 has never seen A, so h2's frame for A is flooded and
	// h3 sees it as well as h1.
	assert.ElementsMatch(t, []string{"h1", "h3"}, deliver(t, e2, frame(t, macA, mac2), hosts))

	// The fix is learning: once h1 has sent a frame from A, br1 knows A is
	// behind h1's port,
	deliver(t, e1, frame(t, broadcast, macA), hosts)
	a := fdbEntry(t, br, macA)
	require.NotNil(t, a, "br1 did not learn %s", macA)
	assert.Equal(t, e1.Peer(), a.Port, "the port br1 learned %s on", macA)
	assert.True(t, a.Learned, "%s is a learned entry", a)
	// and the next frame for A goes to h1 only.
	assert.Equal(t, []string{"h1"}, deliver(t, e2, frame(t, macA, mac2), hosts))

	// With learning off on h3's port, br1 never learns B, whatever h3
	// sends, and frames for B keep reaching every host.
	require.NoError(t, e3.SetBridgePort(nstest.Learning(false)))
	deliver(t, e3, frame(t, broadcast, macB), hosts)
	assert.Nil(t, fdbEntry(t, br, macB), "br1 learned %s through a port that does not learn", macB)
	assert.ElementsMatch(t, []string{"h1", "h3"}, deliver(t, e2, frame(t, macB, mac2), hosts))

	// With unknown-unicast flooding off on every other port, a frame for an
	// address br1 does not know reaches nobody; a known one still arrives.
	require.NoError(t, e1.SetBridgePort(nstest.UnicastFlood(false)))
	require.NoError(t, e3.SetBridgePort(nstest.UnicastFlood(false)))
	assert.Empty(t, deliver(t, e2, frame(t, macU, mac2), hosts), "a frame to unknown %s", macU)
	assert.Equal(t, []string{"h1"}, deliver(t, e2, frame(t, macA, mac2), hosts))
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func parseMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	require.NoError(t, err)
	return m
}

// frameSeq makes every frame of the scenarios different, so a capture
// tells them apart.
var frameSeq atomic.Int64

// frame makes an Ethernet frame of the experimental EtherType from src to
// dst, with a payload of its own.
func frame(t *testing.T, dst, src net.HardwareAddr) []byte {
	t.Helper()
	f, err := nstest.EthernetFrame(dst, src, nstest.EtherTypeExperimental, fmt.Appendf(nil, "frame %d", frameSeq.Add(1)))
	require.NoError(t, err)
	return f
}

// watcher is a capture on a host's eth0.
type watcher struct {
	host string
	c    *capture.Capture
}

func watch(t *testing.T, hosts ...*nstest.Host) []watcher {
	var ws []watcher
	for _, h := range hosts {
		ws = append(ws, watcher{h.Name(), h.Capture("eth0")})
	}
	return ws
}

// deliver sends f from the interface, then a broadcast frame behind it, and
// returns the names of the hosts (other than the sender's) that received f.
// Every host receives the broadcast, after f if f came its way at all (see
// SendFrame): once the broadcast has arrived everywhere, a host without f
// did not get it.
func deliver(t *testing.T, from *nstest.Interface, f []byte, ws []watcher) []string {
	t.Helper()
	marker := frame(t, broadcast, parseMAC(t, "02:00:00:00:00:ff"))
	require.NoError(t, from.SendFrame(f, marker))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for _, w := range ws {
		if w.host == from.Host().Name() {
			continue
		}
		if _, err := w.c.Wait(ctx, received(marker), 1); err != nil {
			t.Fatalf("%s: the broadcast behind the frame never arrived: %v", w.host, err)
		}
		if w.c.Count(received(f)) > 0 {
			got = append(got, w.host)
		}
	}
	return got
}

// received matches frame f arriving at the captured interface.
func received(f []byte) capture.Filter {
	return func(p *capture.Packet) bool { return !p.Outgoing && bytes.Equal(p.Data, f) }
}

// fdbEntry returns br's entry for m, or nil.
func fdbEntry(t *testing.T, br *nstest.Bridge, m net.HardwareAddr) *nstest.FDBEntry {
	t.Helper()
	es, err := br.FDB()
	require.NoError(t, err)
	for _, e := range es {
		if bytes.Equal(e.MAC, m) {
			return &e
		}
	}
	return nil
}
