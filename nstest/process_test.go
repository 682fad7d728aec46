package nstest_test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/asnobody"
	"github.com/nstest/harness/internal/rootcheck"
	"github.com/nstest/harness/nstest"
)

// A proc is a process started in a host, held by a pidfd so that its pid
// cannot be reused while the test watches it.
type proc struct {
	what  string
	pid   int
	pidfd int
}

// markEnv marks every process a test starts in a host, and their
// descendants, so that a survivor can be found in /proc.
const markEnv = "NSTEST_PROC_MARK"

// treeScript runs in a host: a child in the background, a daemon that
// detaches (a double fork and setsid, as daemons do), and then the program
// itself keeps running. It prints the pids, in the host's PID namespace.
const treeScript = `sleep 1231 </dev/null >/dev/null 2>&1 & echo $!
( setsid sleep 1232 </dev/null >/dev/null 2>&1 & echo $! )
echo $$
exec sleep 1233`

// startTree starts, in host h, treeScript with Command and a program with a
// background child with os/exec inside InNS, and returns every process
// involved, once all of them run.
func startTree(t *testing.T, h *nstest.Host, mark string) []proc {
	t.Helper()
	var procs []proc
	add := func(what string, pid int) {
		fd, err := unix.PidfdOpen(pid, 0)
		require.NoError(t, err, "pidfd of %s", what)
		procs = append(procs, proc{what, pid, fd})
	}
	env := append(os.Environ(), markEnv+"="+mark)

	cmd := h.Command("sh", "-c", treeScript)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := readLines(t, out, 3)
	pidns := pidNSOf(t, cmd.Process.Pid)
	for i, what := range []string{"Command's background child", "Command's detached daemon", "Command's program"} {
		add(what, hostPid(t, pidns, lines[i]))
	}

	var c *exec.Cmd
	h.InNS(func() {
		c = exec.Command("sh", "-c", "sleep 1234 </dev/null >/dev/null 2>&1 & echo $!; exec sleep 1235")
		c.Env = env
		out, err = c.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, c.Start())
	})
	add("InNS os/exec program", c.Process.Pid)
	add("InNS os/exec background child", hostPid(t, pidns, readLines(t, out, 1)[0]))
	return procs
}

func readLines(t *testing.T, r io.Reader, n int) []string {
	t.Helper()
	sc := bufio.NewScanner(r)
	var lines []string
	for len(lines) < n && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.Len(t, lines, n, "the program's output ended early (%v)", sc.Err())
	return lines
}

// pidNSOf returns the PID namespace that the children of the launcher pid are
// born in: the host's.
func pidNSOf(t *testing.T, launcher int) uint64 {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(fmt.Sprintf("/proc/%d/ns/pid_for_children", launcher), &st))
	return st.Ino
}

// hostPid translates a pid of a host's PID namespace (pidns) into a pid of
// the test's.
func hostPid(t *testing.T, pidns uint64, s string) int {
	t.Helper()
	want, err := strconv.Atoi(strings.TrimSpace(s))
	require.NoError(t, err, "pid %q", s)
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", pid), &st) != nil || st.Ino != pidns {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "NSpid:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 && f[len(f)-1] == strconv.Itoa(want) {
					return pid
				}
			}
		}
	}
	t.Fatalf("no process has pid %d in the host's PID namespace", want)
	return 0
}

// survivors waits until every process of procs has exited or wait is over
// (0: look once), and returns the ones still running, after killing them.
func survivors(t *testing.T, procs []proc, wait time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(wait)
	live := procs
	for {
		left := time.Until(deadline)
		live = running(t, live, max(left, 0))
		if len(live) == 0 || left <= 0 {
			break
		}
	}
	var out []string
	for _, p := range live {
		out = append(out, fmt.Sprintf("%s (pid %d)", p.what, p.pid))
		unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0) // ours: do not leave it
	}
	return out
}

func closeAll(procs []proc) {
	for _, p := range procs {
		unix.Close(p.pidfd)
	}
}

