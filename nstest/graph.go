package nstest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// GraphFormat is the language Topology.Graph draws in.
type GraphFormat int

const (
	// Mermaid is a Mermaid flowchart, which GitHub, GitLab and many wikis
	// draw when it is put in a ```mermaid block.
	Mermaid GraphFormat = iota
	// DOT is Graphviz's language: dot -Tsvg topology.dot > topology.svg.
	DOT
)

// String returns "mermaid" or "dot".
func (f GraphFormat) String() string {
	switch f {
	case Mermaid:
		return "mermaid"
	case DOT:
		return "dot"
	}
	return "GraphFormat(" + strconv.Itoa(int(f)) + ")"
}

// Graph draws the topology as it is now, from the topology's own record of
// what it built (so the library, the nstest command and the failure
// artifacts draw the same picture): one node per host, router, bridge and
// VXLAN site, shaped and coloured by kind; one edge per veth pair, labelled
// with the interfaces' names and addresses; a bridge inside a host
// (Host.AddBridge) as a bridge called "host:name" tied to its host by a
// dotted grey edge; dotted blue edges between the sites of a VXLAN overlay; an impaired link in orange with its impairment;
// a link that is administratively down (as the kernel reports it) dashed and
// grey; and, in red, an arrow for every pair a connectivity assertion
// (AssertReachable, AssertTCPReachable, AssertConnectivity, AssertMatrix,
// ...) found not as expected. An unknown format draws Mermaid.
//
// NSTEST_ARTIFACTS writes both formats, topology.mmd and topology.dot, for a
// failing test; `nstest graph FILE` prints them for a topology file.
func (t *Topology) Graph(format GraphFormat) string {
	t.mu.Lock()
	live := !t.closed
	t.mu.Unlock()
	g := t.graph(live)
	if format == DOT {
		return g.dot()
	}
	return g.mermaid()
}

// drawing is what Graph draws beyond hosts, bridges and their links; the
// Topology's mu guards it.
type drawing struct {
	overlays []*Overlay
	failed   []failedCheck
}

// failedCheck is a pair a connectivity assertion found not as expected.
type failedCheck struct {
	from   string // node name
	fabric bool   // from is the fabric (a check from a bridge in a topology file)
	to     string // node name, or the address as the check gave it
	what   string // "ping", "tcp 80", "udp 53"
	want   string // "reachable" or "unreachable"
}

// markUnless records, when a check did not hold, the pair it checked for
// Graph. It is deferred by the assertions, so it also runs when one panics.
func markUnless(held *bool, from *Host, to, proto string, reach bool) {
	if *held || from == nil || from.topo == nil {
		return
	}
	what := proto
	if proto != "ping" {
		if host, port, err := net.SplitHostPort(to); err == nil {
			to, what = host, proto+" "+port
		}
	}
	from.topo.markFailed(from, to, what, reach)
}

// markFailed records that the check what from `from` to `to` (a node name or
// an address) was not as expected.
func (t *Topology) markFailed(from *Host, to, what string, reach bool) {
	want := "unreachable"
	if reach {
		want = "reachable"
	}
	if a, err := netip.ParseAddr(to); err == nil {
		if n := t.nameOf(a); n != "" && !strings.Contains(n, " or ") { // not an address two nodes hold
			to = n
		}
	}
	fc := failedCheck{from: from.name, fabric: from.kind == kindFabric, to: to, what: what, want: want}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.drawn.failed {
		if f == fc {
			return
		}
	}
	t.drawn.failed = append(t.drawn.failed, fc)
}

// writeGraphs leaves topology.mmd and topology.dot in dir, for the failure
// artifacts. The namespaces are still there: link states are read.
func (t *Topology) writeGraphs(dir string) error {
	g := t.graph(true)
	if err := os.WriteFile(filepath.Join(dir, "topology.mmd"), []byte(g.mermaid()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "topology.dot"), []byte(g.dot()), 0o644)
}

// Node kinds as drawn.
const (
	drawHost    = "host"
	drawRouter  = "router"
	drawBridge  = "bridge"
	drawOVS     = "ovs" // an Open vSwitch bridge
	drawSite    = "site"
	drawFabric  = "fabric"
	drawAddress = "address" // a destination no node of the topology has
)

// nodeStyle is how a kind of node is drawn.
type nodeStyle struct {
	open, close string // Mermaid shape around the label
	dot         string // Graphviz attributes
	fill        string // Mermaid classDef
	suffix      string // after the name in the label
}

