package nstest_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/rootcheck"
	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

const helperEnv = "NSTEST_TEST_HELPER"

// TestKilledWhileBuilding SIGKILLs a test process in the middle of building a
// 20-host topology, while a command it started runs in one of the hosts, and
// checks that the machine is left exactly as it was: the namespace the tests
// run in (links, addresses, routes, sysctls, what it kept) and no
// process behind.
func TestKilledWhileBuilding(t *testing.T) {
	if os.Getenv(helperEnv) == "build20" {
		buildForever(t)
		return
	}
	nstest.New(t) // skips when this machine cannot build namespaces
	before, err := rootcheck.Snapshot()
	require.NoError(t, err)

	child := exec.Command(os.Args[0], "-test.run=^TestKilledWhileBuilding$", "-test.v")
	child.Env = append(os.Environ(), helperEnv+"=build20")
	stdout, err := child.StdoutPipe()
	require.NoError(t, err)
	child.Stderr = os.Stderr
	require.NoError(t, child.Start())
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })

	sleepPid := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "SLEEP "); ok {
			sleepPid, _ = strconv.Atoi(p)
		}
		if line == "READY" {
			break
		}
	}
	require.NotZero(t, sleepPid, "the child did not report its command")
	// Hold the command by a pidfd, so that its pid cannot be reused while we
	// watch it; then kill the test process mid-build.
	pidfd, err := unix.PidfdOpen(sleepPid, 0)
	require.NoError(t, err)
	defer unix.Close(pidfd)
	require.NoError(t, child.Process.Signal(unix.SIGKILL))
	child.Wait()

	// The command dies with the test process (PR_SET_PDEATHSIG).
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 10_000)
	for err == unix.EINTR { // a signal woke the wait: wait again
		n, err = unix.Poll(fds, 10_000)
	}
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the command started in a host outlived the killed test process")

	after, err := rootcheck.Snapshot()
	require.NoError(t, err)
	assert.Empty(t, rootcheck.Diff(before, after), "the killed test process left traces in the namespace it ran in")
}

// buildForever runs in the child: 10 hosts, a running command, then more
// hosts until it is killed.
func buildForever(t *testing.T) {
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	add := func(i int) *nstest.Host {
		h := topo.AddHost(fmt.Sprintf("h%d", i))
		topo.Connect(h, br, fmt.Sprintf("10.0.%d.%d/16", i/250, i%250+1))
		return h
	}
	var h5 *nstest.Host
	for i := 1; i <= 10; i++ {
		if h := add(i); i == 5 {
			h5 = h
		}
	}
	_, pid := startSleep(t, h5) // reported only once it really runs
	fmt.Printf("SLEEP %d\nREADY\n", pid)
	for i := 11; ; i++ {
		add(i)
		if i == 20 {
			time.Sleep(time.Minute) // killed long before
		}
	}
}

// startSleep starts a long sleep in host h and returns its command and the
// pid of the sleep, once it runs there: the shell that becomes the sleep
// says so from inside the host. The command's process is the launcher (see
// Host.Command); the program is its one child.
func startSleep(t *testing.T, h *nstest.Host) (*exec.Cmd, int) {
	t.Helper()
	cmd := h.Command("sh", "-c", "echo running; exec sleep 1000")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.Equal(t, "running\n", line, "the command did not start: %v", err)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	require.NoError(t, err)
	kids := strings.Fields(string(b))
	require.Len(t, kids, 1, "children of the launcher")
	pid, err := strconv.Atoi(kids[0])
	require.NoError(t, err)
	f, err := h.NSFile()
	require.NoError(t, err)
	defer f.Close()
	var want, got unix.Stat_t
	require.NoError(t, unix.Fstat(int(f.Fd()), &want))
	require.NoError(t, unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &got))
	require.Equal(t, want.Ino, got.Ino, "the command does not run in %s's namespace", h.Name())
	return cmd, pid
}

// A host whose namespace is made while the topology is torn down is released
// at once, and AddHost fails: the teardown has already run, and would never
// close it.
func TestAddHostRacingTeardownReleasesTheHost(t *testing.T) {
	var made *nstest.Host
	nstest.OnHostMade(func(h *nstest.Host) {
		made = h
		nstest.TearDown(h.Topology())
	})
	defer nstest.OnHostMade(nil)
	err := testrun.Run(t.Name(), nil, func(tb testing.TB) {
		nstest.New(tb).AddHost("h1")
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `nstest: host "h1": torn down while the host was being made: nstest: topology torn down`)
	require.NotNil(t, made)
	assert.Error(t, made.Do(func() error { return nil }), "the host's namespace is still held")
}
