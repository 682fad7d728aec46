package nstest_test

import (
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/firewall"
)

// failures runs fn with a recording testing.TB and returns what it
// reported ("" if it passed) and whether fn ran to its end.
func failures(t *testing.T, fn func(tb testing.TB)) (msg string, finished bool) {
	t.Helper()
	err := testrun.Run("x", io.Discard, func(tb testing.TB) {
		fn(tb)
		finished = true
	})
	if err == nil {
		return "", finished
	}
	return strings.TrimPrefix(err.Error(), "x: "), finished
}

// count matches how a failure counts things: "1 echo request", "2 echo
// requests". Under load a short check may make only one attempt.
func count(noun string) string {
	return `(?:1 ` + noun + `|(?:[02-9]|[1-9]\d+) ` + noun + `s)`
}

// requests matches the count of echo requests that went unanswered.
var requests = count("echo request")

// matches fails t unless msg matches the regular expression re in full.
func matches(t *testing.T, re, msg string) {
	t.Helper()
	if !regexp.MustCompile(`^(?s:` + re + `)$`).MatchString(msg) {
		t.Errorf("message does not match\n got: %q\nwant: %q", msg, re)
	}
}

// three puts ns1, ns2 and ns3 on one bridge, with IPv4 and IPv6.
func three(t *testing.T) (*nstest.Topology, *nstest.Host, *nstest.Host, *nstest.Host) {
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	ns1, ns2, ns3 := topo.AddHost("ns1"), topo.AddHost("ns2"), topo.AddHost("ns3")
	topo.Connect(ns1, br, "10.0.0.1/24", "fd00::1/64")
	topo.Connect(ns2, br, "10.0.0.2/24", "fd00::2/64")
	topo.Connect(ns3, br, "10.0.0.3/24", "fd00::3/64")
	return topo, ns1, ns2, ns3
}

// routed is h1 - r1 - h2 with routes both ways.
func routed(t *testing.T) (h1, r1, h2 *nstest.Host) {
	topo := nstest.New(t)
	h1, h2 = topo.AddHost("h1"), topo.AddHost("h2")
	r1 = topo.AddRouter("r1")
	topo.Link(h1, r1, "10.1.0.2/24", "10.1.0.1/24")
	topo.Link(r1, h2, "10.2.0.1/24", "10.2.0.2/24")
	require.NoError(t, h1.Interface("eth0").AddAddr("fd01::2/64"))
	require.NoError(t, r1.Interface("eth0").AddAddr("fd01::1/64"))
	require.NoError(t, r1.Interface("eth1").AddAddr("fd02::1/64"))
	require.NoError(t, h2.Interface("eth0").AddAddr("fd02::2/64"))
	require.NoError(t, h1.AddRoute("default", "r1"))
	require.NoError(t, h2.AddRoute("default", "r1"))
	require.NoError(t, h1.AddRoute("::/0", "fd01::1"))
	require.NoError(t, h2.AddRoute("::/0", "fd02::1"))
	return h1, r1, h2
}

