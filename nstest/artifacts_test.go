package nstest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/ns"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
	"github.com/nstest/harness/nstest/firewall"
)

// brokenSeed is the seed topology where ns2 drops ns1's echo requests; with
// fail set it asserts that ns1 reaches ns2, which fails.
func brokenSeed(fail bool, packetSockets *int) func(tb testing.TB) {
	return func(tb testing.TB) {
		topo := nstest.New(tb)
		br := topo.AddBridge("br1")
		ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
		topo.Connect(ns1, br, "10.0.0.1/24")
		topo.Connect(ns2, br, "10.0.0.2/24")
		if packetSockets != nil {
			*packetSockets = countPacketSockets(tb, ns1)
		}
		if !fail {
			nstest.AssertReachable(tb, ns1, "ns2")
			return
		}
		if err := ns2.Firewall(firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp", Src: "ns1"}); err != nil {
			tb.Fatal(err)
		}
		nstest.AssertReachable(tb, ns1, "ns2", nstest.Within(300*time.Millisecond))
	}
}

// countPacketSockets counts the AF_PACKET sockets open in h's namespace.
func countPacketSockets(tb testing.TB, h *nstest.Host) int {
	var n int
	err := h.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/packet")
		n = len(strings.Split(strings.TrimSpace(string(b)), "\n")) - 1 // minus the header
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestArtifactsOfFailingTest(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("NSTEST_ARTIFACTS", dir)
	var log bytes.Buffer
	var sockets int
	err := testrun.Run("TestInner/case 1", &log, brokenSeed(true, &sockets))
	require.Error(t, err, "the inner test should fail")
	assert.Contains(t, err.Error(), "ns2")
	assert.Equal(t, 1, sockets, "one capture armed on ns1's eth0")

	out := filepath.Join(dir, "TestInner_case_1")
	assert.Contains(t, log.String(), out, "the log names the directory")
	b, err := os.ReadFile(filepath.Join(out, "state.txt"))
	require.NoError(t, err)
	state := string(b)
	for _, want := range []string{
		"=== host ns1", "=== host ns2", "=== fabric fabric",
		"eth0 10.0.0.1/24 scope global", "eth0 10.0.0.2/24 scope global",
		"table main 10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.1",
		"master br1", "peer ns1:eth0", "net.ipv4.ip_forward=0",
		"10.0.0.2 dev eth0 lladdr", // ns1 resolved ns2
		"table inet nstest",
		"ns1-eth0.pcap", "fabric-ns2+eth0.pcap",
	} {
		assert.Contains(t, state, want)
	}
	m := regexp.MustCompile(`input icmp saddr 10\.0\.0\.1 drop\s+\[packets (\d+)`).FindStringSubmatch(state)
	require.NotNil(t, m, "state.txt lacks the drop rule with counters")
	assert.NotEqual(t, "0", m[1], "the drop rule counted the test's echo requests")
	assert.Regexp(t, `rx \d+ packets`, state)

	echo := capture.And(capture.ICMPEcho(), capture.Src(netip.MustParseAddr("10.0.0.1")), capture.Dst(netip.MustParseAddr("10.0.0.2")))
	for _, name := range []string{"ns1-eth0.pcap", "fabric-ns1+eth0.pcap", "fabric-ns2+eth0.pcap", "ns2-eth0.pcap"} {
		pkts, _, err := capture.ReadFile(filepath.Join(out, name))
		require.NoError(t, err, name)
		n := 0
		for i := range pkts {
			if echo(&pkts[i]) {
				n++
			}
		}
		assert.NotZero(t, n, "%s holds no echo request 10.0.0.1 > 10.0.0.2 (%d packets)", name, len(pkts))
	}

	// all.pcapng follows each echo request across the four interfaces.
	assert.Contains(t, state, "all.pcapng")
	all, _, err := capture.ReadFile(filepath.Join(out, "all.pcapng"))
	require.NoError(t, err)
	var path []string
	for _, p := range all {
		if echo(&p) && p.ICMPSeq == 1 {
			path = append(path, p.Node+":"+p.Interface+map[bool]string{false: " In", true: " Out"}[p.Outgoing])
		}
	}
	assert.Equal(t, []string{"ns1:eth0 Out", "fabric:ns1+eth0 In", "fabric:ns2+eth0 Out", "ns2:eth0 In"}, path,
		"the first echo request's path in all.pcapng")
}

func TestNoArtifactsWhenTestPasses(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("NSTEST_ARTIFACTS", dir)
	var sockets int
	require.NoError(t, testrun.Run("TestInner", nil, brokenSeed(false, &sockets)))
	assert.Equal(t, 1, sockets, "a capture is armed while the variable is set")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestNoArtifactsWithoutVariable(t *testing.T) {
	t.Setenv("NSTEST_ARTIFACTS", "")
	var log bytes.Buffer
	var sockets int
	require.Error(t, testrun.Run("TestInner", &log, brokenSeed(true, &sockets)))
	assert.Zero(t, sockets, "no capture is armed without NSTEST_ARTIFACTS")
	assert.NotContains(t, log.String(), "NSTEST_ARTIFACTS")
}

func TestWriteStateShowsRoutesAndQdiscs(t *testing.T) {
	t.Parallel()
	client, _, _ := chain(t)
	require.NoError(t, client.AddRoute("default", "r"))
	require.NoError(t, client.Interface("eth0").Impair(nstest.Impairment{Rate: 1_000_000}))
	_, err := client.Ping(context.Background(), "srv")
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, client.Topology().WriteState(&b))
	s := b.String()
	assert.Contains(t, s, "=== host client")
	assert.Contains(t, s, "=== router r")
	assert.Contains(t, s, "net.ipv4.ip_forward=1")
	assert.Contains(t, s, "table main default via 10.0.1.1 dev eth0 proto boot")
	assert.Contains(t, s, "eth0: tbf")
	assert.Contains(t, s, "rate 1000000bit")
	assert.Contains(t, s, "table local local 10.0.1.2 dev eth0 proto kernel scope host src 10.0.1.2")
	assert.NotContains(t, s, "=== fabric", "no bridge, no fabric")
}

func TestWriteStateShowsBridgeVLANs(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	if err := probeVLANFiltering(); errors.Is(err, unix.EOPNOTSUPP) {
		t.Skipf("this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): %v", err)
	}
	br := topo.AddBridge("br1", nstest.VLANFiltering())
	topo.Connect(topo.AddHost("ns1"), br, "10.0.0.1/24")
	var b strings.Builder
	require.NoError(t, topo.WriteState(&b))
	assert.Contains(t, b.String(), "bridge vlans:\n    br1: 1 PVID untagged\n    ns1+eth0: 1 PVID untagged")
}

// BenchmarkSeedWithArtifacts builds the seed topology and pings once, with
// and without NSTEST_ARTIFACTS, to show what arming the captures costs.
func BenchmarkSeedWithArtifacts(b *testing.B) {
	for _, dir := range []string{"", b.TempDir()} {
		name := "unset"
		if dir != "" {
			name = "set"
		}
		b.Run(name, func(b *testing.B) {
			b.Setenv("NSTEST_ARTIFACTS", dir)
			for b.Loop() {
				if err := testrun.Run("bench", nil, brokenSeed(false, nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// probeVLANFiltering makes a VLAN-filtering bridge in a namespace of its own.
func probeVLANFiltering() error {
	n, err := ns.New()
	if err != nil {
		return err
	}
	defer n.Close()
	h, err := n.NetlinkHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	on := true
	return h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}, VlanFiltering: &on})
}

// TestArtifactCapturesClosedByTeardown: the captures armed for failure
// artifacts are closed, with the goroutines reading them, when the teardown
// of a passing test returns, not some time later in the background, where
// their sockets would keep the namespaces alive and goleak would find them.
func TestArtifactCapturesClosedByTeardown(t *testing.T) {
	t.Setenv("NSTEST_ARTIFACTS", t.TempDir())
	before := ownPacketSockets(t)
	armed := 0
	err := testrun.Run(t.Name(), io.Discard, func(tb testing.TB) {
		brokenSeed(false, nil)(tb)
		armed = ownPacketSockets(t) - before
	})
	if errors.Is(err, testrun.ErrSkipped) {
		t.Skip(err)
	}
	require.NoError(t, err)
	require.Positive(t, armed, "no capture was armed")
	assert.Equal(t, before, ownPacketSockets(t), "packet sockets of the artifact captures outlived the teardown")
}

// ownPacketSockets counts this process's open AF_PACKET sockets.
func ownPacketSockets(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n := 0
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if d, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil && d == unix.AF_PACKET {
			n++
		}
	}
	return n
}
