package nstest_test

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
	"github.com/nstest/harness/nstest/ping"
)

func hop(i *nstest.Interface, dir string) string { return i.Host().Name() + ":" + i.Name() + " " + dir }

// One echo request followed along its path: out of ns1, through the bridge
// (in on ns1's port, out on the router's), through the router (in on one
// interface, out on the other) and into ns2; the same path in the pcapng
// file that CaptureAll's group writes.
func TestCaptureAllFollowsPacketAlongPath(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	ns1, r1, ns2 := topo.AddHost("ns1"), topo.AddRouter("r1"), topo.AddHost("ns2")
	i1 := topo.Connect(ns1, br, "10.0.0.1/24")
	ir := topo.Connect(r1, br, "10.0.0.254/24")
	ro, i2 := topo.Link(r1, ns2, "10.0.2.254/24", "10.0.2.2/24")
	require.NoError(t, ns1.AddRoute("default", "10.0.0.254"))
	require.NoError(t, ns2.AddRoute("default", "10.0.2.254"))
	g := topo.CaptureAll()
	require.Len(t, g.Captures(), 6, "ns1, r1 (two), ns2 and two bridge ports")
	require.NotNil(t, g.Capture("fabric", i1.Peer().Name()))

	st, err := ns1.Ping(context.Background(), "10.0.2.2", ping.Count(1))
	require.NoError(t, err)
	require.Equal(t, 1, st.Received)

	a1, a2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.2.2")
	first := capture.And(capture.ICMPEcho(), capture.Src(a1), capture.Dst(a2))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pkts, err := g.Wait(ctx, first, 6)
	require.NoError(t, err)
	assert.Equal(t, "ns1", pkts[0].Node)
	want := []string{
		hop(i1, "Out"), hop(i1.Peer(), "In"), hop(ir.Peer(), "Out"), hop(ir, "In"), hop(ro, "Out"), hop(i2, "In"),
	}
	assert.Equal(t, want, g.Path(first))
	assert.Equal(t, []int{64, 64, 64, 64, 63, 63}, ttls(g.Packets(first)), "the router decrements the TTL")

	path := filepath.Join(t.TempDir(), "all.pcapng")
	require.NoError(t, g.WriteFile(path))
	all, _, err := capture.ReadFile(path)
	require.NoError(t, err)
	var fromFile []string
	for _, p := range all {
		if first(&p) {
			fromFile = append(fromFile, p.Node+":"+p.Interface+" "+map[bool]string{false: "In", true: "Out"}[p.Outgoing])
		}
	}
	assert.Equal(t, want, fromFile, "the path as read back from %s", path)

	t.Run("tshark", func(t *testing.T) {
		if _, err := exec.LookPath("tshark"); err != nil {
			t.Skip("tshark not installed (Debian package tshark)")
		}
		out, err := exec.Command("tshark", "-n", "-r", path, "-Y", "icmp.type == 8", "-T", "fields",
			"-e", "frame.interface_name", "-e", "frame.packet_flags_direction").Output()
		require.NoError(t, err)
		wantLines := strings.NewReplacer(" Out", "\t0x00000002", " In", "\t0x00000001").Replace(strings.Join(want, "\n"))
		assert.Equal(t, wantLines, strings.TrimSpace(string(out)))
	})
}

func ttls(pkts []capture.Packet) []int {
	var out []int
	for _, p := range pkts {
		out = append(out, int(p.TTL))
	}
	return out
}

// Wait on a group ends with the context, saying what matched where.
func TestCaptureGroupWaitTimesOut(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := seed(t)
	g := nstest.NewCaptureGroup(ns1.Capture("eth0"), ns2.Capture("eth0"))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := g.Wait(ctx, capture.TCPPort(9), 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "0 of 1 wanted packets matched on ns1:eth0")
	assert.Contains(t, err.Error(), "ns2:eth0")
	// Closed, it ends at once with ErrClosed.
	require.NoError(t, g.Close())
	_, err = g.Wait(context.Background(), capture.TCPPort(9), 1)
	require.ErrorIs(t, err, capture.ErrClosed)
}

