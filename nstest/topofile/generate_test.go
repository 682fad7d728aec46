package topofile

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// shape summarises a generated topology for the tests below.
type shape struct {
	hosts, bridges, bridgeLinks int
}

func shapeOf(t *testing.T, f *File) shape {
	t.Helper()
	if err := f.Validate(); err != nil {
		t.Fatalf("generated topology %q does not validate: %v", f.Name, err)
	}
	if !f.Expect.PingAll {
		t.Errorf("generated topology %q does not expect pingall", f.Name)
	}
	seen := map[netip.Addr]string{}
	for _, h := range f.Hosts {
		if len(h.Connect) != 1 || len(h.Connect[0].Addrs) != 1 {
			t.Fatalf("host %q: connect = %+v, want one connection with one address", h.Name, h.Connect)
		}
		p := netip.MustParsePrefix(h.Connect[0].Addrs[0])
		if other, dup := seen[p.Addr()]; dup {
			t.Errorf("hosts %q and %q share address %s", other, h.Name, p.Addr())
		}
		seen[p.Addr()] = h.Name
		if !netip.MustParsePrefix("10.0.0.0/8").Contains(p.Addr()) || p.Bits() != 8 {
			t.Errorf("host %q: address %s, want one in Mininet's 10.0.0.0/8", h.Name, p)
		}
	}
	for _, l := range f.Links {
		if f.Bridge(l.A) == nil || f.Bridge(l.B) == nil {
			t.Errorf("link %s-%s: want both ends bridges", l.A, l.B)
		}
	}
	for _, n := range append(names(f), bridgeNames(f)...) {
		if len(n) > MaxIfNameLen {
			t.Errorf("name %q over %d bytes", n, MaxIfNameLen)
		}
	}
	return shape{len(f.Hosts), len(f.Bridges), len(f.Links)}
}

func names(f *File) []string {
	var s []string
	for _, h := range f.Hosts {
		s = append(s, h.Name)
	}
	return s
}

func bridgeNames(f *File) []string {
	var s []string
	for _, b := range f.Bridges {
		s = append(s, b.Name)
	}
	return s
}

func TestSingle(t *testing.T) {
	f, err := Single(3)
	if err != nil {
		t.Fatal(err)
	}
	if got := shapeOf(t, f); got != (shape{3, 1, 0}) {
		t.Errorf("Single(3) = %+v, want 3 hosts, 1 bridge, no links", got)
	}
	if got := strings.Join(names(f), " "); got != "h1 h2 h3" {
		t.Errorf("hosts = %s, want h1 h2 h3", got)
	}
	for i, h := range f.Hosts {
		if c := h.Connect[0]; c.Bridge != "s1" || c.Addrs[0] != fmt.Sprintf("10.0.0.%d/8", i+1) {
			t.Errorf("host %q: connect %+v, want s1 with 10.0.0.%d/8", h.Name, c, i+1)
		}
	}
}

func TestSingleThousandSpansSubnetBytes(t *testing.T) {
	f, err := Single(1000)
	if err != nil {
		t.Fatal(err)
	}
	if got := shapeOf(t, f); got != (shape{1000, 1, 0}) {
		t.Errorf("Single(1000) = %+v, want 1000 hosts, 1 bridge", got)
	}
	// As in Mininet, h256 follows h255 (10.0.0.255) with 10.0.1.0.
	if got := f.Node("h256").Connect[0].Addrs[0]; got != "10.0.1.0/8" {
		t.Errorf("h256 address = %s, want 10.0.1.0/8", got)
	}
}

func TestLinear(t *testing.T) {
	f, err := Linear(4)
	if err != nil {
		t.Fatal(err)
	}
	if got := shapeOf(t, f); got != (shape{4, 4, 3}) {
		t.Errorf("Linear(4) = %+v, want 4 hosts, 4 bridges, 3 bridge links", got)
	}
	for i, h := range f.Hosts {
		if want := fmt.Sprintf("s%d", i+1); h.Name != fmt.Sprintf("h%d", i+1) || h.Connect[0].Bridge != want {
			t.Errorf("host %d = %s on %s, want h%d on %s", i, h.Name, h.Connect[0].Bridge, i+1, want)
		}
	}
	var links []string
	for _, l := range f.Links {
		links = append(links, l.A+"-"+l.B)
	}
	if got := strings.Join(links, " "); got != "s2-s1 s3-s2 s4-s3" {
		t.Errorf("links = %s, want s2-s1 s3-s2 s4-s3", got)
	}
}

