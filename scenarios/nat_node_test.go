// The bug: "NAT is my firewall". A router masquerades its LAN behind its
// public address, and everyone assumes nothing on the outside can reach the
// LAN. But NAT only rewrites what goes out: a machine on the outside that
// routes the LAN's range to the router (its ISP's neighbour, a compromised
// modem) connects straight in. Mininet's NAT node adds the missing half:
// forward only what comes from the inside, and from the outside only what
// belongs to a connection the inside opened.
//
// The fix, in two steps: a Drop policy on the forward chain with an accept
// rule for the LAN alone breaks the LAN's own connections, since their
// replies come from the outside too; accepting packets of established and
// related connections lets the replies back, and nothing else. The rules'
// counters show which rule each kind of packet matched.
package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/firewall"
)

func TestNATNodeLetsOnlyRepliesIn(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	inside, nat, outside := topo.AddHost("inside"), topo.AddRouter("nat"), topo.AddHost("outside")
	topo.Link(inside, nat, "192.168.1.10/24", "192.168.1.1/24") // nat:eth0, the LAN
	topo.Link(nat, outside, "203.0.113.1/24", "203.0.113.9/24") // nat:eth1, the outside
	require.NoError(t, inside.AddRoute("default", "nat"))
	require.NoError(t, outside.AddRoute("192.168.1.0/24", "nat"))
	for _, h := range []*nstest.Host{inside, outside} {
		_, err := h.Listen("tcp", ":22")
		require.NoError(t, err)
	}
	require.NoError(t, nat.Masquerade("eth1", "192.168.1.0/24"))

	// The failure: NAT alone lets the outside in.
	nstest.AssertTCPReachable(t, inside, "outside:22")
	nstest.AssertTCPReachable(t, outside, "inside:22")

	// Half a fix: drop by default, let the LAN out. The outside is kept
	// out, but so are the replies to the LAN's own connections.
	lanOut := firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, InIface: "eth0"}
	require.NoError(t, nat.SetFirewallPolicy(firewall.Forward, firewall.Drop))
	require.NoError(t, nat.Firewall(lanOut))
	nstest.AssertTCPUnreachable(t, outside, "inside:22")
	nstest.AssertTCPUnreachable(t, inside, "outside:22")

	// The fix: replies, and the ICMP errors about the LAN's connections,
	// come back; a new connection from the outside still does not. The
	// explicit drop for it does what the policy would, and counts.
	replies := firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, State: "established,related"}
	newIn := firewall.Rule{Chain: firewall.Forward, Action: firewall.Drop, InIface: "eth1", State: "new"}
	require.NoError(t, nat.Firewall(replies, newIn))
	nstest.AssertTCPReachable(t, inside, "outside:22")
	nstest.AssertTCPUnreachable(t, outside, "inside:22")

	counters, err := nat.FirewallCounters()
	require.NoError(t, err)
	for _, c := range counters {
		t.Logf("nat: %s", c)
	}
	for rule, what := range map[firewall.Rule]string{
		lanOut:  "the LAN's SYNs went out",
		replies: "the outside's SYN-ACKs came back as replies",
		newIn:   "the outside's SYNs were refused as new connections",
	} {
		c, err := nat.FirewallCount(rule)
		require.NoError(t, err)
		assert.NotZero(t, c.Packets, "%s: %s", what, c)
	}
}
