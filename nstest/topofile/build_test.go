package topofile_test

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/nstest/harness/internal/rootcheck"
	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/topofile"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(rootcheck.Tests(m.Run))
}

func parse(t *testing.T, name, text string) *topofile.File {
	t.Helper()
	f, err := topofile.Parse(name, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fatal runs fn as a test of its own and returns the failure it reported.
func fatal(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	err := testrun.Run(t.Name(), nil, fn)
	if err == nil {
		t.Fatal("want a failure, got none")
	}
	if errors.Is(err, testrun.ErrSkipped) {
		t.Skip(err)
	}
	return err.Error()
}

func TestBuildNumbersInterfacesInFileOrder(t *testing.T) {
	f := parse(t, "order.yaml", `
bridges:
  - name: br1
  - name: br2
hosts:
  - name: a
    connect:
      - {bridge: br2, addrs: [10.2.0.1/24]}
      - {bridge: br1, addrs: [10.1.0.1/24, "fd00:1::1/64"], mtu: 1400}
  - name: b
    connect:
      - {bridge: br1, addrs: [10.1.0.2/24]}
routers:
  - name: r
    connect:
      - {bridge: br2, addrs: [10.2.0.254/24]}
links:
  - {a: b, b: a, a_addrs: [10.9.0.1/30, "fd00:9::1/64"], b_addrs: [10.9.0.2/30, "fd00:9::2/64"]}
  - {a: r, b: b, a_addrs: [10.8.0.1/30], b_addrs: [10.8.0.2/30], mtu: 1300}
`)
	topo := topofile.Build(t, f)
	a, b, r := topo.Host("a"), topo.Host("b"), topo.Host("r")
	want := map[*nstest.Host][]string{
		a: {"eth0 10.2.0.1/24", "eth1 10.1.0.1/24 fd00:1::1/64", "eth2 10.9.0.2/30 fd00:9::2/64"},
		b: {"eth0 10.1.0.2/24", "eth1 10.9.0.1/30 fd00:9::1/64", "eth2 10.8.0.2/30"},
		r: {"eth0 10.2.0.254/24", "eth1 10.8.0.1/30"},
	}
	for h, w := range want {
		var got []string
		for _, i := range h.Interfaces() {
			s := i.Name()
			for _, p := range i.Addrs() {
				s += " " + p.String()
			}
			got = append(got, s)
		}
		if strings.Join(got, "; ") != strings.Join(w, "; ") {
			t.Errorf("%s: interfaces %q, want %q", h.Name(), got, w)
		}
	}
	for _, c := range []struct {
		i   *nstest.Interface
		mtu int
	}{{a.Interface("eth1"), 1400}, {a.Interface("eth1").Peer(), 1400}, {a.Interface("eth0"), 1500}, {r.Interface("eth1"), 1300}, {b.Interface("eth2"), 1300}} {
		if got, err := c.i.MTU(); err != nil || got != c.mtu {
			t.Errorf("%s: MTU %d (%v), want %d", c.i, got, err, c.mtu)
		}
	}
	if v, err := r.Sysctl("net.ipv4.ip_forward"); err != nil || v != "1" {
		t.Errorf("router r: ip_forward = %q (%v), want 1", v, err)
	}
	nstest.AssertReachable(t, a, "fd00:9::1")
	nstest.AssertReachable(t, a, "b")
}

func TestBuildRefusesInvalidFile(t *testing.T) {
	f := parse(t, "ok.yaml", "hosts: [{name: h1}]\n")
	f.Hosts = append(f.Hosts, topofile.Node{Name: "h1"})
	msg := fatal(t, func(tb testing.TB) {
		topofile.Build(tb, f)
		tb.Errorf("Build returned")
	})
	if !strings.Contains(msg, `"h1"`) || strings.Contains(msg, "Build returned") {
		t.Errorf("failure %q: want the validation error naming h1, and Build to stop", msg)
	}
}

func TestBuildErrorNamesFilePosition(t *testing.T) {
	// A sound file that the kernel refuses: a route to the subnet the host
	// is on already has the connected route.
	f := parse(t, "route.yaml", `
bridges:
  - name: br1
hosts:
  - name: h1
    connect:
      - {bridge: br1, addrs: [10.0.0.1/24]}
    routes:
      - {dst: 10.0.0.0/24, via: 10.0.0.2}
`)
	msg := fatal(t, func(tb testing.TB) { topofile.Build(tb, f) })
	if !strings.HasPrefix(msg, t.Name()+": route.yaml:9:9: ") || !strings.Contains(msg, `host "h1": route 10.0.0.0/24 via 10.0.0.2`) {
		t.Errorf("failure %q: want route.yaml:9:9 and the core's message naming the host and the route", msg)
	}
}

func TestVerifyReportsEachCheck(t *testing.T) {
	f := parse(t, "v.yaml", `
bridges:
  - name: br1
    addrs: [10.0.0.100/24]
  - name: br2
hosts:
  - name: h1
    connect: [{bridge: br1, addrs: [10.0.0.1/24]}]
  - name: h2
    connect: [{bridge: br1, addrs: [10.0.0.2/24]}]
  - name: h3
    connect: [{bridge: br2, addrs: [10.0.0.3/24]}]
expect:
  reachable: [h1 -> h2, br1 -> h1, h1 -> h3]
  unreachable: [h3 -> 10.0.0.100, h2 -> h1]
  tcp: [h1 -> h2:7000, "h2 -> 10.0.0.1:7001"]
  tcp_unreachable: [h3 -> h2:7000, h1 -> 10.0.0.77:7002]
`)
	var rs []topofile.Result
	err := testrun.Run("verify", nil, func(tb testing.TB) {
		// The default time for each check: the failing ones take it whole,
		// the passing ones need it on a loaded machine.
		rs = topofile.Verify(tb, topofile.Build(tb, f), f)
	})
	if errors.Is(err, testrun.ErrSkipped) {
		t.Skip(err)
	}
	type row struct {
		kind, check, addr string
		ok                bool
	}
	want := []row{
		{"reachable", "h1 -> h2", "10.0.0.2", true},
		{"reachable", "br1 -> h1", "10.0.0.1", true},
		{"reachable", "h1 -> h3", "10.0.0.3", false},
		{"unreachable", "h3 -> 10.0.0.100", "10.0.0.100", true},
		{"unreachable", "h2 -> h1", "10.0.0.1", false},
		{"tcp", "h1 -> h2:7000", "10.0.0.2:7000", true},
		{"tcp", "h2 -> 10.0.0.1:7001", "10.0.0.1:7001", true},
		{"tcp_unreachable", "h3 -> h2:7000", "10.0.0.2:7000", true},
		{"tcp_unreachable", "h1 -> 10.0.0.77:7002", "10.0.0.77:7002", true},
	}
	if len(rs) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(rs), len(want), rs)
	}
	for i, w := range want {
		r := rs[i]
		got := row{r.Kind, r.From + " -> " + r.To, r.Addr, r.OK}
		if got != w {
			t.Errorf("result %d = %+v, want %+v", i, got, w)
		}
		if r.OK != (r.Message == "") {
			t.Errorf("%s: ok=%v with message %q", r, r.OK, r.Message)
		}
		if !r.Pos.IsValid() {
			t.Errorf("%s: no position", r)
		}
	}
	if err == nil {
		t.Fatal("Verify did not fail the test for two failed expectations")
	}
	for _, s := range []string{"v.yaml:14:", "h1 -> h3", "want reachable", "v.yaml:15:", "h2 -> h1", "want unreachable"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("failure %q: want it to contain %q", err, s)
		}
	}
}

