// Command nstest builds the network a topology file describes in disposable
// network namespaces, checks the connectivity the file expects, and tears it
// down: a connectivity check for CI and a way to share a network bug as a
// small file. It can also keep a topology for a person to explore.
//
// Usage:
//
//	nstest run FILE | --topo SPEC [--switch lxbr|ovs] [--format text|json|junit] [--timeout D] [-v]
//	nstest graph FILE | --topo SPEC [--format mermaid|dot]
//	nstest up FILE | --topo SPEC [--name NAME]
//	nstest list
//	nstest exec TOPOLOGY NODE [-- CMD ARGS...]
//	nstest down TOPOLOGY
//	nstest clean
//	nstest help [COMMAND]
//	nstest --version
//
// Exit status: 0 when every expectation holds (or the command did what it
// was asked), 1 when an expectation failed, 2 for bad input or a machine
// that cannot build network namespaces. nstest exec exits with the status of
// the command it ran.
//
// nstest run works as root, or for an ordinary user by running itself again
// in a new user and network namespace, as the tests do. nstest up and the
// commands on kept topologies need root: kept namespaces are bind mounts
// under /run/netns that `ip netns exec` enters.
//
// The format of topology files is documented in package
// github.com/nstest/harness/nstest/topofile; SPEC is one of Mininet's
// topologies: single,N, linear,K[,N], tree,DEPTH[,FANOUT] or minimal.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // an expectation did not hold
	exitUsage  = 2 // bad input, or a machine that cannot
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); otherwise
// the module version from the build information is used.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is bad command-line input; it is reported in one line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError ends the program with a status; msg, if any, goes to stderr.
type exitError struct {
	code int
	msg  string
	raw  bool // msg is printed as it is, not after "nstest: "
}

func (e exitError) Error() string { return e.msg }

func fail(code int, format string, args ...any) error {
	return exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

type command struct {
	name, args, short string
	long              string
	run               func(args []string, stdout, stderr io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"run", "FILE | --topo SPEC [flags]", "build a topology, check its expectations, tear it down", runHelp, cmdRun},
		{"graph", "FILE | --topo SPEC [--format F]", "print a picture of a topology (Mermaid, or Graphviz DOT)", graphHelp, cmdGraph},
		{"up", "FILE | --topo SPEC [--name NAME]", "build a topology and keep it for exploring (root only)", upHelp, cmdUp},
		{"list", "", "list the kept topologies and their namespaces", "", cmdList},
		{"exec", "TOPOLOGY NODE [-- CMD ARGS...]", "run a command (default: a shell) in a node of a kept topology", execHelp, cmdExec},
		{"down", "TOPOLOGY", "remove a kept topology and stop the processes in it", "", cmdDown},
		{"clean", "", "remove every topology kept by nstest, and nothing else", "", cmdClean},
		{"help", "[COMMAND]", "show this help, or a command's", "", nil},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "nstest: %s (see nstest help)\n", ue.msg)
		return exitUsage
	case errors.As(err, &ee):
		switch {
		case ee.raw:
			fmt.Fprintln(stderr, ee.msg)
		case ee.msg != "":
			fmt.Fprintln(stderr, "nstest: "+ee.msg)
		}
		return ee.code
	default:
		fmt.Fprintln(stderr, "nstest: "+err.Error())
		return exitUsage
	}
}

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return exitError{code: exitUsage}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return help(args[1:], stdout)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "nstest", versionString())
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] && c.run != nil {
			err := c.run(args[1:], stdout, stderr)
			if errors.Is(err, flag.ErrHelp) {
				return help(args[:1], stdout)
			}
			return err
		}
	}
	return usagef("unknown command %q", args[0])
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func usage(w io.Writer) {
	fmt.Fprint(w, `nstest builds disposable networks of Linux network namespaces from topology
files, checks the connectivity they expect, and tears them down.

Usage:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  nstest %-6s %-34s %s\n", c.name, c.args, c.short)
	}
	fmt.Fprint(w, `  nstest --version

Exit status: 0 all expectations hold, 1 an expectation failed, 2 bad input
or a machine that cannot build network namespaces.

Example:
  nstest run fixtures/seed.yaml
  nstest run --topo single,20 --format junit > nstest.xml
`)
}

func help(args []string, w io.Writer) error {
	if len(args) == 0 {
		usage(w)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			fmt.Fprintf(w, "usage: nstest %s %s\n\n%s.\n", c.name, c.args, strings.ToUpper(c.short[:1])+c.short[1:])
			if c.long != "" {
				fmt.Fprint(w, "\n"+c.long)
			}
			return nil
		}
	}
	return usagef("help: unknown command %q", args[0])
}

// parse parses flags wherever they appear among the arguments ("run FILE
// --format json" as well as "run --format json FILE") and returns the
// others; everything after "--" is returned as it is.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, nil
		}
		if n := len(args) - len(left); n > 0 && args[n-1] == "--" {
			return append(rest, left...), nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
