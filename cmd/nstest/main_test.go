package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nstest/harness/internal/keep"
	"go.uber.org/goleak"

	"github.com/nstest/harness/internal/rootcheck"
	"github.com/nstest/harness/internal/rootless"
)

// bin is the nstest command, built once for the tests, which run it as a
// user would.
var bin string

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(rootcheck.Tests(func() int {
		dir, err := os.MkdirTemp("", "nstest-cmd-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		os.Chmod(dir, 0o755) // for the test that runs it as nobody
		// Never the machine's /etc: every nstest up of the tests writes
		// its /etc/netns files here unless a test chooses another place.
		keep.EtcDir = filepath.Join(dir, "etc-netns")
		os.Setenv("NSTEST_ETC_NETNS", keep.EtcDir)
		bin = filepath.Join(dir, "nstest")
		if err := buildCommand(bin); err != nil {
			fmt.Fprintln(os.Stderr, "build nstest:", err)
			return 1
		}
		return m.Run()
	}))
}

// buildCommand builds the nstest command at bin. Where there is no Go
// toolchain (the kernel lane's VM, see ci/kernels.sh), NSTEST_CMD_BIN names
// a prebuilt command, which is copied instead.
func buildCommand(bin string) error {
	if pre := os.Getenv("NSTEST_CMD_BIN"); pre != "" {
		data, err := os.ReadFile(pre)
		if err != nil {
			return err
		}
		return os.WriteFile(bin, data, 0o755)
	}
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	return build.Run()
}

type result struct {
	code           int
	stdout, stderr string
}

// runBin runs the command with args and returns what it printed and its
// exit status.
func runBin(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, exec.Command(bin, args...))
}

func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	r := result{cmd.ProcessState.ExitCode(), out.String(), errb.String()}
	t.Logf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(cmd.Args, " "), r.code, r.stdout, r.stderr)
	return r
}

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// brokenFile expects h1 to reach h3, which is on a bridge of its own.
const brokenFile = `name: broken
bridges: [{name: br1}, {name: br2}]
hosts:
  - {name: h1, connect: [{bridge: br1, addrs: [10.0.0.1/24]}]}
  - {name: h2, connect: [{bridge: br1, addrs: [10.0.0.2/24]}]}
  - {name: h3, connect: [{bridge: br2, addrs: [10.0.0.3/24]}]}
expect:
  reachable: [h2 -> h1, h1 -> h3]
  unreachable: [h3 -> h2]
`

func TestRunSeed(t *testing.T) {
	t.Parallel()
	r := runBin(t, "run", "../../fixtures/seed.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	for _, want := range []string{
		"seed (../../fixtures/seed.yaml): 2 hosts, 1 bridge, built in ",
		"TEST: ns1 -> ns2 reachable ", "TEST: br1 -> ns2 reachable ",
		"Results: 6/6 checks passed in ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(r.stdout, "[ OK ]\n"); n != 6 {
		t.Errorf("%d [ OK ] lines, want 6", n)
	}
	if strings.Contains(r.stdout, "FAIL") || r.stderr != "" {
		t.Errorf("a failure or something on stderr in a passing run")
	}
}

