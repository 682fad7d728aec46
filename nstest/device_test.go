package nstest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

// A host on a trunk port carrying VLANs 10 and 20 tagged reaches an access
// host in each through its VLAN sub-interfaces, and only through the right
// one.
func TestAddVLANOnTrunk(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1", nstest.VLANFiltering())
	trunk := topo.AddHost("trunk")
	a10, a20 := topo.AddHost("a10"), topo.AddHost("a20")
	eth0 := topo.Connect(trunk, br)
	require.NoError(t, eth0.SetVLAN(10, nstest.Tagged()))
	require.NoError(t, eth0.SetVLAN(20, nstest.Tagged()))
	require.NoError(t, topo.Connect(a10, br, "10.0.10.2/24").SetVLAN(10))
	require.NoError(t, topo.Connect(a20, br, "10.0.20.2/24").SetVLAN(20))

	v10 := topo.AddVLAN(eth0, 10, "10.0.10.1/24")
	v20 := topo.AddVLAN(eth0, 20, "10.0.20.1/24", "fd00:20::1/64")
	assert.Equal(t, "eth0.10", v10.Name())
	assert.Equal(t, "trunk:eth0.20", v20.String())
	assert.Equal(t, []string{"10.0.20.1/24", "fd00:20::1/64"}, prefixes(v20))

	nstest.AssertReachable(t, trunk, "a10")
	nstest.AssertReachable(t, trunk, "10.0.20.2")
	nstest.AssertReachable(t, a20, "10.0.20.1")
	// The kernel sees a VLAN device on eth0 with its id.
	out, err := trunk.Command("ip", "-d", "link", "show", "eth0.10").CombinedOutput()
	if err == nil {
		assert.Contains(t, string(out), "eth0.10@eth0")
		assert.Contains(t, string(out), "vlan protocol 802.1Q id 10")
	}

	// Taking VLAN 20 off the trunk port cuts that sub-interface only.
	require.NoError(t, eth0.RemoveVLAN(20))
	nstest.AssertUnreachable(t, trunk, "10.0.20.2", nstest.Within(quick))
	nstest.AssertReachable(t, trunk, "a10")
}

// Two hosts joined by a direct link talk over a VLAN of it: the tagged
// frames need a sub-interface on both ends.
func TestAddVLANOverLink(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	a, b := topo.AddHost("a"), topo.AddHost("b")
	ai, bi := topo.Link(a, b, "", "")
	topo.AddVLAN(ai, 100, "10.1.0.1/24")
	nstest.AssertUnreachable(t, a, "10.1.0.2", nstest.Within(quick)) // b has no VLAN 100 yet
	topo.AddVLAN(bi, 100, "10.1.0.2/24")
	nstest.AssertReachable(t, a, "10.1.0.2")
	nstest.AssertReachable(t, b, "a")
}

func TestAddVLANErrors(t *testing.T) {
	nstest.New(t) // skip where namespaces cannot be built
	t.Run("out of range", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			a, b := topo.AddHost("a"), topo.AddHost("b")
			ai, _ := topo.Link(a, b, "", "")
			topo.AddVLAN(ai, 4095)
		}, nil, `nstest: interface a:eth0: add VLAN 4095: out of range 1..4094`)
	})
	t.Run("name too long", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			a, b := topo.AddHost("a"), topo.AddHost("b")
			ai, _ := topo.Link(a, b, "", "", nstest.Names("uplink-left", ""))
			topo.AddVLAN(ai, 1000)
		}, nil, `add VLAN 1000: name "uplink-left.1000" is 16 bytes, over the 15 bytes Linux allows`)
	})
	t.Run("address taken", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			a, b := topo.AddHost("a"), topo.AddHost("b")
			ai, _ := topo.Link(a, b, "10.0.0.1/24", "")
			topo.AddVLAN(ai, 10, "10.0.0.1/24")
		}, func(topo *nstest.Topology) {
			assert.Equal(t, []string{"lo", "eth0"}, links(t, topo.Host("a")), "no VLAN device left")
		}, `interface a:eth0: add VLAN 10: address "10.0.0.1/24": conflict: a:eth0 already has 10.0.0.1`)
	})
	t.Run("nil parent", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddVLAN(nil, 10)
		}, nil, `nstest: add VLAN: parent interface is nil`)
	})
}

