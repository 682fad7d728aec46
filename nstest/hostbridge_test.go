package nstest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

// A host that is a switch: its bridge's ports are in its namespace, and it
// is cabled to another switch host and to a bridge of the fabric.
func TestHostAsSwitch(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	sw := topo.AddHost("sw")
	br := sw.AddBridge("br0")
	require.NoError(t, br.AddAddr("10.0.0.254/24"))
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	e1 := topo.Connect(h1, br, "10.0.0.1/24")
	topo.Connect(h2, br, "10.0.0.2/24")

	assert.Equal(t, "sw:br0", br.String())
	assert.Equal(t, sw, br.Host())
	assert.Equal(t, []*nstest.Bridge{br}, sw.Bridges())
	assert.Equal(t, br, sw.Bridge("br0"))
	assert.Equal(t, sw, e1.Peer().Host(), "h1's bridge port is in sw")
	assert.Empty(t, topo.Bridges(), "the fabric has no bridge")
	ports, err := br.Ports()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"h1-eth0", "h2-eth0"}, ports)
	// The bridge's address is the switch host's: its name resolves to it.
	assert.Equal(t, "10.0.0.254", sw.Addr().String())
	nstest.AssertConnectivity(t, h1, h2, sw)

	// Another switch host with a br0 of its own, cabled to sw; a bridge of
	// the fabric cabled to it; and a host linked to sw directly, whose
	// cable sw plugs into its bridge.
	sw2 := topo.AddHost("sw2")
	br2 := sw2.AddBridge("br0")
	topo.ConnectBridges(br, br2)
	fb := topo.AddBridge("br1")
	topo.ConnectBridges(fb, br2)
	h3, h4, h5 := topo.AddHost("h3"), topo.AddHost("h4"), topo.AddHost("h5")
	topo.Connect(h3, br2, "10.0.0.3/24")
	topo.Connect(h4, fb, "10.0.0.4/24")
	swEnd, _ := topo.Link(sw, h5, "", "10.0.0.5/24")
	require.NoError(t, swEnd.SetMaster(br))
	nstest.AssertConnectivity(t, h1, h3, h4, h5)

	fdb, err := br.FDB()
	require.NoError(t, err)
	onPort := map[string]bool{}
	for _, e := range fdb {
		if e.Learned && e.Port != nil {
			onPort[e.Port.String()] = true
		}
	}
	for _, p := range []string{"sw:h1-eth0", "sw:br0-br0", "sw:eth0"} {
		assert.True(t, onPort[p], "sw:br0 learned an address on %s: %v", p, fdb)
	}

	g := topo.Graph(nstest.Mermaid)
	for _, want := range []string{
		`[["sw:br0<br/>10.0.0.254/24"]]`, `[["sw2:br0"]]`, `[["br1"]]`,
		`-.-|"bridge in sw"|`, `-.-|"bridge in sw2"|`,
		`---|"eth0 10.0.0.1/24"|`, `---|"br0-br0<br/>br0-br0"|`, `---|"eth0 10.0.0.5/24"|`,
	} {
		assert.Contains(t, g, want)
	}
	// Both ends of h1's cable: h1 and the bridge inside sw.
	assert.Regexp(t, `n\d+ ---\|"eth0 10.0.0.1/24"\| n\d+`, g)
	assert.Contains(t, mermaidEdge(g, "eth0 10.0.0.1/24"), nodeID(g, `[["sw:br0`))
	assert.Contains(t, mermaidEdge(g, "eth0 10.0.0.1/24"), nodeID(g, `["h1"]`))

	dot := topo.Graph(nstest.DOT)
	assert.Contains(t, dot, `[label="sw:br0\n10.0.0.254/24", shape=box, peripheries=2`)
	assert.Regexp(t, `n\d+ -- n\d+ \[label="bridge in sw", style=dotted`, dot)

	var state strings.Builder
	require.NoError(t, topo.WriteState(&state))
	s := state.String()
	sws := s[strings.Index(s, "=== host sw\n"):]
	sws = sws[:strings.Index(sws[1:], "===")+1]
	assert.Contains(t, sws, "  bridge br0:\n    stp off")
	assert.Contains(t, sws, "port h1-eth0 (to h1:eth0): forwarding, learning on")
	assert.Contains(t, sws, "fdb ")
	assert.Contains(t, sws, "dev h1-eth0 learned")
}

// mermaidEdge returns the Mermaid line of the edge labelled label.
func mermaidEdge(g, label string) string {
	for _, l := range strings.Split(g, "\n") {
		if strings.Contains(l, `|"`+label+`"|`) {
			return l
		}
	}
	return ""
}

// nodeID returns the id of the Mermaid node whose line contains shape.
func nodeID(g, shape string) string {
	for _, l := range strings.Split(g, "\n") {
		if i := strings.Index(l, shape); i > 0 {
			return strings.TrimSpace(l[:i])
		}
	}
	return "(no node " + shape + ")"
}

// VLANs on a bridge inside a host: SetVLAN on a host's interface acts on
// its port in the switch host. Skips where the kernel lacks
// CONFIG_BRIDGE_VLAN_FILTERING.
func TestHostBridgeVLANs(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddHost("sw").AddBridge("br0", nstest.VLANFiltering())
	h1, h2, h3 := topo.AddHost("h1"), topo.AddHost("h2"), topo.AddHost("h3")
	require.NoError(t, topo.Connect(h1, br, "10.0.0.1/24").SetVLAN(10))
	require.NoError(t, topo.Connect(h2, br, "10.0.0.2/24").SetVLAN(10))
	require.NoError(t, topo.Connect(h3, br, "10.0.0.3/24").SetVLAN(20))
	nstest.AssertReachable(t, h1, "h2")
	nstest.AssertUnreachable(t, h1, "h3", nstest.Within(quick))
}
