package nstest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/nstest"
)

func seed(t *testing.T) (*nstest.Topology, *nstest.Host, *nstest.Host, *nstest.Bridge) {
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
	topo.Connect(ns1, br, "10.0.0.1/24", "fd00::1/64")
	topo.Connect(ns2, br, "10.0.0.2/24", "fd00::2/64")
	return topo, ns1, ns2, br
}

func TestSeedReachableBothWaysIPv4AndIPv6(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := seed(t)
	nstest.RequireReachable(t, ns1, "ns2")
	nstest.RequireReachable(t, ns2, "ns1")
	nstest.AssertReachable(t, ns1, "fd00::2")
	nstest.AssertReachable(t, ns2, "fd00::1")
	nstest.AssertConnectivity(t, ns1, ns2)
}

// Sixteen tests at once, each with hosts ns1 and ns2 on a bridge br1.
func TestParallelSameNames(t *testing.T) {
	for i := range 16 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			_, ns1, ns2, _ := seed(t)
			nstest.AssertReachable(t, ns1, "ns2")
			nstest.AssertReachable(t, ns2, "10.0.0.1")
		})
	}
}

func TestUnreachableWithoutLink(t *testing.T) {
	t.Parallel()
	topo, ns1, _, br := seed(t)
	ns3 := topo.AddHost("ns3")
	topo.Connect(ns3, br, "10.0.1.3/24") // another subnet: ns1 has no route to it
	nstest.AssertUnreachable(t, ns1, "ns3", nstest.Within(300*time.Millisecond))
}

func TestInterfaceDownBreaksReachability(t *testing.T) {
	t.Parallel()
	topo, ns1, ns2, _ := seed(t)
	eth := ns2.Interface("eth0")
	require.NotNil(t, eth)
	require.NoError(t, eth.SetDown())
	nstest.AssertUnreachable(t, ns1, "ns2", nstest.Within(300*time.Millisecond))
	require.NoError(t, eth.SetUp())
	nstest.AssertReachable(t, ns1, "ns2")
	assert.Equal(t, "ns2", topo.Host("ns2").Name())
	assert.Nil(t, topo.Host("nope"))
}

func TestBridgeAsInterface(t *testing.T) {
	t.Parallel()
	topo, ns1, ns2, br := seed(t)
	require.NoError(t, br.AddAddr("10.0.0.100/24"))
	nstest.AssertReachable(t, topo.Fabric(), "ns1")
	nstest.AssertReachable(t, topo.Fabric(), "ns2")
	nstest.AssertReachable(t, ns1, "br1")
	nstest.AssertReachable(t, ns2, "10.0.0.100")
}

func TestRouterBetweenSubnets(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	r := topo.AddRouter("r1")
	topo.Link(h1, r, "10.1.0.2/24", "10.1.0.1/24")
	topo.Link(r, h2, "10.2.0.1/24", "10.2.0.2/24")
	nstest.AssertUnreachable(t, h1, "h2", nstest.Within(200*time.Millisecond))
	require.NoError(t, h1.AddRoute("default", "10.1.0.1"))
	require.NoError(t, h2.AddRoute("10.1.0.0/24", "r1"))
	nstest.AssertReachable(t, h1, "h2")
	nstest.AssertReachable(t, h2, "h1")
	// A named gateway resolves to its address of the destination's IP version.
	topo.Link(h1, r, "fd01::2/64", "fd01::1/64")
	require.NoError(t, h1.AddRoute("fd02::/64", "r1"))
	err := h1.AddRoute("10.9.0.0/16", "10.7.7.7")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `host "h1"`)
	assert.Contains(t, err.Error(), "10.7.7.7 unreachable")
}

func TestDialListenAcrossHosts(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := seed(t)
	l, err := ns2.Listen("tcp", ":8080")
	require.NoError(t, err)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "hello from %s\n", c.LocalAddr())
	}()
	c, err := ns1.Dial("tcp", "ns2:8080")
	require.NoError(t, err)
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "hello from 10.0.0.2:8080\n", line)
	nstest.AssertTCPReachable(t, ns1, "ns2:8080")
	nstest.AssertTCPUnreachable(t, ns1, "ns2:9")
	// The listener is in ns2, not here: nothing listens on 8080 in this namespace.
	if c, err := net.DialTimeout("tcp", "127.0.0.1:8080", time.Second); err == nil {
		c.Close()
		t.Error("the listener leaked into the test process's namespace")
	}
}

