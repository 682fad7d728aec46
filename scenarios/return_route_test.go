// The bug: a new subnet is routed to a server, and nothing answers. The
// requests arrive (a capture on the server shows them), but the server has
// no route back to the client's subnet, so its replies are never sent.
// Checking only the forward path, "the packets get there", misses it.
//
// The fix: a route back to the client's subnet (or a default route) on the
// server.
package scenarios_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

func TestMissingReturnRoute(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	client, r, server := topo.AddHost("client"), topo.AddRouter("r"), topo.AddHost("server")
	topo.Link(client, r, "10.0.1.2/24", "10.0.1.1/24")
	topo.Link(r, server, "10.0.2.1/24", "10.0.2.2/24")
	require.NoError(t, client.AddRoute("default", "r"))
	// The server has no route to 10.0.1.0/24.

	// The failure: the echo requests reach the server, no reply leaves it.
	c := open(t, server, "eth0")
	nstest.AssertReachable(t, r, "server") // its own subnet is fine
	nstest.AssertUnreachable(t, client, "server")
	clientAddr := netip.MustParseAddr("10.0.1.2")
	waitFor(t, c, capture.And(capture.Incoming(), capture.ICMPEcho(), capture.Src(clientAddr)), 1)
	toClient := capture.And(capture.Outgoing(), capture.ICMPEchoReply(), capture.Dst(clientAddr))
	assert.Zero(t, c.Count(toClient), "replies to the client left the server")

	// The fix: the return route.
	require.NoError(t, server.AddRoute("10.0.1.0/24", "r"))
	nstest.AssertReachable(t, client, "server")
	waitFor(t, c, toClient, 1)
}
