package nstest_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/fixtures"
	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/ with the output of this run")

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run %s -update to make it", t.Name())
	assert.Equal(t, string(want), got, "%s changed; if on purpose, run go test -run %s -update", path, t.Name())
}

// everything builds a topology with one of each thing Graph draws: bridges
// joined by a cable, a router with a direct link, an impaired link, a VXLAN
// overlay of two sites, a link that is down, and three checks that failed
// next to one that held.
func everything(t *testing.T) *nstest.Topology {
	topo := nstest.New(t, nstest.WithName("everything"))
	br1, br2 := topo.AddBridge("br1"), topo.AddBridge("br2")
	topo.ConnectBridges(br1, br2)
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	r1 := topo.AddRouter("r1")
	topo.Connect(h1, br1, "10.0.0.1/24")
	topo.Connect(r1, br2, "10.0.0.254/24", "fd00::1/64")
	wan, _ := topo.Link(r1, h2, "10.1.0.1/30", "10.1.0.2/30")
	require.NoError(t, wan.Impair(nstest.Impairment{Rate: 1_000_000}))

	ov := topo.AddOverlay("underlay", 42)
	vm1, vm2 := ov.AddSite("vm1", "192.0.2.1/24"), ov.AddSite("vm2", "192.0.2.2/24")
	c1, c2 := topo.AddHost("c1"), topo.AddHost("c2")
	vm1.Connect(c1, "10.42.0.1/24")
	require.NoError(t, vm2.Connect(c2, "10.42.0.2/24").SetDown())

	short := nstest.Within(100 * time.Millisecond)
	assert.True(t, nstest.AssertUnreachable(t, h1, "c1", short), "held: not drawn")
	failures(t, func(tb testing.TB) {
		nstest.AssertReachable(tb, h1, "10.9.9.9", short)
		nstest.AssertTCPReachable(tb, h1, "r1:80", short)
		nstest.AssertMatrix(tb, nstest.Reach(c1, "c2"), short)
	})
	return topo
}

func TestGraphGolden(t *testing.T) {
	t.Parallel()
	topo := everything(t)
	golden(t, "everything.mmd.golden", topo.Graph(nstest.Mermaid))
	golden(t, "everything.dot.golden", topo.Graph(nstest.DOT))
	seed := fixtures.Seed(t, nstest.WithName("seed"))
	golden(t, "seed.mmd.golden", seed.Graph(nstest.Mermaid))
	golden(t, "seed.dot.golden", seed.Graph(nstest.DOT))
}

// TestGraphMarksFailedPairs: only the checks that failed are drawn, in red,
// from their source to their destination.
func TestGraphMarksFailedPairs(t *testing.T) {
	t.Parallel()
	topo := everything(t)
	m := topo.Graph(nstest.Mermaid)
	for _, want := range []string{
		`-->|"✗ ping: want reachable"|`, `n10["10.9.9.9"]`, // an address nobody has gets a node
		`-->|"✗ tcp 80: want reachable"|`,
		`linkStyle 11 stroke:#dc2626`,
	} {
		assert.Contains(t, m, want)
	}
	assert.Equal(t, 3, strings.Count(m, "✗"), "three checks failed; the one that held is not drawn:\n%s", m)
	assert.NotContains(t, m, "want unreachable")
}

// TestGraphSeedFixtureIsSeedFile: fixtures.Seed and fixtures/seed.yaml
// build the same network, br1's address included.
func TestGraphSeedFixtureIsSeedFile(t *testing.T) {
	t.Parallel()
	fromCode := fixtures.Seed(t, nstest.WithName("seed"))
	fromFile := fixtures.Load(t, "seed.yaml")
	for _, f := range []nstest.GraphFormat{nstest.Mermaid, nstest.DOT} {
		assert.Equal(t, fromFile.Graph(f), fromCode.Graph(f), "fixtures.Seed differs from seed.yaml (%v)", f)
	}
	assert.Equal(t, fromFile.Bridge("br1").Addrs(), fromCode.BR1.Addrs())
	nstest.AssertReachable(t, fromCode.NS1, "10.0.0.100")
	nstest.AssertReachable(t, fromCode.Fabric(), "ns2")
}

// TestGraphDOTRenders gives the DOT output to Graphviz, which refuses
// anything that is not valid DOT, and checks the SVG it draws.
func TestGraphDOTRenders(t *testing.T) {
	t.Parallel()
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("dot not found: install the Debian package graphviz to check that the DOT output renders")
	}
	topo := everything(t)
	var out, errb bytes.Buffer
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin = strings.NewReader(topo.Graph(nstest.DOT))
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "dot: %s", errb.String())
	assert.Empty(t, errb.String(), "dot warned")
	svg := out.String()
	assert.Contains(t, svg, "<svg")
	for _, want := range []string{"r1 (router)", "vm1 (VXLAN site)", "10.0.0.254/24 fd00::1/64", "✗ tcp 80: want reachable", `stroke="#dc2626"`, `stroke="#2563eb"`} {
		assert.Contains(t, svg, want)
	}
}

// TestArtifactsGraph: a failing test leaves topology.mmd and topology.dot
// beside state.txt, the pair that failed drawn in red.
func TestArtifactsGraph(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("NSTEST_ARTIFACTS", dir)
	require.Error(t, testrun.Run("TestBroken", nil, brokenSeed(true, nil)), "the inner test should fail")
	out := filepath.Join(dir, "TestBroken")
	mmd, err := os.ReadFile(filepath.Join(out, "topology.mmd"))
	require.NoError(t, err)
	assert.Contains(t, string(mmd), `n1 -->|"✗ ping: want reachable"| n2`)
	assert.Contains(t, string(mmd), "linkStyle 2 stroke:#dc2626")
	dotText, err := os.ReadFile(filepath.Join(out, "topology.dot"))
	require.NoError(t, err)
	assert.Contains(t, string(dotText), `n1 -- n2 [label="✗ ping: want reachable", dir=forward`)

	require.NoError(t, testrun.Run("TestFine", nil, brokenSeed(false, nil)))
	_, err = os.Stat(filepath.Join(dir, "TestFine"))
	assert.True(t, os.IsNotExist(err), "a passing test leaves no artifacts")
}

// A router between two hosts, drawn as a Mermaid flowchart; put it in a
// ```mermaid block of a README or an issue and GitHub draws it.
func ExampleTopology_Graph() {
	topo := nstest.New(tb, nstest.WithName("routed"))
	h1, r1, h2 := topo.AddHost("h1"), topo.AddRouter("r1"), topo.AddHost("h2")
	topo.Link(h1, r1, "10.1.0.2/24", "10.1.0.1/24")
	topo.Link(r1, h2, "10.2.0.1/24", "10.2.0.2/24")
	fmt.Print(topo.Graph(nstest.Mermaid))
	// It prints (TestExamples checks it; an example that builds namespaces
	// has no Output: comment, as go test runs those where it cannot build them):
	// flowchart TB
	//     %% nstest topology routed
	//     n0["h1"]
	//     n1{{"r1 (router)"}}
	//     n2["h2"]
	//     n0 ---|"h1:eth0 10.1.0.2/24<br/>r1:eth0 10.1.0.1/24"| n1
	//     n1 ---|"r1:eth1 10.2.0.1/24<br/>h2:eth0 10.2.0.2/24"| n2
	//     classDef host fill:#ffffff,stroke:#374151
	//     class n0,n2 host
	//     classDef router fill:#fef3c7,stroke:#b45309
	//     class n1 router
}
