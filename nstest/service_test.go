package nstest_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

// needProgram skips the test when a program it runs is absent, naming the
// Debian package that has it.
func needProgram(t *testing.T, prog, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		t.Skipf("%s is not installed (Debian package %s)", prog, pkg)
	}
}

// twoHosts is the seed: ns1 and ns2 on br1.
func twoHosts(tb testing.TB) (*nstest.Topology, *nstest.Host, *nstest.Host) {
	topo := nstest.New(tb)
	br := topo.AddBridge("br1")
	ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
	topo.Connect(ns1, br, "10.0.0.1/24", "fd00::1/64")
	topo.Connect(ns2, br, "10.0.0.2/24", "fd00::2/64")
	return topo, ns1, ns2
}

// httpGet fetches url from host h, dialling from inside it.
func httpGet(t *testing.T, h *nstest.Host, url string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return h.DialContext(ctx, network, addr)
		},
	}, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return string(b)
}

func TestServiceHTTPServer(t *testing.T) {
	t.Parallel()
	needProgram(t, "python3", "python3")
	_, ns1, ns2 := twoHosts(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from ns2\n"), 0o644))
	web := ns2.StartService([]string{"python3", "-m", "http.server", "--bind", "::", "8080"},
		nstest.ReadyTCP(8080), nstest.ServiceDir(dir))
	assert.Equal(t, "hello from ns2\n", httpGet(t, ns1, "http://ns2:8080/hello.txt"))
	assert.Equal(t, "hello from ns2\n", httpGet(t, ns1, "http://[fd00::2]:8080/hello.txt"))
	require.NoError(t, web.Stop())
	<-web.Done()
	// The server logged the two requests.
	assert.Equal(t, 2, strings.Count(web.Output(), "GET /hello.txt"), "output:\n%s", web.Output())
	nstest.AssertTCPUnreachable(t, ns1, "ns2:8080")
}

func TestServiceReadyLine(t *testing.T) {
	t.Parallel()
	_, ns1, _ := twoHosts(t)
	s := ns1.StartService([]string{"sh", "-c", "echo starting; echo 'server ready on 7' >&2; exec sleep 1000"},
		nstest.ReadyLine(`ready on \d+`))
	assert.Contains(t, s.Output(), "server ready on 7")
	exited, err := s.Exited()
	assert.False(t, exited)
	assert.NoError(t, err)
}

func TestServiceReadyUDP(t *testing.T) {
	t.Parallel()
	needProgram(t, "python3", "python3")
	_, ns1, ns2 := twoHosts(t)
	ns2.StartService([]string{"python3", "-c", `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    data, peer = s.recvfrom(100)
    s.sendto(data.upper(), peer)
`}, nstest.ReadyUDP(5353))
	// Ready means bound: the first datagram is answered.
	c, err := ns1.Dial("udp", "ns2:5353")
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 10)
	n, err := c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "PING", string(buf[:n]))
}

func TestServiceNotReady(t *testing.T) {
	t.Parallel()
	msg, finished := failures(t, func(tb testing.TB) {
		_, ns1, _ := twoHosts(tb)
		ns1.StartService([]string{"sh", "-c", "echo listening soon; exec sleep 1000"},
			nstest.ReadyTCP(9), nstest.ReadyTimeout(200*time.Millisecond))
	})
	assert.False(t, finished, "StartService must end the test")
	matches(t, `nstest: host "ns1": service "sh -c echo listening soon; exec sleep 1000": not ready after 200ms: not listening on tcp/9\n`+
		`output:\n\tlistening soon`, msg)
}

func TestServiceExitsBeforeReady(t *testing.T) {
	t.Parallel()
	msg, finished := failures(t, func(tb testing.TB) {
		_, ns1, _ := twoHosts(tb)
		ns1.StartService([]string{"sh", "-c", "echo config error: no such file >&2; exit 3"},
			nstest.ReadyTCP(80), nstest.ReadyTimeout(time.Minute))
	})
	assert.False(t, finished)
	matches(t, `nstest: host "ns1": service "sh -c .*": exited before it was ready \(exit status 3\): .*\n`+
		`output:\n\tconfig error: no such file`, msg)
}

func TestServiceBadOptions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		opt  nstest.ServiceOption
		want string
	}{
		{nstest.ReadyTCP(0), `ReadyTCP\(0\): port out of range 1-65535`},
		{nstest.ReadyUDP(70000), `ReadyUDP\(70000\): port out of range 1-65535`},
		{nstest.ReadyLine("("), `ReadyLine\("\("\): error parsing regexp.*`},
		{nstest.ReadyTimeout(0), `ReadyTimeout\(0s\): must be positive`},
		{nstest.ServiceEnv("NOEQUALS"), `ServiceEnv\("NOEQUALS"\): want KEY=value`},
	} {
		msg, _ := failures(t, func(tb testing.TB) {
			_, ns1, _ := twoHosts(tb)
			ns1.StartService([]string{"true"}, c.opt)
		})
		matches(t, `nstest: host "ns1": service "true": `+c.want, msg)
	}
	msg, _ := failures(t, func(tb testing.TB) {
		_, ns1, _ := twoHosts(tb)
		ns1.StartService(nil)
	})
	matches(t, `nstest: host "ns1": StartService: no program given`, msg)
}

