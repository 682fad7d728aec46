package nstest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
	"github.com/nstest/harness/nstest/ping"
)

// ovsPair builds h1 and h2 (10.0.0.1 and .2) on an OVS bridge s1.
func ovsPair(t *testing.T) (*nstest.Topology, *nstest.Bridge, *nstest.Host, *nstest.Host) {
	t.Helper()
	topo := nstest.New(t)
	s1 := topo.AddBridge("s1", nstest.OVS())
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	topo.Connect(h1, s1, "10.0.0.1/24")
	topo.Connect(h2, s1, "10.0.0.2/24")
	return topo, s1, h1, h2
}

// serveTCP accepts connections on h at address and copies what each sends
// back to it.
func serveTCP(t *testing.T, h *nstest.Host, address string) {
	t.Helper()
	l, err := h.Listen("tcp", address)
	require.NoError(t, err)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
}

// flowCount returns n_packets of the first flow containing match.
func flowCount(t *testing.T, br *nstest.Bridge, match string) int {
	t.Helper()
	flows, err := br.Flows()
	require.NoError(t, err)
	for _, f := range flows {
		if strings.Contains(f, match) {
			m := regexp.MustCompile(`n_packets=(\d+)`).FindStringSubmatch(f)
			require.NotNil(t, m, "flow %q has no packet counter", f)
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	t.Fatalf("no flow containing %q among %q", match, flows)
	return 0
}

func TestOVSForwardsPingAndTCP(t *testing.T) {
	t.Parallel()
	_, s1, h1, h2 := ovsPair(t)
	nstest.RequireReachable(t, h1, "h2")
	nstest.AssertReachable(t, h2, "h1")

	// A bulk transfer, not only a handshake: through the userspace datapath,
	// TCP fails unless the offloaded checksums are handled.
	serveTCP(t, h2, ":5001")
	c, err := h1.Dial("tcp", "h2:5001")
	require.NoError(t, err)
	defer c.Close()
	data := make([]byte, 4<<20)
	rand.Read(data)
	go c.Write(data)
	got := make([]byte, len(data))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, got), "the echoed bytes differ from those sent")

	// The default NORMAL rule counted the traffic.
	assert.Greater(t, flowCount(t, s1, "actions=NORMAL"), 100)
	ports, err := s1.Ports()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"h1+eth0", "h2+eth0"}, ports)
}

func TestOVSFlowDropsAndCounts(t *testing.T) {
	t.Parallel()
	_, s1, h1, _ := ovsPair(t)
	nstest.RequireReachable(t, h1, "h2")

	require.NoError(t, s1.AddFlow("priority=100,icmp,actions=drop"))
	nstest.AssertUnreachable(t, h1, "h2")
	before := flowCount(t, s1, "icmp")
	assert.Positive(t, before, "the drop rule counted no packet")
	st, _ := h1.Ping(context.Background(), "h2", ping.Count(3), ping.Interval(10e6), ping.Timeout(300e6))
	require.NotNil(t, st)
	require.Zero(t, st.Received)
	assert.GreaterOrEqual(t, flowCount(t, s1, "icmp"), before+3, "the drop rule's counter did not grow by the 3 echoes sent")

	require.NoError(t, s1.DelFlows("icmp"))
	nstest.AssertReachable(t, h1, "h2")
	flows, err := s1.Flows()
	require.NoError(t, err)
	require.Len(t, flows, 1, "flows after deleting the icmp rule: %q", flows)
	assert.Contains(t, flows[0], "actions=NORMAL")
}

func TestOVSFlowErrors(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	for _, err := range []error{br.AddFlow("actions=NORMAL"), br.DelFlows(""), func() error { _, err := br.Flows(); return err }()} {
		require.Error(t, err)
		assert.Contains(t, err.Error(), `bridge "br1"`)
		assert.Contains(t, err.Error(), "not an Open vSwitch bridge")
	}
	s1 := topo.AddBridge("s1", nstest.OVS())
	err := s1.AddFlow("priority=100,tcp,tp_dts=80,actions=drop")
	require.Error(t, err)
	// ovs-ofctl's own words, naming the bad field.
	assert.Contains(t, err.Error(), `bridge "s1"`)
	assert.Contains(t, err.Error(), "ovs-ofctl")
	assert.Contains(t, err.Error(), "tp_dts")
	flows, err := s1.Flows()
	require.NoError(t, err)
	assert.Len(t, flows, 1, "a refused rule changed the flows: %q", flows)
}

