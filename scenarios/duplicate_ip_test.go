// The bug: connections to a server fail now and then, or land on the wrong
// machine, depending on the client. Someone configured the server's address
// by hand on a second machine of the same LAN. IPv4 does no duplicate address
// detection by default: both machines answer every ARP request for the
// address, and each client believes whichever answer it got last.
//
// The evidence is two ARP replies with different MAC addresses for one
// request. The fix is a unique address (and, in production, DHCP
// reservations or an ARP probe before configuring one).
package scenarios_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

func TestDuplicateIPAddress(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	lan := topo.AddBridge("lan")
	client, server, rogue := topo.AddHost("client"), topo.AddHost("server"), topo.AddHost("rogue")
	topo.Connect(client, lan, "10.0.0.1/24")
	topo.Connect(server, lan, "10.0.0.5/24")
	topo.Connect(rogue, lan)
	// The topology refuses duplicate addresses, so the mistake is made the
	// way it is made in production: by hand, on the machine.
	setAddr(t, rogue, "", "10.0.0.5/24")

	// The failure: one ARP request, two replies from different machines.
	c := open(t, client, "eth0")
	dup := netip.MustParseAddr("10.0.0.5")
	nstest.AssertReachable(t, client, "10.0.0.5")
	replies := waitFor(t, c, capture.And(capture.Incoming(), capture.ARPReply(dup)), 2)
	require.Len(t, replies, 2)
	assert.NotEqual(t, replies[0].ARP.SenderMAC.String(), replies[1].ARP.SenderMAC.String(),
		"two machines claim 10.0.0.5")

	// The fix: give the second machine an address of its own; once the
	// client forgets the old answer, only the server replies.
	setAddr(t, rogue, "10.0.0.5/24", "10.0.0.6/24")
	forget(t, client, dup)
	c.Clear()
	nstest.AssertReachable(t, client, "10.0.0.5")
	waitFor(t, c, capture.And(capture.Incoming(), capture.ARPReply(dup)), 1)
	// Both answers to a request come at once: by the time the rogue's
	// new address answers, a second reply for 10.0.0.5 would be in.
	nstest.AssertReachable(t, client, "10.0.0.6")
	assert.Len(t, c.Packets(capture.Incoming(), capture.ARPReply(dup)), 1)
}

// setAddr replaces address old (if not "") by new on h's eth0, with netlink
// inside the host, as an administrator would with ip addr.
func setAddr(t *testing.T, h *nstest.Host, old, new string) {
	t.Helper()
	require.NoError(t, h.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if old != "" {
			a, _ := netlink.ParseAddr(old)
			if err := netlink.AddrDel(l, a); err != nil {
				return err
			}
		}
		a, _ := netlink.ParseAddr(new)
		return netlink.AddrAdd(l, a)
	}))
}

// forget removes ip from h's neighbour table.
func forget(t *testing.T, h *nstest.Host, ip netip.Addr) {
	t.Helper()
	require.NoError(t, h.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return netlink.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, IP: ip.AsSlice()})
	}))
}
