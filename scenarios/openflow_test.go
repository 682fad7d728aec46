// OpenFlow on an Open vSwitch bridge, as SDN tests use it: the switch
// forwards what its rules say, not what a Linux bridge would.
//
// The first case: an SDN policy meant to keep the client off the server's
// SSH port. A rule that drops TCP port 22 from the client to the server
// does that, and nothing more: ping still works everywhere, the client still
// reaches the server's web port, and the admin still reaches SSH. Once the
// rule is removed the client reaches SSH again.
//
// The second case: a switch without its default rule (priority=0,
// actions=NORMAL, which makes OVS a learning switch) forwards nothing. With
// explicit rules, one output port per destination MAC address and a flood
// for broadcasts (ARP), it forwards exactly to the hosts it has rules for.
package scenarios_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestOpenFlowDropsOneTCPPort(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	s1 := topo.AddBridge("s1", nstest.OVS())
	client, server, admin := topo.AddHost("client"), topo.AddHost("server"), topo.AddHost("admin")
	topo.Connect(client, s1, "10.0.0.1/24")
	topo.Connect(server, s1, "10.0.0.2/24")
	topo.Connect(admin, s1, "10.0.0.3/24")
	for _, port := range []string{":22", ":80"} {
		_, err := server.Listen("tcp", port)
		require.NoError(t, err)
	}

	// ovs-ofctl add-flow s1 priority=100,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=22,actions=drop
	require.NoError(t, s1.AddFlow("priority=100,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=22,actions=drop"))
	nstest.AssertMatrix(t, nstest.
		Reach(client, "server", "admin").
		Reach(server, "client", "admin").
		Reach(admin, "client", "server"))
	nstest.AssertTCPUnreachable(t, client, "server:22")
	nstest.AssertTCPReachable(t, client, "server:80")
	nstest.AssertTCPReachable(t, admin, "server:22")

	// ovs-ofctl del-flows s1 tcp,tp_dst=22
	require.NoError(t, s1.DelFlows("tcp,tp_dst=22"))
	nstest.AssertTCPReachable(t, client, "server:22")
}

func TestOpenFlowExplicitForwarding(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	s1 := topo.AddBridge("s1", nstest.OVS())
	h1, h2, h3 := topo.AddHost("h1"), topo.AddHost("h2"), topo.AddHost("h3")
	ports := map[*nstest.Host]string{}
	for i, h := range []*nstest.Host{h1, h2, h3} {
		ports[h] = topo.Connect(h, s1, fmt.Sprintf("10.0.0.%d/24", i+1)).Peer().Name()
	}
	nstest.AssertConnectivity(t, h1, h2, h3) // the default NORMAL rule

	// ovs-ofctl del-flows s1: no rule, no forwarding.
	require.NoError(t, s1.DelFlows(""))
	nstest.AssertMatrix(t, nstest.NotReach(h1, "h2", "h3").NotReach(h2, "h1", "h3"))

	// A static MAC table for h1 and h2, and a flood for broadcasts.
	require.NoError(t, s1.AddFlow("priority=10,dl_dst=ff:ff:ff:ff:ff:ff,actions=FLOOD"))
	for _, h := range []*nstest.Host{h1, h2} {
		require.NoError(t, s1.AddFlow("priority=10,dl_dst="+mac(t, h)+",actions=output:"+ports[h]))
	}
	nstest.AssertMatrix(t, nstest.
		Reach(h1, "h2").Reach(h2, "h1").
		NotReach(h1, "h3").NotReach(h3, "h1", "h2"))

	// h3's rule completes the table.
	require.NoError(t, s1.AddFlow("priority=10,dl_dst="+mac(t, h3)+",actions=output:"+ports[h3]))
	nstest.AssertConnectivity(t, h1, h2, h3)
}

// mac returns the MAC address of h's eth0.
func mac(t *testing.T, h *nstest.Host) string {
	t.Helper()
	var s string
	require.NoError(t, h.Do(func() error {
		i, err := net.InterfaceByName("eth0")
		if err == nil {
			s = i.HardwareAddr.String()
		}
		return err
	}))
	return s
}
