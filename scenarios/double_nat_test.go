// The bug: two offices use the same private range, 192.168.1.0/24, each
// behind its own router, and both must reach a server on the Internet.
// Someone routes instead of translating: the server gets a route back to
// 192.168.1.0/24, but it can have only one, through the first office's
// router. That office works; the other's connections time out, because the
// server's answers go to the wrong 192.168.1.0/24.
//
// The fix: NAT on both routers (Gont's double NAT test): each masquerades
// its LAN behind its public address, so the server sees two different
// public peers and answers them, and the two LANs, with the same addresses,
// stay unreachable from each other.
package scenarios_test

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestTwoLANsWithTheSamePrivateRange(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	officeA, officeB, internet := topo.AddBridge("officeA"), topo.AddBridge("officeB"), topo.AddBridge("internet")
	alice, bob := topo.AddHost("alice"), topo.AddHost("bob")
	r1, r2 := topo.AddRouter("r1"), topo.AddRouter("r2")
	server := topo.AddHost("server")
	// The same range on both sides, and the same router address: the
	// topology allows it, as addresses are unique per L2 segment.
	topo.Connect(alice, officeA, "192.168.1.10/24")
	topo.Connect(r1, officeA, "192.168.1.1/24")
	topo.Connect(bob, officeB, "192.168.1.20/24")
	topo.Connect(r2, officeB, "192.168.1.1/24")
	topo.Connect(r1, internet, "203.0.113.1/24")
	topo.Connect(r2, internet, "203.0.113.2/24")
	topo.Connect(server, internet, "203.0.113.100/24")
	// "r1" from alice is r1's address in alice's office, 192.168.1.1.
	require.NoError(t, alice.AddRoute("default", "r1"))
	require.NoError(t, bob.AddRoute("default", "r2"))
	// The server tells each client the address it sees.
	serve(t, server, ":80", func(c net.Conn) {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		io.WriteString(c, host)
	})

	// The failure: a route back to the private range, through r1 ("r1" from
	// the server is its public address, 203.0.113.1). Office A works; office
	// B's answers go to office A.
	require.NoError(t, server.AddRoute("192.168.1.0/24", "r1"))
	assert.Equal(t, "192.168.1.10", seenBy(t, alice, "server:80"))
	nstest.AssertTCPUnreachable(t, bob, "server:80")

	// The fix: each router hides its office behind its public address. The
	// route on the server no longer matters: it answers the routers.
	require.NoError(t, r1.Masquerade("eth1", "192.168.1.0/24"))
	require.NoError(t, r2.Masquerade("eth1", "192.168.1.0/24"))
	assert.Equal(t, "203.0.113.1", seenBy(t, alice, "server:80"))
	assert.Equal(t, "203.0.113.2", seenBy(t, bob, "server:80"))
	nstest.AssertReachable(t, alice, "r2") // r2's public address: its private one is r1's too

	// The offices stay apart: neither reaches the other's private addresses.
	_, err := alice.Listen("tcp", ":80")
	require.NoError(t, err)
	nstest.AssertUnreachable(t, alice, "bob")
	nstest.AssertUnreachable(t, bob, "alice")
	nstest.AssertTCPUnreachable(t, bob, "192.168.1.10:80")
}
