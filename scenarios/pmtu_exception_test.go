// The behaviour: path MTU discovery, as the kernel's selftests (pmtu.sh)
// check it. A host sends through two routers; the link between them carries
// only 1300 bytes. A bigger packet with Don't Fragment set cannot cross it:
// the first router drops it and answers "fragmentation needed" (IPv4) or
// "packet too big" (IPv6) with the MTU 1300. The host caches that MTU as a
// route exception for this one destination, for ten minutes: `ip route get`
// shows "cache expires 599sec mtu 1300", and Host.RouteGet shows it as
// Route.Exception. (Before RouteGet, tests parsed "MTU N" out of ping's error
// text.)
//
// The lock: `ip route ... mtu lock 1500` turns IPv4 path MTU discovery off
// for the route's destinations. The kernel ignores "fragmentation needed",
// learns nothing, and sends without DF unless a socket insists, so the router
// fragments and big packets get through. A socket that insists on DF (ping -M
// do, and the many UDP programs that do) is dropped at the narrow link for
// ever: a black hole made by configuration. IPv6 has no optional discovery
// (routers never fragment): the exception is learned anyway, and carries the
// route's lock flag.
package scenarios_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/ping"
)

// pmtuChain builds h1 — r1 —(MTU 1300)— r2 — h2 with IPv4 and IPv6 on every
// link, like pmtu.sh's setup, and returns the sending host.
func pmtuChain(t *testing.T) *nstest.Host {
	topo := nstest.New(t)
	h1, r1, r2, h2 := topo.AddHost("h1"), topo.AddRouter("r1"), topo.AddRouter("r2"), topo.AddHost("h2")
	link := func(a, b *nstest.Host, a4, b4, a6, b6 string, opts ...nstest.LinkOption) {
		ia, ib := topo.Link(a, b, a4, b4, opts...)
		require.NoError(t, ia.AddAddr(a6))
		require.NoError(t, ib.AddAddr(b6))
	}
	link(h1, r1, "10.0.1.2/24", "10.0.1.1/24", "fd01::2/64", "fd01::1/64")
	link(r1, r2, "10.0.12.1/24", "10.0.12.2/24", "fd12::1/64", "fd12::2/64", nstest.MTU(1300))
	link(r2, h2, "10.0.2.1/24", "10.0.2.2/24", "fd02::1/64", "fd02::2/64")
	for _, r := range []struct {
		h        *nstest.Host
		dst, via string
	}{
		{h1, "default", "10.0.1.1"}, {h1, "::/0", "fd01::1"},
		{r1, "10.0.2.0/24", "10.0.12.2"}, {r1, "fd02::/64", "fd12::2"},
		{r2, "10.0.1.0/24", "10.0.12.1"}, {r2, "fd01::/64", "fd12::1"},
		{h2, "default", "10.0.2.1"}, {h2, "::/0", "fd02::1"},
	} {
		require.NoError(t, r.h.AddRoute(r.dst, r.via))
	}
	return h1
}

// headers is what IP and ICMP add to a ping's payload.
var headers = map[string]int{"10.0.2.2": 20 + 8, "fd02::2": 40 + 8}