func TestRunFailingExpectation(t *testing.T) {
	t.Parallel()
	// The failing check takes the whole --timeout, the passing ones stop at
	// their first reply: a long timeout costs nothing when the network works,
	// and a short one fails a passing check on a loaded machine.
	r := runBin(t, "run", "--timeout", "3s", write(t, "broken.yaml", brokenFile))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	for _, want := range []string{
		"TEST: h2 -> h1 reachable ", "[ OK ]\n",
		"TEST: h1 -> h3 reachable ", "[FAIL]\n",
		"broken.yaml:8:25: nstest: h1 -> h3 (10.0.0.3): want reachable",
		" echo requests in 3s\n", // --timeout applies
		"Results: 2/3 checks passed, 1 FAILED",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestRunBadFile(t *testing.T) {
	t.Parallel()
	bad := write(t, "bad.yaml", "hosts:\n  - name: h1\n    connect:\n      - {bridge: br1, addrs: [10.0.0.300/24]}\nbridges: [{name: br1}]\n")
	r := runBin(t, "run", bad)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2", r.code)
	}
	want := bad + `:4:31: host "h1": address "10.0.0.300/24": invalid CIDR` + "\n"
	if r.stderr != want || r.stdout != "" {
		t.Errorf("stderr %q, want %q, and nothing on stdout", r.stderr, want)
	}
}

func TestRunJUnit(t *testing.T) {
	t.Parallel()
	r := runBin(t, "run", write(t, "broken.yaml", brokenFile), "--format", "junit")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, "1 of 3 checks failed: h1 -> h3 reachable") {
		t.Errorf("stderr %q: want it to name the failed pair", r.stderr)
	}
	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Line    int    `xml:"line,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Type    string `xml:"type,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("JUnit output is not XML: %v", err)
	}
	if doc.Tests != 3 || doc.Failures != 1 || len(doc.Suites) != 1 {
		t.Fatalf("testsuites: tests=%d failures=%d suites=%d, want 3, 1, 1", doc.Tests, doc.Failures, len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "broken" || s.Tests != 3 || s.Failures != 1 || len(s.Cases) != 3 {
		t.Fatalf("testsuite %q: tests=%d failures=%d cases=%d, want broken, 3, 1, 3", s.Name, s.Tests, s.Failures, len(s.Cases))
	}
	var failed []string
	for _, c := range s.Cases {
		if c.Failure != nil {
			failed = append(failed, fmt.Sprintf("%s line %d: %s: %s", c.Name, c.Line, c.Failure.Type, c.Failure.Message))
		}
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "h1 -> h3 reachable line 8: reachable: nstest: h1 -> h3 (10.0.0.3): want reachable") {
		t.Errorf("failed cases %q: want h1 -> h3 reachable, line 8", failed)
	}
}

func TestRunJSON(t *testing.T) {
	t.Parallel()
	r := runBin(t, "run", "--format", "json", "../../fixtures/seed.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	var rep struct {
		Topology string
		Passed   bool
		Checks   int
		Failures int
		Results  []struct {
			Kind, From, To, Address string
			OK                      bool
			Line                    int
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("JSON output does not parse: %v", err)
	}
	if rep.Topology != "seed" || !rep.Passed || rep.Checks != 6 || rep.Failures != 0 || len(rep.Results) != 6 {
		t.Fatalf("report %+v: want seed, passed, 6 checks, 0 failures", rep)
	}
	first := rep.Results[0]
	if first.Kind != "reachable" || first.From != "ns1" || first.To != "ns2" || first.Address != "10.0.0.2" || !first.OK || first.Line == 0 {
		t.Errorf("first result %+v: want reachable ns1 -> ns2 at 10.0.0.2, ok, with its line", first)
	}
}

func TestRunPresetPingAll(t *testing.T) {
	t.Parallel()
	r := runBin(t, "run", "--topo", "single,4")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	want := "TEST: pingall: 4 hosts, 12 pairs"
	matrix := "h1 -> h2 h3 h4\nh2 -> h1 h3 h4\nh3 -> h1 h2 h4\nh4 -> h1 h2 h3\nResults: 0% dropped (12/12 received)\n"
	if !strings.Contains(r.stdout, want) || !strings.HasSuffix(r.stdout, "[ OK ]\n"+matrix) {
		t.Errorf("output: want %q [ OK ], then the matrix\n%s", want, matrix)
	}
}

// TestRunSwitchOVS runs Mininet's single topology on an Open vSwitch bridge.
func TestRunSwitchOVS(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ovs-vswitchd"); err != nil {
		t.Skip("needs the Debian package openvswitch-switch")
	}
	r := runBin(t, "run", "--topo", "single,4", "--switch", "ovs", "-v")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0", r.code)
	}
	if !strings.Contains(r.stdout, "Results: 0% dropped (12/12 received)") {
		t.Errorf("stdout: want every pair to reach the other")
	}
	// The library's log says the switch was Open vSwitch.
	if !strings.Contains(r.stderr, "Open vSwitch (datapath") {
		t.Errorf("stderr: want the Open vSwitch start logged")
	}
}

