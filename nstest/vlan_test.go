package nstest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestVLANAccessPortsIsolate(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1", nstest.VLANFiltering())
	h1, h2, h3 := topo.AddHost("h1"), topo.AddHost("h2"), topo.AddHost("h3")
	e1 := topo.Connect(h1, br, "10.0.0.1/24")
	e2 := topo.Connect(h2, br, "10.0.0.2/24")
	e3 := topo.Connect(h3, br, "10.0.0.3/24")
	// Every port starts in the default VLAN 1.
	nstest.RequireReachable(t, h1, "h3")

	require.NoError(t, e1.SetVLAN(10))
	require.NoError(t, e2.Peer().SetVLAN(10)) // the bridge port itself works too
	require.NoError(t, e3.SetVLAN(20))
	nstest.AssertReachable(t, h1, "h2")
	nstest.AssertUnreachable(t, h1, "h3", nstest.Within(quick))
	nstest.AssertUnreachable(t, h3, "h2", nstest.Within(quick))

	vids, err := e1.VLANs()
	require.NoError(t, err)
	assert.Equal(t, []int{10}, vids, "an access port leaves VLAN 1")

	// Moving h3 into VLAN 10 joins it to the others.
	require.NoError(t, e3.SetVLAN(10))
	nstest.AssertConnectivity(t, h1, h2, h3)
	require.NoError(t, e3.RemoveVLAN(10))
	nstest.AssertUnreachable(t, h1, "h3", nstest.Within(quick))
}

// Two switches joined by a trunk carrying VLANs 10 and 20 tagged: each VLAN
// spans both switches and stays apart from the other.
func TestVLANTrunkBetweenBridges(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br1 := topo.AddBridge("br1", nstest.VLANFiltering())
	br2 := topo.AddBridge("br2", nstest.VLANFiltering())
	t1, t2 := topo.ConnectBridges(br1, br2)
	for _, port := range []*nstest.Interface{t1, t2} {
		require.NoError(t, port.SetVLAN(10, nstest.Tagged()))
		require.NoError(t, port.SetVLAN(20, nstest.Tagged()))
		require.NoError(t, port.RemoveVLAN(1))
	}
	a10, a20 := topo.AddHost("a10"), topo.AddHost("a20")
	b10, b20 := topo.AddHost("b10"), topo.AddHost("b20")
	require.NoError(t, topo.Connect(a10, br1, "10.0.0.1/24").SetVLAN(10))
	require.NoError(t, topo.Connect(a20, br1, "10.0.0.2/24").SetVLAN(20))
	require.NoError(t, topo.Connect(b10, br2, "10.0.0.3/24").SetVLAN(10))
	require.NoError(t, topo.Connect(b20, br2, "10.0.0.4/24").SetVLAN(20))

	nstest.AssertReachable(t, a10, "b10")
	nstest.AssertReachable(t, a20, "b20")
	nstest.AssertUnreachable(t, a10, "b20", nstest.Within(quick))
	nstest.AssertUnreachable(t, a20, "b10", nstest.Within(quick))

	vids, err := t1.VLANs()
	require.NoError(t, err)
	assert.Equal(t, []int{10, 20}, vids)
}

// A host on a trunk port reaches an access port's VLAN through a VLAN device.
// This needs 802.1Q VLAN devices in the kernel (AddVLAN skips without).
func TestVLANTaggedHost(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1", nstest.VLANFiltering())
	trunk, access := topo.AddHost("trunk"), topo.AddHost("access")
	eth0 := topo.Connect(trunk, br)
	require.NoError(t, topo.Connect(access, br, "10.0.10.2/24").SetVLAN(10))
	require.NoError(t, eth0.SetVLAN(10, nstest.Tagged()))
	topo.AddVLAN(eth0, 10, "10.0.10.1/24")
	nstest.AssertReachable(t, trunk, "10.0.10.2")
	nstest.AssertReachable(t, access, "10.0.10.1")
}

func TestVLANErrors(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	plain := topo.AddBridge("plain")
	h := topo.AddHost("h")
	e := topo.Connect(h, plain, "10.0.0.1/24")
	err := e.SetVLAN(10)
	require.Error(t, err)
	assert.Equal(t, `nstest: interface h:eth0: VLAN 10: bridge "plain" has no VLAN filtering (make it with nstest.VLANFiltering())`, err.Error())

	err = e.SetVLAN(4095)
	require.Error(t, err)
	assert.Equal(t, `nstest: interface h:eth0: VLAN 4095: out of range 1..4094`, err.Error())

	a, b := topo.AddHost("a"), topo.AddHost("b")
	ai, _ := topo.Link(a, b, "10.0.1.1/24", "10.0.1.2/24")
	err = ai.SetVLAN(10)
	require.Error(t, err)
	assert.Equal(t, `nstest: interface a:eth0: VLAN 10: b:eth0 is not a bridge port`, err.Error())
}