func TestServiceStopGraceful(t *testing.T) {
	t.Parallel()
	_, ns1, _ := twoHosts(t)
	s := ns1.StartService([]string{"sh", "-c", `trap 'echo got TERM; exit 0' TERM; echo up; sleep 1000 & wait`},
		nstest.ReadyLine("^up$"), nstest.StopGrace(time.Minute))
	require.NoError(t, s.Stop())
	assert.Contains(t, s.Output(), "got TERM")
	require.NoError(t, s.Stop(), "a second Stop")
}

func TestServiceStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	_, ns1, _ := twoHosts(t)
	s := ns1.StartService([]string{"sh", "-c", `trap '' TERM; echo up; while :; do sleep 1; done`},
		nstest.ReadyLine("^up$"), nstest.StopGrace(50*time.Millisecond))
	require.NoError(t, s.Stop())
	exited, _ := s.Exited()
	assert.True(t, exited)
}

func TestServiceExitedOnItsOwn(t *testing.T) {
	t.Parallel()
	_, ns1, _ := twoHosts(t)
	s := ns1.StartService([]string{"sh", "-c", "read x; exit 4"}, nstest.ServiceEnv("A=1"))
	// Stdin is /dev/null: read fails and the shell exits 4.
	<-s.Done()
	exited, err := s.Exited()
	assert.True(t, exited)
	assert.ErrorContains(t, err, `service "sh -c read x; exit 4" exited on its own: exit status 4`)
	assert.Equal(t, err, s.Stop())
}

// TestServiceStoppedAtTeardown: the service and what it started are gone
// once the test's cleanups have run.
func TestServiceStoppedAtTeardown(t *testing.T) {
	t.Parallel()
	var pidfd int
	err := testrun.Run("x", io.Discard, func(tb testing.TB) {
		_, ns1, _ := twoHosts(tb)
		s := ns1.StartService([]string{"sh", "-c", `trap 'exit 0' TERM; echo up; sleep 1000 & wait`}, nstest.ReadyLine("up"))
		var err error
		pidfd, err = unix.PidfdOpen(s.Pid(), 0)
		require.NoError(tb, err)
	})
	require.NoError(t, err)
	defer unix.Close(pidfd)
	// The process is gone: its pidfd is readable and signalling it fails.
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the service still runs after teardown")
	assert.ErrorIs(t, unix.PidfdSendSignal(pidfd, 0, nil, 0), unix.ESRCH)
}

// TestServiceOutputOnFailure: a failing test logs the service's output and,
// with NSTEST_ARTIFACTS, saves it.
func TestServiceOutputOnFailure(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("NSTEST_ARTIFACTS", dir)
	var log bytes.Buffer
	err := testrun.Run("TestBroken", &log, func(tb testing.TB) {
		_, ns1, _ := twoHosts(tb)
		ns1.StartService([]string{"sh", "-c", "echo request 1 served; echo warning: disk full >&2; exec sleep 1000"}, nstest.ReadyLine("disk full"))
		tb.Errorf("the check failed")
	})
	require.Error(t, err)
	assert.Contains(t, log.String(), `service "sh -c echo request 1 served; echo warning: disk full >&2; exec sleep 1000" stopped`)
	assert.Contains(t, log.String(), "\trequest 1 served\n\twarning: disk full")
	b, err := os.ReadFile(filepath.Join(dir, "TestBroken", "service-ns1-sh.log"))
	require.NoError(t, err)
	assert.Equal(t, "request 1 served\nwarning: disk full\n", string(b))
}

// ExampleHost_StartService starts a real web server in one host and fetches
// a page from another. It needs privileges, so it only compiles; the same
// body runs in TestServiceHTTPServer.
func ExampleHost_StartService() {
	topo := nstest.New(tb)
	br := topo.AddBridge("br1")
	client, server := topo.AddHost("client"), topo.AddHost("server")
	topo.Connect(client, br, "10.0.0.1/24")
	topo.Connect(server, br, "10.0.0.2/24")

	server.StartService([]string{"python3", "-m", "http.server", "8000"}, nstest.ReadyTCP(8000))
	c, err := client.Dial("tcp", "server:8000")
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "HEAD / HTTP/1.0\r\n\r\n")
	status, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(status)
}
