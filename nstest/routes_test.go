package nstest_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/ping"
)

// twoUplinks builds h with eth0 to r1 and eth1 to r2, both routers on a
// bridge with srv, which routes back through r1.
//
//	h eth0 10.0.1.2 — r1 10.0.1.1 ┐
//	h eth1 10.0.3.2 — r2 10.0.3.1 ┴ lan 10.0.2.0/24 (r1 .1, r2 .3, srv .2)
func twoUplinks(t *testing.T) (h, r1, r2, srv *nstest.Host) {
	topo := nstest.New(t)
	h, r1, r2, srv = topo.AddHost("h"), topo.AddRouter("r1"), topo.AddRouter("r2"), topo.AddHost("srv")
	lan := topo.AddBridge("lan")
	topo.Link(h, r1, "10.0.1.2/24", "10.0.1.1/24")
	topo.Link(h, r2, "10.0.3.2/24", "10.0.3.1/24")
	topo.Connect(r1, lan, "10.0.2.1/24")
	topo.Connect(r2, lan, "10.0.2.3/24")
	topo.Connect(srv, lan, "10.0.2.2/24")
	require.NoError(t, srv.AddRoute("default", "r1"))
	require.NoError(t, r1.AddRoute("10.0.3.0/24", "10.0.1.2"))
	return h, r1, r2, srv
}

// ipRouteGet runs `ip -j route get ARGS` in h, for cross-checks.
func ipRouteGet(t *testing.T, h *nstest.Host, args ...string) map[string]any {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Log("no cross-check with ip route get: install the Debian package iproute2")
		return nil
	}
	out, err := h.Command("ip", append([]string{"-j", "route", "get"}, args...)...).Output()
	require.NoError(t, err)
	var rs []map[string]any
	require.NoError(t, json.Unmarshal(out, &rs), "%s", out)
	require.Len(t, rs, 1)
	return rs[0]
}

func TestRouteGetChosenRoute(t *testing.T) {
	t.Parallel()
	h, _, _, _ := twoUplinks(t)
	require.NoError(t, h.AddRoute("default", "r1"))
	require.NoError(t, h.AddRouteWith("default", "r2", nstest.RouteMetric(10)))

	r, err := h.RouteGet("srv")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("0.0.0.0/0"), r.Dst)
	assert.Equal(t, netip.MustParseAddr("10.0.1.1"), r.Gateway)
	assert.Equal(t, "eth0", r.Dev)
	assert.Same(t, h.Interface("eth0"), r.Interface)
	assert.Equal(t, netip.MustParseAddr("10.0.1.2"), r.Src)
	assert.Equal(t, 254, r.Table)
	assert.Equal(t, "unicast", r.Type)
	assert.Nil(t, r.Exception, "no exception learned yet")
	if ip := ipRouteGet(t, h, "10.0.2.2"); ip != nil {
		assert.Equal(t, ip["gateway"], r.Gateway.String())
		assert.Equal(t, ip["dev"], r.Dev)
		assert.Equal(t, ip["prefsrc"], r.Src.String())
	}

	// Out of eth1, the second default route applies.
	r, err = h.RouteGet("10.0.2.2", nstest.RouteOutput("eth1"))
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("10.0.3.1"), r.Gateway)
	assert.Equal(t, "eth1", r.Dev)
	assert.Equal(t, 10, r.Metric)

	// A connected subnet: no gateway.
	r, err = h.RouteGet("10.0.3.7")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("10.0.3.0/24"), r.Dst)
	assert.False(t, r.Gateway.IsValid())
	assert.Equal(t, "eth1", r.Dev)

	// The host's own address: the local table, through lo.
	r, err = h.RouteGet("10.0.1.2")
	require.NoError(t, err)
	assert.Equal(t, "local", r.Type)
	assert.Equal(t, "lo", r.Dev)
	assert.Nil(t, r.Interface)
}