// running returns the processes of procs that run, waiting up to wait for
// one to exit.
func running(t *testing.T, procs []proc, wait time.Duration) []proc {
	t.Helper()
	if len(procs) == 0 {
		return nil
	}
	fds := make([]unix.PollFd, len(procs))
	for i, p := range procs {
		fds[i] = unix.PollFd{Fd: int32(p.pidfd), Events: unix.POLLIN}
	}
	if _, err := unix.Poll(fds, int(wait/time.Millisecond)); err != nil && err != unix.EINTR {
		t.Fatalf("poll: %v", err)
	}
	var live []proc
	for i, p := range procs {
		if fds[i].Revents == 0 {
			live = append(live, p)
		}
	}
	return live
}

// TestHostProcessesDieAtTeardown: whatever runs in a host, started by
// Command or by os/exec inside InNS, detached or not, is dead when the
// teardown returns.
func TestHostProcessesDieAtTeardown(t *testing.T) {
	t.Parallel()
	var procs []proc
	t.Run("topology", func(t *testing.T) {
		topo := nstest.New(t)
		procs = startTree(t, topo.AddHost("h1"), t.Name())
		require.Len(t, running(t, procs, 0), len(procs), "the processes should run before teardown")
	})
	require.Len(t, procs, 5)
	defer closeAll(procs)
	assert.Empty(t, survivors(t, procs, 0), "still running after teardown")
}

// TestInNSProcessesDieAtTeardown: in a host that never ran a Command,
// programs started with os/exec inside InNS, and what they start, are dead
// when the teardown returns.
func TestInNSProcessesDieAtTeardown(t *testing.T) {
	t.Parallel()
	var procs []proc
	defer func() { closeAll(procs) }()
	add := func(what string, pid int) {
		fd, err := unix.PidfdOpen(pid, 0)
		require.NoError(t, err, "pidfd of %s", what)
		procs = append(procs, proc{what, pid, fd})
	}
	t.Run("topology", func(t *testing.T) {
		topo := nstest.New(t)
		h := topo.AddHost("h1")
		var c *exec.Cmd
		var out io.Reader
		h.InNS(func() {
			c = exec.Command("sh", "-c", "sleep 1241 </dev/null >/dev/null 2>&1 & echo $!; exec sleep 1242")
			var err error
			out, err = c.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, c.Start())
		})
		lines := readLines(t, out, 1)
		add("program", c.Process.Pid)
		var st unix.Stat_t
		require.NoError(t, unix.Stat(fmt.Sprintf("/proc/%d/ns/pid", c.Process.Pid), &st))
		add("background child", hostPid(t, st.Ino, lines[0]))
		require.Len(t, running(t, procs, 0), 2, "the processes should run before teardown")
	})
	require.Len(t, procs, 2)
	assert.Empty(t, survivors(t, procs, 0), "still running after teardown")
}

// TestStoppedLauncherAtTeardown: a command whose process (the launcher) is
// stopped does not hold up the teardown, and its program is dead after it.
func TestStoppedLauncherAtTeardown(t *testing.T) {
	t.Parallel()
	var cmd *exec.Cmd
	var program []proc
	defer func() { closeAll(program) }()
	t.Run("topology", func(t *testing.T) {
		topo := nstest.New(t)
		h := topo.AddHost("h1")
		cmd = h.Command("sh", "-c", "echo $$; exec sleep 1243")
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		nspid := readLines(t, out, 1)[0]
		pid := hostPid(t, pidNSOf(t, cmd.Process.Pid), nspid)
		fd, err := unix.PidfdOpen(pid, 0)
		require.NoError(t, err)
		program = append(program, proc{"program", pid, fd})
		require.NoError(t, cmd.Process.Signal(unix.SIGSTOP))
	})
	assert.Empty(t, survivors(t, program, 0), "still running after teardown")
	err := cmd.Wait()
	assert.EqualError(t, err, "signal: killed")
}