func TestPMTUExceptionLearned(t *testing.T) {
	t.Parallel()
	h1 := pmtuChain(t)
	ctx := context.Background()
	for _, dst := range []string{"10.0.2.2", "fd02::2"} {
		before, err := h1.RouteGet(dst)
		require.NoError(t, err)
		require.Nil(t, before.Exception, "learned before anything was sent: %v", before)

		// The failure: 1400 bytes with DF do not cross the 1300-byte link.
		st, err := h1.Ping(ctx, dst, ping.DontFragment(), ping.Size(1400))
		require.NoError(t, err)
		assert.Zero(t, st.Received, "%s: a 1400-byte DF ping crossed a 1300-byte link", dst)

		// What r1 answered is now in h1's route cache, for this
		// destination only.
		r, err := h1.RouteGet(dst)
		require.NoError(t, err)
		t.Logf("h1: route get %s: %v", dst, r)
		require.NotNil(t, r.Exception, "%s: no exception learned: %v", dst, r)
		assert.Equal(t, 1300, r.Exception.MTU)
		assert.False(t, r.Exception.MTULocked)
		assert.Greater(t, r.Exception.Expires, 9*time.Minute, "net.ipv4.route.mtu_expires is 10 minutes")
		assert.Equal(t, 0, r.MTU, "the route itself has no MTU: the exception does")
		crossCheckIP(t, h1, dst, "mtu 1300")
		r1Addr, err := h1.RouteGet(map[string]string{"10.0.2.2": "10.0.2.1", "fd02::2": "fd02::1"}[dst])
		require.NoError(t, err)
		assert.Nil(t, r1Addr.Exception, "another destination behind the same link learned nothing yet")

		// With the MTU known, h1 refuses an oversized DF packet itself,
		// naming the MTU, and one of exactly 1300 bytes gets through.
		_, err = h1.Ping(ctx, dst, ping.DontFragment(), ping.Size(1400))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "MTU 1300")
		st, err = h1.Ping(ctx, dst, ping.DontFragment(), ping.Size(1300-headers[dst]))
		require.NoError(t, err)
		assert.Equal(t, 1, st.Received, "%s: a 1300-byte DF ping", dst)
	}
}

func TestPMTUWithLockedRouteMTU(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("unlocked", func(t *testing.T) {
		t.Parallel()
		h1 := pmtuChain(t)
		// A ping that lets the kernel choose (IP_PMTUDISC_WANT) is sent
		// with DF: the first big one is lost while h1 learns the MTU.
		st, err := h1.Ping(ctx, "10.0.2.2", ping.Size(1400))
		require.NoError(t, err)
		assert.Zero(t, st.Received)
		r, err := h1.RouteGet("10.0.2.2")
		require.NoError(t, err)
		require.NotNil(t, r.Exception, "%v", r)
		assert.Equal(t, 1300, r.Exception.MTU)
	})

	t.Run("locked", func(t *testing.T) {
		t.Parallel()
		h1 := pmtuChain(t)
		require.NoError(t, h1.ReplaceRoute("default", "10.0.1.1", nstest.RouteLockedMTU(1500)))
		require.NoError(t, h1.ReplaceRoute("::/0", "fd01::1", nstest.RouteLockedMTU(1500)))

		// IPv4: the same ping leaves without DF, r1 fragments it, and
		// it is answered; nothing is learned.
		st, err := h1.Ping(ctx, "10.0.2.2", ping.Size(1400))
		require.NoError(t, err)
		assert.Equal(t, 1, st.Received, "a non-DF ping over a locked route")
		// A socket that insists on DF is dropped at the narrow link,
		// and the "fragmentation needed" r1 sends is ignored: the
		// black hole stays.
		for range 2 {
			st, err = h1.Ping(ctx, "10.0.2.2", ping.DontFragment(), ping.Size(1400))
			require.NoError(t, err)
			assert.Zero(t, st.Received)
		}
		r, err := h1.RouteGet("10.0.2.2")
		require.NoError(t, err)
		t.Logf("h1: route get 10.0.2.2: %v", r)
		assert.Nil(t, r.Exception, "IPv4 learned a path MTU over a locked route")
		assert.Equal(t, 1500, r.MTU)
		assert.True(t, r.MTULocked)

		// IPv6: routers never fragment, discovery cannot be turned off:
		// the exception is learned, with the route's lock flag.
		st, err = h1.Ping(ctx, "fd02::2", ping.Size(1400))
		require.NoError(t, err)
		assert.Zero(t, st.Received)
		r, err = h1.RouteGet("fd02::2")
		require.NoError(t, err)
		t.Logf("h1: route get fd02::2: %v", r)
		require.NotNil(t, r.Exception, "%v", r)
		assert.Equal(t, 1300, r.Exception.MTU)
		assert.True(t, r.Exception.MTULocked)
		crossCheckIP(t, h1, "fd02::2", "mtu lock 1300")
	})
}

// crossCheckIP checks that `ip route get dst` in h says want, when the ip
// program is installed (Debian package iproute2).
func crossCheckIP(t *testing.T, h *nstest.Host, dst, want string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		return
	}
	out, err := h.Command("ip", "route", "get", dst).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), want, "ip route get %s", dst)
}