var nodeStyles = map[string]nodeStyle{
	drawHost:    {`["`, `"]`, `shape=box, style=filled, fillcolor="#ffffff"`, "fill:#ffffff,stroke:#374151", ""},
	drawRouter:  {`{{"`, `"}}`, `shape=hexagon, style=filled, fillcolor="#fef3c7"`, "fill:#fef3c7,stroke:#b45309", " (router)"},
	drawBridge:  {`[["`, `"]]`, `shape=box, peripheries=2, style=filled, fillcolor="#dbeafe"`, "fill:#dbeafe,stroke:#1d4ed8", ""},
	drawOVS:     {`[["`, `"]]`, `shape=box, peripheries=2, style=filled, fillcolor="#dcfce7"`, "fill:#dcfce7,stroke:#15803d", " (OVS)"},
	drawSite:    {`[/"`, `"/]`, `shape=parallelogram, style=filled, fillcolor="#ede9fe"`, "fill:#ede9fe,stroke:#6d28d9", " (VXLAN site)"},
	drawFabric:  {`("`, `")`, `shape=box, style="rounded,filled", fillcolor="#f3f4f6"`, "fill:#f3f4f6,stroke:#6b7280", ""},
	drawAddress: {`["`, `"]`, `shape=box, style=dashed`, "fill:#ffffff,stroke:#6b7280,stroke-dasharray:4 4", ""},
}

// drawOrder is the order of the class lines in Mermaid output.
var drawOrder = []string{drawHost, drawRouter, drawBridge, drawOVS, drawSite, drawFabric, drawAddress}

// bridgeKind says how a bridge is drawn. A new kind of bridge (Open
// vSwitch) returns its kind here.
func bridgeKind(b *Bridge) string {
	if b.ovs != nil {
		return drawOVS
	}
	return drawBridge
}

// hostKind says how a host is drawn.
func hostKind(h *Host) string {
	switch h.kind {
	case kindRouter:
		return drawRouter
	case kindSite:
		return drawSite
	case kindFabric:
		return drawFabric
	}
	return drawHost
}

// Edge styles.
const (
	edgeLink   = iota // a veth pair
	edgeVXLAN         // between the sites of an overlay
	edgeFailed        // a check not as expected, from one node to another
	edgeInside        // from a host to a bridge inside it
)

type graphNode struct {
	id, kind string
	lines    []string // the name first
}

type graphEdge struct {
	a, b     string // node ids
	style    int
	lines    []string
	down     bool
	impaired bool
}

type graph struct {
	name  string
	nodes []*graphNode
	edges []graphEdge
	byKey map[string]*graphNode
}

// node returns the node for key, making it with kind and label when new.
func (g *graph) node(key, kind, name string) *graphNode {
	if n := g.byKey[key]; n != nil {
		return n
	}
	n := &graphNode{id: "n" + strconv.Itoa(len(g.nodes)), kind: kind, lines: []string{name + nodeStyles[kind].suffix}}
	g.nodes = append(g.nodes, n)
	g.byKey[key] = n
	return n
}

