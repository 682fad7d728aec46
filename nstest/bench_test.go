package nstest_test

import (
	"fmt"
	"testing"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

// BenchmarkInNS measures one InNS call: a fresh goroutine locked to a thread,
// setns into the host, fn, setns back.
func BenchmarkInNS(b *testing.B) {
	topo := nstest.New(b)
	h := topo.AddHost("h1")
	h.InNS(func() {}) // settle readiness
	b.ReportAllocs()
	for b.Loop() {
		h.InNS(func() {})
	}
}

// BenchmarkSeedCycle builds the seed tutorial's network (two hosts on a
// bridge), checks one reachability, and tears it down: the cycle a test
// suite repeats. Compare with ../shared/baselines/rawnetlink -n 2.
func BenchmarkSeedCycle(b *testing.B) {
	for b.Loop() {
		err := testrun.Run("seed", nil, func(tb testing.TB) {
			topo := nstest.New(tb)
			br := topo.AddBridge("br1")
			ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
			topo.Connect(ns1, br, "10.0.0.1/24")
			topo.Connect(ns2, br, "10.0.0.2/24")
			nstest.RequireReachable(tb, ns1, "ns2")
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHosts builds n hosts on 4 bridges, checks the first host reaches
// the last one on its bridge, and tears down. Compare per host with
// rawnetlink -n N -bridges 4.
func BenchmarkHosts(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				err := testrun.Run("hosts", nil, func(tb testing.TB) {
					topo := nstest.New(tb)
					var brs []*nstest.Bridge
					for i := range 4 {
						brs = append(brs, topo.AddBridge(fmt.Sprintf("br%d", i)))
					}
					var hs []*nstest.Host
					for i := range n {
						h := topo.AddHost(fmt.Sprintf("h%d", i))
						topo.Connect(h, brs[i%4], fmt.Sprintf("10.%d.%d.%d/16", i%4, i/250, i%250+1))
						hs = append(hs, h)
					}
					last := (n - 1) / 4 * 4
					nstest.RequireReachable(tb, hs[0], hs[last].Addr().String())
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "us/host")
		})
	}
}
