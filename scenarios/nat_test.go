// The bug: after a network change, the server's access log and its
// per-client rate limits see every client as the same address, the router's.
// The router masquerades (source NAT) traffic leaving towards the servers,
// which hides the clients' addresses: the servers need no route back to the
// clients, so nobody noticed the NAT was there.
//
// The fix: route instead of translating. Remove the masquerade and give the
// server a route back to the clients' subnet through the router; removing the
// NAT alone cuts the clients off, which the test shows too.
package scenarios_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestNATHidesClientAddress(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	client, r, server := topo.AddHost("client"), topo.AddRouter("r"), topo.AddHost("server")
	topo.Link(client, r, "10.0.1.2/24", "10.0.1.1/24")
	topo.Link(r, server, "10.0.2.1/24", "10.0.2.2/24")
	require.NoError(t, client.AddRoute("default", "r"))
	// The server tells each client the address it sees.
	serve(t, server, ":80", func(c net.Conn) {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		io.WriteString(c, host)
	})
	require.NoError(t, r.Masquerade("eth1", ""))

	// The failure: the server sees the router, not the client.
	assert.Equal(t, "10.0.2.1", seenBy(t, client, "server:80"))

	// Without NAT and without a route back, the client is cut off.
	require.NoError(t, r.FlushFirewall())
	nstest.AssertTCPUnreachable(t, client, "server:80")

	// The fix: a route back to the clients.
	require.NoError(t, server.AddRoute("10.0.1.0/24", "r"))
	assert.Equal(t, "10.0.1.2", seenBy(t, client, "server:80"))
}

// seenBy connects from h to addr and returns what the server says.
func seenBy(t *testing.T, h *nstest.Host, addr string) string {
	t.Helper()
	// Bounds for a broken network, not speed checks: generous, so that a
	// loaded machine passes.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	require.NoError(t, err)
	return string(b)
}
