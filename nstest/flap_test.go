package nstest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

func TestFlapCutsAndRestoresALink(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	eth0 := topo.Connect(h1, br, "10.0.0.1/24")
	topo.Connect(h2, br, "10.0.0.2/24")
	nstest.RequireReachable(t, h1, "h2")

	stop := eth0.Flap(context.Background(), time.Minute, time.Minute)
	nstest.AssertUnreachable(t, h1, "h2", nstest.Within(300*time.Millisecond))
	// The host's side stays administratively up, without carrier, and
	// keeps its address.
	out, err := h1.Command("ip", "-4", "addr", "show", "dev", "eth0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "NO-CARRIER")
	assert.Contains(t, string(out), ",UP")
	assert.Contains(t, string(out), "inet 10.0.0.1/24")

	require.NoError(t, stop())
	nstest.AssertReachable(t, h1, "h2")
	require.NoError(t, stop(), "a second stop")
}

// Flapping fast, a pinger sees both answered and lost echoes.
func TestFlapAlternates(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	eth0 := topo.Connect(h1, br, "10.0.0.1/24")
	topo.Connect(h2, br, "10.0.0.2/24")
	nstest.RequireReachable(t, h1, "h2")

	// The loop ends as soon as it has seen both; the deadline only bounds a
	// broken flap. Each up phase is long enough for a neighbour resolution
	// and an echo on a slow machine (the kernel lane's emulated CPUs): the
	// carrier loss flushes the neighbour, and with 150 ms up phases a loaded
	// VM answered no echo in 5 s.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eth0.Flap(ctx, 300*time.Millisecond, 600*time.Millisecond) // stopped at teardown
	var answered, lost int
	for (answered == 0 || lost == 0) && ctx.Err() == nil {
		st, _ := h1.Ping(ctx, "h2")
		if st != nil && st.Received > 0 {
			answered++
		} else {
			lost++
		}
	}
	assert.Positive(t, answered, "echoes answered while flapping")
	assert.Positive(t, lost, "echoes lost while flapping")
}

// When the far end of a direct link is in a host, its routes through the
// link come back after the flap.
func TestFlapRestoresPeerRoutes(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	h1, r, h2 := topo.AddHost("h1"), topo.AddRouter("r"), topo.AddHost("h2")
	h1r, _ := topo.Link(h1, r, "10.0.1.2/24", "10.0.1.1/24")
	r2, _ := topo.Link(r, h2, "10.0.2.1/24", "10.0.2.2/24")
	require.NoError(t, h1.AddRoute("default", "r"))
	require.NoError(t, h2.AddRoute("default", "r"))
	nstest.RequireReachable(t, h1, "h2")

	// r's end flaps, so h1's eth0 (and its default route) goes down.
	stop := h1r.Peer().Flap(context.Background(), time.Minute, time.Minute)
	nstest.AssertUnreachable(t, h1, "h2", nstest.Within(300*time.Millisecond))
	require.NoError(t, stop())
	nstest.AssertReachable(t, h1, "h2")

	// And the other way round: r's end stays up, h2's goes down and up.
	stop = r2.Flap(context.Background(), 200*time.Millisecond, time.Minute)
	require.NoError(t, stop())
	nstest.AssertReachable(t, h2, "h1")
}

func TestFlapRejectsBadDurations(t *testing.T) {
	t.Parallel()
	err := testrun.Run("flap", nil, func(tb testing.TB) {
		topo := nstest.New(tb)
		a, b := topo.AddHost("a"), topo.AddHost("b")
		ai, _ := topo.Link(a, b, "10.0.0.1/24", "10.0.0.2/24")
		ai.Flap(context.Background(), 0, time.Second)
	})
	if err != nil && strings.Contains(err.Error(), testrun.ErrSkipped.Error()) {
		t.Skip(err)
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), `interface a:eth0: flap 0s down, 1s up: both durations must be positive`)
}