func TestLinearN(t *testing.T) {
	f, err := LinearN(2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := shapeOf(t, f); got != (shape{4, 2, 1}) {
		t.Errorf("LinearN(2, 2) = %+v, want 4 hosts, 2 bridges, 1 link", got)
	}
	if got := strings.Join(names(f), " "); got != "h1s1 h2s1 h1s2 h2s2" {
		t.Errorf("hosts = %s, want Mininet's h1s1 h2s1 h1s2 h2s2", got)
	}
}

func TestTree(t *testing.T) {
	f, err := Tree(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := shapeOf(t, f); got != (shape{9, 4, 3}) {
		t.Errorf("Tree(2, 3) = %+v, want 9 hosts, 4 bridges, 3 links", got)
	}
	// Mininet numbers depth first: s1 is the root, s2 its first child
	// with h1..h3, then s3 with h4..h6.
	if got := f.Node("h4").Connect[0].Bridge; got != "s3" {
		t.Errorf("h4 is on %s, want s3", got)
	}
	for _, l := range f.Links {
		if l.A != "s1" {
			t.Errorf("link %s-%s, want every link from the root s1", l.A, l.B)
		}
	}
}

func TestTreeLarge(t *testing.T) {
	f, err := Tree(3, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := shapeOf(t, f); got != (shape{1000, 111, 110}) {
		t.Errorf("Tree(3, 10) = %+v, want 1000 hosts, 111 bridges, 110 links", got)
	}
}

func TestPreset(t *testing.T) {
	cases := []struct {
		spec string
		want shape
		name string
	}{
		{"minimal", shape{2, 1, 0}, "single-2"},
		{"single", shape{2, 1, 0}, "single-2"},
		{"single,20", shape{20, 1, 0}, "single-20"},
		{" linear , 4 ", shape{4, 4, 3}, "linear-4"},
		{"linear,3,2", shape{6, 3, 2}, "linear-3-2"},
		{"tree", shape{2, 1, 0}, "tree-1-2"},
		{"tree,2", shape{4, 3, 2}, "tree-2-2"},
		{"tree,2,2", shape{4, 3, 2}, "tree-2-2"},
	}
	for _, c := range cases {
		f, err := Preset(c.spec)
		if err != nil {
			t.Errorf("Preset(%q): %v", c.spec, err)
			continue
		}
		if got := shapeOf(t, f); got != c.want || f.Name != c.name {
			t.Errorf("Preset(%q) = %s %+v, want %s %+v", c.spec, f.Name, got, c.name, c.want)
		}
	}
}

func TestPresetErrors(t *testing.T) {
	cases := map[string]string{
		"ring,3":        `topofile: preset "ring,3": unknown topology "ring" (want minimal, single,N, linear,K[,N] or tree,DEPTH[,FANOUT])`,
		"":              `topofile: preset "": unknown topology "" (want minimal, single,N, linear,K[,N] or tree,DEPTH[,FANOUT])`,
		"single,x":      `topofile: preset "single,x": argument 1 "x": want a whole number`,
		"single,0":      `topofile: preset "single,0": single: hosts 0: want at least 1`,
		"single,20000":  `topofile: preset "single,20000": single: hosts 20000: over the limit of 10000 hosts`,
		"linear,2,3,4":  `topofile: preset "linear,2,3,4": linear takes at most 2 numbers, got 3`,
		"minimal,2":     `topofile: preset "minimal,2": minimal takes at most 0 numbers, got 1`,
		"tree,0,2":      `topofile: preset "tree,0,2": tree: depth 0, fanout 2: want both at least 1`,
		"tree,10,10":    `topofile: preset "tree,10,10": tree: depth 10, fanout 10: over the limit of 10000 hosts`,
		"linear,200,60": `topofile: preset "linear,200,60": linear: hosts 12000: over the limit of 10000 hosts`,
	}
	for spec, want := range cases {
		f, err := Preset(spec)
		if err == nil || err.Error() != want || f != nil {
			t.Errorf("Preset(%q) = %v, %v; want error %q", spec, f, err, want)
		}
	}
}

func BenchmarkSingle1000(b *testing.B) {
	for b.Loop() {
		f, err := Single(1000)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTree3x10(b *testing.B) {
	for b.Loop() {
		f, err := Tree(3, 10)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSingle1000(b *testing.B) {
	f, err := Single(1000)
	if err != nil {
		b.Fatal(err)
	}
	data, err := f.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("single.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
