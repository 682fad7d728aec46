package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nstest/harness/internal/rootless"
	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/topofile"
)

const runHelp = `Builds the topology in namespaces of its own, checks every expectation of
the file (for --topo: every pair of hosts, like Mininet's --test pingall),
prints the results and tears everything down.

Flags:
  --topo SPEC      a Mininet topology instead of a file: single,N  linear,K[,N]
                   tree,DEPTH[,FANOUT]  minimal
  --switch KIND    lxbr (a Linux bridge, the default) or ovs (Open vSwitch,
                   from the Debian package openvswitch-switch) for every
                   bridge that names no kind, like Mininet's --switch
  --format FORMAT  text (default), json, or junit (JUnit XML for CI systems)
  --timeout D      how long each check may take (default: 2s for an answer,
                   1s watching for none)
  -v               print what the library logs, to stderr

Expectations of TCP (tcp:, tcp_unreachable:) test the path, not a program:
nstest starts its own listener on the destination's port for them, so
"tcp: [a -> b:80]" passes with nothing listening on b. To check that a real
program answers, write "service: [a -> b:80]": it only connects, and fails
when nothing listens there. nstest run starts no program in the topology, so
there a service check fails; it is for files that Go tests check with
topofile.Verify after starting their servers.

Exit status: 0 every expectation holds, 1 one failed, 2 bad input or a machine
that cannot build network namespaces. Run it as root, or as a user allowed to
create user namespaces: nstest then runs itself again in one.
`

// topoFlags are the flags that choose a topology.
type topoFlags struct {
	topo    *string
	switch_ *string
}

func addTopoFlags(fs interface {
	String(name, value, usage string) *string
}) topoFlags {
	return topoFlags{
		topo:    fs.String("topo", "", "a Mininet topology: single,N, linear,K[,N], tree,DEPTH[,FANOUT]"),
		switch_: fs.String("switch", "", "lxbr (default) or ovs: the kind of every bridge that names none"),
	}
}

// load returns the topology that FILE or --topo names, with --switch
// applied, and how to name its source in reports.
func (t topoFlags) load(args []string) (*topofile.File, string, error) {
	f, src, err := t.loadFile(args)
	if err != nil || *t.switch_ == "" {
		return f, src, err
	}
	if err := f.SetSwitch(*t.switch_); err != nil {
		return nil, "", usagef("--switch: %v", err)
	}
	return f, src, nil
}

func (t topoFlags) loadFile(args []string) (*topofile.File, string, error) {
	switch {
	case *t.topo != "" && len(args) > 0:
		return nil, "", usagef("give a FILE or --topo, not both")
	case *t.topo != "":
		f, err := topofile.Preset(*t.topo)
		if err != nil {
			return nil, "", usagef("--topo %s: %v", clip(*t.topo), strings.TrimPrefix(err.Error(), "topofile: "))
		}
		return f, "--topo " + *t.topo, nil
	case len(args) == 0:
		return nil, "", usagef("missing FILE (or --topo SPEC)")
	case len(args) > 1:
		return nil, "", usagef("one FILE at a time, got %d: %s", len(args), strings.Join(args, " "))
	}
	f, err := topofile.ParseFile(args[0])
	if err != nil {
		// One line per problem, each "file:line:col: ...".
		return nil, "", exitError{code: exitUsage, msg: strings.TrimPrefix(err.Error(), "topofile: "), raw: true}
	}
	return f, args[0], nil
}

// privileged makes sure this process can build network namespaces. When it
// cannot, it runs the same command again in a new user namespace and
// reports that run's exit status as an exitError.
func privileged() error {
	perr := rootless.Probe()
	if perr == nil {
		return nil
	}
	if rootless.InChild() {
		return fail(exitUsage, "cannot build network namespaces, even in a user namespace: %v", perr)
	}
	code, err := rootless.Reexec()
	if err != nil {
		return fail(exitUsage, "cannot build network namespaces: not privileged (%v), and cannot run in a new user namespace either (%v); run nstest as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu)", perr, err)
	}
	return exitError{code: code}
}

// report is what nstest run found.
type report struct {
	Topology string
	Source   string // the file, or "--topo SPEC"
	File     *topofile.File
	Results  []topofile.Result
	Build    time.Duration
	Total    time.Duration
}

