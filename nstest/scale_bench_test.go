package nstest_test

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

// These benchmarks report medians as well as Go's mean: on a shared machine a
// cycle occasionally waits 20 ms or more for the kernel to destroy the
// previous cycle's namespaces (cleanup_net holds the rtnl lock), and one such
// wait moves the mean far more than the typical cost. ci/bench.sh reads the
// medians.

// timed runs cycle b.N times and reports the median of one cycle in ms.
func timed(b *testing.B, cycle func(tb testing.TB)) {
	var ds []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := testrun.Run(b.Name(), nil, cycle); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "med-ms")
}

// BenchmarkSeedMedian is BenchmarkSeedCycle with the median reported: the
// seed tutorial's two hosts on a bridge, one reachability check, teardown.
func BenchmarkSeedMedian(b *testing.B) {
	timed(b, func(tb testing.TB) {
		topo := nstest.New(tb)
		br := topo.AddBridge("br1")
		ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
		topo.Connect(ns1, br, "10.0.0.1/24")
		topo.Connect(ns2, br, "10.0.0.2/24")
		nstest.RequireReachable(tb, ns1, "ns2")
	})
}

// BenchmarkScale builds n hosts on 4 bridges, as rawnetlink -n N -bridges 4
// does, checks that the first host reaches the last one on its bridge, and
// tears down. It reports the median cost per host and the process's peak
// resident memory (run one size per process to read it for that size).
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			timed(b, func(tb testing.TB) { hostsOnBridges(tb, n, 4) })
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MB")
		})
	}
}

func hostsOnBridges(tb testing.TB, n, bridges int) {
	topo := nstest.New(tb)
	var brs []*nstest.Bridge
	for i := range bridges {
		brs = append(brs, topo.AddBridge(fmt.Sprintf("br%d", i)))
	}
	var hs []*nstest.Host
	for i := range n {
		h := topo.AddHost(fmt.Sprintf("h%d", i))
		topo.Connect(h, brs[i%bridges], fmt.Sprintf("10.%d.%d.%d/16", i%bridges, i/250, i%250+1))
		hs = append(hs, h)
	}
	last := (n - 1) / bridges * bridges
	nstest.RequireReachable(tb, hs[0], hs[last].Addr().String())
}

// BenchmarkSingle20Pingall is Mininet's `--topo single,20 --test pingall`:
// 20 hosts on one switch (here a bridge), every ordered pair pinged, teardown.
func BenchmarkSingle20Pingall(b *testing.B) {
	timed(b, func(tb testing.TB) {
		topo := nstest.New(tb)
		br := topo.AddBridge("s1")
		var hs []*nstest.Host
		for i := range 20 {
			h := topo.AddHost(fmt.Sprintf("h%d", i+1))
			topo.Connect(h, br, fmt.Sprintf("10.0.0.%d/8", i+1))
			hs = append(hs, h)
		}
		if !nstest.AssertConnectivity(tb, hs...) {
			tb.FailNow()
		}
	})
}
