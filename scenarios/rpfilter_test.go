// The bug: a server with two interfaces answers on one address and not on
// the other. Its route back to the clients goes out through eth0, but
// requests to its second address arrive on eth1. With strict reverse path
// filtering (rp_filter=1, the default of several distributions), the kernel
// drops every packet that arrives on an interface it would not use to reply,
// silently: the client just times out. Asymmetric routing is normal with
// several uplinks; strict rp_filter breaks it.
//
// The fix: loose reverse path filtering (rp_filter=2), which only asks that
// the source be reachable through some interface.
package scenarios_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestAsymmetricRoutingDroppedByRPFilter(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	client, r, server := topo.AddHost("client"), topo.AddRouter("r"), topo.AddHost("server")
	topo.Link(client, r, "10.0.1.2/24", "10.0.1.1/24")
	topo.Link(r, server, "10.0.2.1/24", "10.0.2.2/24") // server eth0: path A
	topo.Link(r, server, "10.0.3.1/24", "10.0.3.2/24") // server eth1: path B
	require.NoError(t, client.AddRoute("default", "r"))
	// The server's only way back to the clients is path A.
	require.NoError(t, server.AddRoute("10.0.1.0/24", "10.0.2.1"))
	require.NoError(t, server.SetSysctl("net.ipv4.conf.all.rp_filter", "1"))

	// The failure: the address on path A answers, the one on path B does not,
	// and the server counts the drops.
	nstest.AssertReachable(t, client, "10.0.2.2")
	before := rpFilterDrops(t, server)
	nstest.AssertUnreachable(t, client, "10.0.3.2")
	assert.Greater(t, rpFilterDrops(t, server), before, "IPReversePathFilter counter on the server")

	// The fix: loose mode. Requests arrive on eth1, replies leave by eth0.
	require.NoError(t, server.SetSysctl("net.ipv4.conf.all.rp_filter", "2"))
	nstest.AssertReachable(t, client, "10.0.3.2")
}

// rpFilterDrops reads the TcpExt IPReversePathFilter counter of h's
// namespace, which counts packets dropped by reverse path filtering.
func rpFilterDrops(t *testing.T, h *nstest.Host) int {
	t.Helper()
	var text []byte
	require.NoError(t, h.Do(func() (err error) {
		text, err = os.ReadFile("/proc/thread-self/net/netstat")
		return err
	}))
	lines := strings.Split(string(text), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for k, name := range names {
			if name == "IPReversePathFilter" && k < len(values) {
				n, err := strconv.Atoi(values[k])
				require.NoError(t, err)
				return n
			}
		}
	}
	t.Fatalf("no IPReversePathFilter counter in %s's /proc/net/netstat", h)
	return 0
}
