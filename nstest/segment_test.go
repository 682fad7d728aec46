package nstest_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

// twoLANs builds two LANs on the same range, 192.168.1.0/24, each behind its
// router, the routers on a shared "wan" bridge with a server:
//
//	a (192.168.1.10) -- lanA -- r1 (192.168.1.1, fe80::1 | 203.0.113.1, fe80::1) -- wan -- server (203.0.113.100)
//	b (192.168.1.10) -- lanB -- r2 (192.168.1.1, fe80::1 | 203.0.113.2)           -- wan
func twoLANs(t *testing.T) (topo *nstest.Topology, a, b, r1, r2, server *nstest.Host) {
	topo = nstest.New(t)
	lanA, lanB, wan := topo.AddBridge("lanA"), topo.AddBridge("lanB"), topo.AddBridge("wan")
	a, b = topo.AddHost("a"), topo.AddHost("b")
	r1, r2 = topo.AddRouter("r1"), topo.AddRouter("r2")
	server = topo.AddHost("server")
	topo.Connect(a, lanA, "192.168.1.10/24")
	topo.Connect(b, lanB, "192.168.1.10/24")
	topo.Connect(r1, lanA, "192.168.1.1/24", "fe80::1/64")
	topo.Connect(r2, lanB, "192.168.1.1/24", "fe80::1/64")
	topo.Connect(r1, wan, "203.0.113.1/24", "fe80::1/64") // the same link-local address on r1's two links
	topo.Connect(r2, wan, "203.0.113.2/24")
	topo.Connect(server, wan, "203.0.113.100/24")
	return topo, a, b, r1, r2, server
}

// dialedAddr listens on port 80 of to and returns the address from dials
// when it dials "name:80".
func dialedAddr(t *testing.T, from, to *nstest.Host, name string) (netip.Addr, error) {
	t.Helper()
	l, err := to.Listen("tcp", ":80")
	require.NoError(t, err)
	defer l.Close()
	c, err := from.Dial("tcp", name+":80")
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap(), nil
}

func TestOverlappingAddressSpaces(t *testing.T) {
	t.Parallel()
	topo, a, b, r1, r2, server := twoLANs(t)

	t.Run("a name means the address the host reaches directly", func(t *testing.T) {
		got, err := dialedAddr(t, a, r1, "r1")
		require.NoError(t, err)
		assert.Equal(t, "192.168.1.1", got.String(), `"r1" from a host of its LAN`)
		got, err = dialedAddr(t, server, r1, "r1")
		require.NoError(t, err)
		assert.Equal(t, "203.0.113.1", got.String(), `"r1" from the server, on its WAN side`)
		got, err = dialedAddr(t, b, r2, "r2")
		require.NoError(t, err)
		assert.Equal(t, "192.168.1.1", got.String(), `"r2" from a host of its LAN`)
	})
	t.Run("else the address no other node holds", func(t *testing.T) {
		got, err := topo.Resolve("r2")
		require.NoError(t, err)
		assert.Equal(t, "203.0.113.2", got.String())
		// r2 would answer 192.168.1.10 in its own LAN: r1 hides a behind
		// its WAN address.
		require.NoError(t, a.AddRoute("default", "r1"))
		require.NoError(t, r1.Masquerade("eth1", ""))
		got, err = dialedAddr(t, a, r2, "r2")
		require.NoError(t, err)
		assert.Equal(t, "203.0.113.2", got.String(), `"r2" from a host of the other LAN`)
	})
	t.Run("else the name is ambiguous where it is used", func(t *testing.T) {
		_, err := topo.Resolve("b")
		require.Error(t, err)
		assert.Contains(t, err.Error(), `"b" is ambiguous: it could mean 192.168.1.10 (also a's)`)
		assert.Contains(t, err.Error(), "give the address instead of the name")

		_, err = server.Dial("tcp", "a:80")
		require.Error(t, err)
		assert.Contains(t, err.Error(), `"a" is ambiguous: it could mean 192.168.1.10 (also b's)`)
		assert.Contains(t, err.Error(), "none is on a subnet and L2 segment of server")

		err = testrun.Run(t.Name(), nil, func(tb testing.TB) {
			nstest.AssertUnreachable(tb, a, "b")
		})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `nstest: a -> b: want unreachable, but "b" is ambiguous`)
	})
	t.Run("gateways are found on the host's own segment", func(t *testing.T) {
		require.NoError(t, b.AddRoute("10.9.0.0/16", "r2"))
		err := a.AddRoute("10.8.0.0/16", "r2")
		require.Error(t, err, "r2's 192.168.1.1 is on a's subnet but in the other LAN")
		assert.Contains(t, err.Error(), `gateway "r2": not an IP address, nor a node with an address of that IP version on one of the host's subnets and L2 segments`)
	})
	t.Run("both LANs work", func(t *testing.T) {
		nstest.AssertReachable(t, a, "192.168.1.1")
		nstest.AssertReachable(t, b, "192.168.1.1")
	})
}

