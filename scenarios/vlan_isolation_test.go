// The bug: the guest Wi-Fi and the office share one switch, and a guest can
// reach the office printer and file server. Everyone is on one bridge and
// one VLAN, so "separate networks" were only separate address plans: a guest
// who picks an office address talks to the office directly, no router, no
// firewall.
//
// The fix: VLANs on the switch. With VLAN filtering, each port is an access
// port of its network's VLAN; frames never cross from one VLAN to another on
// the bridge, whatever addresses the hosts choose.
package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestVLANIsolationOnOneBridge(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	sw := topo.AddBridge("sw", nstest.VLANFiltering())
	printer, office := topo.AddHost("printer"), topo.AddHost("office")
	guest := topo.AddHost("guest")
	pp := topo.Connect(printer, sw, "10.0.0.10/24")
	op := topo.Connect(office, sw, "10.0.0.20/24")
	// The guest has taken an address on the office's subnet.
	gp := topo.Connect(guest, sw, "10.0.0.99/24")

	// The failure: every port is in the default VLAN 1.
	nstest.AssertReachable(t, guest, "printer")

	// The fix: the office's ports in VLAN 10, the guest's in VLAN 20.
	require.NoError(t, pp.SetVLAN(10))
	require.NoError(t, op.SetVLAN(10))
	require.NoError(t, gp.SetVLAN(20))
	nstest.AssertUnreachable(t, guest, "printer")
	nstest.AssertUnreachable(t, guest, "office")
	nstest.AssertReachable(t, office, "printer")
}