// TestOVSWithoutPackage: without the programs, OVS skips the test naming
// the Debian package.
func TestOVSWithoutPackage(t *testing.T) {
	nstest.New(t)
	t.Setenv("PATH", t.TempDir())
	err := testrun.Run("noovs", nil, func(tb testing.TB) {
		topo := nstest.New(tb)
		topo.AddBridge("s1", nstest.OVS())
		tb.Error("AddBridge went on without the OVS programs")
	})
	require.ErrorIs(t, err, testrun.ErrSkipped)
	assert.Contains(t, err.Error(), "openvswitch-switch")
}

func TestOVSTCPPortRule(t *testing.T) {
	t.Parallel()
	_, s1, h1, h2 := ovsPair(t)
	serveTCP(t, h2, ":80")
	serveTCP(t, h2, ":443")
	require.NoError(t, s1.AddFlow("priority=100,tcp,nw_dst=10.0.0.2,tp_dst=80,actions=drop"))
	nstest.AssertTCPUnreachable(t, h1, "h2:80")
	nstest.AssertTCPReachable(t, h1, "h2:443")
	require.NoError(t, s1.DelFlows("tcp,tp_dst=80"))
	nstest.AssertTCPReachable(t, h1, "h2:80")
}

// TestOVSWithLinuxBridge joins an OVS bridge and a Linux bridge, and gives
// the OVS bridge an address.
func TestOVSWithLinuxBridge(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	s1 := topo.AddBridge("s1", nstest.OVS())
	br := topo.AddBridge("br1")
	topo.ConnectBridges(s1, br)
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	topo.Connect(h1, s1, "10.0.0.1/24", "fd00::1/64")
	topo.Connect(h2, br, "10.0.0.2/24", "fd00::2/64")
	require.NoError(t, s1.AddAddr("10.0.0.100/24"))
	nstest.AssertConnectivity(t, h1, h2)
	nstest.AssertReachable(t, h1, "h2", nstest.IPv6())
	nstest.AssertReachable(t, h2, "s1")
	nstest.AssertReachable(t, h1, "10.0.0.100")

	// The cable between the switches is an OpenFlow port like any other.
	require.NoError(t, s1.AddFlow("priority=100,in_port=s1+br1,actions=drop"))
	nstest.AssertUnreachable(t, h2, "s1")
	nstest.AssertReachable(t, h1, "s1")
}

// TestOVSParallelTopologies runs two topologies with OVS bridges at once,
// with the same names and addresses and different rules.
func TestOVSParallelTopologies(t *testing.T) {
	for _, drop := range []bool{true, false} {
		t.Run(fmt.Sprintf("drop=%v", drop), func(t *testing.T) {
			t.Parallel()
			_, s1, h1, h2 := ovsPair(t)
			serveTCP(t, h2, ":80")
			if drop {
				require.NoError(t, s1.AddFlow("priority=100,tcp,tp_dst=80,actions=drop"))
				nstest.AssertTCPUnreachable(t, h1, "h2:80")
			} else {
				nstest.AssertTCPReachable(t, h1, "h2:80")
			}
			nstest.AssertReachable(t, h1, "h2")
		})
	}
}

func TestOVSCaptureAndState(t *testing.T) {
	t.Parallel()
	topo, s1, h1, h2 := ovsPair(t)
	port := h2.Interfaces()[0].Peer()
	c := port.Capture()
	nstest.RequireReachable(t, h1, "h2")
	// The echo request left the switch through h2's port.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Wait(ctx, capture.ICMPEcho(), 1)
	require.NoError(t, err, "the capture on the OVS port saw no echo request")

	require.NoError(t, s1.AddFlow("priority=100,udp,tp_dst=9,actions=drop"))
	var b strings.Builder
	require.NoError(t, topo.WriteState(&b))
	assert.Contains(t, b.String(), "priority=100,udp,tp_dst=9 actions=drop")
	assert.Contains(t, b.String(), "(h2+eth0)")
}