func TestVerifyPingAllMatrix(t *testing.T) {
	f := parse(t, "split.yaml", `
bridges: [{name: s1}, {name: s2}]
hosts:
  - {name: h1, connect: [{bridge: s1, addrs: [10.0.0.1/8]}]}
  - {name: h2, connect: [{bridge: s1, addrs: [10.0.0.2/8]}]}
  - {name: h3, connect: [{bridge: s2, addrs: [10.0.0.3/8]}]}
expect:
  pingall: true
`)
	var rs []topofile.Result
	err := testrun.Run("pingall", nil, func(tb testing.TB) {
		rs = topofile.Verify(tb, topofile.Build(tb, f), f)
	})
	if errors.Is(err, testrun.ErrSkipped) {
		t.Skip(err)
	}
	m, received, total := topofile.Matrix(rs)
	want := "h1 -> h2 X\nh2 -> h1 X\nh3 -> X X\nResults: 66% dropped (2/6 received)"
	if m != want || received != 2 || total != 6 {
		t.Errorf("Matrix = %q, %d, %d; want %q, 2, 6", m, received, total, want)
	}
	if err == nil || !strings.Contains(err.Error(), "split.yaml:8:12: expect.pingall:\n"+want) {
		t.Errorf("failure %v: want the matrix at the pingall line", err)
	}
}

func TestBuildProgress(t *testing.T) {
	f, err := topofile.Preset("linear,3")
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	topo := topofile.BuildProgress(t, f, func(done, total int) {
		if total != 11 { // 3 bridges, 3 hosts, 3 connections, 2 links
			t.Errorf("total %d, want 11", total)
		}
		steps = append(steps, done)
	})
	if len(steps) != 11 || steps[10] != 11 {
		t.Errorf("progress steps %v, want 1..11", steps)
	}
	for _, r := range topofile.Verify(t, topo, f) {
		if !r.OK {
			t.Errorf("%s: %s", r, r.Message)
		}
	}
}