// A router's forwarding decision for a packet arriving on an interface.
func TestRouteGetInput(t *testing.T) {
	t.Parallel()
	_, r1, _, _ := twoUplinks(t)
	r, err := r1.RouteGet("10.0.2.2", nstest.RouteFrom("10.0.1.2"), nstest.RouteInput("eth0"))
	require.NoError(t, err)
	assert.Equal(t, "eth1", r.Dev)
	assert.Equal(t, netip.MustParsePrefix("10.0.2.0/24"), r.Dst)

	// A source that r1 reaches through another interface: forwarded
	// without reverse path filtering, refused with strict filtering.
	spoofed := []nstest.RouteGetOption{nstest.RouteFrom("10.0.2.99"), nstest.RouteInput("eth0")}
	_, err = r1.RouteGet("10.0.2.2", spoofed...)
	require.NoError(t, err)
	require.NoError(t, r1.SetSysctl("net.ipv4.conf.all.rp_filter", "1"))
	_, err = r1.RouteGet("10.0.2.2", spoofed...)
	assert.Error(t, err, "strict rp_filter let a spoofed source through")
}

func TestRouteGetErrors(t *testing.T) {
	t.Parallel()
	h, _, _, _ := twoUplinks(t)
	for _, c := range []struct {
		dst  string
		opts []nstest.RouteGetOption
		want string
	}{
		{"nobody", nil, `nstest: host "h": route get nobody: "nobody" is neither an IP address nor a node of topology`},
		{"10.0.9.9", nil, `nstest: host "h": route get 10.0.9.9: network is unreachable`},
		{"10.0.1.1", []nstest.RouteGetOption{nstest.RouteFrom("10.0.1")}, `route get 10.0.1.1 from 10.0.1: RouteFrom("10.0.1"): not an IP address`},
		{"10.0.1.1", []nstest.RouteGetOption{nstest.RouteFrom("fd00::1")}, `RouteFrom("fd00::1"): not of the IP version of 10.0.1.1`},
		{"10.0.1.1", []nstest.RouteGetOption{nstest.RouteInput("eth0")}, `RouteInput("eth0"): needs RouteFrom`},
		{"10.0.1.1", []nstest.RouteGetOption{nstest.RouteOutput("eth7")}, `RouteOutput("eth7"): interface "eth7": the host has none of that name`},
	} {
		_, err := h.RouteGet(c.dst, c.opts...)
		if assert.Error(t, err, c.dst) {
			assert.Contains(t, err.Error(), c.want)
		}
	}
	_, err := h.RouteGet("10.0.9.9")
	assert.ErrorIs(t, err, syscall.ENETUNREACH)
}

func TestReplaceAndDeleteRoute(t *testing.T) {
	t.Parallel()
	h, _, _, _ := twoUplinks(t)
	require.NoError(t, h.AddRoute("10.0.2.0/24", "r1"))
	nstest.RequireReachable(t, h, "srv")

	err := h.AddRouteWith("10.0.2.0/24", "r2")
	require.Error(t, err, "adding a route that exists")
	assert.Contains(t, err.Error(), `nstest: host "h": add route 10.0.2.0/24 via r2: file exists`)

	// Replace: the route changes in place; srv still answers (its replies
	// come back through r1).
	require.NoError(t, h.ReplaceRoute("10.0.2.0/24", "r2"))
	r, err := h.RouteGet("srv")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("10.0.3.1"), r.Gateway)
	assert.Equal(t, "eth1", r.Dev)
	nstest.AssertReachable(t, h, "srv")
	assert.Len(t, routesTo(t, h, "10.0.2.0/24"), 1, "replace left one route")

	require.NoError(t, h.DelRoute("10.0.2.0/24"))
	assert.Empty(t, routesTo(t, h, "10.0.2.0/24"))
	_, err = h.RouteGet("srv")
	assert.ErrorIs(t, err, syscall.ENETUNREACH)
	nstest.AssertUnreachable(t, h, "srv", nstest.Within(200*time.Millisecond))

	err = h.DelRoute("10.0.2.0/24")
	require.Error(t, err)
	assert.Equal(t, `nstest: host "h": delete route 10.0.2.0/24: no such route in the main table`, err.Error())
	err = h.DelRoute("10.0.2.0")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `destination "10.0.2.0": want "default" or a CIDR`)

	// "default" deletes both families' default routes.
	require.NoError(t, h.AddRoute("default", "r1"))
	require.NoError(t, h.Interface("eth0").AddAddr("fd01::2/64"))
	require.NoError(t, h.AddRoute("::/0", "fd01::1"))
	require.NoError(t, h.DelRoute("default"))
	assert.Empty(t, routesTo(t, h, "0.0.0.0/0"))
	assert.Empty(t, routesTo(t, h, "::/0"))
}

