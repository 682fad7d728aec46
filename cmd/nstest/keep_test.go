package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest/topofile"
)

// TestUpConcurrent runs two nstest up of the same name at once, several
// times: one wins, the other fails cleanly, and the winner's namespaces are
// still there and alive afterwards.
func TestUpConcurrent(t *testing.T) {
	p := newPrivate(t)
	t.Parallel()
	for round := range 5 {
		name := fmt.Sprintf("race%d", round)
		var wg sync.WaitGroup
		var rs [2]result
		var errs [2]error
		for i := range rs {
			wg.Go(func() {
				c := p.cmd(bin, "up", "--name", name, "--topo", "single,2")
				var out, errb bytes.Buffer
				c.Stdout, c.Stderr = &out, &errb
				err := c.Run()
				var ee *exec.ExitError
				if err != nil && !errors.As(err, &ee) {
					errs[i] = err
					return
				}
				rs[i] = result{c.ProcessState.ExitCode(), out.String(), errb.String()}
			})
		}
		wg.Wait()
		for i := range rs {
			if errs[i] != nil {
				t.Fatalf("round %d: up %d: %v", round, i, errs[i])
			}
			t.Logf("round %d: up %d: exit %d\n%s%s", round, i, rs[i].code, rs[i].stdout, rs[i].stderr)
		}
		won := 0
		for _, r := range rs {
			switch {
			case r.code == 0:
				won++
			case r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("a topology %q is already up", name)):
				t.Errorf("round %d: the losing up: exit %d, stderr %q; want 2 and already up", round, r.code, r.stderr)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d of the two ups succeeded, want 1", round, won)
		}
		// The winner's namespaces are all there, and the network in them.
		want := fmt.Sprintf("%s (3 namespaces) fabric nstest-%[1]s-fabric h1 nstest-%[1]s-h1 h2 nstest-%[1]s-h2", name)
		if r := p.run(bin, "list"); strings.Join(strings.Fields(r.stdout), " ") != want {
			t.Errorf("round %d: list %q, want %q", round, r.stdout, want)
		}
		if r := p.run(bin, "exec", name, "h1", "--", "ip", "-o", "addr", "show", "dev", "eth0"); r.code != 0 || !strings.Contains(r.stdout, "inet 10.0.0.1/8") {
			t.Errorf("round %d: exec ip addr in h1: exit %d; want 0 and eth0 with 10.0.0.1/8", round, r.code)
		}
		if r := p.run(bin, "down", name); r.code != 0 {
			t.Errorf("round %d: down: exit %d", round, r.code)
		}
	}
}

