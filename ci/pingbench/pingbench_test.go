package pingbench

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	probing "github.com/prometheus-community/pro-bing"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/ping"
)

func TestMain(m *testing.M) { nstest.Main(m) }

const dst = "10.0.0.2"

// pair links a and b, and has a ping b once so that neighbours are known.
func pair(b *testing.B) (*nstest.Host, *nstest.Host) {
	topo := nstest.New(b)
	h1, h2 := topo.AddHost("a"), topo.AddHost("b")
	topo.Link(h1, h2, "10.0.0.1/24", dst+"/24")
	nstest.RequireReachable(b, h1, "b")
	return h1, h2
}

// proBing runs one pro-bing Pinger from inside a's namespace (its socket is
// opened in Run, on the calling thread) and returns the replies received.
func proBing(b *testing.B, a *nstest.Host, count int, interval time.Duration) int {
	var recv int
	var err error
	a.InNS(func() {
		p := probing.New(dst)
		p.SetPrivileged(true)
		p.Count, p.Interval, p.Timeout, p.Size = count, interval, 30*time.Second, ping.DefaultSize
		err = p.Run()
		recv = p.Statistics().PacketsRecv
	})
	if err != nil {
		b.Fatal(err)
	}
	return recv
}

func needIputils(b *testing.B) {
	if _, err := exec.LookPath("ping"); err != nil {
		b.Skip("iputils ping is not installed (Debian package iputils-ping)")
	}
}

// BenchmarkOneEcho is the cost of one reachability check: one echo request
// and its reply, socket opened and closed each time.
func BenchmarkOneEcho(b *testing.B) {
	b.Run("nstest-Host.Ping", func(b *testing.B) {
		a, _ := pair(b)
		for b.Loop() {
			st, err := a.Ping(context.Background(), dst)
			if err != nil || st.Received != 1 {
				b.Fatalf("%v, %v", st, err)
			}
		}
	})
	b.Run("nstest-AssertReachable", func(b *testing.B) {
		a, _ := pair(b)
		for b.Loop() {
			if !nstest.AssertReachable(b, a, dst) {
				b.FailNow()
			}
		}
	})
	b.Run("pro-bing", func(b *testing.B) {
		a, _ := pair(b)
		for b.Loop() {
			if n := proBing(b, a, 1, time.Millisecond); n != 1 {
				b.Fatalf("%d replies", n)
			}
		}
	})
	b.Run("iputils", func(b *testing.B) {
		needIputils(b)
		a, _ := pair(b)
		for b.Loop() {
			if out, err := a.Command("ping", "-c", "1", "-W", "1", "-q", dst).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
}

// BenchmarkFlood is the cost per echo of one run of b.N echoes sent as fast
// as each pinger goes: nstest back to back (Interval 0), pro-bing every
// 50µs (its ticker cannot be 0; at 1µs it loses about 40% of the replies
// and runs into its timeout), iputils -f (next request when the reply is
// in).
func BenchmarkFlood(b *testing.B) {
	b.Run("nstest", func(b *testing.B) {
		a, _ := pair(b)
		b.ResetTimer()
		st, err := a.Ping(context.Background(), dst, ping.Count(b.N), ping.Interval(0))
		if err != nil || st.Received == 0 {
			b.Fatalf("%v, %v", st, err)
		}
		b.ReportMetric(st.Loss, "%loss")
	})
	b.Run("pro-bing", func(b *testing.B) {
		a, _ := pair(b)
		b.ResetTimer()
		n := proBing(b, a, b.N, 50*time.Microsecond)
		b.ReportMetric(100*float64(b.N-n)/float64(b.N), "%loss")
	})
	b.Run("iputils", func(b *testing.B) {
		needIputils(b)
		a, _ := pair(b)
		b.ResetTimer()
		if out, err := a.Command("ping", "-f", "-q", "-c", strconv.Itoa(b.N), dst).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	})
}
