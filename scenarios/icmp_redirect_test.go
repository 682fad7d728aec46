// The behaviour: ICMP redirects, as the kernel's selftests
// (icmp_redirect.sh) check them. A host's default gateway r1 forwards
// traffic for a server's network to r2, which sits on the same LAN as the
// host. Sending every packet through r1 is a detour, so r1, forwarding a
// packet out of the interface it came in on, tells the host "use r2" (an
// ICMP redirect; send_redirects is on by default). A host that accepts it
// caches r2 as the gateway for that one destination, as a route exception:
// `ip route get` shows "via r2 ... cache <redirected>", Host.RouteGet shows
// Route.Exception.
//
// The failure: hardened hosts turn accept_redirects off (it is in the usual
// security benchmarks), and then every packet makes the detour through r1,
// which keeps sending redirects the host ignores. The fix: accept redirects
// (the kernel's default for a host that does not forward).
//
// Two details decide whether the kernel follows a redirect. IPv4 follows
// one only to a gateway whose link-layer address it already knows (otherwise
// it resolves it, and only a later redirect, which r1 sends at a slower and
// slower rate, takes effect), so the host talks to r2 first, as hosts on a
// LAN do. IPv6 redirects come from the router's link-local address and name
// the new gateway by its link-local address, so both routes use link-local
// gateways (fe80::1%eth0).
package scenarios_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

// redirectLAN builds, and returns h and r1:
//
//	h  10.0.0.2 fd00::2 ─┐
//	r1 10.0.0.1 fe80::1 ─┼─ lan
//	r2 10.0.0.3 fe80::3 ─┘   r2 10.0.2.1 fd02::1 ── srv 10.0.2.2 fd02::2
func redirectLAN(t *testing.T) (h, r1 *nstest.Host) {
	topo := nstest.New(t)
	lan := topo.AddBridge("lan")
	h, r1, r2, srv := topo.AddHost("h"), topo.AddRouter("r1"), topo.AddRouter("r2"), topo.AddHost("srv")
	topo.Connect(h, lan, "10.0.0.2/24", "fd00::2/64")
	topo.Connect(r1, lan, "10.0.0.1/24", "fd00::1/64", "fe80::1/64")
	topo.Connect(r2, lan, "10.0.0.3/24", "fd00::3/64", "fe80::3/64")
	a, b := topo.Link(r2, srv, "10.0.2.1/24", "10.0.2.2/24")
	require.NoError(t, a.AddAddr("fd02::1/64"))
	require.NoError(t, b.AddAddr("fd02::2/64"))
	require.NoError(t, h.AddRoute("default", "r1"))
	require.NoError(t, h.AddRoute("default", "fe80::1%eth0"))
	require.NoError(t, r1.AddRoute("10.0.2.0/24", "r2"))
	require.NoError(t, r1.AddRoute("fd02::/64", "fe80::3%eth0"))
	require.NoError(t, srv.AddRoute("default", "r2"))
	require.NoError(t, srv.AddRoute("::/0", "fd02::1"))
	return h, r1
}

// acceptRedirects sets whether h follows ICMP redirects on eth0. For a
// host, IPv4 accepts if "all" or the interface says so; IPv6 asks the
// interface: set both.
func acceptRedirects(t *testing.T, h *nstest.Host, v string) {
	t.Helper()
	for _, k := range []string{"net.ipv4.conf.all", "net.ipv4.conf.eth0", "net.ipv6.conf.all", "net.ipv6.conf.eth0"} {
		require.NoError(t, h.SetSysctl(k+".accept_redirects", v))
	}
}

var redirectCases = []struct {
	dst, r1, r2 string // the server, and the two gateways as RouteGet shows them
}{
	{"10.0.2.2", "10.0.0.1", "10.0.0.3"},
	{"fd02::2", "fe80::1%eth0", "fe80::3%eth0"},
}

func TestICMPRedirectFollowed(t *testing.T) {
	t.Parallel()

	t.Run("ignored", func(t *testing.T) {
		t.Parallel()
		h, r1 := redirectLAN(t)
		acceptRedirects(t, h, "0")
		nstest.RequireReachable(t, h, "10.0.0.3")
		for _, c := range redirectCases {
			sent, forwarded := r1Counters(t, r1)
			nstest.RequireReachable(t, h, c.dst)
			nstest.RequireReachable(t, h, c.dst)
			sent2, forwarded2 := r1Counters(t, r1)
			assert.Greater(t, sent2, sent, "r1 sent no redirect for %s", c.dst)
			assert.GreaterOrEqual(t, forwarded2-forwarded, 2, "every echo to %s detours through r1", c.dst)

			r, err := h.RouteGet(c.dst)
			require.NoError(t, err)
			t.Logf("h: route get %s: %v", c.dst, r)
			assert.Equal(t, c.r1, r.Gateway.String())
			assert.Nil(t, r.Exception, "a redirect was followed with accept_redirects=0")
		}
	})

	t.Run("followed", func(t *testing.T) {
		t.Parallel()
		h, r1 := redirectLAN(t)
		acceptRedirects(t, h, "1")
		nstest.RequireReachable(t, h, "10.0.0.3")
		for _, c := range redirectCases {
			// The first echo goes through r1, which redirects h to r2.
			nstest.RequireReachable(t, h, c.dst)
			r, err := h.RouteGet(c.dst)
			require.NoError(t, err)
			t.Logf("h: route get %s: %v", c.dst, r)
			require.NotNil(t, r.Exception, "no redirect followed to %s: %v", c.dst, r)
			assert.True(t, r.Exception.Redirected)
			assert.Equal(t, c.r2, r.Exception.Gateway.String())
			assert.Equal(t, c.r2, r.Gateway.String(), "the gateway in use")
			assert.Equal(t, "eth0", r.Dev)
			if c.dst == "10.0.2.2" {
				crossCheckIP(t, h, c.dst, "<redirected>")
			}

			// From now on r1 is out of the path.
			_, forwarded := r1Counters(t, r1)
			nstest.RequireReachable(t, h, c.dst)
			_, forwarded2 := r1Counters(t, r1)
			assert.Equal(t, forwarded, forwarded2, "r1 still forwards h's packets to %s", c.dst)
		}
	})
}

// r1Counters returns how many ICMP redirects r's namespace sent and how many
// packets it forwarded, IPv4 and IPv6 together.
func r1Counters(t *testing.T, r *nstest.Host) (redirects, forwarded int) {
	t.Helper()
	var snmp, snmp6 []byte
	require.NoError(t, r.Do(func() (err error) {
		if snmp, err = os.ReadFile("/proc/thread-self/net/snmp"); err != nil {
			return err
		}
		snmp6, err = os.ReadFile("/proc/thread-self/net/snmp6")
		return err
	}))
	// snmp: pairs of lines, "Ip: names..." then "Ip: values...".
	lines := strings.Split(string(snmp), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for k, name := range names {
			if k >= len(values) {
				break
			}
			n, _ := strconv.Atoi(values[k])
			switch names[0] + name {
			case "Icmp:OutRedirects":
				redirects += n
			case "Ip:ForwDatagrams":
				forwarded += n
			}
		}
	}
	// snmp6: one "name value" per line.
	for _, line := range strings.Split(string(snmp6), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Icmp6OutRedirects":
			redirects += n
		case "Ip6OutForwDatagrams":
			forwarded += n
		}
	}
	return redirects, forwarded
}