func TestListenPacketUDP(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := seed(t)
	pc, err := ns2.ListenPacket("udp", "ns2:5353")
	require.NoError(t, err)
	c, err := ns1.Dial("udp", "ns2:5353")
	require.NoError(t, err)
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	n, from, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf[:n]))
	assert.Equal(t, "10.0.0.1", from.(*net.UDPAddr).IP.String())
}

func TestCommandRunsInHost(t *testing.T) {
	t.Parallel()
	_, ns1, _, _ := seed(t)
	out, err := ns1.Command("cat", "/proc/net/dev").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), "eth0:")
	// The test process's namespace has no eth0 of ours.
	own, err := os.ReadFile("/proc/net/dev")
	require.NoError(t, err)
	assert.NotEqual(t, string(own), string(out))
}

func TestCommandKilledAtTeardown(t *testing.T) {
	var pidfd int
	var cmd *exec.Cmd
	t.Run("inner", func(t *testing.T) {
		_, ns1, _, _ := seed(t)
		var pid int
		cmd, pid = startSleep(t, ns1)
		var err error
		pidfd, err = unix.PidfdOpen(pid, 0)
		require.NoError(t, err)
	})
	require.NotNil(t, cmd)
	defer unix.Close(pidfd)
	// The topology's cleanup has killed it: its pidfd is readable at once.
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the program still runs after teardown")
	// Wait tells how it ended.
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, "signal: killed", ee.Error())
}

func TestCommandContextAndPing(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/bin/ping"); err != nil {
		if _, err := os.Stat("/bin/ping"); err != nil {
			t.Skip("iputils ping is not installed (Debian package iputils-ping)")
		}
	}
	_, ns1, _, _ := seed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := ns1.CommandContext(ctx, "ping", "-c", "2", "-i", "0.2", "10.0.0.2").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "2 received")
}

func TestInNSPanicPropagates(t *testing.T) {
	t.Parallel()
	_, ns1, _, _ := seed(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := os.Readlink(ns.ThreadPath())
	require.NoError(t, err)
	var line int
	got := func() (v any) {
		defer func() { v = recover() }()
		ns1.InNS(func() {
			_, _, line, _ = runtime.Caller(0)
			panic("boom")
		})
		return nil
	}()
	after, err := os.Readlink(ns.ThreadPath())
	require.NoError(t, err)
	assert.Equal(t, before, after, "the caller's thread changed namespace")

	// The value re-raised keeps the original one and the stack of the
	// panic, which shows the line that panicked, not only ns's re-raise.
	require.NotNil(t, got, "InNS did not re-raise the panic")
	v, ok := got.(interface{ Value() any })
	require.True(t, ok, "the re-raised panic %#v does not carry the original value", got)
	assert.Equal(t, "boom", v.Value())
	err, ok = got.(error)
	require.True(t, ok, "the re-raised panic %#v is not an error whose text the runtime prints", got)
	assert.Contains(t, err.Error(), fmt.Sprintf("topology_test.go:%d", line+1), "the panic's text lacks the line that panicked")
}

func TestInNSSeesOnlyHost(t *testing.T) {
	t.Parallel()
	_, ns1, _, _ := seed(t)
	var names []string
	ns1.InNS(func() {
		ifs, err := net.Interfaces()
		require.NoError(t, err)
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	})
	assert.ElementsMatch(t, []string{"lo", "eth0"}, names)
}

func TestHostAddr(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	a, b := topo.AddHost("a"), topo.AddHost("b")
	topo.Connect(a, br, "fd00::a/64")
	topo.Connect(b, br, "fd00::b/64", "192.168.7.2/24")
	assert.Equal(t, "fd00::a", a.Addr().String())
	assert.Equal(t, "192.168.7.2", b.Addr().String())
	nstest.AssertReachable(t, a, "b") // b resolves to its IPv6 address: a has no IPv4
}

var _ = io.EOF
var _ = strings.Contains

// A loop that dials and closes does not make the host keep every closed
// connection until teardown; open ones are still closed at teardown.
func TestDialLoopForgetsClosedConnections(t *testing.T) {
	t.Parallel()
	h := nstest.New(t).AddHost("h")
	l, err := h.Listen("tcp", "127.0.0.1:0")
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
	for range 500 {
		c, err := h.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		require.NoError(t, c.Close())
	}
	open, err := h.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	assert.Less(t, nstest.Tracked(h), 40, "sockets kept after 500 closed dials")
	assert.NotZero(t, nstest.Tracked(h))
	_ = open // closed by the teardown
}