func TestOVSImpairLoss(t *testing.T) {
	t.Parallel()
	_, _, h1, _ := ovsPair(t)
	nstest.RequireReachable(t, h1, "h2")
	require.NoError(t, h1.Interfaces()[0].Impair(nstest.Impairment{Loss: 100}))
	nstest.AssertUnreachable(t, h1, "h2")
	require.NoError(t, h1.Interfaces()[0].Impair(nstest.Impairment{}))
	nstest.AssertReachable(t, h1, "h2")
}

// ovsDaemons returns the OVS daemons running in the topology's fabric, by
// pid, looking at every process as a user would with ps.
func ovsDaemons(t *testing.T, topo *nstest.Topology) map[int]string {
	t.Helper()
	var want unix.Stat_t
	path, err := topo.Fabric().NSPath()
	require.NoError(t, err)
	require.NoError(t, unix.Stat(path, &want))
	found := map[int]string{}
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) != nil || st.Ino != want.Ino || st.Dev != want.Dev {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if c := strings.TrimSpace(string(comm)); c == "ovsdb-server" || c == "ovs-vswitchd" {
			found[pid] = c
		}
	}
	return found
}

// openPidfds holds the processes by pidfd, so their pids are not reused.
func openPidfds(t *testing.T, pids map[int]string) map[int]int {
	t.Helper()
	fds := map[int]int{}
	for pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		require.NoError(t, err)
		t.Cleanup(func() { unix.Close(fd) })
		fds[pid] = fd
	}
	return fds
}

// waitExited waits up to ms milliseconds for every process to exit.
func waitExited(t *testing.T, fds map[int]int, names map[int]string, ms int) {
	t.Helper()
	for pid, fd := range fds {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
		n, err := unix.Poll(p, ms)
		for err == unix.EINTR { // a signal (the runtime's preemption) woke the wait
			n, err = unix.Poll(p, max(0, int(time.Until(deadline).Milliseconds())))
		}
		require.NoError(t, err)
		assert.Equal(t, 1, n, "%s (pid %d) still runs", names[pid], pid)
	}
}

// TestOVSTeardown checks that teardown stops both daemons and leaves no file
// behind, and no system OVS directory was used.
func TestOVSTeardown(t *testing.T) {
	nstest.New(t)
	sysDirs := []string{"/var/run/openvswitch", "/run/openvswitch", "/var/log/openvswitch", "/etc/openvswitch"}
	before := map[string][]string{}
	for _, d := range sysDirs {
		before[d] = dirList(d)
	}
	tmpBefore := ovsTempDirs(t)
	var daemons map[int]string
	var fds map[int]int
	t.Run("build", func(t *testing.T) {
		topo, _, h1, _ := ovsPair(t)
		nstest.RequireReachable(t, h1, "h2")
		daemons = ovsDaemons(t, topo)
		require.ElementsMatch(t, []string{"ovsdb-server", "ovs-vswitchd"}, values(daemons))
		fds = openPidfds(t, daemons)
	})
	// Teardown has returned: the daemons are gone already.
	waitExited(t, fds, daemons, 0)
	assert.Equal(t, tmpBefore, ovsTempDirs(t), "teardown left the private OVS directory")
	for _, d := range sysDirs {
		assert.Equal(t, before[d], dirList(d), "an OVS system directory changed: %s", d)
	}
}

func values(m map[int]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func dirList(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// ovsTempDirs lists this process's private OVS directories (their names
// carry its pid); other test processes on the machine make their own.
func ovsTempDirs(t *testing.T) []string {
	m, err := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("nstest-ovs-%d-*", os.Getpid())))
	require.NoError(t, err)
	return m
}