func TestAssertReachable(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := three(t)
	assert.True(t, nstest.AssertReachable(t, ns1, "ns2"))
	assert.True(t, nstest.AssertReachable(t, ns1, "10.0.0.2"))
	assert.True(t, nstest.AssertReachable(t, ns1, "ns2", nstest.IPv6()))
	assert.True(t, nstest.AssertReachable(t, ns2, "fd00::1"))

	// Nobody has 10.0.0.9: its neighbour entry never resolves.
	msg, _ := failures(t, func(tb testing.TB) {
		assert.False(t, nstest.AssertReachable(tb, ns1, "10.0.0.9", nstest.Within(300*time.Millisecond)))
	})
	matches(t, `nstest: ns1 -> 10\.0\.0\.9: want reachable, got no reply to `+requests+` in 300ms`, msg)

	// A check shorter than the first retransmission (20ms) sends one request.
	msg, _ = failures(t, func(tb testing.TB) { nstest.AssertReachable(tb, ns1, "10.0.0.9", nstest.Within(15*time.Millisecond)) })
	assert.Equal(t, "nstest: ns1 -> 10.0.0.9: want reachable, got no reply to 1 echo request in 15ms", msg)

	// ns2 drops echo requests from ns1.
	require.NoError(t, firewall.Add(ns2, firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp", Src: "10.0.0.1"}))
	msg, _ = failures(t, func(tb testing.TB) { nstest.AssertReachable(tb, ns1, "ns2", nstest.Within(300*time.Millisecond)) })
	matches(t, `nstest: ns1 -> ns2 \(10\.0\.0\.2\): want reachable, got no reply to `+requests+` in 300ms`, msg)
	msg, _ = failures(t, func(tb testing.TB) { nstest.AssertReachable(tb, ns1, "10.0.0.2", nstest.Within(300*time.Millisecond)) })
	matches(t, `nstest: ns1 -> 10\.0\.0\.2 \(ns2\): want reachable, got no reply to `+requests+` in 300ms`, msg)
	// Over IPv6 the rule does not apply.
	assert.True(t, nstest.AssertReachable(t, ns1, "ns2", nstest.IPv6()))
}

// Routers rate-limit ICMP errors per destination (a burst of 6, then one a
// second: net.ipv4.icmp_ratelimit), so each case has its own router.
func TestAssertReachableNamesRouterError(t *testing.T) {
	t.Parallel()
	// The default time (2s) for each check: the router's answer must come
	// within it, and a loaded machine may be slow to send it.
	t.Run("no route in router", func(t *testing.T) {
		t.Parallel()
		h1, _, _ := routed(t)
		assert.True(t, nstest.AssertReachable(t, h1, "h2"))
		assert.True(t, nstest.AssertReachable(t, h1, "h2", nstest.IPv6()))
		// r1 has no route to 10.9.0.0/16 nor fd09::/16: it answers "net
		// unreachable" ("no route" in ICMPv6).
		msg, _ := failures(t, func(tb testing.TB) { nstest.AssertReachable(tb, h1, "10.9.9.9") })
		matches(t, `nstest: h1 -> 10\.9\.9\.9: want reachable, got destination unreachable \(net unreachable\) from r1 \(10\.1\.0\.1\), no reply to `+requests+` in 2s`, msg)
		msg, _ = failures(t, func(tb testing.TB) { nstest.AssertReachable(tb, h1, "fd09::9") })
		matches(t, `nstest: h1 -> fd09::9: want reachable, got destination unreachable \(no route\) from r1 \(fd01::1\), no reply to `+requests+` in 2s`, msg)
		assert.True(t, nstest.AssertUnreachable(t, h1, "10.9.9.9"))
	})
	t.Run("router rejects", func(t *testing.T) {
		t.Parallel()
		h1, r1, _ := routed(t)
		require.NoError(t, firewall.Add(r1, firewall.Rule{Chain: firewall.Forward, Action: firewall.Reject, Proto: "icmp", Dst: "10.2.0.2"}))
		msg, _ := failures(t, func(tb testing.TB) { nstest.AssertReachable(tb, h1, "h2") })
		matches(t, `nstest: h1 -> h2 \(10\.2\.0\.2\): want reachable, got destination unreachable \(communication prohibited by filter\) from r1 \(10\.1\.0\.1\), no reply to `+requests+` in 2s`, msg)
		assert.True(t, nstest.AssertUnreachable(t, h1, "h2"))
		assert.True(t, nstest.AssertReachable(t, h1, "h2", nstest.IPv6()))
	})
}

func TestAssertReachableNoRoute(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	topo.Link(h1, h2, "10.1.0.1/24", "10.1.0.2/24")
	msg, _ := failures(t, func(tb testing.TB) { nstest.AssertReachable(tb, h1, "10.9.9.9", nstest.Within(200*time.Millisecond)) })
	assert.Equal(t, "nstest: h1 -> 10.9.9.9: want reachable, got no route from h1 (network is unreachable), no echo request could be sent in 200ms", msg)
	assert.True(t, nstest.AssertUnreachable(t, h1, "10.9.9.9"))

	// Resolution errors name the host and what it has.
	msg, _ = failures(t, func(tb testing.TB) { nstest.AssertReachable(tb, h1, "h2", nstest.IPv6()) })
	assert.Equal(t, `nstest: h1 -> h2: want reachable, but h2 has no IPv6 address (it has: 10.1.0.2/24)`, msg)
	msg, _ = failures(t, func(tb testing.TB) { nstest.AssertReachable(tb, h1, "nope") })
	assert.Contains(t, msg, `nstest: h1 -> nope: want reachable, but "nope" is neither an IP address nor a node of topology`)
}

func TestAssertUnreachable(t *testing.T) {
	t.Parallel()
	_, ns1, _, ns3 := three(t)
	require.NoError(t, firewall.Add(ns3, firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp"}))
	assert.True(t, nstest.AssertUnreachable(t, ns1, "ns3", nstest.Within(200*time.Millisecond)))
	assert.True(t, nstest.AssertReachable(t, ns1, "ns3", nstest.IPv6()))

	msg, _ := failures(t, func(tb testing.TB) { assert.False(t, nstest.AssertUnreachable(tb, ns1, "ns2")) })
	assert.Equal(t, "nstest: ns1 -> ns2 (10.0.0.2): want unreachable, got a reply from ns2 (10.0.0.2)", msg)
	msg, _ = failures(t, func(tb testing.TB) { nstest.AssertUnreachable(tb, ns1, "ns3", nstest.IPv6()) })
	assert.Equal(t, "nstest: ns1 -> ns3 (fd00::3): want unreachable, got a reply from ns3 (fd00::3)", msg)
}

func TestRequireStopsTheTest(t *testing.T) {
	t.Parallel()
	_, ns1, _, _ := three(t)
	_, finished := failures(t, func(tb testing.TB) { nstest.RequireReachable(tb, ns1, "ns2") })
	assert.True(t, finished)
	msg, finished := failures(t, func(tb testing.TB) { nstest.RequireUnreachable(tb, ns1, "ns2") })
	assert.False(t, finished, "RequireUnreachable returned after failing")
	assert.Equal(t, "nstest: ns1 -> ns2 (10.0.0.2): want unreachable, got a reply from ns2 (10.0.0.2)", msg)
	msg, finished = failures(t, func(tb testing.TB) { nstest.RequireReachable(tb, ns1, "10.0.0.9", nstest.Within(100*time.Millisecond)) })
	assert.False(t, finished, "RequireReachable returned after failing")
	assert.Contains(t, msg, "nstest: ns1 -> 10.0.0.9: want reachable, got no reply to ")
	msg, finished = failures(t, func(tb testing.TB) {
		nstest.RequireMatrix(tb, nstest.NotReach(ns1, "ns2"))
	})
	assert.False(t, finished, "RequireMatrix returned after failing")
	assert.Contains(t, msg, "FAIL  ns1 -> ns2 (10.0.0.2)  want unreachable  got a reply from ns2 (10.0.0.2)")
}

func TestAssertConnectivity(t *testing.T) {
	t.Parallel()
	topo, ns1, ns2, ns3 := three(t)
	assert.True(t, nstest.AssertConnectivity(t, ns1, ns2, ns3))

	// ns4 is on the bridge but in another subnet: nobody has a route to it,
	// nor it to anybody.
	ns4 := topo.AddHost("ns4")
	topo.Connect(ns4, topo.Bridge("br1"), "10.0.1.4/24")
	msg, _ := failures(t, func(tb testing.TB) { assert.False(t, nstest.AssertConnectivity(tb, ns1, ns2, ns3, ns4)) })
	assert.Equal(t, `nstest: connectivity of 4 hosts: 6 of 12 pairs got no reply
ns1 -> ns2 ns3 X
ns2 -> ns1 ns3 X
ns3 -> ns1 ns2 X
ns4 -> X X X
Results: 50% dropped (6/12 received)
ns1 -> ns4 (10.0.1.4): no route from ns1 (network is unreachable), no echo request could be sent in 2s
ns2 -> ns4 (10.0.1.4): no route from ns2 (network is unreachable), no echo request could be sent in 2s
ns3 -> ns4 (10.0.1.4): no route from ns3 (network is unreachable), no echo request could be sent in 2s
ns4 -> ns1 (10.0.0.1): no route from ns4 (network is unreachable), no echo request could be sent in 2s
ns4 -> ns2 (10.0.0.2): no route from ns4 (network is unreachable), no echo request could be sent in 2s
ns4 -> ns3 (10.0.0.3): no route from ns4 (network is unreachable), no echo request could be sent in 2s`, msg)
}

func TestAssertMatrix(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, ns3 := three(t)
	// ns3 drops echo requests from ns1, over IPv4 only.
	require.NoError(t, firewall.Add(ns3, firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp", ICMPType: "echo-request", Src: "10.0.0.1"}))
	// A short window for what must not be reached; what must be reached
	// gets the default time, since a loaded machine may answer late.
	quick := nstest.Window(300 * time.Millisecond)

	assert.True(t, nstest.AssertMatrix(t, nstest.Reach(ns1, "ns2").NotReach(ns1, "ns3").Reach(ns2, "ns1", "ns3").Reach(ns3, "ns1"), quick))
	assert.True(t, nstest.AssertMatrix(t, nstest.Expect{
		{From: ns1, To: "ns3", Reachable: true},
		{From: ns3, To: "fd00::1", Reachable: true},
	}, nstest.IPv6()))

	// The defaults here: the reply that breaks NotReach(ns1, "ns2") must come
	// within the window, on a loaded machine too.
	msg, _ := failures(t, func(tb testing.TB) {
		assert.False(t, nstest.AssertMatrix(tb, nstest.Reach(ns2, "ns3").Reach(ns1, "ns3").NotReach(ns1, "ns2").Reach(ns1, "ns9")))
	})
	matches(t, `nstest: reachability: 3 of 4 pairs not as expected
ok    ns2 -> ns3 \(10\.0\.0\.3\)  want reachable    got a reply
FAIL  ns1 -> ns3 \(10\.0\.0\.3\)  want reachable    got X: no reply to `+requests+` in 2s
FAIL  ns1 -> ns2 \(10\.0\.0\.2\)  want unreachable  got a reply from ns2 \(10\.0\.0\.2\)
FAIL  ns1 -> ns9             want reachable    got an error: "ns9" is neither an IP address nor a node of topology "TestAssertMatrix"`, msg)
}

func TestAssertTCP(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := three(t)
	l, err := ns2.Listen("tcp", ":8080")
	require.NoError(t, err)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	short := nstest.Within(300 * time.Millisecond)
	assert.True(t, nstest.AssertTCPReachable(t, ns1, "ns2:8080"))
	assert.True(t, nstest.AssertTCPReachable(t, ns1, "ns2:8080", nstest.IPv6()))
	assert.True(t, nstest.AssertTCPUnreachable(t, ns1, "ns2:9"))

	// Refused and no route are answers: they need the default time (2s) to
	// come on a loaded machine; a timeout takes a short check's whole time.
	msg, _ := failures(t, func(tb testing.TB) { assert.False(t, nstest.AssertTCPReachable(tb, ns1, "ns2:9")) })
	matches(t, `nstest: ns1 -> tcp ns2:9 \(10\.0\.0\.2:9\): want a connection, got refused \(a TCP reset: nothing listens on port 9 there, or a firewall rejects it\) \(`+count("attempt")+` in 2s\)`, msg)
	msg, _ = failures(t, func(tb testing.TB) { assert.False(t, nstest.AssertTCPUnreachable(tb, ns1, "ns2:8080")) })
	matches(t, `nstest: ns1 -> tcp ns2:8080 \(10\.0\.0\.2:8080\): want no connection, got one: 10\.0\.0\.2:8080 accepted it \(from 10\.0\.0\.1:\d+\)`, msg)
	msg, _ = failures(t, func(tb testing.TB) { nstest.AssertTCPReachable(tb, ns1, "10.9.9.9:80") })
	matches(t, `nstest: ns1 -> tcp 10\.9\.9\.9:80: want a connection, got no route \(network is unreachable\) \(`+count("attempt")+` in 2s\)`, msg)

	// ns2 drops SYNs to 8080 from ns1: the dial times out.
	require.NoError(t, firewall.Add(ns2, firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "tcp", DstPort: 8080, Src: "10.0.0.1"}))
	assert.True(t, nstest.AssertTCPUnreachable(t, ns1, "ns2:8080", short))
	msg, _ = failures(t, func(tb testing.TB) { nstest.AssertTCPReachable(tb, ns1, "ns2:8080", short) })
	assert.Equal(t, "nstest: ns1 -> tcp ns2:8080 (10.0.0.2:8080): want a connection, got timed out after 300ms (no answer to the SYNs: dropped on the way, or by a firewall) (1 attempt in 300ms)", msg)
	assert.True(t, nstest.AssertTCPReachable(t, ns1, "ns2:8080", nstest.IPv6()), "the rule is for IPv4 only")
}

func TestAssertUDP(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := three(t)
	echo := nstest.ServeUDPEcho(t, ns2, ":7")
	assert.Equal(t, "[::]:7", echo)
	short := nstest.Within(300 * time.Millisecond)
	assert.True(t, nstest.AssertUDPReachable(t, ns1, "ns2:7"))
	assert.True(t, nstest.AssertUDPReachable(t, ns1, "ns2:7", nstest.IPv6(), nstest.Payload([]byte("hello"))))
	assert.True(t, nstest.AssertUDPUnreachable(t, ns1, "ns2:9"))

	msg, _ := failures(t, func(tb testing.TB) { assert.False(t, nstest.AssertUDPUnreachable(tb, ns1, "ns2:7")) })
	assert.Equal(t, "nstest: ns1 -> udp ns2:7 (10.0.0.2:7): want no answer, got an answer of 16 bytes from 10.0.0.2:7", msg)

	// Nothing listens on 9: ns2 answers with ICMP port unreachable.
	// Refused is an answer: it needs the default time (2s) on a loaded machine.
	msg, _ = failures(t, func(tb testing.TB) { assert.False(t, nstest.AssertUDPReachable(tb, ns1, "ns2:9")) })
	matches(t, `nstest: ns1 -> udp ns2:9 \(10\.0\.0\.2:9\): want an answer, got refused \(an ICMP port unreachable came back: nothing listens on udp port 9 there, or a firewall rejects it; `+count("datagram")+` sent in 2s\)`, msg)

	// A listener that never answers.
	_, err := ns2.ListenPacket("udp", ":5353")
	require.NoError(t, err)
	assert.True(t, nstest.AssertUDPUnreachable(t, ns1, "ns2:5353", short))
	msg, _ = failures(t, func(tb testing.TB) { nstest.AssertUDPReachable(tb, ns1, "ns2:5353", short) })
	matches(t, `nstest: ns1 -> udp ns2:5353 \(10\.0\.0\.2:5353\): want an answer, got no answer to `+count("datagram")+` in 300ms \(timed out: dropped on the way, or nothing there sends an answer; see ServeUDPEcho\)`, msg)
}

// AssertConnectivity with a nil host, or with fewer than two hosts, would
// check nothing: it fails saying so.
func TestAssertConnectivityNeedsHosts(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := three(t)
	msg, _ := failures(t, func(tb testing.TB) { assert.False(t, nstest.AssertConnectivity(tb, ns1, nil, ns2)) })
	assert.Equal(t, "nstest: connectivity: host 2 of 3 is nil", msg)
	msg, _ = failures(t, func(tb testing.TB) { assert.False(t, nstest.AssertConnectivity(tb, nil)) })
	assert.Equal(t, "nstest: connectivity: host 1 of 1 is nil", msg)
	msg, _ = failures(t, func(tb testing.TB) { assert.False(t, nstest.AssertConnectivity(tb, ns1)) })
	assert.Equal(t, "nstest: connectivity of 1 hosts checks nothing: give at least two", msg)
}

// A zero or negative Within or Window would make a check send or watch for
// nothing: every assertion fails saying so, even where the network would
// have satisfied it.
func TestZeroDurationIsAnError(t *testing.T) {
	t.Parallel()
	_, ns1, _, _ := three(t)
	for name, check := range map[string]func(tb testing.TB) bool{
		"AssertUnreachable Within(0)": func(tb testing.TB) bool {
			return nstest.AssertUnreachable(tb, ns1, "10.0.0.99", nstest.Within(0))
		},
		"AssertUnreachable Window(-1s)": func(tb testing.TB) bool {
			return nstest.AssertUnreachable(tb, ns1, "10.0.0.99", nstest.Window(-time.Second))
		},
		"AssertReachable Within(0)": func(tb testing.TB) bool { return nstest.AssertReachable(tb, ns1, "ns2", nstest.Within(0)) },
		"AssertTCPUnreachable Within(0)": func(tb testing.TB) bool {
			return nstest.AssertTCPUnreachable(tb, ns1, "ns2:9", nstest.Within(0))
		},
		"AssertUDPUnreachable Within(0)": func(tb testing.TB) bool {
			return nstest.AssertUDPUnreachable(tb, ns1, "ns2:9", nstest.Within(0))
		},
		"AssertMatrix Within(0)": func(tb testing.TB) bool {
			return nstest.AssertMatrix(tb, nstest.NotReach(ns1, "10.0.0.99"), nstest.Within(0))
		},
	} {
		msg, _ := failures(t, func(tb testing.TB) { assert.False(t, check(tb), name) })
		assert.Regexp(t, `(Within\(0s\)|Window\(-1s\)): a check needs a positive duration`, msg, name)
	}
}