func routesTo(t *testing.T, h *nstest.Host, dst string) []nstest.Route {
	t.Helper()
	rs, err := h.Routes()
	require.NoError(t, err)
	var out []nstest.Route
	for _, r := range rs {
		if r.Dst == netip.MustParsePrefix(dst) {
			out = append(out, r)
		}
	}
	return out
}

func TestRouteOptions(t *testing.T) {
	t.Parallel()
	h, _, _, _ := twoUplinks(t)
	require.NoError(t, h.AddRouteWith("10.0.2.0/24", "r1",
		nstest.RouteMTU(1400), nstest.RouteSrc("10.0.3.2"), nstest.RouteMetric(5)))
	require.NoError(t, h.AddRouteWith("10.9.0.0/16", "r1", nstest.RouteLockedMTU(1300)))
	// A gateway on none of the host's subnets, declared on the link.
	require.NoError(t, h.AddRouteWith("10.8.0.0/16", "192.0.2.1", nstest.RouteDev("eth1"), nstest.RouteOnLink()))
	// Straight out of an interface, no gateway.
	require.NoError(t, h.AddRouteWith("10.7.0.0/16", "", nstest.RouteDev("eth1")))

	r := routesTo(t, h, "10.0.2.0/24")
	require.Len(t, r, 1)
	assert.Equal(t, 1400, r[0].MTU)
	assert.False(t, r[0].MTULocked)
	assert.Equal(t, netip.MustParseAddr("10.0.3.2"), r[0].Src)
	assert.Equal(t, 5, r[0].Metric)
	r = routesTo(t, h, "10.9.0.0/16")
	require.Len(t, r, 1)
	assert.Equal(t, 1300, r[0].MTU)
	assert.True(t, r[0].MTULocked)
	r = routesTo(t, h, "10.8.0.0/16")
	require.Len(t, r, 1)
	assert.True(t, r[0].Flags.OnLink)
	assert.Equal(t, "eth1", r[0].Dev)
	assert.Equal(t, netip.MustParseAddr("192.0.2.1"), r[0].Gateway)
	r = routesTo(t, h, "10.7.0.0/16")
	require.Len(t, r, 1)
	assert.False(t, r[0].Gateway.IsValid())
	assert.Equal(t, "eth1", r[0].Dev)

	// RouteGet says which source a packet to srv takes: the route's.
	g, err := h.RouteGet("srv")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("10.0.3.2"), g.Src)
	assert.Equal(t, 1400, g.MTU)
}

func TestRouteBadInput(t *testing.T) {
	t.Parallel()
	h, _, _, _ := twoUplinks(t)
	for _, c := range []struct {
		dst, via string
		opts     []nstest.RouteOption
		want     string
	}{
		{"10.5.0.0/16", "r1", []nstest.RouteOption{nstest.RouteMTU(10)}, `add route 10.5.0.0/16 via r1: RouteMTU(10): out of range 68..65535`},
		{"10.5.0.0/16", "", []nstest.RouteOption{nstest.WeightedNextHop("r1", 0)}, `WeightedNextHop("r1", 0): weight out of range 1..256`},
		{"10.5.0.0/16", "r1", []nstest.RouteOption{nstest.RouteSrc("x")}, `RouteSrc("x"): want an IPv4 address of the host`},
		{"10.5.0.0/16", "r1", []nstest.RouteOption{nstest.RouteDev("eth9")}, `RouteDev("eth9"): interface "eth9": the host has none of that name`},
		{"10.5.0.0/16", "r1", []nstest.RouteOption{nstest.WeightedNextHop("r2", 1)}, `gateway "r1" and WeightedNextHop options: give either one gateway or the next hops`},
		{"10.5.0.0/16", "", nil, `no gateway: give one, WeightedNextHop options, or RouteDev`},
		{"10.5.0.0/16", "192.0.2.1", []nstest.RouteOption{nstest.RouteOnLink()}, `gateway 192.0.2.1: RouteOnLink needs the interface: add RouteDev`},
		{"10.5.0.0/16", "192.0.2.1", nil, `gateway 192.0.2.1 unreachable: it is on none of the host's subnets (10.0.1.2/24, 10.0.3.2/24)`},
		{"fd05::/64", "fe80::1", nil, `gateway fe80::1: a link-local gateway needs its interface: write fe80::1%eth0 or add RouteDev("eth0")`},
		{"fd05::/64", "fe80::1%eth9", nil, `gateway "fe80::1%eth9": interface "eth9": the host has none of that name`},
		{"10.5.0.0/16", "10.0.1.1%eth0", nil, `gateway "10.0.1.1%eth0": only an IPv6 link-local address takes a zone`},
		{"10.5.0.0/16", "fe80::1%eth0", nil, `destination 10.5.0.0/16 and gateway fe80::1 are of different IP versions`},
		{"10.5.0.0/33", "r1", nil, `destination "10.5.0.0/33": want "default" or a CIDR`},
	} {
		err := h.AddRouteWith(c.dst, c.via, c.opts...)
		if assert.Error(t, err, "%s via %q", c.dst, c.via) {
			assert.Contains(t, err.Error(), c.want)
		}
	}
	// Nothing half-made: only the connected routes are there.
	rs, err := h.Routes()
	require.NoError(t, err)
	for _, r := range rs {
		assert.False(t, r.Gateway.IsValid(), "left behind: %v", &r)
	}
}

