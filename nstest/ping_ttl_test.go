package nstest_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/ping"
)

// TestPingTTLBehindRouter: replies from a host behind one router arrive
// with TTL (IPv4) and hop limit (IPv6) 63, as Mininet's router test checks,
// on raw and on datagram ICMP sockets.
func TestPingTTLBehindRouter(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	a, r, b := topo.AddHost("a"), topo.AddRouter("r"), topo.AddHost("b")
	topo.Link(a, r, "10.0.1.2/24", "10.0.1.1/24")
	topo.Link(a, r, "fd01::2/64", "fd01::1/64")
	topo.Link(r, b, "10.0.2.1/24", "10.0.2.2/24")
	topo.Link(r, b, "fd02::1/64", "fd02::2/64")
	require.NoError(t, a.AddRoute("default", "10.0.1.1"))
	require.NoError(t, a.AddRoute("fd02::/64", "fd01::1"))
	require.NoError(t, b.AddRoute("default", "10.0.2.1"))
	require.NoError(t, b.AddRoute("fd01::/64", "fd02::1"))
	require.NoError(t, a.SetSysctl("net.ipv4.ping_group_range", "0 2147483647"))

	for _, dst := range []string{"10.0.2.2", "fd02::2"} {
		st, err := a.Ping(context.Background(), dst, ping.Count(3))
		require.NoError(t, err)
		require.Equal(t, 3, st.Received, "%v", st)
		assert.Equal(t, []int{63, 63, 63}, st.TTLs, "raw socket, %s", dst)

		d := netip.MustParseAddr(dst)
		a.InNS(func() {
			c, err := ping.Open(ping.FamilyOf(d), ping.Datagram)
			require.NoError(t, err)
			defer c.Close()
			st, err := c.Ping(context.Background(), d, ping.Count(2))
			require.NoError(t, err)
			assert.Equal(t, []int{63, 63}, st.TTLs, "datagram socket, %s", dst)
		})
	}
	// On the router's own link: 64.
	st, err := a.Ping(context.Background(), "10.0.1.1")
	require.NoError(t, err)
	assert.Equal(t, []int{64}, st.TTLs)
}
