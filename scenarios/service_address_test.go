// The bug: a server has two links to its router, and its service address
// (192.0.2.10, the one clients and DNS know) was configured on the first
// link's interface. The router sends the service's traffic over the second
// link. When the first link's network card failed and the kernel removed its
// interface (a hot-unplug, a driver reset), the service went dark although
// the link that carries its traffic was fine: an address belongs to its
// interface and goes with it.
//
// The fix: the service address lives on a dummy interface, which belongs to
// no link, as a router's loopback address does. It is reachable over any
// link that is up, whichever interface comes or goes. This needs dummy
// interfaces (CONFIG_DUMMY): it skips where the kernel lacks them, and runs
// in the kernel lane (ci/kernels.sh).
package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestServiceAddressOnDummy(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	client, r, server := topo.AddHost("client"), topo.AddRouter("r"), topo.AddHost("server")
	topo.Link(client, r, "10.0.1.2/24", "10.0.1.1/24")
	first, _ := topo.Link(server, r, "10.0.2.2/24", "10.0.2.1/24")
	topo.Link(server, r, "10.0.3.2/24", "10.0.3.1/24")
	require.NoError(t, client.AddRoute("default", "r"))
	require.NoError(t, server.AddRoute("default", "10.0.3.1"))
	require.NoError(t, r.AddRoute("192.0.2.10/32", "10.0.3.2")) // over the second link

	// The failure: the service address on the first link's interface, which
	// then disappears.
	require.NoError(t, first.AddAddr("192.0.2.10/32"))
	nstest.AssertReachable(t, client, "192.0.2.10")
	require.NoError(t, first.Delete())
	nstest.AssertReachable(t, client, "10.0.3.2") // the second link is fine
	nstest.AssertUnreachable(t, client, "192.0.2.10")

	// The fix: the service address on a dummy interface. A link that goes
	// away now takes only its own addresses with it.
	topo.AddDummy(server, "svc0", "192.0.2.10/32")
	nstest.AssertReachable(t, client, "192.0.2.10")
	spare, _ := topo.Link(server, r, "10.0.4.2/24", "10.0.4.1/24")
	require.NoError(t, spare.Delete())
	nstest.AssertReachable(t, client, "192.0.2.10")
	l, err := server.Listen("tcp", "192.0.2.10:80")
	require.NoError(t, err)
	defer l.Close()
	nstest.AssertTCPReachable(t, client, "192.0.2.10:80")
}
