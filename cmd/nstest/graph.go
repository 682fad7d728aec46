package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/topofile"
)

const graphHelp = "Builds the topology in namespaces of its own, as nstest run does, prints a\n" +
	"picture of it and tears it down, checking nothing. The picture is a Mermaid\n" +
	"flowchart, which GitHub, GitLab and many wikis draw inside a ```mermaid block,\n" +
	`or with --format dot Graphviz DOT (nstest graph --format dot FILE | dot -Tsvg).
It is drawn from the built topology, as the library's Topology.Graph and a
failing test's artifacts (NSTEST_ARTIFACTS: topology.mmd, topology.dot) draw
it: hosts, routers (hexagons), bridges (double boxes) and VXLAN sites, each
veth pair an edge with its interfaces' names and addresses, overlays dotted.

Flags:
  --topo SPEC      a Mininet topology instead of a file: single,N  linear,K[,N]
                   tree,DEPTH[,FANOUT]  minimal
  --format FORMAT  mermaid (default) or dot

Run it as root, or as a user allowed to create user namespaces.
`

func cmdGraph(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("graph")
	tf := addTopoFlags(fs)
	format := fs.String("format", "mermaid", "")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	var gf nstest.GraphFormat
	switch *format {
	case "mermaid":
		gf = nstest.Mermaid
	case "dot":
		gf = nstest.DOT
	default:
		return usagef("--format %q: want mermaid or dot", *format)
	}
	f, _, err := tf.load(rest)
	if err != nil {
		return err
	}
	if err := privileged(); err != nil {
		return err
	}
	var out string
	err = testrun.Run(f.Name, nil, func(tb testing.TB) {
		out = topofile.Build(tb, f).Graph(gf)
	})
	switch {
	case errors.Is(err, testrun.ErrSkipped):
		return fail(exitUsage, "cannot build network namespaces: %v", err)
	case err != nil:
		return fail(exitUsage, "cannot build %s: %s", f.Name, strings.TrimPrefix(err.Error(), f.Name+": "))
	}
	_, err = fmt.Fprint(stdout, out)
	return err
}
