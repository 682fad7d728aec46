package topofile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func fixtures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../../fixtures/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures found in ../../fixtures: %v", err)
	}
	return files
}

func TestFixturesParse(t *testing.T) {
	for _, path := range fixtures(t) {
		f, err := ParseFile(path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if want := strings.TrimSuffix(filepath.Base(path), ".yaml"); f.Name != want {
			t.Errorf("%s: name %q, want %q after the file", path, f.Name, want)
		}
		roundTrip(t, path, f)
	}
}

func TestSeedFixture(t *testing.T) {
	f, err := ParseFile("../../fixtures/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Name:    "seed",
		Bridges: []Bridge{{Name: "br1", Addrs: []string{"10.0.0.100/24"}}},
		Hosts: []Node{
			{Name: "ns1", Connect: []Connection{{Bridge: "br1", Addrs: []string{"10.0.0.1/24"}}}},
			{Name: "ns2", Connect: []Connection{{Bridge: "br1", Addrs: []string{"10.0.0.2/24"}}}},
		},
		Expect: Expect{Reachable: []Check{
			{From: "ns1", To: "ns2"}, {From: "ns2", To: "ns1"},
			{From: "ns1", To: "10.0.0.100"}, {From: "ns2", To: "10.0.0.100"},
			{From: "br1", To: "ns1"}, {From: "br1", To: "ns2"},
		}},
	}
	if got := stripped(f); !reflect.DeepEqual(got, want) {
		t.Errorf("seed.yaml parsed to\n%+v\nwant\n%+v", got, want)
	}
	if p := f.Hosts[0].Connect[0].Pos; p != (Pos{12, 9}) {
		t.Errorf("ns1's connection at %v, want line 12 column 9", p)
	}
}

// TestSeedWithTypo is the doc comment's example error.
func TestSeedWithTypo(t *testing.T) {
	data, err := os.ReadFile("../../fixtures/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "10.0.0.1/24", "10.0.0.300/24", 1))
	_, err = Parse("seed.yaml", data)
	want := `seed.yaml:12:31: host "ns1": address "10.0.0.300/24": invalid CIDR`
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v, want %s", err, want)
	}
}

func TestCheckForms(t *testing.T) {
	src := seedBase + `expect:
  tcp:
    - ns1->ns2:80
    - {from: ns2, to: "10.0.0.1:443"}
    - "ns1 -> [fd00::2]:80"
`
	src = strings.Replace(src, "[10.0.0.2/24]", `[10.0.0.2/24, "fd00::2/64"]`, 1)
	f, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Check{{From: "ns1", To: "ns2:80"}, {From: "ns2", To: "10.0.0.1:443"}, {From: "ns1", To: "[fd00::2]:80"}}
	if got := stripped(f).Expect.TCP; !reflect.DeepEqual(got, want) {
		t.Errorf("tcp = %+v, want %+v", got, want)
	}
}

func TestParseFileMissing(t *testing.T) {
	_, err := ParseFile("no/such/topology.yaml")
	if err == nil || !strings.Contains(err.Error(), "no/such/topology.yaml") || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("ParseFile(missing) = %v, want a not-exist error naming the path", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// roundTrip checks that f marshals to a file that parses back to f.
func roundTrip(t testing.TB, name string, f *File) {
	t.Helper()
	data, err := f.Marshal()
	if err != nil {
		t.Fatalf("%s: Marshal: %v", name, err)
	}
	g, err := Parse(name, data)
	if err != nil {
		t.Fatalf("%s: marshalled file does not parse: %v\n%s", name, err, data)
	}
	if a, b := stripped(f), stripped(g); !reflect.DeepEqual(a, b) {
		t.Fatalf("%s: round trip changed the topology:\nbefore %+v\nafter  %+v\n%s", name, a, b, data)
	}
}

// stripped returns a copy of f without positions, for comparisons.
func stripped(f *File) *File {
	g := &File{Name: f.Name}
	for _, b := range f.Bridges {
		g.Bridges = append(g.Bridges, Bridge{Name: b.Name, Addrs: b.Addrs})
	}
	nodes := func(list []Node) []Node {
		var out []Node
		for _, n := range list {
			m := Node{Name: n.Name}
			for _, c := range n.Connect {
				m.Connect = append(m.Connect, Connection{Bridge: c.Bridge, Addrs: c.Addrs, MTU: c.MTU})
			}
			for _, r := range n.Routes {
				m.Routes = append(m.Routes, Route{Dst: r.Dst, Via: r.Via})
			}
			out = append(out, m)
		}
		return out
	}
	g.Hosts, g.Routers = nodes(f.Hosts), nodes(f.Routers)
	for _, l := range f.Links {
		g.Links = append(g.Links, Link{A: l.A, B: l.B, AAddrs: l.AAddrs, BAddrs: l.BAddrs, MTU: l.MTU})
	}
	checks := func(cs []Check) []Check {
		var out []Check
		for _, c := range cs {
			out = append(out, Check{From: c.From, To: c.To})
		}
		return out
	}
	e := f.Expect
	g.Expect = Expect{PingAll: e.PingAll, Reachable: checks(e.Reachable), Unreachable: checks(e.Unreachable),
		TCP: checks(e.TCP), TCPUnreachable: checks(e.TCPUnreachable)}
	return g
}

func TestGeneratedRoundTrip(t *testing.T) {
	for _, spec := range []string{"single,300", "linear,5,2", "tree,3,3"} {
		f, err := Preset(spec)
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, f.Name+".yaml", f)
	}
}

func FuzzParse(f *testing.F) {
	for _, path := range fixtures(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"---\n",
		"name: x\n---\nname: y\n",
		"hosts: [{name: a, connect: [{bridge: b}]}]\nbridges: [{name: b}]\n",
		"hosts: &h [{name: a}]\nrouters: *h\n",
		"hosts: [{name: a, routes: [{dst: default, via: \"fd00::1\"}]}]\n",
		"bridges: [{name: a}, {name: b}]\nlinks: [{a: a, b: b}, {a: b, b: a}]\n",
		"expect: {tcp: [\"a -> [::1]:80\"], reachable: [\"->\"]}\n",
		"hosts: [{name: a, connect: [{bridge: b, mtu: 0x10}]}]\n",
		"hosts: [{name: !!binary aGk=}]\n",
		"hosts: [{? [a]: b}]\n",
		"{a: {b: {c: {d: [[[[[]]]]]}}}}",
		"\t\x00\xff",
		strings.Repeat("[", 100),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data)
		if err != nil {
			if file != nil {
				t.Fatalf("Parse returned a File with error %v", err)
			}
			return
		}
		if err := file.Validate(); err != nil {
			t.Fatalf("parsed file does not validate: %v", err)
		}
		roundTrip(t, "fuzz.yaml", file)
	})
}
