package nstest_test

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/qdisc"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/ping"
)

func impairPair(t *testing.T) (*nstest.Host, *nstest.Interface) {
	topo := nstest.New(t)
	a, b := topo.AddHost("a"), topo.AddHost("b")
	ai, _ := topo.Link(a, b, "10.0.0.1/24", "10.0.0.2/24")
	return a, ai
}

// tcQdisc shows the interface's qdiscs as tc does.
func tcQdisc(t *testing.T, h *nstest.Host, dev string) string {
	t.Helper()
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("tc (Debian package iproute2) is not installed")
	}
	out, err := h.Command("tc", "qdisc", "show", "dev", dev).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

func TestImpairRateThenReset(t *testing.T) {
	t.Parallel()
	a, ai := impairPair(t)
	require.NoError(t, ai.Impair(nstest.Impairment{Rate: 10_000_000}))
	assert.Contains(t, tcQdisc(t, a, "eth0"), "rate 10Mbit")
	nstest.AssertReachable(t, a, "b")
	require.NoError(t, ai.Impair(nstest.Impairment{}))
	assert.NotContains(t, tcQdisc(t, a, "eth0"), "rate")
}

// Loss works with netem, or without it through an nf_tables drop.
func TestImpairLoss(t *testing.T) {
	t.Parallel()
	a, ai := impairPair(t)
	// Loss hits ARP too, as netem's does: resolve the neighbour first, or a
	// lost ARP request stalls every echo for a second.
	nstest.RequireReachable(t, a, "b")
	require.NoError(t, ai.Impair(nstest.Impairment{Loss: 30}))
	st, err := a.Ping(context.Background(), "b", ping.Count(400), ping.Interval(time.Millisecond), ping.Wait(500*time.Millisecond))
	require.NoError(t, err)
	// 400 echoes at 30%: the standard deviation is 2.3 points; allow 5 of them.
	assert.InDelta(t, 30, st.Loss, 12, "loss with Impair{Loss: 30}: %s", st)
	require.NoError(t, ai.Impair(nstest.Impairment{}))
	st, err = a.Ping(context.Background(), "b", ping.Count(100), ping.Interval(time.Millisecond))
	require.NoError(t, err)
	assert.Zero(t, st.Loss, "loss after the reset: %s", st)
}

// Delay needs netem: where the kernel has it, replies come back late; where
// it does not, the error wraps ErrUnsupported and names the kernel option.
func TestImpairDelay(t *testing.T) {
	t.Parallel()
	a, ai := impairPair(t)
	err := ai.Impair(nstest.Impairment{Delay: 40 * time.Millisecond, Jitter: 5 * time.Millisecond})
	if netem, _ := qdisc.NetemSupported(); !netem {
		require.Error(t, err)
		assert.True(t, errors.Is(err, nstest.ErrUnsupported), "%v", err)
		assert.Contains(t, err.Error(), "CONFIG_NET_SCH_NETEM")
		assert.Contains(t, err.Error(), `interface a:eth0`)
		t.Log("this kernel has no netem; the delay path itself runs where it has")
		return
	}
	require.NoError(t, err)
	st, err := a.Ping(context.Background(), "b", ping.Count(3), ping.Interval(10*time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, 3, st.Received)
	assert.GreaterOrEqual(t, st.Min, 35*time.Millisecond, "replies not delayed: %s", st)
}

func TestImpairRejectsBadValues(t *testing.T) {
	t.Parallel()
	_, ai := impairPair(t)
	for _, im := range []nstest.Impairment{{Loss: 101}, {Loss: -1}, {Jitter: time.Millisecond}, {Delay: -time.Second}} {
		err := ai.Impair(im)
		require.Error(t, err, "%+v accepted", im)
		assert.Contains(t, err.Error(), "interface a:eth0")
	}
}