// TestKilledLauncherAtTeardown: a command whose launcher was killed (so
// its program's zombie went to a subreaper) does not hold up the teardown
// even where the machine's init never reaps orphans, as when "go test" or
// "tail -f /dev/null" is PID 1 of a container. This test process plays such
// an init for a child test process: it is a subreaper that reaps nothing.
func TestKilledLauncherAtTeardown(t *testing.T) {
	if os.Getenv(procsHelperEnv) == "killlauncher" {
		t.Run("topology", func(t *testing.T) {
			topo := nstest.New(t)
			h := topo.AddHost("h1")
			cmd := h.Command("sh", "-c", "echo $$; exec sleep 1244")
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			readLines(t, out, 1)
			require.NoError(t, cmd.Process.Kill())
			cmd.Wait()
		})
		fmt.Println("TORN DOWN")
		return
	}
	nstest.New(t) // skips when this machine cannot build namespaces
	require.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	child := exec.Command(os.Args[0], "-test.run=^TestKilledLauncherAtTeardown$", "-test.timeout=20s")
	child.Env = append(os.Environ(), procsHelperEnv+"=killlauncher")
	out, err := child.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "TORN DOWN")
}

// TestForkDuringTeardown: programs that keep forking, in a Command and in a
// thread of InNS, while the host is torn down: nothing they started
// survives it.
func TestForkDuringTeardown(t *testing.T) {
	t.Parallel()
	mark := fmt.Sprintf("%s-%d", t.Name(), os.Getpid())
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	torn := make(chan struct{})
	t.Run("topology", func(t *testing.T) {
		topo := nstest.New(t)
		h := topo.AddHost("h1")
		cmd := h.Command("sh", "-c", "echo go; while :; do sleep 1236 </dev/null >/dev/null 2>&1 & done")
		cmd.Env = append(os.Environ(), markEnv+"="+mark)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		readLines(t, out, 1)
		started := make(chan struct{})
		var once sync.Once
		go func() {
			var r result
			defer func() { done <- r }()
			defer once.Do(func() { close(started) })
			// Once the host is gone a fork into its PID namespace
			// fails. The loop is bounded all the same, so that a
			// regression cannot fill the machine with processes.
			h.InNS(func() {
				for r.n < 5000 {
					select {
					case <-torn:
						return
					default:
					}
					c := exec.Command("sleep", "1237")
					c.Env = append(os.Environ(), markEnv+"="+mark)
					if r.err = c.Start(); r.err != nil {
						return
					}
					r.n++
					once.Do(func() { close(started) })
				}
			})
		}()
		<-started
	})
	close(torn)
	r := <-done
	t.Logf("%d programs forked from InNS, then: %v", r.n, r.err)
	assert.Error(t, r.err, "forks into the torn-down host still succeeded")
	procs := marked(t, mark)
	assert.Empty(t, survivors(t, procs, 0), "programs forked while the host was torn down survived it")
}

// marked returns the processes of this machine marked with mark.
func marked(t *testing.T, mark string) []proc {
	t.Helper()
	var procs []proc
	ents, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !strings.Contains(string(env), "\x00"+markEnv+"="+mark+"\x00") {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // gone already
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		procs = append(procs, proc{strings.TrimSpace(string(comm)), pid, fd})
	}
	t.Cleanup(func() {
		for _, p := range procs {
			unix.Close(p.pidfd)
		}
	})
	return procs
}

const procsHelperEnv = "NSTEST_PROCS_HELPER"