// A second AddVLAN of the same VLAN on the same parent fails naming the
// device and leaves the first as it was; this needs the kernel's VLAN devices.
func TestAddVLANTwiceLeavesNothing(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	a, b := topo.AddHost("a"), topo.AddHost("b")
	ai, _ := topo.Link(a, b, "", "")
	topo.AddVLAN(ai, 10) // skips without CONFIG_VLAN_8021Q
	badInput(t, func(tb testing.TB, topo *nstest.Topology) {
		a, b := topo.AddHost("a"), topo.AddHost("b")
		ai, _ := topo.Link(a, b, "", "")
		topo.AddVLAN(ai, 10)
		topo.AddVLAN(ai, 10)
	}, func(topo *nstest.Topology) {
		assert.Equal(t, []string{"lo", "eth0", "eth0.10"}, links(t, topo.Host("a")))
	}, `interface a:eth0: add VLAN 10: an interface named "eth0.10" exists already in "a"`)
}

// A service address on a dummy interface of a server is reachable through
// the server's link once the client has a route to it, and stays so while
// a second link of the server goes down.
func TestAddDummy(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	client, server := topo.AddHost("client"), topo.AddHost("server")
	topo.Link(client, server, "10.0.0.1/24", "10.0.0.2/24")
	svc := topo.AddDummy(server, "svc0", "192.0.2.10/32", "fd00:53::10/128")
	assert.Equal(t, "svc0", svc.Name())
	assert.Equal(t, []string{"192.0.2.10/32", "fd00:53::10/128"}, prefixes(svc))
	assert.Equal(t, "10.0.0.2", server.Addr().String(), "a host's address stays its first link's")

	nstest.AssertUnreachable(t, client, "192.0.2.10", nstest.Within(quick))
	require.NoError(t, client.AddRoute("192.0.2.10/32", "10.0.0.2"))
	nstest.AssertReachable(t, client, "192.0.2.10")
	l, err := server.Listen("tcp", "192.0.2.10:80")
	require.NoError(t, err)
	defer l.Close()
	nstest.AssertTCPReachable(t, client, "192.0.2.10:80")

	up, _, err := svc.LinkState()
	require.NoError(t, err)
	assert.True(t, up)
	second := topo.AddDummy(server, "")
	assert.Equal(t, "dummy0", second.Name())
}

func TestAddDummyErrors(t *testing.T) {
	nstest.New(t) // skip where namespaces cannot be built
	t.Run("bad name", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddDummy(topo.AddHost("h"), "a/b")
		}, nil, `nstest: host "h": add dummy: interface name "a/b": must not contain '/', ':' or spaces`)
	})
	t.Run("name taken", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			a, b := topo.AddHost("a"), topo.AddHost("b")
			topo.Link(a, b, "", "")
			topo.AddDummy(a, "eth0", "192.0.2.1/32")
		}, func(topo *nstest.Topology) {
			assert.Equal(t, []string{"lo", "eth0"}, links(t, topo.Host("a")))
		}, `nstest: host "a": add dummy "eth0": an interface named "eth0" exists already in "a"`)
	})
	t.Run("invalid CIDR", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddDummy(topo.AddHost("h"), "svc0", "192.0.2.300/32")
		}, func(topo *nstest.Topology) {
			assert.Equal(t, []string{"lo"}, links(t, topo.Host("h")))
		}, `nstest: host "h": add dummy "svc0": address "192.0.2.300/32": invalid CIDR`)
	})
}

func prefixes(i *nstest.Interface) []string {
	var out []string
	for _, p := range i.Addrs() {
		out = append(out, p.String())
	}
	return out
}