// An IPv6 route through a router's link-local address, the usual next hop
// of IPv6 (what router advertisements install).
func TestLinkLocalGateway(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	h, r, srv := topo.AddHost("h"), topo.AddRouter("r"), topo.AddHost("srv")
	topo.Link(h, r, "fd01::2/64", "fd01::1/64")
	topo.Link(r, srv, "fd02::1/64", "fd02::2/64")
	require.NoError(t, r.Interface("eth0").AddAddr("fe80::1/64"))
	require.NoError(t, srv.AddRoute("::/0", "r"))

	require.NoError(t, h.AddRoute("fd02::/64", "fe80::1%eth0"))
	got, err := h.RouteGet("srv")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("fe80::1%eth0"), got.Gateway)
	assert.Equal(t, "eth0", got.Dev)
	nstest.AssertReachable(t, h, "srv")

	// The same with the interface as an option.
	require.NoError(t, h.DelRoute("fd02::/64"))
	require.NoError(t, h.AddRouteWith("default", "fe80::1", nstest.RouteDev("eth0")))
	got, err = h.RouteGet("fd02::2")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("::/0"), got.Dst)
	assert.Equal(t, netip.MustParseAddr("fe80::1%eth0"), got.Gateway)
	nstest.AssertReachable(t, h, "srv")

	// IPv6 without a gateway, and over two next hops.
	require.NoError(t, h.AddRouteWith("fd09::/64", "", nstest.RouteDev("eth0")))
	require.NoError(t, h.AddRouteWith("fd0a::/64", "", nstest.WeightedNextHop("fe80::1%eth0", 1), nstest.WeightedNextHop("fd01::1", 2)))
	rs := routesTo(t, h, "fd09::/64")
	require.Len(t, rs, 1)
	assert.Equal(t, "eth0", rs[0].Dev)
	assert.False(t, rs[0].Gateway.IsValid())
	rs = routesTo(t, h, "fd0a::/64")
	require.Len(t, rs, 1)
	assert.Equal(t, []nstest.NextHop{
		{Gateway: netip.MustParseAddr("fe80::1%eth0"), Dev: "eth0", Interface: h.Interface("eth0"), Weight: 1},
		{Gateway: netip.MustParseAddr("fd01::1"), Dev: "eth0", Interface: h.Interface("eth0"), Weight: 2},
	}, rs[0].NextHops)
}

func TestMultipathRoute(t *testing.T) {
	t.Parallel()
	h, _, _, _ := twoUplinks(t)
	require.NoError(t, h.AddRouteWith("10.0.2.0/24", "", nstest.WeightedNextHop("r1", 1), nstest.WeightedNextHop("r2", 3)))

	rs := routesTo(t, h, "10.0.2.0/24")
	require.Len(t, rs, 1)
	want := []nstest.NextHop{
		{Gateway: netip.MustParseAddr("10.0.1.1"), Dev: "eth0", Interface: h.Interface("eth0"), Weight: 1},
		{Gateway: netip.MustParseAddr("10.0.3.1"), Dev: "eth1", Interface: h.Interface("eth1"), Weight: 3},
	}
	assert.Equal(t, want, rs[0].NextHops)

	// Flows to different addresses spread over both next hops; RouteGet
	// reports the table entry with both, and the one chosen.
	used := map[string]int{}
	for i := 1; i <= 64; i++ {
		r, err := h.RouteGet(netip.AddrFrom4([4]byte{10, 0, 2, byte(i)}).String())
		require.NoError(t, err)
		require.Len(t, r.NextHops, 2)
		used[r.Dev]++
	}
	assert.Len(t, used, 2, "both next hops carry flows: %v", used)
	nstest.AssertReachable(t, h, "srv")
}

