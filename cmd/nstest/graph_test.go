package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGraphSeedIsTheREADMEPicture: the README's Mermaid block is what
// nstest graph prints for the seed, and what the library draws for it
// (nstest/testdata/seed.mmd.golden), so the three cannot drift apart.
func TestGraphSeedIsTheREADMEPicture(t *testing.T) {
	t.Parallel()
	r := runBin(t, "graph", "../../fixtures/seed.yaml")
	if r.code != 0 {
		t.Fatalf("graph: exit %d: %s", r.code, r.stderr)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```mermaid\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```mermaid block")
	}
	if block != r.stdout {
		t.Errorf("README.md's mermaid block is not what nstest graph fixtures/seed.yaml prints; paste this:\n%s", r.stdout)
	}
	lib, err := os.ReadFile("../../nstest/testdata/seed.mmd.golden")
	if err != nil {
		t.Fatal(err)
	}
	if string(lib) != r.stdout {
		t.Errorf("nstest graph draws the seed otherwise than Topology.Graph:\n%s\nlibrary:\n%s", r.stdout, lib)
	}
}

func TestGraphDOT(t *testing.T) {
	t.Parallel()
	r := runBin(t, "graph", "--topo", "linear,2", "--format", "dot")
	if r.code != 0 || !strings.Contains(r.stdout, "graph \"linear-2\" {") || !strings.Contains(r.stdout, `label="h1"`) {
		t.Fatalf("graph --format dot: exit %d, output:\n%s", r.code, r.stdout)
	}
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("dot not found: install the Debian package graphviz to check that the output renders")
	}
	var svg, errb bytes.Buffer
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(r.stdout), &svg, &errb
	if err := cmd.Run(); err != nil || errb.Len() > 0 || !strings.Contains(svg.String(), "<svg") {
		t.Errorf("dot -Tsvg: %v: %s", err, errb.String())
	}
}

func TestGraphBadInput(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"graph", "--format", "png", "../../fixtures/seed.yaml"}, `nstest: --format "png": want mermaid or dot (see nstest help)`},
		{[]string{"graph"}, "nstest: missing FILE (or --topo SPEC) (see nstest help)"},
	} {
		r := runBin(t, c.args...)
		if r.code != exitUsage || strings.TrimSpace(r.stderr) != c.want || r.stdout != "" {
			t.Errorf("%v: exit %d, stderr %q: want exit 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
	if r := runBin(t, "help", "graph"); r.code != 0 || !strings.Contains(r.stdout, "--format FORMAT  mermaid (default) or dot") {
		t.Errorf("help graph: exit %d:\n%s", r.code, r.stdout)
	}
}