func TestRunPresetPingAllFailure(t *testing.T) {
	t.Parallel()
	f := write(t, "split.yaml", `bridges: [{name: s1}, {name: s2}]
hosts:
  - {name: h1, connect: [{bridge: s1, addrs: [10.0.0.1/8]}]}
  - {name: h2, connect: [{bridge: s1, addrs: [10.0.0.2/8]}]}
  - {name: h3, connect: [{bridge: s2, addrs: [10.0.0.3/8]}]}
expect:
  pingall: true
`)
	r := runBin(t, "run", f)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	want := "[FAIL]\nh1 -> h2 X\nh2 -> h1 X\nh3 -> X X\nResults: 66% dropped (2/6 received)\n"
	if !strings.HasSuffix(r.stdout, want) {
		t.Errorf("output: want it to end with\n%s", want)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"frob"}, `nstest: unknown command "frob" (see nstest help)`},
		{[]string{"run"}, "nstest: missing FILE (or --topo SPEC)"},
		{[]string{"run", "a.yaml", "--topo", "single,2"}, "give a FILE or --topo, not both"},
		{[]string{"run", "--format", "xml", "a.yaml"}, `--format "xml": want text, json or junit`},
		{[]string{"run", "--topo", "ring,3"}, `unknown topology "ring"`},
		{[]string{"run", "--topo", "single,2", "--switch", "user"}, `--switch: switch "user": unknown; want lxbr (a Linux bridge) or ovs (Open vSwitch)`},
		{[]string{"up", "--topo", "single,2", "--switch", "ovs"}, `bridge "s1": an Open vSwitch bridge cannot be kept`},
		{[]string{"run", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"run", "/nonexistent/topo.yaml"}, "open /nonexistent/topo.yaml: no such file or directory"},
		{[]string{"exec", "seed"}, "exec: want TOPOLOGY NODE"},
		{[]string{"down"}, "down: want one TOPOLOGY"},
	} {
		r := runBin(t, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("nstest %q: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
		if len(c.args) > 0 && strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("nstest %q: stderr %q: want one line", c.args, r.stderr)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	r := runBin(t, "help")
	for _, cmd := range []string{"run", "graph", "up", "list", "exec", "down", "clean"} {
		if !strings.Contains(r.stdout, "nstest "+cmd+" ") {
			t.Errorf("help lacks %q", cmd)
		}
	}
	if r.code != 0 {
		t.Errorf("help: exit %d", r.code)
	}
	if r := runBin(t, "run", "-h"); r.code != 0 || !strings.Contains(r.stdout, "--format FORMAT") {
		t.Errorf("run -h: exit %d, want 0 and the run flags", r.code)
	}
	if r := runBin(t, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "nstest ") {
		t.Errorf("--version: exit %d, output %q", r.code, r.stdout)
	}
}

// private gives a test a mount namespace of its own with a fresh /run, in
// which it runs commands: kept topologies made there cannot touch anyone
// else's (clean removes only what is in this /run), and nothing can be left
// in the real /run/netns. Commands get NSTEST_ETC_NETNS=etc, a directory of
// the test's, so that no test writes the machine's /etc.
type private struct {
	t   *testing.T
	pid string
	etc string
}

func newPrivate(t *testing.T) *private {
	t.Helper()
	if os.Geteuid() != 0 || rootless.InChild() {
		t.Skip("kept topologies need root in the initial user namespace (mounts under /run/netns)")
	}
	// The holder keeps the mount namespace until its stdin closes; it says
	// "ready" from inside it, which is when the namespace exists.
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", "echo ready; exec cat >/dev/null")
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Skipf("unshare --mount (util-linux): %v", err)
	}
	t.Cleanup(func() { stdin.Close(); holder.Process.Kill(); holder.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		holder.Wait()
		t.Fatalf("unshare --mount did not make a mount namespace: %q, %v, %v", line, err, holder.ProcessState)
	}
	p := &private{t: t, pid: fmt.Sprint(holder.Process.Pid), etc: filepath.Join(t.TempDir(), "etc-netns")}
	if r := p.run("mount", "-t", "tmpfs", "nstest-test", "/run"); r.code != 0 {
		t.Fatalf("mount a tmpfs on /run in the test's mount namespace: %s", r.stderr)
	}
	return p
}

// cmd returns a command that runs args in the private mount namespace.
func (p *private) cmd(args ...string) *exec.Cmd {
	c := exec.Command("nsenter", append([]string{"-t", p.pid, "-m", "--"}, args...)...)
	c.Env = append(os.Environ(), "NSTEST_ETC_NETNS="+p.etc)
	return c
}

func (p *private) run(args ...string) result {
	p.t.Helper()
	return runCmd(p.t, p.cmd(args...))
}

// TestKeptTopologies runs up, list, exec, down and clean end to end.
func TestKeptTopologies(t *testing.T) {
	p := newPrivate(t)
	in := p.run
	seed, _ := filepath.Abs("../../fixtures/seed.yaml")

	r := in(bin, "up", seed)
	if r.code != 0 || !strings.Contains(r.stdout, "ip netns exec nstest-seed-ns1 bash") || !strings.Contains(r.stdout, "nstest down seed") {
		t.Fatalf("up: exit %d, want 0 and the ip netns exec lines", r.code)
	}
	if r := in(bin, "up", seed); r.code != 2 || !strings.Contains(r.stderr, `topology "seed" is already up`) {
		t.Errorf("second up: exit %d, stderr %q; want 2 and already up", r.code, r.stderr)
	}
	r = in(bin, "list")
	want := "seed      (3 namespaces)\n  fabric  nstest-seed-fabric\n  ns1     nstest-seed-ns1\n  ns2     nstest-seed-ns2\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("list: exit %d, output %q; want %q", r.code, r.stdout, want)
	}
	r = in(bin, "exec", "seed", "ns1", "--", "ip", "-o", "addr", "show", "dev", "eth0")
	if r.code != 0 || !strings.Contains(r.stdout, "inet 10.0.0.1/24") {
		t.Errorf("exec ip addr in ns1: exit %d; want 0 and eth0 with 10.0.0.1/24", r.code)
	}
	if r := in(bin, "exec", "seed", "ns2", "--", "cat", "/proc/net/dev"); !strings.Contains(r.stdout, "eth0:") {
		t.Errorf("exec cat /proc/net/dev in ns2: no eth0")
	}
	if r := in(bin, "exec", "seed", "ns1", "--", "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exec sh -c 'exit 7': exit %d, want the command's 7", r.code)
	}
	if r := in(bin, "exec", "seed", "nope", "--", "true"); r.code != 2 || !strings.Contains(r.stderr, `no kept namespace "nstest-seed-nope"`) {
		t.Errorf("exec in an unknown node: exit %d, stderr %q", r.code, r.stderr)
	}
	// The printed command works: the kept network is alive.
	if r := in("ip", "netns", "exec", "nstest-seed-ns2", "ping", "-c", "1", "-W", "2", "10.0.0.1"); r.code != 0 {
		t.Errorf("ping from the kept ns2 to ns1: exit %d", r.code)
	}

	if r := in(bin, "up", "--topo", "single,2"); r.code != 0 {
		t.Fatalf("up --topo single,2: exit %d", r.code)
	}
	r = in(bin, "down", "single-2")
	if r.code != 0 || r.stdout != "removed nstest-single-2-fabric\nremoved nstest-single-2-h1\nremoved nstest-single-2-h2\nstopped 0 processes that ran in them\n" {
		t.Errorf("down single-2: exit %d, output %q", r.code, r.stdout)
	}
	if r := in(bin, "down", "single-2"); r.code != 2 {
		t.Errorf("down single-2 again: exit %d, want 2", r.code)
	}

	// A namespace with an nstest-like name, not made by nstest, survives.
	if r := in("ip", "netns", "add", "nstest-fake-x"); r.code != 0 {
		t.Fatalf("ip netns add: %s", r.stderr)
	}
	t.Cleanup(func() { in("ip", "netns", "del", "nstest-fake-x") })
	r = in(bin, "clean")
	if r.code != 0 || r.stdout != "removed nstest-seed-fabric\nremoved nstest-seed-ns1\nremoved nstest-seed-ns2\nstopped 0 processes that ran in them\n" {
		t.Errorf("clean: exit %d, output %q", r.code, r.stdout)
	}
	if r := in("ip", "netns", "list"); strings.TrimSpace(r.stdout) != "nstest-fake-x" {
		t.Errorf("after clean, ip netns list = %q, want only nstest-fake-x", r.stdout)
	}
	if r := in(bin, "list"); r.stdout != "no kept topologies\n" {
		t.Errorf("list after clean: %q", r.stdout)
	}
	if r := in(bin, "clean"); r.stdout != "nothing to clean\n" {
		t.Errorf("second clean: %q", r.stdout)
	}
}

