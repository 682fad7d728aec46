package topofile_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest/topofile"
)

// TestBuildOVSBridge builds a file with an Open vSwitch bridge joined to a
// Linux bridge, and checks that the bridge is OVS and forwards.
func TestBuildOVSBridge(t *testing.T) {
	f := parse(t, "ovs.yaml", `
bridges:
  - {name: s1, kind: ovs, addrs: [10.0.0.100/24]}
  - {name: br1, kind: linux}
hosts:
  - name: h1
    connect: [{bridge: s1, addrs: [10.0.0.1/24]}]
  - name: h2
    connect: [{bridge: br1, addrs: [10.0.0.2/24]}]
links:
  - {a: s1, b: br1}
expect:
  pingall: true
  reachable: [s1 -> h2]
`)
	var rs []topofile.Result
	var flows []string
	err := testrun.Run("ovs", nil, func(tb testing.TB) {
		topo := topofile.Build(tb, f)
		var err error
		flows, err = topo.Bridge("s1").Flows()
		require.NoError(tb, err)
		assert.Error(tb, topo.Bridge("br1").AddFlow("actions=NORMAL"), "br1 is a Linux bridge")
		rs = topofile.Verify(tb, topo, f)
	})
	if errors.Is(err, testrun.ErrSkipped) {
		t.Skip(err)
	}
	require.NoError(t, err)
	require.Len(t, flows, 1)
	assert.Contains(t, flows[0], "actions=NORMAL")
	require.NotEmpty(t, rs)
	for _, r := range rs {
		assert.True(t, r.OK, "%+v", r)
	}
}

func TestSetSwitch(t *testing.T) {
	f, err := topofile.Preset("single,3")
	require.NoError(t, err)
	f.Bridges[0].Kind = ""
	require.NoError(t, f.SetSwitch("ovs"))
	assert.Equal(t, topofile.KindOVS, f.Bridges[0].Kind)
	require.NoError(t, f.SetSwitch("lxbr"), "a bridge with a kind keeps it")
	assert.Equal(t, topofile.KindOVS, f.Bridges[0].Kind)
	err = f.SetSwitch("user")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"user"`)

	// Marshal writes the kind, and Parse reads it back.
	b, err := f.Marshal()
	require.NoError(t, err)
	assert.Contains(t, string(b), "kind: ovs")
	g, err := topofile.Parse("back.yaml", b)
	require.NoError(t, err)
	assert.Equal(t, topofile.KindOVS, g.Bridges[0].Kind)
}
