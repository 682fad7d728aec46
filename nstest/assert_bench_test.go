package nstest_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/ping"
)

// hostsOnBridge builds n hosts on one bridge.
func hostsOnBridge(tb testing.TB, n int) []*nstest.Host {
	topo := nstest.New(tb)
	br := topo.AddBridge("br1")
	hs := make([]*nstest.Host, n)
	for i := range hs {
		hs[i] = topo.AddHost(fmt.Sprintf("h%d", i+1))
		topo.Connect(hs[i], br, fmt.Sprintf("10.0.0.%d/24", i+1))
	}
	return hs
}

// BenchmarkAssertConnectivity20 checks all 380 ordered pairs of 20 hosts on
// one bridge, neighbour caches warm (Mininet's pingAll takes about 1.8s for
// the same).
func BenchmarkAssertConnectivity20(b *testing.B) {
	hs := hostsOnBridge(b, 20)
	if !nstest.AssertConnectivity(b, hs...) {
		b.FailNow()
	}
	for b.Loop() {
		if !nstest.AssertConnectivity(b, hs...) {
			b.FailNow()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/380, "us/pair")
}

// BenchmarkAssertConnectivity20Cold is BenchmarkAssertConnectivity20 on a
// fresh topology each time: neighbour resolution included, building and
// teardown not.
func BenchmarkAssertConnectivity20Cold(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		err := testrun.Run("cold", nil, func(tb testing.TB) {
			hs := hostsOnBridge(tb, 20)
			hs[0].InNS(func() {}) // links up
			b.StartTimer()
			ok := nstest.AssertConnectivity(tb, hs...)
			b.StopTimer()
			if !ok {
				tb.FailNow()
			}
		})
		b.StartTimer()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// pairForEcho is two hosts on a bridge, the first having pinged the second.
func pairForEcho(b *testing.B) (*nstest.Host, *nstest.Host) {
	hs := hostsOnBridge(b, 2)
	if _, err := hs[0].Ping(context.Background(), "h2"); err != nil {
		b.Fatal(err)
	}
	return hs[0], hs[1]
}

// BenchmarkEchoNativeBurst is the cost per echo of one host.Ping run of b.N
// requests sent back to back (Interval 0) across a bridge.
func BenchmarkEchoNativeBurst(b *testing.B) {
	h1, _ := pairForEcho(b)
	b.ResetTimer()
	st, err := h1.Ping(context.Background(), "h2", ping.Count(b.N), ping.Interval(0), ping.Wait(time.Second))
	if err != nil || st.Received != st.Sent {
		b.Fatalf("%v, %v", st, err)
	}
}

// BenchmarkEchoNativeOne is the cost of one host.Ping of one echo: open the
// socket in the namespace, send, wait for the reply, close.
func BenchmarkEchoNativeOne(b *testing.B) {
	h1, _ := pairForEcho(b)
	b.ReportAllocs()
	for b.Loop() {
		st, err := h1.Ping(context.Background(), "h2")
		if err != nil || st.Received != 1 {
			b.Fatalf("%v, %v", st, err)
		}
	}
}

// BenchmarkEchoIputilsFlood is iputils ping -f (the next request as soon as
// the reply is in) across the same bridge, per echo, process start included.
func BenchmarkEchoIputilsFlood(b *testing.B) {
	if _, err := exec.LookPath("ping"); err != nil {
		b.Skip("iputils ping is not installed (Debian package iputils-ping)")
	}
	h1, _ := pairForEcho(b)
	b.ResetTimer()
	out, err := h1.Command("ping", "-f", "-q", "-c", strconv.Itoa(b.N), "10.0.0.2").CombinedOutput()
	if err != nil {
		b.Fatalf("%v: %s", err, out)
	}
}

// BenchmarkEchoIputilsOne is one iputils ping -c 1 per echo: what a test
// that shells out pays for each reachability check.
func BenchmarkEchoIputilsOne(b *testing.B) {
	if _, err := exec.LookPath("ping"); err != nil {
		b.Skip("iputils ping is not installed (Debian package iputils-ping)")
	}
	h1, _ := pairForEcho(b)
	for b.Loop() {
		if out, err := h1.Command("ping", "-c", "1", "-W", "1", "-q", "10.0.0.2").CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}