// TestOVSKilledTestProcess SIGKILLs a test process that runs an OVS bridge:
// its daemons die within a second.
func TestOVSKilledTestProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "ovs" {
		topo, _, h1, _ := ovsPair(t)
		nstest.RequireReachable(t, h1, "h2")
		for pid, name := range ovsDaemons(t, topo) {
			fmt.Printf("DAEMON %d %s\n", pid, name)
		}
		fmt.Println("READY")
		select {} // killed
	}
	nstest.New(t)
	child := exec.Command(os.Args[0], "-test.run=^TestOVSKilledTestProcess$", "-test.v")
	child.Env = append(os.Environ(), helperEnv+"=ovs")
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	child.Stderr = os.Stderr
	require.NoError(t, child.Start())
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	daemons := map[int]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "DAEMON" {
			pid, _ := strconv.Atoi(f[1])
			daemons[pid] = f[2]
		}
		if sc.Text() == "READY" {
			break
		}
	}
	require.ElementsMatch(t, []string{"ovsdb-server", "ovs-vswitchd"}, values(daemons), "the child did not report its daemons")
	fds := openPidfds(t, daemons)
	require.NoError(t, child.Process.Signal(unix.SIGKILL))
	child.Wait()
	waitExited(t, fds, daemons, 1000)

	// The killed process could not remove its private directory: the next
	// topology to start OVS does.
	left, err := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("nstest-ovs-%d-*", child.Process.Pid)))
	require.NoError(t, err)
	require.Len(t, left, 1, "the killed process's private OVS directory")
	ovsPair(t)
	_, err = os.Stat(left[0])
	assert.ErrorIs(t, err, os.ErrNotExist, "the directory of the killed process is still there")
}

// TestOVSPartitionRefused: Partition's bridge rules cannot cut what OVS
// switches, so it says so instead of leaving the hosts joined.
func TestOVSPartitionRefused(t *testing.T) {
	t.Parallel()
	nstest.New(t)
	err := testrun.Run("partition", nil, func(tb testing.TB) {
		topo := nstest.New(tb)
		s1 := topo.AddBridge("s1", nstest.OVS())
		h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
		topo.Connect(h1, s1, "10.0.0.1/24")
		topo.Connect(h2, s1, "10.0.0.2/24")
		topo.Partition([]*nstest.Host{h1}, []*nstest.Host{h2})
	})
	if errors.Is(err, testrun.ErrSkipped) {
		t.Skip(err)
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "its interface eth0 is on an Open vSwitch bridge, which Partition cannot cut")
}

// TestOVSRulesHoldAtOnce: right after AddFlow and DelFlows return, the very
// next packet follows the new rules, though the datapath had cached a flow
// for that traffic under the old ones.
func TestOVSRulesHoldAtOnce(t *testing.T) {
	t.Parallel()
	_, s1, h1, _ := ovsPair(t)
	nstest.RequireReachable(t, h1, "h2")
	ctx := context.Background()
	once := func() int {
		st, _ := h1.Ping(ctx, "h2", ping.Count(1), ping.Timeout(500*time.Millisecond))
		require.NotNil(t, st)
		return st.Received
	}
	for round := 0; round < 5; round++ {
		// Warm the datapath's cache with a flow allowing the echoes. (On
		// the kernel datapath under an emulated CPU, one of a burst of
		// echoes can be lost while the first ones are upcalled to
		// ovs-vswitchd; what this test checks is the two pings below.)
		st, err := h1.Ping(ctx, "h2", ping.Count(5), ping.Interval(time.Millisecond))
		require.NoError(t, err)
		require.NotZero(t, st.Received, "round %d: echoes before the rule", round)
		require.NoError(t, s1.AddFlow("priority=100,icmp,actions=drop"))
		assert.Zero(t, once(), "round %d: an echo passed right after the drop rule was added", round)
		require.NoError(t, s1.DelFlows("icmp"))
		assert.Equal(t, 1, once(), "round %d: an echo was lost right after the drop rule was deleted", round)
	}
}