// graph builds the picture from the topology's record. With live set, it
// asks the kernel which links are down.
func (t *Topology) graph(live bool) *graph {
	t.mu.Lock()
	g := &graph{name: t.name, byKey: map[string]*graphNode{}}
	hosts := append([]*Host(nil), t.hosts...)
	bridges := append([]*Bridge(nil), t.bridges...)
	fabric := t.fabric
	overlays := append([]*Overlay(nil), t.drawn.overlays...)
	failed := append([]failedCheck(nil), t.drawn.failed...)
	t.mu.Unlock()

	type brKey struct {
		h     *Host
		index int
	}
	byIndex := map[brKey]*graphNode{} // the bridges, in their namespaces
	for _, b := range bridges {
		n := g.node("node "+b.name, bridgeKind(b), b.name)
		n.lines = append(n.lines, prefixStrings(b.Addrs())...)
		byIndex[brKey{b.host, b.index}] = n
	}
	for _, h := range hosts {
		hn := g.node("node "+h.name, hostKind(h), h.name)
		// A bridge inside a host (a host that is a switch) is drawn as a
		// bridge called "host:name", tied to its host by a dotted line.
		for _, b := range h.Bridges() {
			n := g.node("bridge "+b.String(), bridgeKind(b), b.String())
			n.lines = append(n.lines, prefixStrings(b.Addrs())...)
			byIndex[brKey{h, b.index}] = n
			g.edges = append(g.edges, graphEdge{a: hn.id, b: n.id, style: edgeInside, lines: []string{"bridge in " + h.name}})
		}
	}
	// end returns the node an interface belongs to in the picture: the
	// bridge it is a port of, or its host.
	end := func(i *Interface, master int) *graphNode {
		h := i.host
		switch {
		case master != 0 && byIndex[brKey{h, master}] != nil:
			return byIndex[brKey{h, master}]
		case h == fabric:
			return g.node("fabric", drawFabric, "fabric")
		}
		return g.node("node "+h.name, hostKind(h), h.name)
	}
	all := hosts
	if fabric != nil {
		all = append(all, fabric)
	}
	seen := map[*Interface]bool{}
	for _, h := range all {
		for _, i := range h.Interfaces() {
			if seen[i] {
				continue
			}
			seen[i] = true
			ie := i.drawn(live)
			if i.peer == nil {
				n := end(i, ie.master)
				n.lines = append(n.lines, ie.text(false))
				continue
			}
			p := i.peer
			seen[p] = true
			pe := p.drawn(live)
			e := graphEdge{a: end(i, ie.master).id, b: end(p, pe.master).id}
			// A bridge port is named by the bridge it is drawn as, unless
			// both ends are ports (a cable between two bridges).
			// Between two hosts either end could be meant: name its host.
			both, hosts := ie.master != 0 && pe.master != 0, ie.master == 0 && pe.master == 0
			for _, x := range []ifaceDrawn{ie, pe} {
				if x.master == 0 || both {
					e.lines = append(e.lines, x.text(hosts))
				}
			}
			for _, x := range []ifaceDrawn{ie, pe} {
				if s := x.impairment(); s != "" {
					e.lines = append(e.lines, x.label(hosts)+" sends with "+s)
					e.impaired = true
				}
				if x.down {
					e.lines = append(e.lines, x.label(hosts)+" down")
					e.down = true
				}
			}
			g.edges = append(g.edges, e)
		}
	}
	for _, o := range overlays {
		sites := o.Sites()
		for k, a := range sites {
			for _, b := range sites[k+1:] {
				g.edges = append(g.edges, graphEdge{
					a: g.node("node "+a.Name(), drawSite, a.Name()).id, b: g.node("node "+b.Name(), drawSite, b.Name()).id,
					style: edgeVXLAN, lines: []string{fmt.Sprintf("%s VNI %d", a.vxName, o.vni), a.addr.String() + " - " + b.addr.String()},
				})
			}
		}
	}
	for _, f := range failed {
		from := g.node("node "+f.from, drawHost, f.from)
		if f.fabric {
			from = g.node("fabric", drawFabric, "fabric")
		}
		to := g.byKey["node "+f.to]
		if to == nil {
			to = g.node("address "+f.to, drawAddress, f.to)
		}
		g.edges = append(g.edges, graphEdge{a: from.id, b: to.id, style: edgeFailed, lines: []string{"✗ " + f.what + ": want " + f.want}})
	}
	return g
}

// ifaceDrawn is what the picture shows of one interface.
type ifaceDrawn struct {
	host, name string
	addrs      []string
	master     int
	impair     Impairment
	down       bool
}

func (i *Interface) drawn(live bool) ifaceDrawn {
	i.mu.Lock()
	d := ifaceDrawn{host: i.host.name, name: i.name, addrs: prefixStrings(i.addrs), master: i.master, impair: i.impair}
	i.mu.Unlock()
	if live {
		if up, _, err := i.LinkState(); err == nil && !up {
			d.down = true
		}
	}
	return d
}

// text is "eth0 10.0.0.1/24 fd00::1/64", with the host's name in front when
// withHost is set (a link between two hosts, where either end could be
// meant).
func (d ifaceDrawn) text(withHost bool) string {
	s := d.label(withHost)
	if len(d.addrs) > 0 {
		s += " " + strings.Join(d.addrs, " ")
	}
	return s
}

// label is "eth0", or "h1:eth0" withHost.
func (d ifaceDrawn) label(withHost bool) string {
	if withHost {
		return d.host + ":" + d.name
	}
	return d.name
}

