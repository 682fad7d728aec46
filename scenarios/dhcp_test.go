// A host with no static address gets one over DHCP, as a VM or a container
// does: dnsmasq runs in the fabric, serving DHCP on the seed's bridge, and
// busybox's udhcpc in the host asks for a lease. Until it has one the host
// reaches nobody; afterwards it reaches the other host by name.
//
// dnsmasq serves no DNS here (--port=0), reads no configuration file
// (--conf-file=/dev/null) and answers only on br1. The client's script only
// sets the address: stock DHCP client scripts rewrite /etc/resolv.conf.
package scenarios_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestDHCPLease(t *testing.T) {
	t.Parallel()
	needProgram(t, "dnsmasq", "dnsmasq-base")
	needProgram(t, "busybox", "busybox")
	dir := t.TempDir()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	ns1, client := topo.AddHost("ns1"), topo.AddHost("client")
	topo.Connect(ns1, br, "10.0.0.2/24")
	topo.Connect(client, br) // no address: DHCP gives one
	require.NoError(t, br.AddAddr("10.0.0.1/24"))

	// The failure: without a lease the client has no address and no route.
	nstest.AssertUnreachable(t, client, "ns1")

	topo.Fabric().StartService([]string{"dnsmasq",
		"--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--user=root",
		"--interface=br1", "--bind-interfaces", "--except-interface=lo",
		"--dhcp-range=10.0.0.50,10.0.0.99,255.255.255.0,1h",
		"--dhcp-leasefile=" + filepath.Join(dir, "leases"), "--pid-file=",
		"--log-dhcp", "--log-facility=-",
	}, nstest.ReadyUDP(67))

	script := filepath.Join(dir, "udhcpc.script")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
case "$1" in
bound|renew) exec busybox ip addr add "$ip/$mask" dev "$interface" ;;
esac
`), 0o755))
	// -q: quit once bound; -n: fail if no lease comes; -f: stay in the foreground.
	out, err := client.Command("busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-s", script).CombinedOutput()
	require.NoError(t, err, "udhcpc: %s", out)
	assert.Contains(t, string(out), "lease of 10.0.0.")

	// The fix: the client has its lease and reaches ns1 by name, and ns1
	// reaches the leased address.
	nstest.RequireReachable(t, client, "ns1")
	leased := leasedAddr(t, filepath.Join(dir, "leases"))
	assert.True(t, strings.HasPrefix(leased, "10.0.0."), leased)
	nstest.AssertReachable(t, ns1, leased)
}

// leasedAddr reads the one lease from dnsmasq's lease file:
// "<expiry> <mac> <ip> <hostname> <client-id>".
func leasedAddr(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 1, "leases: %s", b)
	f := strings.Fields(lines[0])
	require.GreaterOrEqual(t, len(f), 3, "lease line %q", lines[0])
	return f[2]
}
