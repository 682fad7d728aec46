// The bug: two sites joined by a VXLAN overlay (two VMs, two data centres)
// ping each other fine, SSH logs in, but downloads from one site's web
// server hang, and large UDP datagrams (DNS answers with EDNS) never arrive.
// VXLAN wraps every frame in 50 more bytes (outer Ethernet, IPv4, UDP and
// VXLAN headers), so on a 1500-byte underlay the overlay carries at most
// 1450-byte packets, and the hosts still use 1500:
//
//   - A full-size packet sent on its own (ping, UDP) is dropped by the site's
//     bridge in front of the VXLAN device, silently.
//   - TCP sends bulk data in large GSO batches, which the bridge lets through;
//     the VXLAN device then answers with an ICMP "fragmentation needed" that
//     appears to come from the far host (the kernel's path MTU discovery for
//     bridged tunnels). TCP copes, but only while that ICMP gets through. The
//     web server's firewall drops ICMP unreachables, as hardening guides say,
//     so its downloads stall.
//
// The fix: the overlay's MTU on the hosts' interfaces (1450 here; in
// production, DHCP option 26 or the CNI's MTU setting), or an underlay MTU
// 50 bytes larger. Then no packet is too large and no ICMP is needed.
package scenarios_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
	"github.com/nstest/harness/nstest/firewall"
)

func TestTwoVXLANSites(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	ov := topo.AddOverlay("underlay", 42)
	vm1 := ov.AddSite("vm1", "192.168.100.1/24")
	vm2 := ov.AddSite("vm2", "192.168.100.2/24")
	web, browser := topo.AddHost("web"), topo.AddHost("browser")
	e1 := vm1.Connect(web, "10.10.0.1/24")
	e2 := vm2.Connect(browser, "10.10.0.2/24")
	serveBytes(t, web, ":80", download)
	require.NoError(t, web.Firewall(firewall.Rule{
		Chain: firewall.Input, Proto: "icmp", ICMPType: "destination-unreachable", Action: firewall.Drop,
	}))
	c := open(t, web, "eth0")

	// The failure: pings and the TCP handshake pass, the download stalls
	// while "fragmentation needed" messages arrive at the web server and are
	// dropped there; a 1500-byte ping with Don't Fragment set vanishes, a
	// 1450-byte one arrives.
	nstest.AssertReachable(t, browser, "web")
	nstest.AssertTCPReachable(t, browser, "web:80")
	n, err := fetch(browser, "web:80", time.Second)
	require.Error(t, err, "the download finished through the overlay")
	assert.True(t, isTimeout(err), "want a stall, got %v", err)
	fragNeeded := capture.And(capture.Incoming(), capture.ICMPType(capture.ICMPUnreachableType),
		capture.Src(netip.MustParseAddr("10.10.0.2")))
	waitFor(t, c, fragNeeded, 1)
	t.Logf("stalled after %d of %d bytes; %d ICMP unreachables reached the web server", n, download, c.Count(fragNeeded))
	ok, out := pingDF(browser, "10.10.0.1", 1500-28)
	assert.False(t, ok, "a 1500-byte packet crossed the overlay:\n%s", out)
	ok, out = pingDF(browser, "10.10.0.1", 1450-28)
	assert.True(t, ok, "a 1450-byte packet did not cross:\n%s", out)

	// The fix: the overlay's MTU on both hosts; the firewall stays.
	mtu, err := vm1.MTU()
	require.NoError(t, err)
	require.Equal(t, 1500-nstest.VXLANOverhead, mtu)
	require.NoError(t, e1.SetMTU(mtu))
	require.NoError(t, e2.SetMTU(mtu))
	n, err = fetch(browser, "web:80", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, download, n)
	ok, out = pingDF(browser, "10.10.0.1", 1500-28)
	assert.False(t, ok)
	assert.Contains(t, out, "message too long", "the browser's host now refuses the oversized ping itself")
}
