// The bug: "the server is up, I can ping it, but the service times out".
// Ping proves only that ICMP gets through. Here the server's firewall was
// meant to allow port 8080 and drop all other TCP, but the allow rule was
// appended after the drop rule, and the first matching rule wins: port 8080
// is dropped too, silently, while ping keeps working.
//
// The fix: rules in the right order, the allow rule first.
package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/firewall"
)

func TestFirewallBlocksPortWhilePingWorks(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	lan := topo.AddBridge("lan")
	client, server := topo.AddHost("client"), topo.AddHost("server")
	topo.Connect(client, lan, "10.0.0.1/24")
	topo.Connect(server, lan, "10.0.0.2/24")
	for _, port := range []string{":8080", ":9090"} {
		_, err := server.Listen("tcp", port)
		require.NoError(t, err)
	}

	dropTCP := firewall.Rule{Chain: firewall.Input, Proto: "tcp", Action: firewall.Drop}
	allow8080 := firewall.Rule{Chain: firewall.Input, Proto: "tcp", DstPort: 8080, Action: firewall.Accept}

	// The failure: the allow rule comes too late.
	require.NoError(t, server.Firewall(dropTCP, allow8080))
	nstest.AssertReachable(t, client, "server")
	nstest.AssertTCPUnreachable(t, client, "server:8080")

	// The fix: allow first, then drop.
	require.NoError(t, server.FlushFirewall())
	require.NoError(t, server.Firewall(allow8080, dropTCP))
	nstest.AssertTCPReachable(t, client, "server:8080")
	nstest.AssertTCPUnreachable(t, client, "server:9090")
	nstest.AssertReachable(t, client, "server")
}
