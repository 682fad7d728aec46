package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"

	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/keep"
	"github.com/nstest/harness/internal/rootless"
	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/topofile"
)

const upHelp = `Builds the topology and keeps it after nstest exits: each host, router and
the fabric (the namespace holding the bridges) becomes a named namespace
nstest-<topology>-<node> under /run/netns, which "ip netns exec" enters.
Expectations are not checked (nstest run does that).

Flags:
  --topo SPEC   a Mininet topology instead of a file
  --name NAME   the topology's name (default: the file's name)

Each namespace also gets /etc/netns/<namespace>/hosts (localhost and every
node with its addresses) and hostname, which "ip netns exec" puts over /etc,
so that programs find the nodes by name. NSTEST_ETC_NETNS names another
directory than /etc/netns.

Kept namespaces live until "nstest down TOPOLOGY", "nstest clean" or a reboot;
both stop every process still running in them and remove the files up wrote.
nstest up needs root: the namespaces are mounted where every process sees them.
`

const execHelp = `Runs CMD (by default $SHELL, or /bin/sh) in the network namespace of NODE of
a topology kept by nstest up, and exits with its status. NODE "fabric" is the
namespace that holds the bridges. Like "ip netns exec nstest-TOPOLOGY-NODE CMD".
`

// needRoot refuses commands on kept namespaces where they cannot work.
func needRoot(what string) error {
	switch {
	case rootless.InChild():
		return fail(exitUsage, "%s: kept namespaces cannot be made from inside a user namespace; run nstest %s as root", what, what)
	case os.Geteuid() != 0:
		return fail(exitUsage, "%s needs root: it keeps namespaces as mounts under /run/netns, which only root may make; run it with sudo (nstest run works without root)", what)
	}
	return nil
}

func cmdUp(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("up")
	tf := addTopoFlags(fs)
	name := fs.String("name", "", "")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	f, src, err := tf.load(rest)
	if err != nil {
		return err
	}
	for _, b := range f.Bridges {
		if b.Kind == topofile.KindOVS {
			// Its daemons are children of this process and die with it.
			return usagef("bridge %q: an Open vSwitch bridge cannot be kept: its daemons end with nstest; use nstest run, or a Linux bridge", b.Name)
		}
	}
	if *name != "" {
		f.Name = *name
		if err := f.Validate(); err != nil {
			return usagef("--name %s: %v", topofile.Quote(*name), err)
		}
	}
	if err := needRoot("up"); err != nil {
		return err
	}
	if err := rootless.Probe(); err != nil {
		return fail(exitUsage, "cannot build network namespaces: %v", err)
	}
	kept, err := keep.List()
	if err != nil {
		return fail(exitUsage, "read the kept namespaces: %v", err)
	}
	for _, e := range kept {
		if e.Topology == f.Name {
			return fail(exitUsage, "a topology %q is already up; remove it first with: nstest down %s (or choose another --name)", f.Name, f.Name)
		}
	}

	prog := newProgress(stderr)
	var lines [][2]string
	var topoName string
	exists := false
	err = testrun.Run(f.Name, nil, func(tb testing.TB) {
		prog.start("building " + f.Name)
		topo := topofile.BuildProgress(tb, f, prog.update)
		prog.clear()
		// KeepNamespaces checks again, under a lock, that no other nstest
		// up kept the name meanwhile, and on failure removes only what it
		// made.
		names, err := topo.KeepNamespaces()
		if errors.Is(err, keep.ErrExists) {
			exists = true
		}
		if err != nil {
			tb.Fatalf("%v", err)
		}
		if len(names) == 0 {
			tb.Fatalf("%s has no hosts, routers or bridges to keep", f.Name)
		}
		nodes := topo.Hosts()
		if len(names) > len(nodes) {
			nodes = append(nodes, topo.Fabric()) // kept last, when there are bridges
		}
		for i, n := range names {
			if err := keep.WriteEtc(n, etcFiles(nodes[i])); err != nil {
				keep.Remove(names...)
				tb.Fatalf("write the /etc files of %s: %v (set NSTEST_ETC_NETNS to another directory)", n, err)
			}
		}
		topoName = strings.TrimSuffix(strings.TrimPrefix(names[0], keep.Prefix), "-"+nodes[0].Name())
		for i, n := range names {
			h := nodes[i]
			kind := "host"
			switch {
			case i == len(topo.Hosts()):
				kind = "fabric"
			case f.IsRouter(h.Name()):
				kind = "router"
			}
			what := fmt.Sprintf("# %s %s %s", kind, h.Name(), prefixes(h.Addrs()))
			if kind == "fabric" {
				var brs []string
				for _, b := range topo.Bridges() {
					brs = append(brs, strings.TrimSpace(b.Name()+" "+prefixes(b.Addrs())))
				}
				what = "# the bridges: " + strings.Join(brs, ", ")
			}
			lines = append(lines, [2]string{"ip netns exec " + n + " bash", strings.TrimSpace(what)})
		}
	})
	prog.clear()
	if exists {
		return fail(exitUsage, "a topology %q is already up; remove it first with: nstest down %s (or choose another --name)", f.Name, f.Name)
	}
	if err != nil {
		return fail(exitUsage, "cannot bring up %s: %s", f.Name, strings.TrimPrefix(err.Error(), f.Name+": "))
	}
	fmt.Fprintf(stdout, "%s (%s) is up: %s, kept under /run/netns, with the node names in %s/NAME/hosts. Enter a node with\n", topoName, src, plural(len(lines), "namespace"), keep.EtcDir)
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	for _, l := range lines {
		fmt.Fprintf(tw, "  %s\t%s\n", l[0], l[1])
	}
	tw.Flush()
	fmt.Fprintf(stdout, "or: nstest exec %s NODE -- CMD\nRemove it with: nstest down %s\n", topoName, topoName)
	return nil
}