func (r *report) failed() []topofile.Result {
	var out []topofile.Result
	for _, x := range r.Results {
		if !x.OK {
			out = append(out, x)
		}
	}
	return out
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run")
	tf := addTopoFlags(fs)
	format := fs.String("format", "text", "")
	timeout := fs.Duration("timeout", 0, "")
	verbose := fs.Bool("v", false, "")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch *format {
	case "text", "json", "junit":
	default:
		return usagef("--format %q: want text, json or junit", *format)
	}
	if *timeout < 0 {
		return usagef("--timeout %v: want a positive duration", *timeout)
	}
	f, src, err := tf.load(rest)
	if err != nil {
		return err
	}
	if err := checkNeighbours(f, src); err != nil {
		return err
	}
	if err := privileged(); err != nil {
		return err
	}
	var opts []nstest.CheckOption
	if *timeout > 0 {
		opts = append(opts, nstest.Within(*timeout))
	}
	var logw io.Writer
	if *verbose {
		logw = stderr
	}

	rep := &report{Topology: f.Name, Source: src, File: f}
	prog := newProgress(stderr)
	built := false
	start := time.Now()
	err = testrun.Run(f.Name, logw, func(tb testing.TB) {
		prog.start("building " + f.Name)
		topo := topofile.BuildProgress(tb, f, prog.update)
		built = true
		rep.Build = time.Since(start)
		prog.start(fmt.Sprintf("checking %s: %s", f.Name, plural(countChecks(f), "expectation")))
		rep.Results = topofile.Verify(tb, topo, f, opts...)
		prog.clear()
	})
	prog.clear()
	rep.Total = time.Since(start)
	if !built {
		if errors.Is(err, testrun.ErrSkipped) {
			return fail(exitUsage, "cannot build network namespaces: %v", err)
		}
		if err != nil {
			return fail(exitUsage, "cannot build %s: %s", f.Name, strings.TrimPrefix(err.Error(), f.Name+": "))
		}
	}

	var werr error
	switch *format {
	case "json":
		werr = writeJSON(stdout, rep)
	case "junit":
		werr = writeJUnit(stdout, rep)
	default:
		writeText(stdout, rep)
	}
	if werr != nil {
		return fail(exitUsage, "write the report: %v", werr)
	}
	if bad := rep.failed(); len(bad) > 0 {
		msg := ""
		if *format != "text" {
			msg = fmt.Sprintf("%d of %s failed: %s", len(bad), plural(len(rep.Results), "check"), names(bad))
		}
		return exitError{code: exitFailed, msg: msg}
	}
	return nil
}

// countChecks counts the TEST lines a file gives: one for pingall, one per
// other expectation.
func countChecks(f *topofile.File) int {
	n := len(f.Expect.Reachable) + len(f.Expect.Unreachable) + len(f.Expect.TCP) + len(f.Expect.TCPUnreachable) + len(f.Expect.Service)
	if f.Expect.PingAll {
		n++
	}
	return n
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// names lists failed checks for a one-line message, at most five.
func names(rs []topofile.Result) string {
	var s []string
	for i, r := range rs {
		if i == 5 {
			s = append(s, fmt.Sprintf("and %d more", len(rs)-5))
			break
		}
		s = append(s, r.String())
	}
	return strings.Join(s, ", ")
}

// progress shows a status line on stderr while a large topology builds,
// when stderr is a terminal, and only once the work has taken a moment.
type progress struct {
	w     io.Writer
	tty   bool
	what  string
	since time.Time
	last  time.Time
	shown bool
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && isTerminal(f)}
}

func (p *progress) start(what string) {
	p.what, p.since = what, time.Now()
	if p.shown {
		p.show(what + "...")
	}
}

func (p *progress) update(done, total int) {
	if !p.tty || time.Since(p.since) < 200*time.Millisecond || (time.Since(p.last) < 100*time.Millisecond && done < total) {
		return
	}
	p.show(fmt.Sprintf("%s: %d/%d steps", p.what, done, total))
}

func (p *progress) show(s string) {
	if !p.tty {
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s", s)
	p.shown, p.last = true, time.Now()
}

func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

// gcThresh3 is the sysctl that bounds the kernel's IPv4 neighbour table; a
// variable for tests.
var gcThresh3 = "/proc/sys/net/ipv4/neigh/default/gc_thresh3"

// checkNeighbours refuses a pingall whose neighbour entries would pass the
// machine's limit: the IPv4 neighbour table is one for the whole machine,
// shared by every namespace, and when it is full the kernel refuses new
// entries everywhere ("neighbour table overflow"), breaking the networking
// of everything else that runs, not only this topology's. The sysctl is
// read, never written.
func checkNeighbours(f *topofile.File, src string) error {
	if !f.Expect.PingAll || rootless.InChild() { // the parent checked
		return nil
	}
	n := len(f.Hosts)
	need := n * (n - 1) // every host learns every other's address
	b, err := os.ReadFile(gcThresh3)
	if err != nil {
		return nil // a namespace that does not show it: nothing to compare with
	}
	limit, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || need <= limit {
		return nil
	}
	raise := 1024
	for raise < 2*need {
		raise *= 2
	}
	return fail(exitUsage, "%s: pingall between %d hosts needs %d IPv4 neighbour entries, over this machine's limit net.ipv4.neigh.default.gc_thresh3 = %d, which every namespace on the machine shares: past it the kernel drops new neighbours everywhere and other programs lose their network too; use fewer hosts, or as root raise the limit first (sysctl -w net.ipv4.neigh.default.gc_thresh3=%d, with gc_thresh2 and gc_thresh1 below it)", src, n, need, limit, raise)
}

// clip shortens a value of the command line shown in a message, as
// topofile.Quote does the values of files.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	i := 64
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:i], len(s))
}
