package topofile

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxGeneratedHosts bounds the hosts a generator makes, so that a typo such
// as "tree,10,10" fails at once instead of asking for 10^10 namespaces.
const MaxGeneratedHosts = 10000

// mininetAddr is Mininet's address for the i-th host (from 1): 10.0.0.0/8
// plus i, so h1 is 10.0.0.1/8 and h256 is 10.0.1.0/8.
func mininetAddr(i int) string {
	n := uint32(10<<24 + i)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}).String() + "/8"
}

// gen accumulates a generated topology.
type gen struct {
	f *File
}

func newGen(name string) *gen {
	return &gen{f: &File{Name: name, Expect: Expect{PingAll: true}}}
}

func (g *gen) bridge(name string) {
	g.f.Bridges = append(g.f.Bridges, Bridge{Name: name})
}

func (g *gen) host(name, bridge string) {
	i := len(g.f.Hosts) + 1
	g.f.Hosts = append(g.f.Hosts, Node{
		Name:    name,
		Connect: []Connection{{Bridge: bridge, Addrs: []string{mininetAddr(i)}}},
	})
}

func (g *gen) link(a, b string) {
	g.f.Links = append(g.f.Links, Link{A: a, B: b})
}

func checkCount(what string, n, min int) error {
	if n < min {
		return fmt.Errorf("%s %d: want at least %d", what, n, min)
	}
	if n > MaxGeneratedHosts {
		return fmt.Errorf("%s %d: over the limit of %d hosts", what, n, MaxGeneratedHosts)
	}
	return nil
}

// Single returns Mininet's single topology: n hosts h1..hn on one switch,
// bridge s1, with addresses 10.0.0.1/8, 10.0.0.2/8, ... and pingall
// expected.
func Single(n int) (*File, error) { return wrap(single(n)) }

func single(n int) (*File, error) {
	if err := checkCount("single: hosts", n, 1); err != nil {
		return nil, err
	}
	g := newGen("single-" + strconv.Itoa(n))
	g.f.Hosts = make([]Node, 0, n)
	g.bridge("s1")
	for i := 1; i <= n; i++ {
		g.host("h"+strconv.Itoa(i), "s1")
	}
	return g.f, nil
}

// Linear returns Mininet's linear topology: k switches s1..sk in a chain
// (bridge links s2-s1, s3-s2, ...), one host hi on each switch si, with
// Mininet's addresses and pingall expected.
func Linear(k int) (*File, error) { return LinearN(k, 1) }

// LinearN is Linear with n hosts on each switch; as in Mininet, with n > 1
// the hosts are named h1s1, h2s1, ..., h1s2, ...
func LinearN(k, n int) (*File, error) { return wrap(linear(k, n)) }

func linear(k, n int) (*File, error) {
	if err := checkCount("linear: switches", k, 1); err != nil {
		return nil, err
	}
	if err := checkCount("linear: hosts per switch", n, 1); err != nil {
		return nil, err
	}
	if err := checkCount("linear: hosts", k*n, 1); err != nil {
		return nil, err
	}
	name := "linear-" + strconv.Itoa(k)
	if n > 1 {
		name += "-" + strconv.Itoa(n)
	}
	g := newGen(name)
	g.f.Hosts = make([]Node, 0, k*n)
	for i := 1; i <= k; i++ {
		s := "s" + strconv.Itoa(i)
		g.bridge(s)
		for j := 1; j <= n; j++ {
			h := "h" + strconv.Itoa(i)
			if n > 1 {
				h = "h" + strconv.Itoa(j) + "s" + strconv.Itoa(i)
			}
			g.host(h, s)
		}
		if i > 1 {
			g.link(s, "s"+strconv.Itoa(i-1))
		}
	}
	return g.f, nil
}

// Tree returns Mininet's tree topology: a complete tree of switches of the
// given depth, each with fanout children, and fanout^depth hosts at the
// leaves. As in Mininet, switches and hosts are numbered depth first: s1 is
// the root, its first child s2, and h1..hfanout hang off the first
// lowest switch. Addresses are Mininet's; pingall is expected.
func Tree(depth, fanout int) (*File, error) { return wrap(tree(depth, fanout)) }

func tree(depth, fanout int) (*File, error) {
	if depth < 1 || fanout < 1 {
		return nil, fmt.Errorf("tree: depth %d, fanout %d: want both at least 1", depth, fanout)
	}
	hosts := 1
	for i := 0; i < depth; i++ {
		hosts *= fanout
		if hosts > MaxGeneratedHosts {
			return nil, fmt.Errorf("tree: depth %d, fanout %d: over the limit of %d hosts", depth, fanout, MaxGeneratedHosts)
		}
	}
	g := newGen(fmt.Sprintf("tree-%d-%d", depth, fanout))
	g.f.Hosts = make([]Node, 0, hosts)
	switches := 0
	// add builds the subtree below a switch of the given remaining depth
	// and returns the switch's name.
	var add func(depth int) string
	add = func(depth int) string {
		switches++
		s := "s" + strconv.Itoa(switches)
		g.bridge(s)
		for range fanout {
			if depth == 1 {
				g.host("h"+strconv.Itoa(len(g.f.Hosts)+1), s)
				continue
			}
			g.link(s, add(depth-1))
		}
		return s
	}
	add(depth)
	return g.f, nil
}

// Preset returns a generated topology named as on Mininet's command line:
//
//	minimal            two hosts on one switch (single,2)
//	single[,N]         N hosts on one switch (default 2)
//	linear[,K[,N]]     K switches in a chain, N hosts each (defaults 2, 1)
//	tree[,DEPTH[,FANOUT]] a tree of switches (defaults 1, 2)
func Preset(spec string) (*File, error) {
	parts := strings.Split(strings.TrimSpace(spec), ",")
	kind := strings.TrimSpace(parts[0])
	args := make([]int, 0, len(parts)-1)
	for i, p := range parts[1:] {
		p = strings.TrimSpace(p)
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("topofile: preset %s: argument %d %s: want a whole number", Quote(spec), i+1, Quote(p))
		}
		args = append(args, n)
	}
	arg := func(i, def int) int {
		if i < len(args) {
			return args[i]
		}
		return def
	}
	tooMany := func(max int) error {
		if len(args) > max {
			return fmt.Errorf("%s takes at most %d numbers, got %d", kind, max, len(args))
		}
		return nil
	}
	var f *File
	var err error
	switch kind {
	case "minimal":
		if err = tooMany(0); err == nil {
			f, err = single(2)
		}
	case "single":
		if err = tooMany(1); err == nil {
			f, err = single(arg(0, 2))
		}
	case "linear":
		if err = tooMany(2); err == nil {
			f, err = linear(arg(0, 2), arg(1, 1))
		}
	case "tree":
		if err = tooMany(2); err == nil {
			f, err = tree(arg(0, 1), arg(1, 2))
		}
	default:
		return nil, fmt.Errorf("topofile: preset %s: unknown topology %s (want minimal, single,N, linear,K[,N] or tree,DEPTH[,FANOUT])", Quote(spec), Quote(kind))
	}
	if err != nil {
		return nil, fmt.Errorf("topofile: preset %s: %w", Quote(spec), err)
	}
	return f, nil
}

func wrap(f *File, err error) (*File, error) {
	if err != nil {
		return nil, fmt.Errorf("topofile: %w", err)
	}
	return f, nil
}