func cmdList(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return usagef("list takes no arguments")
	}
	es, err := keep.List()
	if errors.Is(err, fs.ErrPermission) {
		return fail(exitUsage, "list needs root: the records of kept namespaces are root's (%v)", err)
	}
	if err != nil {
		return fail(exitUsage, "read the kept namespaces: %v", err)
	}
	if len(es) == 0 {
		fmt.Fprintln(stdout, "no kept topologies")
		return nil
	}
	var order []string
	by := map[string][]keep.Entry{}
	for _, e := range es {
		if _, ok := by[e.Topology]; !ok {
			order = append(order, e.Topology)
		}
		by[e.Topology] = append(by[e.Topology], e)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	for _, t := range order {
		fmt.Fprintf(tw, "%s\t(%s)\n", t, plural(len(by[t]), "namespace"))
		for _, e := range by[t] {
			fmt.Fprintf(tw, "  %s\t%s\n", e.Node, e.Name)
		}
	}
	return tw.Flush()
}

func cmdExec(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		return help([]string{"exec"}, stdout)
	}
	if len(args) < 2 {
		return usagef("exec: want TOPOLOGY NODE [-- CMD ARGS...]")
	}
	topo, node, cmd := args[0], args[1], args[2:]
	if err := checkNames(topo, node); err != nil {
		return err
	}
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if len(cmd) == 0 {
		sh := os.Getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		cmd = []string{sh}
	}
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		return fail(exitUsage, "exec: %v", err)
	}
	f, err := keep.Open(topo, node)
	if err != nil {
		return fail(exitUsage, "exec: %v (nstest list shows the kept topologies)", err)
	}
	// The namespace is entered by this thread only; execve keeps it for
	// the new program, and the other threads go away.
	runtime.LockOSThread()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fail(exitUsage, "exec: enter %s: %v", keep.Name(topo, node), err)
	}
	err = syscall.Exec(path, cmd, os.Environ())
	return fail(exitUsage, "exec %s: %v", path, err)
}

// checkNames refuses a topology or node name that nstest could not have
// made (such as "x/../.."), before it is used in a path.
func checkNames(topology string, node ...string) error {
	if err := nstest.ValidName("topology", topology); err != nil {
		return usagef("%s", strings.TrimPrefix(err.Error(), "nstest: "))
	}
	for _, n := range node {
		if err := nstest.ValidName("node", n); err != nil {
			return usagef("%s", strings.TrimPrefix(err.Error(), "nstest: "))
		}
	}
	return nil
}

func cmdDown(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return usagef("down: want one TOPOLOGY (nstest list shows them)")
	}
	if err := checkNames(args[0]); err != nil {
		return err
	}
	names, stopped, err := keep.RemoveTopology(args[0])
	reportRemoved(stdout, names, stopped)
	if err != nil {
		return fail(exitUsage, "down %s: %v", args[0], err)
	}
	if len(names) == 0 {
		return fail(exitUsage, "down: no kept topology %q (nstest list shows them)", args[0])
	}
	return nil
}

func cmdClean(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return usagef("clean takes no arguments")
	}
	names, stopped, err := keep.Clean()
	reportRemoved(stdout, names, stopped)
	if err != nil {
		return fail(exitUsage, "clean: %v", err)
	}
	if len(names) == 0 {
		fmt.Fprintln(stdout, "nothing to clean")
	}
	return nil
}

// reportRemoved says what down and clean removed, and how many processes
// that ran in those namespaces they stopped.
func reportRemoved(w io.Writer, names []string, stopped int) {
	for _, n := range names {
		fmt.Fprintln(w, "removed", n)
	}
	if len(names) > 0 || stopped > 0 {
		what := "processes"
		if stopped == 1 {
			what = "process"
		}
		fmt.Fprintf(w, "stopped %d %s that ran in them\n", stopped, what)
	}
}

// etcFiles returns the files `ip netns exec` puts over /etc in the kept
// namespace of node h: the hosts file its programs see under the library
// (Host.HostsFile), and the hostname.
func etcFiles(h *nstest.Host) map[string][]byte {
	head := fmt.Sprintf("# node %s of topology %s, written by nstest up; nstest down removes it\n", h.Name(), h.Topology().Name())
	return map[string][]byte{"hosts": append([]byte(head), h.HostsFile()...), "hostname": []byte(h.Name() + "\n")}
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
