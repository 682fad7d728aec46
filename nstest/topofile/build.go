package topofile

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nstest/harness/nstest"
)

// Build builds the topology that f describes for tb and returns it; it is
// torn down when tb ends. The topology is named after f (f.Name), unless
// opts name it otherwise.
//
// Build validates f first and builds nothing from an invalid file. It builds
// in the order the format documents, so that each node's interfaces are
// eth0, eth1, ... as written: bridges and their addresses, hosts, routers,
// every node's connect entries, links, then routes. A failure stops tb
// (tb.Fatalf) with the file, line and column of the entry that could not be
// built, followed by the reason.
func Build(tb testing.TB, f *File, opts ...nstest.Option) *nstest.Topology {
	tb.Helper()
	return BuildProgress(tb, f, nil, opts...)
}

// BuildProgress is Build that calls progress(done, total) after each step
// (a bridge, a node, a connection, a link or a node's routes), so that a
// program can show how far the build of a large topology has come. progress
// may be nil.
func BuildProgress(tb testing.TB, f *File, progress func(done, total int), opts ...nstest.Option) *nstest.Topology {
	tb.Helper()
	if err := f.Validate(); err != nil {
		tb.Fatalf("%v", err)
	}
	b := &builder{f: f, at: &posTB{TB: tb}, progress: progress}
	b.total = len(f.Bridges) + len(f.Hosts) + len(f.Routers) + len(f.Links)
	for _, list := range [][]Node{f.Hosts, f.Routers} {
		for _, n := range list {
			b.total += len(n.Connect)
			if len(n.Routes) > 0 {
				b.total++
			}
		}
	}
	// The core reports its own errors through tb.Fatalf; posTB puts the
	// position of the entry being built in front of them.
	topo := nstest.New(b.at, append([]nstest.Option{nstest.WithName(f.Name)}, opts...)...)
	defer b.at.set(Pos{}, "")
	b.build(topo)
	return topo
}

type builder struct {
	f        *File
	at       *posTB
	progress func(done, total int)
	done     int
	total    int
}

// step counts a finished step.
func (b *builder) step() {
	b.done++
	if b.progress != nil {
		b.progress(b.done, b.total)
	}
}

// fail stops the build with err at p.
func (b *builder) fail(p Pos, err error) {
	b.at.set(Pos{}, "")
	b.at.TB.Fatalf("%v", &Error{File: b.f.filename, Pos: p, Msg: err.Error()})
}

func (b *builder) build(topo *nstest.Topology) {
	f := b.f
	for _, br := range f.Bridges {
		b.at.set(br.at.of("name", br.Pos), f.filename)
		var opts []nstest.BridgeOption
		if br.Kind == KindOVS {
			opts = append(opts, nstest.OVS())
		}
		nb := topo.AddBridge(br.Name, opts...)
		for j, a := range br.Addrs {
			if err := nb.AddAddr(a); err != nil {
				b.fail(br.at.of("addrs."+strconv.Itoa(j), br.Pos), err)
			}
		}
		b.step()
	}
	for _, n := range f.Hosts {
		b.at.set(n.at.of("name", n.Pos), f.filename)
		topo.AddHost(n.Name)
		b.step()
	}
	for _, n := range f.Routers {
		b.at.set(n.at.of("name", n.Pos), f.filename)
		topo.AddRouter(n.Name)
		b.step()
	}
	for _, list := range [][]Node{f.Hosts, f.Routers} {
		for _, n := range list {
			h := topo.Host(n.Name)
			for _, c := range n.Connect {
				b.at.set(c.Pos, f.filename)
				i := topo.Connect(h, topo.Bridge(c.Bridge), c.Addrs...)
				if c.MTU != 0 {
					// Both ends: the bridge port's MTU bounds what the
					// bridge passes on towards the node.
					for _, end := range []*nstest.Interface{i, i.Peer()} {
						if err := end.SetMTU(c.MTU); err != nil {
							b.fail(c.at.of("mtu", c.Pos), err)
						}
					}
				}
				b.step()
			}
		}
	}
	for _, l := range f.Links {
		b.at.set(l.Pos, f.filename)
		var lo []nstest.LinkOption
		if l.MTU != 0 {
			lo = append(lo, nstest.MTU(l.MTU))
		}
		if f.Bridge(l.A) != nil {
			topo.ConnectBridges(topo.Bridge(l.A), topo.Bridge(l.B), lo...)
			b.step()
			continue
		}
		ai, bi := topo.Link(topo.Host(l.A), topo.Host(l.B), first(l.AAddrs), first(l.BAddrs), lo...)
		for _, end := range []struct {
			i     *nstest.Interface
			addrs []string
			key   string
		}{{ai, l.AAddrs, "a_addrs."}, {bi, l.BAddrs, "b_addrs."}} {
			for j := 1; j < len(end.addrs); j++ {
				if err := end.i.AddAddr(end.addrs[j]); err != nil {
					b.fail(l.at.of(end.key+strconv.Itoa(j), l.Pos), err)
				}
			}
		}
		b.step()
	}
	for _, list := range [][]Node{f.Hosts, f.Routers} {
		for _, n := range list {
			h := topo.Host(n.Name)
			for _, r := range n.Routes {
				if err := h.AddRoute(r.Dst, r.Via); err != nil {
					b.fail(r.Pos, err)
				}
			}
			if len(n.Routes) > 0 {
				b.step()
			}
		}
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// posTB is the testing.TB a topology is built with: while an entry of the
// file is being built, the failures the core reports start with its
// position, "file:line:col: ".
type posTB struct {
	testing.TB

	mu     sync.Mutex
	prefix string
}

func (p *posTB) set(at Pos, file string) {
	prefix := ""
	if at.IsValid() {
		prefix = (&Error{File: file, Pos: at}).Error()
		prefix = strings.TrimSuffix(prefix, " ") + " "
	}
	p.mu.Lock()
	p.prefix = prefix
	p.mu.Unlock()
}

func (p *posTB) at() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prefix
}

func (p *posTB) Error(args ...any) {
	p.TB.Helper()
	p.TB.Error(p.at() + strings.TrimSuffix(fmt.Sprintln(args...), "\n"))
}

func (p *posTB) Errorf(format string, args ...any) {
	p.TB.Helper()
	p.TB.Error(p.at() + fmt.Sprintf(format, args...))
}

func (p *posTB) Fatal(args ...any) {
	p.TB.Helper()
	p.TB.Fatal(p.at() + strings.TrimSuffix(fmt.Sprintln(args...), "\n"))
}

func (p *posTB) Fatalf(format string, args ...any) {
	p.TB.Helper()
	p.TB.Fatal(p.at() + fmt.Sprintf(format, args...))
}