// TestHostProcessesDieWithTestProcess: when the test process dies without
// running its cleanups (SIGKILL, -timeout, os.Exit, a panic in another
// goroutine), every process it started in a host, detached or not, is dead
// within a second.
func TestHostProcessesDieWithTestProcess(t *testing.T) {
	if mode := os.Getenv(procsHelperEnv); mode != "" {
		procsHelper(t, mode)
		return
	}
	nstest.New(t) // skips when this machine cannot build namespaces
	for _, mode := range []string{"sigkill", "timeout", "exit", "panic"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			args := []string{"-test.run=^TestHostProcessesDieWithTestProcess$", "-test.v"}
			if mode == "timeout" {
				args = append(args, "-test.timeout=3s")
			}
			child := exec.Command(os.Args[0], args...)
			child.Env = append(os.Environ(), procsHelperEnv+"="+mode)
			stdin, err := child.StdinPipe()
			require.NoError(t, err)
			stdout, err := child.StdoutPipe()
			require.NoError(t, err)
			child.Stderr = io.Discard
			require.NoError(t, child.Start())
			t.Cleanup(func() { child.Process.Kill(); child.Wait() })

			var procs []proc
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "PROC" {
					pid, _ := strconv.Atoi(f[2])
					fd, err := unix.PidfdOpen(pid, 0)
					require.NoError(t, err, "pidfd of %s", f[1])
					defer unix.Close(fd)
					procs = append(procs, proc{f[1], pid, fd})
				}
				if sc.Text() == "READY" {
					break
				}
			}
			require.Len(t, procs, 5, "the child did not report its processes")
			require.Len(t, running(t, procs, 0), len(procs), "the processes should run before the test process dies")
			switch mode {
			case "sigkill":
				require.NoError(t, child.Process.Signal(unix.SIGKILL))
			case "exit", "panic":
				fmt.Fprintln(stdin, "go")
			}
			go io.Copy(io.Discard, stdout)
			err = child.Wait()
			t.Logf("test process: %v", err)
			assert.Empty(t, survivors(t, procs, time.Second), "still running a second after the test process died")
		})
	}
}

// procsHelper runs in the child: processes in a host, then death as mode
// says once the parent has seen them.
func procsHelper(t *testing.T, mode string) {
	topo := nstest.New(t)
	procs := startTree(t, topo.AddHost("h1"), fmt.Sprintf("helper-%d", os.Getpid()))
	for _, p := range procs {
		fmt.Printf("PROC %s %d\n", strings.ReplaceAll(p.what, " ", "_"), p.pid)
	}
	fmt.Println("READY")
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n') // until killed or timed out
	switch {
	case line == "":
	case mode == "exit":
		os.Exit(3)
	case mode == "panic":
		go panic("boom")
	}
	select {}
}

// TestKilledAtRandom SIGKILLs, 30 times and at random moments, a test
// process that builds and tears down hosts running a forking shell script
// and a daemon, and checks that nothing it started survives and that the
// namespace the tests run in is unchanged.
func TestKilledAtRandom(t *testing.T) {
	if os.Getenv(procsHelperEnv) == "churn" {
		churn(t)
		return
	}
	nstest.New(t) // skips when this machine cannot build namespaces
	before, err := rootcheck.Snapshot()
	require.NoError(t, err)
	rounds := 30
	if testing.Short() {
		rounds = 5
	}
	for i := range rounds {
		mark := fmt.Sprintf("churn-%d-%d", os.Getpid(), i)
		child := exec.Command(os.Args[0], "-test.run=^TestKilledAtRandom$")
		child.Env = append(os.Environ(), procsHelperEnv+"=churn", markEnv+"="+mark)
		out, err := child.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, child.Start())
		// Kill it once it has started its first round, at a random
		// moment of what follows: building, running, tearing down.
		readLines(t, out, 1)
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond) // fault injection, not synchronization
		require.NoError(t, child.Process.Signal(unix.SIGKILL))
		child.Wait()
		if s := survivors(t, marked(t, mark), time.Second); len(s) > 0 {
			t.Errorf("round %d: %d processes still run a second after the test process was killed: %s", i, len(s), strings.Join(s, ", "))
		}
	}
	after, err := rootcheck.Snapshot()
	require.NoError(t, err)
	assert.Empty(t, rootcheck.Diff(before, after), "the killed test processes left traces in the namespace they ran in")
}