// impairment is "delay 10ms ±2ms, loss 5%, rate 1Mbit/s", or "".
func (d ifaceDrawn) impairment() string {
	im := d.impair
	var parts []string
	if im.Delay > 0 || im.Jitter > 0 {
		s := "delay " + im.Delay.String()
		if im.Jitter > 0 {
			s += " ±" + im.Jitter.String()
		}
		parts = append(parts, s)
	}
	if im.Loss > 0 {
		parts = append(parts, "loss "+strconv.FormatFloat(im.Loss, 'g', -1, 64)+"%")
	}
	if im.Rate > 0 {
		parts = append(parts, "rate "+formatRate(im.Rate))
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ")
}

// formatRate writes bits per second the way tc does: 1Mbit/s, 512Kbit/s.
func formatRate(bps uint64) string {
	for _, u := range []struct {
		div  uint64
		unit string
	}{{1e9, "Gbit/s"}, {1e6, "Mbit/s"}, {1e3, "Kbit/s"}} {
		if bps >= u.div && bps%u.div == 0 {
			return strconv.FormatUint(bps/u.div, 10) + u.unit
		}
	}
	return strconv.FormatUint(bps, 10) + "bit/s"
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for k, p := range ps {
		out[k] = p.String()
	}
	return out
}

// Colours of the edges, shared by both formats.
const (
	colourFailed   = "#dc2626"
	colourDown     = "#9ca3af"
	colourImpaired = "#d97706"
	colourVXLAN    = "#2563eb"
)

// mermaid renders g as a Mermaid flowchart. Node ids are generated (n0,
// n1, ...) because node names may be Mermaid keywords such as "end".
func (g *graph) mermaid() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flowchart TB\n    %%%% nstest topology %s\n", g.name)
	for _, n := range g.nodes {
		st := nodeStyles[n.kind]
		fmt.Fprintf(&b, "    %s%s%s%s\n", n.id, st.open, mermaidText(n.lines), st.close)
	}
	var styles []string
	for k, e := range g.edges {
		link := "---"
		switch e.style {
		case edgeVXLAN:
			link = "-.-"
		case edgeFailed:
			link = "-->"
		case edgeInside:
			link = "-.-"
		}
		fmt.Fprintf(&b, "    %s %s|\"%s\"| %s\n", e.a, link, mermaidText(e.lines), e.b)
		switch {
		case e.style == edgeFailed:
			styles = append(styles, fmt.Sprintf("    linkStyle %d stroke:%s,stroke-width:2px,color:%s", k, colourFailed, colourFailed))
		case e.style == edgeVXLAN:
			styles = append(styles, fmt.Sprintf("    linkStyle %d stroke:%s,color:%s", k, colourVXLAN, colourVXLAN))
		case e.style == edgeInside:
			styles = append(styles, fmt.Sprintf("    linkStyle %d stroke:%s,color:%s", k, colourDown, colourDown))
		case e.down:
			styles = append(styles, fmt.Sprintf("    linkStyle %d stroke:%s,stroke-dasharray:6 4,color:%s", k, colourDown, colourDown))
		case e.impaired:
			styles = append(styles, fmt.Sprintf("    linkStyle %d stroke:%s,stroke-width:2px,color:%s", k, colourImpaired, colourImpaired))
		}
	}
	for _, kind := range drawOrder {
		var ids []string
		for _, n := range g.nodes {
			if n.kind == kind {
				ids = append(ids, n.id)
			}
		}
		if len(ids) > 0 {
			fmt.Fprintf(&b, "    classDef %s %s\n    class %s %s\n", kind, nodeStyles[kind].fill, strings.Join(ids, ","), kind)
		}
	}
	for _, s := range styles {
		b.WriteString(s + "\n")
	}
	return b.String()
}

// mermaidText joins lines for a quoted Mermaid label; a double quote would
// end the label, so it is written as an entity.
func mermaidText(lines []string) string {
	return strings.ReplaceAll(strings.Join(lines, "<br/>"), `"`, "#quot;")
}

// dot renders g in Graphviz's DOT language.
func (g *graph) dot() string {
	var b strings.Builder
	fmt.Fprintf(&b, "// nstest topology %s\ngraph %s {\n", g.name, dotQuote(g.name))
	b.WriteString("    graph [rankdir=TB, fontname=\"Helvetica\"];\n")
	b.WriteString("    node [fontname=\"Helvetica\", fontsize=11];\n")
	b.WriteString("    edge [fontname=\"Helvetica\", fontsize=9];\n")
	for _, n := range g.nodes {
		fmt.Fprintf(&b, "    %s [label=%s, %s];\n", n.id, dotQuote(strings.Join(n.lines, "\n")), nodeStyles[n.kind].dot)
	}
	for _, e := range g.edges {
		attrs := "label=" + dotQuote(strings.Join(e.lines, "\n"))
		switch {
		case e.style == edgeFailed:
			attrs += fmt.Sprintf(`, dir=forward, constraint=false, penwidth=2, color="%s", fontcolor="%s"`, colourFailed, colourFailed)
		case e.style == edgeVXLAN:
			attrs += fmt.Sprintf(`, style=dotted, color="%s", fontcolor="%s"`, colourVXLAN, colourVXLAN)
		case e.style == edgeInside:
			attrs += fmt.Sprintf(`, style=dotted, color="%s", fontcolor="%s"`, colourDown, colourDown)
		case e.down:
			attrs += fmt.Sprintf(`, style=dashed, color="%s", fontcolor="%s"`, colourDown, colourDown)
		case e.impaired:
			attrs += fmt.Sprintf(`, penwidth=2, color="%s", fontcolor="%s"`, colourImpaired, colourImpaired)
		}
		fmt.Fprintf(&b, "    %s -- %s [%s];\n", e.a, e.b, attrs)
	}
	b.WriteString("}\n")
	return b.String()
}

// dotQuote quotes s as a DOT string, its newlines as centred line breaks.
func dotQuote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + strings.ReplaceAll(s, "\n", `\n`) + `"`
}