// TestRecordsAreSafe plants a link where nstest up writes a record: the
// file it points to stays as it was. A records directory others may write
// is refused.
func TestRecordsAreSafe(t *testing.T) {
	p := newPrivate(t)
	t.Parallel()
	target := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(target, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := p.run("mkdir", "-p", "/run/nstest/netns"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := p.run("ln", "-s", target, "/run/nstest/netns/nstest-planted-h1"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := p.run(bin, "up", "--name", "planted", "--topo", "single,2")
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("up wrote through the link planted in the records: the target now holds %q", b)
	}
	if r.code != 0 {
		t.Errorf("up: exit %d, want 0", r.code)
	}
	if r := p.run("stat", "-c", "%F %a", "/run/nstest/netns/nstest-planted-h1", "/run/nstest/netns"); r.stdout != "regular file 600\ndirectory 755\n" {
		t.Errorf("the record and its directory: %q, want a regular file of mode 600 in the directory made by mkdir", r.stdout)
	}
	if r := p.run(bin, "down", "planted"); r.code != 0 {
		t.Errorf("down: exit %d", r.code)
	}

	// A records directory anyone may write is not used.
	if r := p.run("chmod", "0777", "/run/nstest/netns"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r = p.run(bin, "up", "--name", "open", "--topo", "single,2")
	if r.code != 2 || !strings.Contains(r.stderr, "/run/nstest/netns: owned by uid 0 with mode 0777") || !strings.Contains(r.stderr, "only root can write") {
		t.Errorf("up with a world-writable records directory: exit %d, stderr %q; want 2, naming the directory and its mode", r.code, r.stderr)
	}
	if r := p.run("ls", "/run/netns"); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("after the refused up, /run/netns holds %q", r.stdout)
	}
}

// TestExecRefusesPaths gives exec and down names that would be paths.
func TestExecRefusesPaths(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"exec", "x/../../..", "h1", "--", "true"}, `topology "x/../../..": invalid name`},
		{[]string{"exec", "seed", "../../../etc", "--", "true"}, `node "../../../etc": invalid name`},
		{[]string{"exec", "seed", "..", "--", "true"}, `node "..": invalid name`},
		{[]string{"down", "../netns/x"}, `topology "../netns/x": invalid name`},
	} {
		r := runBin(t, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("nstest %q: exit %d, stderr %q; want 2 and one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// TestDownStopsProcesses starts a program with nstest exec and a daemon
// that double-forks away from it in a kept topology: down stops both and
// says so, and clean does the same.
func TestDownStopsProcesses(t *testing.T) {
	p := newPrivate(t)
	t.Parallel()
	if r := p.run(bin, "up", "--name", "procs", "--topo", "single,2"); r.code != 0 {
		t.Fatalf("up: exit %d", r.code)
	}
	t.Cleanup(func() { p.run(bin, "clean") })

	// A program left running by nstest exec; it says when it runs in h1.
	bg := p.cmd(bin, "exec", "procs", "h1", "--", "sh", "-c", "echo ready; exec sleep 3600")
	out, err := bg.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bg.Process.Kill(); bg.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("nstest exec sleep: %q, %v", line, err)
	}
	bgfd, err := unix.PidfdOpen(bg.Process.Pid, 0) // to look without waiting
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(bgfd)
	// A daemon: a subshell starts it in a session of its own and exits, so
	// it is no one's child; it prints its pid, then closes the output.
	d := daemon(t, p, "procs", "h2")

	r := p.run(bin, "down", "procs")
	if r.code != 0 || !strings.HasSuffix(r.stdout, "removed nstest-procs-h2\nstopped 2 processes that ran in them\n") {
		t.Errorf("down: exit %d, output %q; want 0, the namespaces, then stopped 2 processes", r.code, r.stdout)
	}
	if !(detached{bg.Process.Pid, bgfd}).exited() {
		t.Errorf("the program started with nstest exec still runs after down")
	} else {
		err = bg.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("the program started with nstest exec: %v, want killed", err)
		}
	}
	if !d.exited() {
		t.Errorf("the daemon (pid %d) still runs after down", d.pid)
	}

	// clean too.
	if r := p.run(bin, "up", "--name", "procs2", "--topo", "single,2"); r.code != 0 {
		t.Fatalf("up: exit %d", r.code)
	}
	d = daemon(t, p, "procs2", "h1")
	if r := p.run(bin, "clean"); r.code != 0 || !strings.HasSuffix(r.stdout, "stopped 1 process that ran in them\n") {
		t.Errorf("clean: exit %d, output %q; want 0 and stopped 1 process", r.code, r.stdout)
	}
	if !d.exited() {
		t.Errorf("the daemon (pid %d) still runs after clean", d.pid)
	}
}

// TestDownStopsEpmd runs Erlang's epmd -daemon in a kept topology, as the
// seed tutorial's Erlang users do: down stops it.
func TestDownStopsEpmd(t *testing.T) {
	epmd, err := exec.LookPath("epmd")
	if err != nil {
		t.Skip("epmd not installed (Debian package erlang-base)")
	}
	p := newPrivate(t)
	t.Parallel()
	if r := p.run(bin, "up", "--name", "erl", "--topo", "single,2"); r.code != 0 {
		t.Fatalf("up: exit %d", r.code)
	}
	t.Cleanup(func() { p.run(bin, "clean") })
	if r := p.run(bin, "exec", "erl", "h1", "--", epmd, "-daemon"); r.code != 0 {
		t.Fatalf("epmd -daemon: exit %d", r.code)
	}
	// epmd answers in h1 once it listens: it has detached, and runs.
	if r := p.run(bin, "exec", "erl", "h1", "--", epmd, "-names"); r.code != 0 || !strings.Contains(r.stdout, "epmd: up and running on port 4369") {
		t.Fatalf("epmd -names in h1: exit %d, want epmd up and running", r.code)
	}
	ns := strings.TrimSpace(p.run(bin, "exec", "erl", "h1", "--", "readlink", "/proc/self/ns/net").stdout)
	if !strings.HasPrefix(ns, "net:[") {
		t.Fatalf("the namespace of h1: %q", ns)
	}
	// Should down leave them, the test stops them (held by pidfds).
	for _, pid := range epmds() {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		if in, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); in != ns {
			unix.Close(fd) // someone else's
			continue
		}
		t.Cleanup(func() { unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); unix.Close(fd) })
	}
	r := p.run(bin, "down", "erl")
	stopped := 0
	if i := strings.Index(r.stdout, "stopped "); i >= 0 {
		fmt.Sscanf(r.stdout[i:], "stopped %d", &stopped)
	}
	if r.code != 0 || stopped < 1 {
		t.Errorf("down: exit %d, output %q; want 0 and at least epmd stopped", r.code, r.stdout)
	}
	for _, pid := range epmds() {
		if in, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); in == ns {
			t.Errorf("epmd (pid %d) still runs in h1's namespace %s after down", pid, ns)
		}
	}
}

// epmds lists the epmd processes of the machine.
func epmds() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(b) == "epmd\n" {
			out = append(out, pid)
		}
	}
	return out
}

// detached is a daemon started in a kept namespace, held by a pidfd.
type detached struct {
	pid, fd int
}

