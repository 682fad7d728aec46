package ping_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/nstest/harness/nstest/ping"
)

var lo4 = netip.MustParseAddr("127.0.0.1")

// BenchmarkPingLoopback is the cost of one Count(1) run on an open Conn: one
// echo on loopback, waited for.
func BenchmarkPingLoopback(b *testing.B) {
	for _, kind := range kinds {
		b.Run(kind.String(), func(b *testing.B) {
			h := newHost(b)
			h.allowDatagram()
			c := h.open(ping.IPv4, kind)
			b.ReportAllocs()
			for b.Loop() {
				st, err := c.Ping(context.Background(), lo4)
				if err != nil || st.Received != 1 {
					b.Fatalf("%v, %v", st, err)
				}
			}
		})
	}
}

// BenchmarkPingLoopbackOpen adds opening and closing the socket inside the
// namespace, as ping.Ping through a namespace switch costs.
func BenchmarkPingLoopbackOpen(b *testing.B) {
	h := newHost(b)
	b.ReportAllocs()
	for b.Loop() {
		st, err := h.ping(context.Background(), "127.0.0.1")
		if err != nil || st.Received != 1 {
			b.Fatalf("%v, %v", st, err)
		}
	}
}

// BenchmarkPingLoopbackBurst is the cost per echo of one run of b.N
// requests sent back to back (Interval 0).
func BenchmarkPingLoopbackBurst(b *testing.B) {
	h := newHost(b)
	c := h.open(ping.IPv4, ping.Raw)
	b.ReportAllocs()
	b.ResetTimer()
	st, err := c.Ping(context.Background(), lo4, ping.Count(b.N), ping.Interval(0))
	if err != nil || st.Received != st.Sent {
		b.Fatalf("%v, %v", st, err)
	}
}

// BenchmarkIputilsFlood is iputils ping -f (next request as soon as the
// reply is in) in a namespace, per echo, process start included.
func BenchmarkIputilsFlood(b *testing.B) {
	h := newHost(b)
	b.ResetTimer()
	out, err := h.command(context.Background(), "ping", "-f", "-q", "-c", itoa(b.N), "127.0.0.1").CombinedOutput()
	if err != nil {
		b.Fatalf("%v: %s", err, out)
	}
}