// h1 - r1 - r2 - h2 with a 1280-byte link between the routers: a
// don't-fragment IPv4 packet and an IPv6 packet of 1400 bytes bring back
// "fragmentation needed" and "packet too big" from r1 with the MTU; a
// datagram to a closed port brings back port unreachable from h2.
func TestCaptureDecodesICMPErrorsFromRouterChain(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	h1, r1, r2, h2 := topo.AddHost("h1"), topo.AddRouter("r1"), topo.AddRouter("r2"), topo.AddHost("h2")
	topo.Link(h1, r1, "10.0.1.1/24", "10.0.1.254/24")
	topo.Link(h1, r1, "fd01::1/64", "fd01::fe/64")
	topo.Link(r1, r2, "10.0.12.1/24", "10.0.12.2/24", nstest.MTU(1280))
	topo.Link(r1, r2, "fd12::1/64", "fd12::2/64", nstest.MTU(1280))
	topo.Link(r2, h2, "10.0.2.254/24", "10.0.2.2/24")
	topo.Link(r2, h2, "fd02::fe/64", "fd02::2/64")
	for _, rt := range []struct {
		h        *nstest.Host
		dst, via string
	}{
		{h1, "default", "10.0.1.254"}, {h1, "::/0", "fd01::fe"},
		{r1, "10.0.2.0/24", "10.0.12.2"}, {r1, "fd02::/64", "fd12::2"},
		{r2, "10.0.1.0/24", "10.0.12.1"}, {r2, "fd01::/64", "fd12::1"},
		{h2, "default", "10.0.2.254"}, {h2, "::/0", "fd02::fe"},
	} {
		require.NoError(t, rt.h.AddRoute(rt.dst, rt.via))
	}
	c := h1.Capture("eth0") // h1's first link: the IPv4 one
	c6 := h1.Capture("eth1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nstest.RequireReachable(t, h1, "10.0.2.2")
	nstest.RequireReachable(t, h1, "fd02::2")

	for _, tc := range []struct {
		name      string
		c         *capture.Capture
		dst, from string
		summary   string
	}{
		{"IPv4", c, "10.0.2.2", "10.0.1.254", "IP 10.0.1.254 > 10.0.1.1: ICMP 10.0.2.2 unreachable - need to frag (mtu 1280)"},
		{"IPv6", c6, "fd02::2", "fd01::fe", "IP6 fd01::fe > fd01::1: ICMP6, packet too big, mtu 1280"},
	} {
		// The first big packet leaves; the router's answer teaches h1 the
		// path MTU, and the ping ends with EMSGSIZE or the lost reply.
		_, _ = h1.Ping(ctx, tc.dst, ping.Size(1400), ping.DontFragment(), ping.Count(1), ping.Wait(200*time.Millisecond))
		dst := netip.MustParseAddr(tc.dst)
		pkts, err := tc.c.Wait(ctx, capture.ICMPTooBig(dst), 1)
		require.NoError(t, err, tc.name)
		p := pkts[0]
		assert.Equal(t, uint32(1280), p.MTU, tc.name)
		assert.Equal(t, tc.from, p.Src.String(), tc.name)
		require.NotNil(t, p.Quoted, tc.name)
		assert.Equal(t, dst, p.Quoted.Dst, tc.name)
		assert.True(t, capture.ICMPError(dst)(&p), tc.name)
		assert.False(t, capture.ICMPRedirect(dst)(&p), tc.name)
		assert.Contains(t, p.String(), tc.summary, tc.name)
	}

	// Nothing listens on h2's port 9: h2 answers port unreachable.
	for _, tc := range []struct {
		name, network, dst string
		c                  *capture.Capture
		code               uint8
		summary            string
	}{
		{"IPv4", "udp4", "10.0.2.2", c, 3, "ICMP 10.0.2.2 udp port 9 unreachable"},
		{"IPv6", "udp6", "fd02::2", c6, 4, "ICMP6, destination unreachable, unreachable port, fd02::2 udp port 9"},
	} {
		conn, err := h1.Dial(tc.network, net.JoinHostPort(tc.dst, "9"))
		require.NoError(t, err)
		_, err = conn.Write([]byte("anyone?"))
		require.NoError(t, err)
		conn.Close()
		dst := netip.MustParseAddr(tc.dst)
		pkts, err := tc.c.Wait(ctx, capture.And(capture.ICMPUnreachable(dst), capture.Quoted(capture.UDPPort(9))), 1)
		require.NoError(t, err, tc.name)
		p := pkts[0]
		assert.Equal(t, tc.code, p.ICMPCode, tc.name)
		assert.Equal(t, dst, p.Src, tc.name)
		assert.Contains(t, p.String(), tc.summary, tc.name)
		assert.False(t, capture.ICMPTooBig(dst)(&p), tc.name)
	}
}

// r1 and r2 share a LAN with h1; r1 is h1's way to h2 but itself routes via
// r2 on the same LAN, so r1 forwards the packet and tells h1, with an ICMP
// redirect, to use r2 for h2.
func TestCaptureDecodesICMPRedirect(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	lan := topo.AddBridge("lan")
	h1, r1, r2, h2 := topo.AddHost("h1"), topo.AddRouter("r1"), topo.AddRouter("r2"), topo.AddHost("h2")
	topo.Connect(h1, lan, "10.0.0.1/24")
	topo.Connect(r1, lan, "10.0.0.254/24")
	topo.Connect(r2, lan, "10.0.0.253/24")
	topo.Link(r2, h2, "10.0.2.254/24", "10.0.2.2/24")
	require.NoError(t, h1.AddRoute("10.0.2.0/24", "10.0.0.254"))
	require.NoError(t, r1.AddRoute("10.0.2.0/24", "10.0.0.253"))
	require.NoError(t, h2.AddRoute("default", "10.0.2.254"))
	c := h1.Capture("eth0")

	nstest.RequireReachable(t, h1, "h2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h2addr := netip.MustParseAddr("10.0.2.2")
	pkts, err := c.Wait(ctx, capture.ICMPRedirect(h2addr), 1)
	require.NoError(t, err)
	p := pkts[0]
	assert.Equal(t, "10.0.0.254", p.Src.String(), "r1 sends the redirect")
	assert.Equal(t, "10.0.0.253", p.Gateway.String(), "and names r2")
	assert.Equal(t, h2addr, p.RedirectDst)
	assert.Equal(t, uint8(1), p.ICMPCode, "a host redirect")
	assert.Contains(t, p.String(), "IP 10.0.0.254 > 10.0.0.1: ICMP redirect 10.0.2.2 to host 10.0.0.253, length")
}