func TestAddressesUniquePerSegment(t *testing.T) {
	nstest.New(t) // skip where namespaces cannot be built
	t.Run("twice on one bridge", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			br := topo.AddBridge("br1")
			topo.Connect(topo.AddRouter("r1"), br, "fe80::1/64")
			topo.Connect(topo.AddRouter("r2"), br, "fe80::1/64")
		}, nil, `address "fe80::1/64": conflict: r1:eth0 already has fe80::1 on the same L2 segment`)
	})
	t.Run("twice in one host", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			h := topo.AddHost("h")
			topo.Connect(h, topo.AddBridge("br1"), "10.0.0.1/24")
			topo.Connect(h, topo.AddBridge("br2"), "10.0.0.1/24")
		}, nil, `address "10.0.0.1/24": conflict: h:eth0 already has 10.0.0.1 in the same namespace`)
	})
	t.Run("both ends of a link", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.Link(topo.AddHost("a"), topo.AddHost("b"), "fe80::1/64", "fe80::1/64")
		}, func(topo *nstest.Topology) {
			assert.Equal(t, []string{"lo"}, links(t, topo.Host("a")), "no veth left")
		}, `address "fe80::1/64": conflict: a:eth0 already has fe80::1 on the same L2 segment`)
	})
	t.Run("bridges cabled together", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			br1, br2 := topo.AddBridge("br1"), topo.AddBridge("br2")
			topo.ConnectBridges(br1, br2)
			topo.Connect(topo.AddHost("h1"), br1, "10.0.0.1/24")
			topo.Connect(topo.AddHost("h2"), br2, "10.0.0.1/24")
		}, nil, `address "10.0.0.1/24": conflict: h1:eth0 already has 10.0.0.1 on the same L2 segment`)
	})
	t.Run("cabling two bridges that both have it", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			br1, br2 := topo.AddBridge("br1"), topo.AddBridge("br2")
			topo.Connect(topo.AddHost("h1"), br1, "10.0.0.1/24")
			topo.Connect(topo.AddHost("h2"), br2, "10.0.0.1/24")
			topo.ConnectBridges(br1, br2)
		}, func(topo *nstest.Topology) {
			ports, err := topo.Bridge("br1").Ports()
			require.NoError(t, err)
			assert.Equal(t, []string{"h1+eth0"}, ports, "no cable left")
		}, `nstest: connect bridges "br1" and "br2": address conflict: it would join h1:eth0 and h2:eth0, which both have 10.0.0.1, on one L2 segment`)
	})
	t.Run("a bridge and its port", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			br := topo.AddBridge("br1")
			topo.Connect(topo.AddHost("h1"), br, "10.0.0.1/24")
			if err := br.AddAddr("10.0.0.1/24"); err != nil {
				tb.Fatal(err)
			}
		}, nil, `bridge "br1": address "10.0.0.1/24": conflict: h1:eth0 already has 10.0.0.1 on the same L2 segment`)
	})
	t.Run("sites of one overlay", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			ov := topo.AddOverlay("underlay", 42)
			vm1, vm2 := ov.AddSite("vm1", "192.168.100.1/24"), ov.AddSite("vm2", "192.168.100.2/24")
			vm1.Connect(topo.AddHost("h1"), "10.10.0.1/24")
			vm2.Connect(topo.AddHost("h2"), "10.10.0.1/24")
		}, nil, `address "10.10.0.1/24": conflict: h1:eth0 already has 10.10.0.1 on the same L2 segment`)
	})
	t.Run("released with the interface", func(t *testing.T) {
		topo := nstest.New(t)
		br := topo.AddBridge("br1")
		i := topo.Connect(topo.AddHost("h1"), br, "10.0.0.1/24")
		require.NoError(t, i.Delete())
		topo.Connect(topo.AddHost("h2"), br, "10.0.0.1/24")
	})
}

// A router's name from either side means its address on that side, which
// the host reaches without a route.
func TestRouterNameMeansItsAddressOnTheAskersLink(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	client, r, server := topo.AddHost("client"), topo.AddRouter("r"), topo.AddHost("server")
	topo.Link(client, r, "10.0.1.2/24", "10.0.1.1/24")
	topo.Link(r, server, "10.0.2.1/24", "10.0.2.2/24")
	// No routes at all: only the router's address on each link answers.
	nstest.AssertReachable(t, client, "r")
	nstest.AssertReachable(t, server, "r")
	got, err := dialedAddr(t, server, r, "r")
	require.NoError(t, err)
	assert.Equal(t, "10.0.2.1", got.String())
	got, err = topo.Resolve("r")
	require.NoError(t, err)
	assert.Equal(t, "10.0.1.1", got.String(), "from no host: its first address")
}