// TestRootless runs nstest as an ordinary user: run works through a user
// namespace, up refuses and says why.
func TestRootless(t *testing.T) {
	if os.Geteuid() != 0 || rootless.InChild() {
		t.Skip("needs root to switch to user nobody")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	t.Parallel()
	as := func(args ...string) result {
		t.Helper()
		cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)...)
		cmd.Dir = "/"
		return runCmd(t, cmd)
	}
	r := as("run", "--topo", "single,3")
	if r.code == 2 && strings.Contains(r.stderr, "cannot build network namespaces") {
		t.Skipf("this machine allows no unprivileged user namespaces: %s", r.stderr)
	}
	if r.code != 0 || !strings.Contains(r.stdout, "Results: 0% dropped (6/6 received)") {
		t.Errorf("run as nobody: exit %d, want 0 and the pingall results", r.code)
	}
	if r := as("up", "--topo", "single,3"); r.code != 2 || !strings.Contains(r.stderr, "up needs root") {
		t.Errorf("up as nobody: exit %d, stderr %q; want 2, saying it needs root", r.code, r.stderr)
	}
}

func TestProgressOnlyOnATerminal(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b}
	p.start("building big")
	p.since = time.Now().Add(-time.Second)
	p.update(5, 10)
	p.clear()
	if b.Len() != 0 {
		t.Errorf("progress wrote %q to a non-terminal", b.String())
	}
	p.tty = true
	p.update(5, 10)
	p.update(6, 10) // too soon after the last: skipped
	p.update(10, 10)
	p.clear()
	want := "\r\033[Kbuilding big: 5/10 steps\r\033[Kbuilding big: 10/10 steps\r\033[K"
	if b.String() != want {
		t.Errorf("progress wrote %q, want %q", b.String(), want)
	}
}