// daemon starts sleep as a daemon in node of topology through nstest exec
// and returns it once it runs there.
func daemon(t *testing.T, p *private, topology, node string) detached {
	t.Helper()
	r := p.run(bin, "exec", topology, node, "--", "sh", "-c", `( setsid sh -c 'echo $$; exec sleep 3600 </dev/null >/dev/null 2>&1' & )`)
	pid, err := strconv.Atoi(strings.TrimSpace(r.stdout))
	if r.code != 0 || err != nil {
		t.Fatalf("start a daemon in %s: exit %d, output %q", node, r.code, r.stdout)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	d := detached{pid, fd}
	t.Cleanup(func() { unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); unix.Close(fd) })
	if d.exited() {
		t.Fatalf("the daemon (pid %d) is gone already", pid)
	}
	return d
}

// exited reports whether the process has exited, without waiting.
func (d detached) exited() bool {
	pfd := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n == 1
}

// TestEtcNetns checks the files up writes for ip netns exec: a hosts file
// with every node and a hostname in NSTEST_ETC_NETNS/<namespace>, and that
// down removes exactly those, and the directories it made.
func TestEtcNetns(t *testing.T) {
	p := newPrivate(t)
	t.Parallel()
	seed, _ := filepath.Abs("../../fixtures/seed.yaml")
	if r := p.run(bin, "up", "--name", "names", seed); r.code != 0 {
		t.Fatalf("up: exit %d", r.code)
	}
	hosts, err := os.ReadFile(filepath.Join(p.etc, "nstest-names-ns1", "hosts"))
	if err != nil {
		t.Fatalf("up wrote no hosts file: %v", err)
	}
	for _, want := range []string{"127.0.0.1\tlocalhost\n", "::1\tlocalhost", "10.0.0.1\tns1\n", "10.0.0.2\tns2\n", "10.0.0.100\tbr1\n"} {
		if !bytes.Contains(hosts, []byte(want)) {
			t.Errorf("hosts of ns1 lacks %q:\n%s", want, hosts)
		}
	}
	for node, want := range map[string]string{"ns1": "ns1\n", "ns2": "ns2\n", "fabric": "fabric\n"} {
		if b, err := os.ReadFile(filepath.Join(p.etc, "nstest-names-"+node, "hostname")); string(b) != want {
			t.Errorf("hostname of %s: %q, %v; want %q", node, b, err, want)
		}
	}
	if r := p.run(bin, "down", "names"); r.code != 0 {
		t.Fatalf("down: exit %d", r.code)
	}
	if _, err := os.Stat(p.etc); !os.IsNotExist(err) {
		t.Errorf("down left %s, which up made: %v", p.etc, err)
	}

	// Where the namespace's directory was there before, down removes the
	// files it wrote and leaves the directory and what else is in it.
	own := filepath.Join(p.etc, "nstest-names-ns2")
	if err := os.MkdirAll(own, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(own, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := p.run(bin, "up", "--name", "names", seed); r.code != 0 {
		t.Fatalf("up: exit %d", r.code)
	}
	if b, _ := os.ReadFile(filepath.Join(own, "hostname")); string(b) != "ns2\n" {
		t.Errorf("hostname of ns2: %q", b)
	}
	if r := p.run(bin, "down", "names"); r.code != 0 {
		t.Fatalf("down: exit %d", r.code)
	}
	left, _ := filepath.Glob(filepath.Join(p.etc, "*", "*"))
	if len(left) != 1 || left[0] != filepath.Join(own, "resolv.conf") {
		t.Errorf("after down: %q; want only the resolv.conf that was there", left)
	}
}

// TestEtcHostsBothFamilies checks the hosts file of a dual-stack topology:
// every address of every node, IPv4 and IPv6, and loopback for a node with
// none of its own.
func TestEtcHostsBothFamilies(t *testing.T) {
	t.Parallel()
	f, err := topofile.Parse("dual.yaml", []byte(`name: dual
bridges: [{name: br1, addrs: [10.0.0.100/24]}]
hosts:
  - {name: h1, connect: [{bridge: br1, addrs: [10.0.0.1/24, "fd00::1/64"]}]}
  - {name: h2, connect: [{bridge: br1, addrs: ["fd00::2/64"]}]}
  - {name: lonely}
`))
	if err != nil {
		t.Fatal(err)
	}
	var files map[string][]byte
	err = testrun.Run("dual", nil, func(tb testing.TB) {
		topo := topofile.Build(tb, f)
		files = etcFiles(topo.Host("lonely"))
	})
	if errors.Is(err, testrun.ErrSkipped) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	hosts := string(files["hosts"])
	for _, want := range []string{"127.0.0.1\tlocalhost\n", "10.0.0.1\th1\n", "fd00::1\th1\n", "fd00::2\th2\n", "10.0.0.100\tbr1\n", "127.0.1.1\tlonely\n"} {
		if !strings.Contains(hosts, want) {
			t.Errorf("hosts lacks %q:\n%s", want, hosts)
		}
	}
	if string(files["hostname"]) != "lonely\n" {
		t.Errorf("hostname %q", files["hostname"])
	}
}
