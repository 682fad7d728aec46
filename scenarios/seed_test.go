package scenarios_test

// The seed tutorial ("Linux Network Namespaces": namespaces, a veth pair, a
// Linux bridge, ping between namespaces, tcpdump, an address on the bridge,
// teardown), replayed step by step. Each step is a few lines of Go and checks
// what the tutorial shows on screen. The tutorial's "root namespace" is the
// topology's fabric, so the real root namespace is never touched.

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

func TestSeedTutorial(t *testing.T) {
	topo := nstest.New(t)
	root := topo.Fabric() // the tutorial's root namespace

	// ### Create a NS: `ip netns add ns1`. A new namespace has only lo.
	ns1 := topo.AddHost("ns1")
	assert.Equal(t, []string{"lo"}, interfaceNames(t, ns1))

	// ### Create a veth pair: `ip link add ns1_out type veth peer name ns1_in`,
	// both ends in the root namespace, both brought up.
	out, in := topo.Link(root, root, "", "", nstest.Names("ns1_out", "ns1_in"))
	assert.Subset(t, interfaceNames(t, root), []string{"ns1_out", "ns1_in"})

	// ### See that there is a tube: `ping -I ns1_in 10.0.0.0` while
	// `tcpdump -i ns1_out` shows "ARP, Request who-has 10.0.0.0".
	tube := openCapture(t, root, "ns1_out")
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("this step runs iputils ping (Debian package iputils-ping), which is not installed")
	}
	ping := root.Command("ping", "-c", "3", "-I", "ns1_in", "10.0.0.0") // nobody answers
	require.NoError(t, ping.Start())
	arps := waitPackets(t, tube, capture.ARPRequest(netip.MustParseAddr("10.0.0.0")), 1)
	ping.Process.Kill()
	ping.Wait()
	assert.Contains(t, arps[0].String(), "ARP, Request who-has 10.0.0.0")

	// ### Move ns1_in to ns1 and assign an IP address:
	// `ip link set ns1_in netns ns1`, `ifconfig ns1_in 10.0.0.1/24 up`.
	require.NoError(t, in.MoveTo(ns1))
	require.NoError(t, in.AddAddr("10.0.0.1/24"))
	require.NoError(t, in.SetUp())
	assert.Equal(t, []string{"lo", "ns1_in"}, interfaceNames(t, ns1))
	assert.NotContains(t, interfaceNames(t, root), "ns1_in")

	// ### Assign an IP address to ns1_out and check ping:
	// `ip addr add 10.0.0.10/24 dev ns1_out`, `ping 10.0.0.1`.
	require.NoError(t, out.AddAddr("10.0.0.10/24"))
	nstest.RequireReachable(t, root, "10.0.0.1")

	// ### Repeat the steps for the other namespace, without an address on
	// ns2_out; remove the one from ns1_out too. nstest makes the pair with
	// ns2_in already inside ns2 (the tutorial's "shortcut").
	require.NoError(t, out.DelAddr("10.0.0.10/24"))
	ns2 := topo.AddHost("ns2")
	in2, out2 := topo.Link(ns2, root, "10.0.0.2/24", "", nstest.Names("ns2_in", "ns2_out"))
	assert.Equal(t, "ns2_in", in2.Name())
	nstest.AssertUnreachable(t, ns1, "10.0.0.2", nstest.Within(300*time.Millisecond)) // no bridge yet

	// ### Add a Linux bridge to connect two NSs: `brctl addbr br1`,
	// `ip link set dev br1 up`, `brctl addif br1 ns1_out`, `brctl addif br1 ns2_out`.
	br1 := topo.AddBridge("br1")
	require.NoError(t, out.SetMaster(br1))
	require.NoError(t, out2.SetMaster(br1))
	ports, err := br1.Ports() // `brctl show br1`
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"ns1_out", "ns2_out"}, ports)

	// ### Try to ping between the namespaces, `ip netns exec ns1 ping
	// 10.0.0.2`, while `tcpdump -i br1` shows the echo request and reply.
	onBridge := openCapture(t, root, "br1")
	nstest.RequireReachable(t, ns1, "10.0.0.2")
	nstest.RequireReachable(t, ns2, "10.0.0.1")
	req := waitPackets(t, onBridge, capture.And(capture.ICMPEcho(), capture.Src(netip.MustParseAddr("10.0.0.1"))), 1)
	assert.Contains(t, req[0].String(), "IP 10.0.0.1 > 10.0.0.2: ICMP echo request")
	rep := waitPackets(t, onBridge, capture.And(capture.ICMPEchoReply(), capture.Src(netip.MustParseAddr("10.0.0.2"))), 1)
	assert.Contains(t, rep[0].String(), "IP 10.0.0.2 > 10.0.0.1: ICMP echo reply")

	// ### Bridge as an interface: `ip addr add 10.0.0.100/24 dev br1`,
	// then `ping -c 1 10.0.0.1` and `ping -c 1 10.0.0.2` from the root namespace.
	require.NoError(t, br1.AddAddr("10.0.0.100/24"))
	for _, dst := range []string{"10.0.0.1", "10.0.0.2"} {
		st, err := root.Ping(context.Background(), dst)
		require.NoError(t, err)
		assert.Equal(t, 1, st.Received, "1 packets transmitted, 1 received, 0%% packet loss (%s)", dst)
	}

	// ### Teardown: `ip link del ns1_out` removes its peer ns1_in as well;
	// the rest (namespaces, bridge) goes with the topology at the end of the
	// test, and the TestMain checks nothing is left behind.
	require.NoError(t, out.Delete())
	assert.Equal(t, []string{"lo"}, interfaceNames(t, ns1))
	nstest.AssertUnreachable(t, ns2, "10.0.0.1", nstest.Within(300*time.Millisecond))
}

// interfaceNames lists the interfaces h sees, as `ip a` does.
func interfaceNames(t *testing.T, h *nstest.Host) []string {
	t.Helper()
	var names []string
	h.InNS(func() {
		ifs, err := net.Interfaces()
		require.NoError(t, err)
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	})
	return names
}

// openCapture starts a capture on iface in h, as tcpdump -i would.
func openCapture(t *testing.T, h *nstest.Host, iface string) *capture.Capture {
	t.Helper()
	var c *capture.Capture
	require.NoError(t, h.Do(func() (err error) {
		c, err = capture.Open(iface, capture.Limit(1000))
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return c
}

func waitPackets(t *testing.T, c *capture.Capture, f capture.Filter, n int) []capture.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps, err := c.Wait(ctx, f, n)
	require.NoError(t, err)
	return ps
}
