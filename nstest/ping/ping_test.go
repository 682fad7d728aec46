package ping_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nstest/harness/nstest/capture"
	"github.com/nstest/harness/nstest/ping"
)

var kinds = []ping.SocketKind{ping.Raw, ping.Datagram}

func TestLoopback(t *testing.T) {
	h := newHost(t)
	for _, dst := range []string{"127.0.0.1", "::1"} {
		t.Run(dst, func(t *testing.T) {
			st, err := h.ping(context.Background(), dst, ping.Count(3), ping.Interval(10*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if st.Sent != 3 || st.Received != 3 || st.Duplicates != 0 || st.Loss != 0 {
				t.Errorf("ping %s: %v; want 3 sent, 3 received, no duplicates", dst, st)
			}
			if st.Dst != netip.MustParseAddr(dst) {
				t.Errorf("Dst %v, want %s", st.Dst, dst)
			}
			checkStats(t, st)
		})
	}
}

// TestAcrossVeth pings a second namespace through the split entry point: the
// socket is opened inside a, the run happens on the test's goroutine.
func TestAcrossVeth(t *testing.T) {
	a, _ := pair(t)
	for _, kind := range kinds {
		if kind == ping.Datagram {
			a.allowDatagram()
		}
		for _, dst := range []string{"10.0.0.2", "fd00::2"} {
			t.Run(kind.String()+"/"+dst, func(t *testing.T) {
				d := netip.MustParseAddr(dst)
				c := a.open(ping.FamilyOf(d), kind)
				if c.Kind() != kind {
					t.Fatalf("Kind() = %v, want %v", c.Kind(), kind)
				}
				for range 2 { // a Conn serves run after run
					st, err := c.Ping(context.Background(), d, ping.Count(4), ping.Interval(5*time.Millisecond))
					if err != nil {
						t.Fatal(err)
					}
					if st.Received != 4 || st.Sent != 4 {
						t.Errorf("%v", st)
					}
					checkStats(t, st)
					// Linux sends with TTL and hop limit 64; the peer is
					// on the link, so replies arrive with 64.
					for i, ttl := range st.TTLs {
						if ttl != 64 {
							t.Errorf("reply %d: TTL %d, want 64", i, ttl)
						}
					}
				}
			})
		}
	}
}

// TestConcurrentRuns checks that 50 runs at once in one namespace each count
// exactly their own replies, whichever socket kind they use.
func TestConcurrentRuns(t *testing.T) {
	h := newHost(t)
	h.allowDatagram()
	for _, dst := range []string{"127.0.0.1", "::1"} {
		t.Run(dst, func(t *testing.T) {
			d := netip.MustParseAddr(dst)
			const runs, count = 50, 5
			conns := make([]*ping.Conn, runs)
			for i := range conns {
				conns[i] = h.open(ping.FamilyOf(d), kinds[i%2]) // raw and datagram sockets mixed
			}
			stats := make([]*ping.Stats, runs)
			errs := make([]error, runs)
			var wg sync.WaitGroup
			for i, c := range conns {
				wg.Go(func() {
					stats[i], errs[i] = c.Ping(context.Background(), d, ping.Count(count), ping.Interval(2*time.Millisecond))
				})
			}
			wg.Wait()
			for i, st := range stats {
				if errs[i] != nil {
					t.Errorf("run %d (%v): %v", i, conns[i].Kind(), errs[i])
					continue
				}
				if st.Sent != count || st.Received != count || st.Duplicates != 0 {
					t.Errorf("run %d (%v): %v; want %d sent and received, no duplicates", i, conns[i].Kind(), st, count)
				}
				checkStats(t, st)
			}
		})
	}
}

func TestDatagramRefusedNamesSysctl(t *testing.T) {
	h := newHost(t)  // a new namespace's ping_group_range is "1 0": nobody
	var value string // as this process sees it: "1 0", or unmapped ids in a user namespace
	for _, f := range []ping.Family{ping.IPv4, ping.IPv6} {
		err := h.ns.Do(func() error {
			b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
			if err != nil {
				return err
			}
			value = strings.Join(strings.Fields(string(b)), " ")
			c, err := ping.Open(f, ping.Datagram)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			t.Fatalf("Open(%v, Datagram) succeeded with ping_group_range \"1 0\"", f)
		}
		if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "net.ipv4.ping_group_range") ||
			!strings.Contains(err.Error(), `"`+value+`"`) {
			t.Errorf("Open(%v, Datagram): %v; want a permission error naming net.ipv4.ping_group_range and its value", f, err)
		}
	}
	h.allowDatagram()
	c := h.open(ping.IPv4, ping.Datagram)
	if st, err := c.Ping(context.Background(), netip.MustParseAddr("127.0.0.1")); err != nil || st.Received != 1 {
		t.Errorf("after AllowDatagram: %v, %v", st, err)
	}
}

// TestLossAgreesWithIputils drops 30% of echo requests at random in the peer
// and runs the native pinger and iputils ping at the same time, through the
// same rule. Each measures the same loss process over n requests, so each
// should be within 4.5 standard deviations of 30%, and of each other.
func TestLossAgreesWithIputils(t *testing.T) {
	a, b := pair(t)
	b.nft(`table inet f {
	chain input {
		type filter hook input priority 0; policy accept;
		icmp type echo-request numgen random mod 100 < 30 drop
		icmpv6 type echo-request numgen random mod 100 < 30 drop
	}
}`)
	const n, p = 1000, 0.30
	sd := 100 * sqrt(p*(1-p)/n) // one estimate's standard deviation, in points
	for _, dst := range []string{"10.0.0.2", "fd00::2"} {
		t.Run(dst, func(t *testing.T) {
			t.Parallel()
			var iputils float64
			var ierr error
			var wg sync.WaitGroup
			wg.Go(func() {
				cmd := a.command(context.Background(), "ping", "-c", itoa(n), "-i", "0.003", "-W", "1", "-q", dst)
				out, err := cmd.CombinedOutput()
				if err != nil && !strings.Contains(string(out), "received") {
					ierr = errors.New(err.Error() + ": " + string(out))
					return
				}
				iputils, ierr = parseLoss(string(out))
			})
			st, err := a.ping(context.Background(), dst, ping.Count(n), ping.Interval(3*time.Millisecond))
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if ierr != nil {
				t.Fatalf("iputils ping: %v", ierr)
			}
			checkStats(t, st)
			t.Logf("native: %v", st)
			t.Logf("iputils: %.1f%% loss; tolerance %.1f points each, %.1f between them", iputils, 4.5*sd, 4.5*sd*sqrt(2))
			if st.Sent != n {
				t.Errorf("native sent %d, want %d", st.Sent, n)
			}
			if d := st.Loss - 100*p; d > 4.5*sd || d < -4.5*sd {
				t.Errorf("native loss %.1f%%, want 30%% ± %.1f", st.Loss, 4.5*sd)
			}
			if d := iputils - 100*p; d > 4.5*sd || d < -4.5*sd {
				t.Errorf("iputils loss %.1f%%, want 30%% ± %.1f", iputils, 4.5*sd)
			}
			if d := st.Loss - iputils; d > 4.5*sd*sqrt(2) || d < -4.5*sd*sqrt(2) {
				t.Errorf("native loss %.1f%% and iputils loss %.1f%% disagree", st.Loss, iputils)
			}
		})
	}
}

func TestTotalLossEnds(t *testing.T) {
	a, b := pair(t)
	b.nft(`table inet f {
	chain input {
		type filter hook input priority 0; policy accept;
		icmp type echo-request drop
		icmpv6 type echo-request drop
	}
}`)
	a.allowDatagram()
	for _, kind := range kinds {
		for _, dst := range []string{"10.0.0.2", "fd00::2"} {
			t.Run(kind.String()+"/"+dst, func(t *testing.T) {
				d := netip.MustParseAddr(dst)
				c := a.open(ping.FamilyOf(d), kind)
				st, err := c.Ping(context.Background(), d, ping.Count(3), ping.Interval(5*time.Millisecond), ping.Wait(50*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				if st.Sent != 3 || st.Received != 0 || st.Loss != 100 || len(st.RTTs) != 0 {
					t.Errorf("%v; want 3 sent, none received, 100%% loss", st)
				}
				checkStats(t, st)
			})
		}
	}
}

func TestTimeoutEndsRun(t *testing.T) {
	a, b := pair(t)
	b.nft(`table inet f {
	chain input {
		type filter hook input priority 0;
		icmp type echo-request drop
	}
}`)
	st, err := a.ping(context.Background(), "10.0.0.2", ping.Count(1000), ping.Interval(5*time.Millisecond), ping.Timeout(100*time.Millisecond))
	if err != nil {
		t.Fatalf("a run ended by Timeout is not an error: %v", err)
	}
	if st.Sent == 0 || st.Sent >= 1000 || st.Received != 0 {
		t.Errorf("%v; want some of 1000 requests sent before Timeout, none answered", st)
	}
}

func TestCancelReturnsPartialStats(t *testing.T) {
	a, b := pair(t)
	// Every other request is answered, so that the partial stats have both.
	b.nft(`table inet f {
	chain input {
		type filter hook input priority 0;
		icmp type echo-request numgen inc mod 2 == 0 drop
	}
}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := a.open(ping.IPv4, ping.Raw)
	var cp *capture.Capture
	if err := a.ns.Do(func() (err error) { cp, err = capture.Open("eth0"); return err }); err != nil {
		t.Fatalf("capture a's eth0: %v", err)
	}
	defer cp.Close()
	var st *ping.Stats
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, err = c.Ping(ctx, netip.MustParseAddr("10.0.0.2"), ping.Count(100000), ping.Interval(5*time.Millisecond))
	}()
	// Cancel once Ping has read replies, which is a count, not a time: a
	// reply has reached a's eth0, and a has sent three more requests since.
	// Between two requests Ping reads what is queued for it.
	wait, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	if _, err := cp.Wait(wait, capture.ICMPEchoReply(), 1); err != nil {
		t.Fatal(err)
	}
	requests := capture.And(capture.ICMPEcho(), capture.Outgoing())
	if _, err := cp.Wait(wait, requests, cp.Count(requests)+3); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want one wrapping context.Canceled", err)
	}
	if st == nil || st.Sent == 0 || st.Sent >= 100000 || st.Received == 0 || st.Received >= st.Sent {
		t.Fatalf("partial stats %v; want some requests sent, some answered", st)
	}
	checkStats(t, st)
}

func TestDontFragment(t *testing.T) {
	a, _ := pair(t) // veth MTU 1500
	a.allowDatagram()
	for _, kind := range kinds {
		for _, dst := range []string{"10.0.0.2", "fd00::2"} {
			t.Run(kind.String()+"/"+dst, func(t *testing.T) {
				d := netip.MustParseAddr(dst)
				c := a.open(ping.FamilyOf(d), kind)
				st, err := c.Ping(context.Background(), d, ping.Size(2000), ping.DontFragment())
				if err == nil {
					t.Fatalf("2000-byte DontFragment ping over MTU 1500 succeeded: %v", st)
				}
				if !errors.Is(err, syscall.EMSGSIZE) || !strings.Contains(err.Error(), "message too long") ||
					!strings.Contains(err.Error(), "MTU 1500") {
					t.Errorf("error %q; want EMSGSIZE naming \"message too long\" and \"MTU 1500\"", err)
				}
				if st == nil || st.Sent != 0 {
					t.Errorf("stats %v; want none sent", st)
				}
				// The same Conn fragments again without DontFragment.
				st, err = c.Ping(context.Background(), d, ping.Size(2000))
				if err != nil || st.Received != 1 {
					t.Errorf("2000 bytes, fragmented: %v, %v", st, err)
				}
			})
		}
	}
}

func TestNoRoute(t *testing.T) {
	h := newHost(t) // only lo
	for _, dst := range []string{"10.9.9.9", "2001:db8::9"} {
		st, err := h.ping(context.Background(), dst, ping.Count(3))
		if !errors.Is(err, syscall.ENETUNREACH) || !strings.Contains(err.Error(), "no route") || !strings.Contains(err.Error(), dst) {
			t.Errorf("ping %s from a namespace without routes: %v; want ENETUNREACH saying \"no route\" and naming %s", dst, err, dst)
		}
		if st == nil || st.Sent != 0 {
			t.Errorf("stats %v; want none sent", st)
		}
	}
}

// TestICMPErrors sends requests through a router r with TTL 1, and to an
// address the router rejects, and checks who answered and why, for both
// socket kinds (raw sockets read ICMP errors, datagram ones their error
// queue).
func TestICMPErrors(t *testing.T) {
	a, r, b := newHost(t), newHost(t), newHost(t)
	link(t, a, "eth0", []string{"10.1.0.1/24", "fd01::1/64"}, r, "eth0", []string{"10.1.0.254/24", "fd01::fe/64"})
	link(t, r, "eth1", []string{"10.2.0.254/24", "fd02::fe/64"}, b, "eth0", []string{"10.2.0.2/24", "fd02::2/64"})
	a.route("10.2.0.0/16", "10.1.0.254")
	a.route("fd02::/16", "fd01::fe")
	b.route("10.1.0.0/24", "10.2.0.254")
	b.route("fd01::/64", "fd02::fe")
	if err := r.ns.Do(func() error {
		for _, p := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
			if err := os.WriteFile(p, []byte("1"), 0); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r.nft(`table inet f {
	chain forward {
		type filter hook forward priority 0;
		ip daddr 10.2.0.3 reject with icmp type host-unreachable
		ip6 daddr fd02::3 reject with icmpv6 type addr-unreachable
	}
}`)
	a.waitReachable("10.2.0.2", "fd02::2")
	a.allowDatagram()
	for _, kind := range kinds {
		for _, fam := range []struct{ dst, rejected, router string }{
			{"10.2.0.2", "10.2.0.3", "10.1.0.254"}, {"fd02::2", "fd02::3", "fd01::fe"},
		} {
			t.Run(kind.String()+"/"+fam.dst, func(t *testing.T) {
				d := netip.MustParseAddr(fam.dst)
				c := a.open(ping.FamilyOf(d), kind)
				st, err := c.Ping(context.Background(), d, ping.TTL(2))
				if err != nil || st.Received != 1 {
					t.Fatalf("TTL 2 through one router: %v, %v; want a reply", st, err)
				}
				// Runs answered by ICMP errors end with the last error, as
				// iputils' do, not after Wait: the errors are the events waited
				// for (ctx only bounds a broken run).
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				st, err = c.Ping(ctx, d, ping.TTL(1), ping.Count(2), ping.Interval(5*time.Millisecond), ping.Wait(time.Hour))
				if err != nil {
					t.Fatalf("TTL 1: %v; want the run to end at the router's errors", err)
				}
				if st.Received != 0 || len(st.ICMPErrors) != 2 {
					t.Fatalf("TTL 1: %v; want no reply and 2 ICMP errors", st)
				}
				for i, e := range st.ICMPErrors {
					if !e.TimeExceeded() || e.From != netip.MustParseAddr(fam.router) || e.Seq != i+1 {
						t.Errorf("TTL 1: ICMP error %d: %v; want time exceeded from %s for icmp_seq=%d", i, e, fam.router, i+1)
					}
				}
				st, err = c.Ping(ctx, netip.MustParseAddr(fam.rejected), ping.Wait(time.Hour))
				if err != nil {
					t.Fatalf("ping the rejected address: %v; want the run to end at the router's error", err)
				}
				if st.Received != 0 || len(st.ICMPErrors) != 1 || !st.ICMPErrors[0].Unreachable() ||
					st.ICMPErrors[0].From != netip.MustParseAddr(fam.router) {
					t.Fatalf("rejected: %v; want one destination unreachable from %s", st, fam.router)
				}
				if !strings.Contains(st.String(), "destination unreachable") {
					t.Errorf("Stats.String() = %q; want it to say \"destination unreachable\"", st)
				}
			})
		}
	}
}

func TestSource(t *testing.T) {
	a, b := pair(t)
	a.addAddr("eth0", "10.0.0.3/24")
	b.nft(`table inet f {
	chain input {
		type filter hook input priority 0;
		ip saddr 10.0.0.1 icmp type echo-request drop
	}
}`)
	dst := "10.0.0.2"
	st, err := a.ping(context.Background(), dst, ping.Wait(100*time.Millisecond))
	if err != nil || st.Received != 0 {
		t.Fatalf("from the primary address 10.0.0.1, which b drops: %v, %v; want no reply", st, err)
	}
	st, err = a.ping(context.Background(), dst, ping.Source(netip.MustParseAddr("10.0.0.3")))
	if err != nil || st.Received != 1 {
		t.Errorf("Source(10.0.0.3): %v, %v; want a reply", st, err)
	}
	_, err = a.ping(context.Background(), dst, ping.Source(netip.MustParseAddr("10.0.0.99")))
	if !errors.Is(err, syscall.EADDRNOTAVAIL) || !strings.Contains(err.Error(), "Source(10.0.0.99)") {
		t.Errorf("Source(10.0.0.99), not an address of the namespace: %v; want EADDRNOTAVAIL naming it", err)
	}
}

func TestBadOptions(t *testing.T) {
	h := newHost(t)
	c := h.open(ping.IPv4, ping.Raw)
	lo := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		opt  ping.Option
		want string
	}{
		{ping.Count(-1), "Count(-1)"},
		{ping.Size(70000), "Size(70000)"},
		{ping.TTL(256), "TTL(256)"},
		{ping.Interval(-time.Second), "Interval(-1s)"},
		{ping.Source(netip.MustParseAddr("::1")), "Source(::1)"},
	} {
		if _, err := c.Ping(context.Background(), lo, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("option %s: error %v; want one naming it", tc.want, err)
		}
	}
	if _, err := c.Ping(context.Background(), netip.MustParseAddr("::1")); err == nil || !strings.Contains(err.Error(), "IPv6") {
		t.Errorf("IPv6 address on an IPv4 Conn: %v; want an error naming the family", err)
	}
	if _, err := c.Ping(context.Background(), lo, ping.Count(0)); err == nil || !strings.Contains(err.Error(), "Count(0)") {
		t.Errorf("Count(0) without Timeout or ctx: %v; want an error naming Count(0)", err)
	}
}
