// The bug: the office (VLAN 10) and the servers (VLAN 20) were separated on
// the switch, and now the office cannot reach the file server at all. The
// router that should route between them has a single cable to the switch,
// plugged into an access port of VLAN 10 with both gateway addresses on it:
// the office reaches its gateway, but frames of VLAN 20 never reach the
// router's port, so the servers' gateway does not answer them.
//
// The fix, a router on a stick: the router's port becomes a trunk carrying
// VLANs 10 and 20 tagged, and the router gets one 802.1Q sub-interface per
// VLAN (eth0.10, eth0.20), each the gateway of its subnet. It routes between
// the VLANs over its one cable. This needs VLAN filtering on the bridge
// (CONFIG_BRIDGE_VLAN_FILTERING) and 802.1Q devices (CONFIG_VLAN_8021Q):
// it skips where the kernel lacks them, and runs in the kernel lane
// (ci/kernels.sh).
package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestRouterOnAStick(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	sw := topo.AddBridge("sw", nstest.VLANFiltering())
	r := topo.AddRouter("r")
	office, files := topo.AddHost("office"), topo.AddHost("files")
	require.NoError(t, topo.Connect(office, sw, "10.0.10.2/24").SetVLAN(10))
	require.NoError(t, topo.Connect(files, sw, "10.0.20.2/24").SetVLAN(20))
	require.NoError(t, office.AddRoute("default", "10.0.10.1"))
	require.NoError(t, files.AddRoute("default", "10.0.20.1"))

	// The failure: one access port of VLAN 10, both gateways on it.
	uplink := topo.Connect(r, sw, "10.0.10.1/24", "10.0.20.1/24")
	require.NoError(t, uplink.SetVLAN(10))
	nstest.AssertReachable(t, office, "10.0.10.1")
	nstest.AssertUnreachable(t, files, "10.0.20.1")
	nstest.AssertUnreachable(t, office, "files")

	// The fix: a trunk and a sub-interface per VLAN.
	require.NoError(t, uplink.DelAddr("10.0.10.1/24"))
	require.NoError(t, uplink.DelAddr("10.0.20.1/24"))
	require.NoError(t, uplink.SetVLAN(10, nstest.Tagged()))
	require.NoError(t, uplink.SetVLAN(20, nstest.Tagged()))
	require.NoError(t, uplink.RemoveVLAN(1))
	topo.AddVLAN(uplink, 10, "10.0.10.1/24")
	topo.AddVLAN(uplink, 20, "10.0.20.1/24")
	nstest.AssertReachable(t, files, "10.0.20.1")
	nstest.AssertConnectivity(t, office, files)
}
