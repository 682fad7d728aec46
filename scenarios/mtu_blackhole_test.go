// The bug: users behind a link with a smaller MTU (a VPN, PPPoE, a tunnel)
// can ping the server and open connections, but every download hangs. The
// server sends full-size TCP segments with Don't Fragment set; the router in
// front of the narrow link drops them and answers "fragmentation needed"
// (ICMP type 3 code 4), but the server's firewall drops ICMP unreachables,
// so the server never learns the path MTU and retransmits the same
// oversized segments forever: a path MTU black hole.
//
// Two fixes: let ICMP "fragmentation needed" through (path MTU discovery then
// works), or clamp the TCP MSS on a router at the narrow link, so that no
// segment is ever too large and the lost ICMP no longer matters.
//
// The narrow link must lie between two routers: if it ended at the server or
// the client, their own MTU would lower the MSS they announce and there
// would be nothing to discover.
package scenarios_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
	"github.com/nstest/harness/nstest/firewall"
)

const download = 1 << 20 // bytes

// blackHole builds client — r1 —(MTU 1400)— r2 — server, with a download
// server on port 80 and a server firewall that drops ICMP unreachables.
func blackHole(t *testing.T) (client, r1, r2, server *nstest.Host) {
	topo := nstest.New(t)
	client, server = topo.AddHost("client"), topo.AddHost("server")
	r1, r2 = topo.AddRouter("r1"), topo.AddRouter("r2")
	topo.Link(client, r1, "10.0.1.2/24", "10.0.1.1/24")
	topo.Link(r1, r2, "10.0.12.1/24", "10.0.12.2/24", nstest.MTU(1400))
	topo.Link(r2, server, "10.0.2.1/24", "10.0.2.2/24")
	require.NoError(t, client.AddRoute("default", "r1"))
	require.NoError(t, r1.AddRoute("10.0.2.0/24", "r2"))
	require.NoError(t, r2.AddRoute("10.0.1.0/24", "r1"))
	require.NoError(t, server.AddRoute("default", "r2"))
	serveBytes(t, server, ":80", download)

	require.NoError(t, server.Firewall(firewall.Rule{
		Chain: firewall.Input, Proto: "icmp", ICMPType: "destination-unreachable", Action: firewall.Drop,
	}))
	return client, r1, r2, server
}

// assertBlackHole shows the failure: small packets pass, the download stalls,
// and r2 did send "fragmentation needed" to the server, which dropped it.
func assertBlackHole(t *testing.T, client, r2 *nstest.Host) {
	t.Helper()
	toServer := open(t, r2, "eth1")
	nstest.RequireReachable(t, client, "server")
	n, err := fetch(client, "server:80", time.Second)
	require.Error(t, err, "the download finished through the black hole")
	assert.True(t, isTimeout(err), "want a stall, got %v", err)
	assert.Less(t, n, download)
	fragNeeded := capture.And(capture.ICMPType(capture.ICMPUnreachableType), capture.Dst(netip.MustParseAddr("10.0.2.2")))
	waitFor(t, toServer, fragNeeded, 1)
	t.Logf("stalled after %d of %d bytes; r2 sent %d ICMP unreachables to the server", n, download, toServer.Count(fragNeeded))
}

func TestMTUBlackHoleFixedByAllowingFragNeeded(t *testing.T) {
	t.Parallel()
	client, _, r2, server := blackHole(t)
	assertBlackHole(t, client, r2)

	// The fix: accept ICMP "fragmentation needed" before the drop.
	require.NoError(t, server.FlushFirewall())
	require.NoError(t, server.Firewall(
		firewall.Rule{Chain: firewall.Input, Proto: "icmp", ICMPType: "frag-needed", Action: firewall.Accept},
		firewall.Rule{Chain: firewall.Input, Proto: "icmp", ICMPType: "destination-unreachable", Action: firewall.Drop},
	))
	n, err := fetch(client, "server:80", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, download, n)
}

func TestMTUBlackHoleFixedByClampingMSS(t *testing.T) {
	t.Parallel()
	client, r1, r2, _ := blackHole(t)
	assertBlackHole(t, client, r2)

	// The fix: r1 lowers the MSS of the SYNs it sends over the narrow link
	// to what that link carries; ICMP is still dropped at the server.
	require.NoError(t, r1.ClampMSS("eth1"))
	n, err := fetch(client, "server:80", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, download, n)
}