// churn runs in the child of TestKilledAtRandom until it is killed.
func churn(t *testing.T) {
	for i := 0; ; i++ {
		t.Run("round", func(t *testing.T) {
			topo := nstest.New(t)
			br := topo.AddBridge("br1")
			h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
			topo.Connect(h1, br, "10.0.0.1/24")
			topo.Connect(h2, br, "10.0.0.2/24")
			script := h1.Command("sh", "-c", "for i in 1 2 3; do sleep 1238 & done; echo up; wait")
			daemon := h2.Command("sh", "-c", "( setsid sleep 1239 </dev/null >/dev/null 2>&1 & ); echo up")
			for _, c := range []*exec.Cmd{script, daemon} {
				out, err := c.StdoutPipe()
				require.NoError(t, err)
				require.NoError(t, c.Start())
				readLines(t, out, 1)
			}
			if i == 0 {
				fmt.Println("ROUND")
			}
		})
	}
}

// TestTornDownHostCommand: a command of a host whose topology is torn down
// is refused with ErrClosed, whether it is made or only started after the
// teardown, and never runs in the namespace of another topology (it used to
// list the next topology's addresses: the descriptor number of the closed
// namespace was reused at once).
func TestTornDownHostCommand(t *testing.T) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip is not installed (Debian package iproute2)")
	}
	var old *nstest.Host
	var early *exec.Cmd
	t.Run("first", func(t *testing.T) {
		topo := nstest.New(t)
		old = topo.AddHost("h1")
		require.NoError(t, old.Command("true").Run())
		early = old.Command("ip", "-br", "addr")
	})
	topo := nstest.New(t)
	for i := range 4 {
		a, b := topo.AddHost(fmt.Sprintf("a%d", i)), topo.AddHost(fmt.Sprintf("b%d", i))
		topo.Link(a, b, fmt.Sprintf("10.99.%d.1/24", i), fmt.Sprintf("10.99.%d.2/24", i))
	}
	out, err := old.Command("ip", "-br", "addr").CombinedOutput()
	assert.ErrorIs(t, err, nstest.ErrClosed)
	assert.NotContains(t, string(out), "10.99.")
	err = early.Run()
	assert.ErrorIs(t, err, nstest.ErrClosed, "a command made before teardown and started after it")
	func() {
		defer func() {
			err, _ := recover().(error)
			assert.ErrorIs(t, err, nstest.ErrClosed, "InNS of a torn-down host should panic with ErrClosed")
		}()
		old.InNS(func() { t.Error("InNS ran in a torn-down host") })
	}()
	assert.ErrorIs(t, old.Do(func() error { return nil }), nstest.ErrClosed)
}

// TestProgramsSeeNames: a program in a host has the host's name, finds every
// node of the topology by name, as of the moment it starts, and nothing of
// it is written to the machine's /etc.
func TestProgramsSeeNames(t *testing.T) {
	t.Parallel()
	machineHosts, err := os.ReadFile("/etc/hosts")
	require.NoError(t, err)
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
	topo.Connect(ns1, br, "10.0.0.1/24", "fd00::1/64")
	topo.Connect(ns2, br, "10.0.0.2/24", "fd00::2/64")

	out, err := ns1.Command("hostname").Output()
	require.NoError(t, err)
	assert.Equal(t, "ns1\n", string(out))

	// Made before ns3 exists, started after: it sees ns3.
	cmd := ns1.Command("cat", "/etc/hosts")
	ns3 := topo.AddHost("ns3")
	topo.Connect(ns3, br, "10.0.0.3/24")
	out, err = cmd.Output()
	require.NoError(t, err)
	hosts := string(out)
	for _, want := range []string{"127.0.0.1\tlocalhost", "10.0.0.1\tns1", "fd00::1\tns1", "10.0.0.2\tns2", "fd00::2\tns2", "10.0.0.3\tns3"} {
		assert.Contains(t, hosts, want+"\n")
	}

	if _, err := exec.LookPath("getent"); err == nil {
		out, err = ns1.Command("getent", "ahostsv4", "ns2").Output()
		require.NoError(t, err)
		assert.Contains(t, string(out), "10.0.0.2")
		out, err = ns1.Command("getent", "ahostsv6", "ns2").Output()
		require.NoError(t, err)
		assert.Contains(t, string(out), "fd00::2")
		err = ns1.Command("getent", "hosts", "example.com").Run()
		assert.Error(t, err, "a name outside the topology resolves")
	}

	out, err = ns1.Command("cat", "/etc/resolv.conf").Output()
	require.NoError(t, err)
	for _, l := range strings.Split(string(out), "\n") {
		assert.False(t, strings.HasPrefix(strings.TrimSpace(l), "nameserver"), "resolv.conf names a server: %q", l)
	}

	if _, err := exec.LookPath("ping"); err == nil {
		out, err = ns1.Command("ping", "-4", "-c1", "-W5", "ns2").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "1 received")
	} else {
		t.Log("ping is not installed (Debian package iputils-ping): not pinging by name")
	}

	name, err := os.Hostname()
	require.NoError(t, err)
	assert.NotEqual(t, "ns1", name, "the test process's hostname changed")

	after, err := os.ReadFile("/etc/hosts")
	require.NoError(t, err)
	assert.Equal(t, string(machineHosts), string(after), "the machine's /etc/hosts changed")
}