// An IPv4 router that announces a path MTU below net.ipv4.route.min_pmtu
// (552) gets min_pmtu instead, locked: the kernel sends without DF rather
// than go lower.
func TestPMTUExceptionLockedAtMinPMTU(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	h, r, srv := topo.AddHost("h"), topo.AddRouter("r"), topo.AddHost("srv")
	topo.Link(h, r, "10.0.1.2/24", "10.0.1.1/24")
	_, narrow := topo.Link(r, srv, "10.0.2.1/24", "10.0.2.2/24")
	// SetMTU rather than Link's MTU option, which fails below IPv6's 1280.
	require.NoError(t, narrow.SetMTU(500))
	require.NoError(t, narrow.Peer().SetMTU(500))
	require.NoError(t, h.AddRoute("default", "r"))
	require.NoError(t, srv.AddRoute("default", "r"))

	st, err := h.Ping(context.Background(), "srv", ping.DontFragment(), ping.Size(1000))
	require.NoError(t, err)
	require.Zero(t, st.Received, "a 1028-byte DF packet crossed a 500-byte link")

	got, err := h.RouteGet("srv")
	require.NoError(t, err)
	require.NotNil(t, got.Exception, "no exception after fragmentation needed: %v", got)
	assert.Equal(t, 552, got.Exception.MTU)
	assert.True(t, got.Exception.MTULocked)
	assert.Greater(t, got.Exception.Expires, 9*time.Minute)
	assert.LessOrEqual(t, got.Exception.Expires, 10*time.Minute)
	if _, err := exec.LookPath("ip"); err == nil {
		// ip's JSON leaves out the lock: compare the text.
		out, err := h.Command("ip", "route", "get", "10.0.2.2").CombinedOutput()
		require.NoError(t, err)
		assert.Contains(t, string(out), "mtu lock 552")
	}
}

// The output interface losing carrier shows as linkdown on the route.
func TestRouteGetLinkDown(t *testing.T) {
	t.Parallel()
	h, r1, _, _ := twoUplinks(t)
	require.NoError(t, h.AddRoute("default", "r1"))
	require.NoError(t, r1.Interface("eth0").SetDown())
	// The kernel flags the route when it handles the carrier event, soon
	// after SetDown returns.
	got := waitRoute(t, h, "srv", func(r *nstest.Route) bool { return r.Flags.LinkDown })
	assert.Contains(t, got.String(), "linkdown")
	assert.Equal(t, "eth0", got.Dev, "the route is still used (ignore_routes_with_linkdown=0)")
}

// waitRoute waits up to two seconds for h's route to dst to satisfy ok,
// looking every 10 ms, and returns it.
func waitRoute(t *testing.T, h *nstest.Host, dst string, ok func(*nstest.Route) bool) *nstest.Route {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Second)
	for {
		r, err := h.RouteGet(dst)
		require.NoError(t, err)
		if ok(r) {
			return r
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("route to %s from %s: still %v after 2s", dst, h, r)
		}
	}
}

func TestExampleRouteGet(t *testing.T) {
	t.Parallel()
	routeGetExample(t)
}

// A gateway given by name goes out of the interface on the gateway's L2
// segment, the one the name was resolved through, even when another of the
// host's interfaces is on the same subnet.
func TestGatewayByNameUsesItsSegment(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	h, r, other := topo.AddHost("h"), topo.AddRouter("r"), topo.AddHost("other")
	br1, br2 := topo.AddBridge("br1"), topo.AddBridge("br2")
	topo.Connect(h, br1, "10.0.0.1/24")
	topo.Connect(h, br2, "10.0.0.2/24")
	topo.Connect(other, br1, "10.0.0.3/24")
	topo.Connect(r, br2, "10.0.0.254/24")
	topo.Link(r, topo.AddHost("far"), "10.9.0.1/24", "10.9.0.2/24")
	require.NoError(t, h.AddRoute("10.9.0.0/24", "r"))
	got, err := h.RouteGet("10.9.0.2")
	require.NoError(t, err)
	assert.Equal(t, "eth1", got.Dev, "r is on br2, which h reaches through eth1")
	assert.Equal(t, netip.MustParseAddr("10.0.0.254"), got.Gateway)
}
