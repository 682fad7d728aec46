package nstest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

const quick = 300 * time.Millisecond

func TestPartitionOneBridge(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	h := make([]*nstest.Host, 4)
	for k, name := range []string{"h1", "h2", "h3", "h4"} {
		h[k] = topo.AddHost(name)
		topo.Connect(h[k], br, "10.0.0."+string(rune('1'+k))+"/24")
	}
	nstest.RequireReachable(t, h[0], "h3")

	heal := topo.Partition([]*nstest.Host{h[0], h[1]}, []*nstest.Host{h[2], h[3]})
	nstest.AssertReachable(t, h[0], "h2")
	nstest.AssertReachable(t, h[3], "h3")
	nstest.AssertUnreachable(t, h[0], "h3", nstest.Within(quick))
	nstest.AssertUnreachable(t, h[0], "h4", nstest.Within(quick))
	nstest.AssertUnreachable(t, h[3], "h2", nstest.Within(quick))

	require.NoError(t, heal())
	nstest.AssertConnectivity(t, h...)
	require.NoError(t, heal(), "a second heal")
}

// Hosts on two bridges joined by a cable are partitioned as well, and a host
// in no group still reaches everyone.
func TestPartitionAcrossBridges(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br1, br2 := topo.AddBridge("br1"), topo.AddBridge("br2")
	topo.ConnectBridges(br1, br2)
	a, b, c := topo.AddHost("a"), topo.AddHost("b"), topo.AddHost("c")
	topo.Connect(a, br1, "10.0.0.1/24")
	topo.Connect(b, br2, "10.0.0.2/24")
	topo.Connect(c, br2, "10.0.0.3/24")

	heal := topo.Partition([]*nstest.Host{a}, []*nstest.Host{b})
	nstest.AssertUnreachable(t, a, "b", nstest.Within(quick))
	nstest.AssertUnreachable(t, b, "a", nstest.Within(quick))
	nstest.AssertConnectivity(t, a, c)
	nstest.AssertConnectivity(t, b, c)
	require.NoError(t, heal())
	nstest.AssertReachable(t, a, "b")
}

// A direct link between groups drops everything; the links stay up.
func TestPartitionDirectLink(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	h1, r, h2 := topo.AddHost("h1"), topo.AddRouter("r"), topo.AddHost("h2")
	topo.Link(h1, r, "10.0.1.2/24", "10.0.1.1/24")
	topo.Link(r, h2, "10.0.2.1/24", "10.0.2.2/24")
	require.NoError(t, h1.AddRoute("default", "r"))
	require.NoError(t, h2.AddRoute("default", "r"))
	nstest.RequireReachable(t, h1, "h2")

	heal := topo.Partition([]*nstest.Host{h1, r}, []*nstest.Host{h2})
	nstest.AssertReachable(t, h1, "10.0.1.1")
	nstest.AssertUnreachable(t, h1, "h2", nstest.Within(quick))
	nstest.AssertUnreachable(t, h2, "10.0.2.1", nstest.Within(quick))
	out, err := h2.Command("ip", "link", "show", "dev", "eth0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "state UP", "the link itself stays up")

	require.NoError(t, heal())
	nstest.AssertReachable(t, h1, "h2")
}

func TestPartitionRejectsAHostInTwoGroups(t *testing.T) {
	t.Parallel()
	err := testrun.Run("partition", nil, func(tb testing.TB) {
		topo := nstest.New(tb)
		a, b := topo.AddHost("a"), topo.AddHost("b")
		topo.Partition([]*nstest.Host{a, b}, []*nstest.Host{b})
	})
	if err != nil && strings.Contains(err.Error(), testrun.ErrSkipped.Error()) {
		t.Skip(err)
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), `nstest: partition: host "b" is in group 1 and in group 2`)
}

// netdevRules counts the rules of h's netdev-family tables, where a
// partition cuts direct links.
func netdevRules(t *testing.T, h *nstest.Host) int {
	t.Helper()
	f, err := h.NSFile()
	require.NoError(t, err)
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	require.NoError(t, err)
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyNetdev)
	require.NoError(t, err)
	n := 0
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		require.NoError(t, err)
		n += len(rules)
	}
	return n
}

// A direct link between two groups is cut by exactly one rule at each end,
// though the partition meets the link from both of its hosts.
func TestPartitionCutsEachLinkOnce(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	a, b, c := topo.AddHost("a"), topo.AddHost("b"), topo.AddHost("c")
	topo.Link(a, b, "10.0.0.1/30", "10.0.0.2/30")
	topo.Link(a, c, "10.0.1.1/30", "10.0.1.2/30")
	heal := topo.Partition([]*nstest.Host{a}, []*nstest.Host{b, c})
	assert.Equal(t, 2, netdevRules(t, a), "a's two ends")
	assert.Equal(t, 1, netdevRules(t, b))
	assert.Equal(t, 1, netdevRules(t, c))
	nstest.AssertUnreachable(t, a, "b", nstest.Within(quick))
	require.NoError(t, heal())
	assert.Zero(t, netdevRules(t, a))
	nstest.AssertReachable(t, a, "c")
}