// TestHTTPClient fetches a page served by another host, by its node name.
func TestHTTPClient(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	client, server := topo.AddHost("client"), topo.AddHost("server")
	topo.Connect(client, br, "10.0.0.1/24")
	topo.Connect(server, br, "10.0.0.2/24")
	l, err := server.Listen("tcp", ":8080")
	require.NoError(t, err)
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		fmt.Fprintf(w, "hello from %s", host)
	}))
	resp, err := client.HTTPClient().Get("http://server:8080/hello")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "hello from 10.0.0.1", string(body))
}

// TestCommandBehavesLikeExec: through the launcher, a command reports the
// program's exit code or signal, passes signals on, kills the program with
// the launcher, and hands over ExtraFiles, Dir, Env and stdin.
func TestCommandBehavesLikeExec(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	h := topo.AddHost("h1")

	err := h.Command("sh", "-c", "exit 7").Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 7, ee.ExitCode())

	err = h.Command("sh", "-c", "kill -USR1 $$").Run()
	require.ErrorAs(t, err, &ee)
	ws := ee.Sys().(syscall.WaitStatus)
	assert.True(t, ws.Signaled() && ws.Signal() == unix.SIGUSR1, "want killed by SIGUSR1, got %v", ee)

	// A signal to cmd.Process reaches the program.
	cmd := h.Command("sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	r := bufio.NewReader(out)
	line, _ := r.ReadString('\n')
	require.Equal(t, "ready\n", line)
	require.NoError(t, cmd.Process.Signal(unix.SIGTERM))
	line, _ = r.ReadString('\n')
	assert.Equal(t, "got TERM\n", line)
	// The shell waits for its sleep to end before running the trap.
	assert.NoError(t, cmd.Wait())

	// Killing cmd.Process kills the program.
	cmd = h.Command("sh", "-c", "echo $$; exec sleep 1240")
	out, err = cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	nspid := readLines(t, out, 1)[0] // the launcher is in the host from then on
	pid := hostPid(t, pidNSOf(t, cmd.Process.Pid), nspid)
	fd, err := unix.PidfdOpen(pid, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	assert.Empty(t, survivors(t, []proc{{"program", pid, fd}}, time.Second), "the program outlived its killed launcher")

	// ExtraFiles, Dir, Env, Stdin.
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	dir := t.TempDir()
	cmd = h.Command("sh", "-c", `echo "$(pwd) $GREETING $(cat)" >&3`)
	cmd.ExtraFiles = append(cmd.ExtraFiles, pw)
	cmd.Dir = dir
	cmd.Env = []string{"GREETING=hello", "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader("stdin")
	require.NoError(t, cmd.Run())
	pw.Close()
	got, err := io.ReadAll(pr)
	require.NoError(t, err)
	assert.Equal(t, dir+" hello stdin\n", string(got))
}

// TestProcessesRootless runs the tests of this file as the unprivileged user
// nobody: TestMain re-executes the test binary in a user namespace, where
// hosts get their PID, mount and UTS namespaces as well.
func TestProcessesRootless(t *testing.T) {
	tests := "^(TestHostProcessesDieAtTeardown|TestInNSProcessesDieAtTeardown|TestStoppedLauncherAtTeardown|TestKilledLauncherAtTeardown|TestForkDuringTeardown|TestHostProcessesDieWithTestProcess|TestKilledAtRandom|TestTornDownHostCommand|TestProgramsSeeNames|TestHTTPClient|TestCommandBehavesLikeExec)$"
	out := asnobody.Run(t, tests, "-test.short")
	t.Logf("%s", out)
	for _, name := range strings.Split(strings.Trim(tests, "^()$"), "|") {
		assert.Contains(t, out, "--- PASS: "+name+" ", "%s did not pass rootless", name)
	}
	assert.NotContains(t, out, "SKIP")
}

// TestInNSLeavesThreadsClean: InNS makes its thread start children in the
// host's PID namespace; afterwards every thread of the test process is back
// in the namespaces it started in, so programs started outside InNS run
// outside every host.
func TestInNSLeavesThreadsClean(t *testing.T) {
	topo := nstest.New(t)
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			h := h1
			if i%2 == 1 {
				h = h2
			}
			h.InNS(func() {
				inside, err := os.Readlink("/proc/thread-self/ns/pid_for_children")
				assert.NoError(t, err)
				outside, err := os.Readlink("/proc/thread-self/ns/pid")
				assert.NoError(t, err)
				assert.NotEqual(t, outside, inside, "children of InNS are not born in the host")
			})
		})
	}
	wg.Wait()
	link := func(path string) string {
		l, err := os.Readlink(path)
		require.NoError(t, err)
		return l
	}
	self := fmt.Sprintf("/proc/%d/", os.Getpid())
	tasks, err := os.ReadDir(self + "task")
	require.NoError(t, err)
	// Not "net": the pool of blank namespaces may be making one on a
	// thread right now.
	for _, kind := range []string{"uts", "pid_for_children"} {
		want := link(self + "ns/" + kind)
		for _, task := range tasks {
			if got, err := os.Readlink(self + "task/" + task.Name() + "/ns/" + kind); err == nil {
				assert.Equal(t, want, got, "thread %s is still in a host's %s namespace", task.Name(), kind)
			}
		}
	}
	out, err := exec.Command("hostname").Output()
	require.NoError(t, err)
	name, err := os.Hostname()
	require.NoError(t, err)
	assert.Equal(t, name+"\n", string(out))
	assert.NotContains(t, []string{"h1", "h2"}, name)
}

// TestEtcHostsWithOverlappingLANs: two LANs on the same private range. A
// program in one LAN finds its own LAN's router at the address it reaches,
// and no address of the other LAN's hosts, which it could only reach by
// mistake (the copy of that address in its own LAN).
func TestEtcHostsWithOverlappingLANs(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	lanA, lanB := topo.AddBridge("lan-a"), topo.AddBridge("lan-b")
	a, ra := topo.AddHost("a"), topo.AddRouter("ra")
	b, rb := topo.AddHost("b"), topo.AddRouter("rb")
	topo.Connect(a, lanA, "192.168.1.10/24")
	topo.Connect(ra, lanA, "192.168.1.1/24")
	topo.Connect(b, lanB, "192.168.1.10/24")
	topo.Connect(rb, lanB, "192.168.1.1/24")
	topo.Link(ra, rb, "203.0.113.1/24", "203.0.113.2/24")

	out, err := a.Command("cat", "/etc/hosts").Output()
	require.NoError(t, err)
	hosts := string(out)
	for _, want := range []string{"192.168.1.10\ta\n", "192.168.1.1\tra\n", "203.0.113.1\tra\n", "203.0.113.2\trb\n"} {
		assert.Contains(t, hosts, want)
	}
	// b's only address is one that a's own LAN has too: a program in a
	// would reach a itself, so b is not listed; nor is rb's LAN address.
	assert.NotContains(t, hosts, "\tb\n")
	assert.NotContains(t, hosts, "192.168.1.1\trb\n")
	// The LAN's router comes first, at its LAN address.
	assert.Less(t, strings.Index(hosts, "192.168.1.1\tra"), strings.Index(hosts, "203.0.113.1\tra"))
}
