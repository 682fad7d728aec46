// Package ping sends ICMP and ICMPv6 echo requests natively, from Go, with no
// external program.
//
// Ping opens its socket in the network namespace of the calling OS thread, so
// call it on a thread locked inside the namespace you want to ping from (the
// nstest package does this for Host.Ping). Code that must open the socket on
// one thread and ping from another goroutine uses Open, then Conn.Ping.
//
// A run sends Count echo requests, one every Interval, and ends as soon as
// every request has its reply or an ICMP error answering it (as iputils ping
// does), or Wait after the last request, or when Timeout has passed since the
// start, or when ctx ends, whichever comes first.
// Replies are matched by identifier, sequence number and a random token that
// is fresh for every run, so any number of concurrent runs in one namespace
// each count exactly their own replies. Round-trip times come from the
// monotonic clock.
//
// Where the caller holds CAP_NET_RAW (also inside a user namespace that owns
// the network namespace) the socket is raw; otherwise it is an unprivileged
// datagram ICMP socket, which net.ipv4.ping_group_range must allow (see
// AllowDatagram).
package ping

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Defaults, chosen for tests rather than for people watching a terminal.
const (
	DefaultCount    = 1                      // one echo: enough to say "reachable"
	DefaultInterval = 100 * time.Millisecond // ten times faster than iputils, still gentle
	DefaultWait     = time.Second            // how long the last request may wait for its reply
	DefaultSize     = 56                     // payload bytes, as iputils: 64-byte ICMP messages
)

// Stats is what a run saw. Min, Avg, Max and StdDev are computed from RTTs,
// and Loss from Sent and Received.
type Stats struct {
	Dst                        netip.Addr      // the address pinged
	Sent, Received, Duplicates int             // Received counts each request once; extra copies are Duplicates
	Loss                       float64         // percent of sent requests without a reply, 0..100; 100 when nothing was sent
	RTTs                       []time.Duration // one per received request, in arrival order
	// TTLs holds the TTL (IPv4) or hop limit (IPv6) of each reply, in the
	// order of RTTs: 64 from a Linux host next door, 63 behind one router.
	// An entry is -1 where the kernel did not say.
	TTLs                  []int
	Min, Avg, Max, StdDev time.Duration // over RTTs; StdDev is the population standard deviation (iputils' mdev)
	// ICMPErrors lists the ICMP errors that came back for this run's requests
	// (destination unreachable, time exceeded, fragmentation needed, packet
	// too big), each naming who sent it.
	ICMPErrors []ICMPError
}

// String summarises s the way iputils does.
func (s *Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d packets transmitted, %d received", s.Sent, s.Received)
	if s.Duplicates > 0 {
		fmt.Fprintf(&b, ", +%d duplicates", s.Duplicates)
	}
	if len(s.ICMPErrors) > 0 {
		fmt.Fprintf(&b, ", +%d errors (first: %v)", len(s.ICMPErrors), s.ICMPErrors[0])
	}
	fmt.Fprintf(&b, ", %s%% packet loss", strconv.FormatFloat(s.Loss, 'g', 4, 64))
	if len(s.RTTs) > 0 {
		ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }
		fmt.Fprintf(&b, "; rtt min/avg/max/mdev = %s/%s/%s/%s ms", ms(s.Min), ms(s.Avg), ms(s.Max), ms(s.StdDev))
	}
	return b.String()
}

// summarise fills Loss, Min, Avg, Max and StdDev from Sent, Received and RTTs.
func (s *Stats) summarise() {
	s.Loss = 100
	if s.Sent > 0 {
		s.Loss = 100 * float64(s.Sent-s.Received) / float64(s.Sent)
	}
	s.Min, s.Avg, s.Max, s.StdDev = 0, 0, 0, 0
	if len(s.RTTs) == 0 {
		return
	}
	var sum float64
	s.Min, s.Max = s.RTTs[0], s.RTTs[0]
	for _, r := range s.RTTs {
		s.Min, s.Max = min(s.Min, r), max(s.Max, r)
		sum += float64(r)
	}
	mean := sum / float64(len(s.RTTs))
	var sq float64
	for _, r := range s.RTTs {
		d := float64(r) - mean
		sq += d * d
	}
	s.Avg = time.Duration(math.Round(mean))
	s.StdDev = time.Duration(math.Round(math.Sqrt(sq / float64(len(s.RTTs)))))
}

// Option changes one setting of a run.
type Option func(*config)

type config struct {
	count          int
	interval, wait time.Duration
	timeout        time.Duration
	size, ttl      int
	dontFragment   bool
	source         netip.Addr
}

func defaults() config {
	return config{count: DefaultCount, interval: DefaultInterval, wait: DefaultWait, size: DefaultSize}
}

// Count sets how many echo requests to send (default 1). Count(0) sends until
// Timeout or ctx ends, and then needs one of them.
func Count(n int) Option { return func(c *config) { c.count = n } }

// Interval sets the time between two requests (default 100ms). Zero sends
// them back to back.
func Interval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// Wait sets how long the run waits for replies after its last request
// (default 1s). A reply that arrives before the run ends counts, however late.
func Wait(d time.Duration) Option { return func(c *config) { c.wait = d } }

// Timeout bounds the whole run (default: none beyond Count, Interval and
// Wait). A run cut short by Timeout is not an error: its Stats show the loss.
func Timeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// Size sets the payload bytes after the 8-byte ICMP header (default 56, as
// iputils). The first 8 bytes of the payload carry the run's token; with
// fewer than 8, replies are matched on fewer token bytes.
func Size(n int) Option { return func(c *config) { c.size = n } }

// TTL sets the IPv4 time to live or the IPv6 hop limit of the requests
// (IP_TTL, IPV6_UNICAST_HOPS), 1..255. Default: the namespace's default.
func TTL(n int) Option { return func(c *config) { c.ttl = n } }

// DontFragment forbids fragmentation (IP_PMTUDISC_DO; IPV6_PMTUDISC_DO and
// IPV6_DONTFRAG): a request bigger than the path MTU fails with an error
// wrapping syscall.EMSGSIZE ("message too long") that names the MTU.
func DontFragment() Option { return func(c *config) { c.dontFragment = true } }

// Source binds the socket to a local address, which becomes the requests'
// source address. A Conn is bound once: a later run asking for another source
// fails.
func Source(a netip.Addr) Option { return func(c *config) { c.source = a.Unmap() } }

func (c *config) check(dst netip.Addr) error {
	maxSize := 65535 - 20 - 8
	if dst.Is6() {
		maxSize = 65535 - 8
	}
	switch {
	case c.count < 0:
		return fmt.Errorf("Count(%d): must be 0 or more", c.count)
	case c.interval < 0:
		return fmt.Errorf("Interval(%v): must not be negative", c.interval)
	case c.wait < 0:
		return fmt.Errorf("Wait(%v): must not be negative", c.wait)
	case c.timeout < 0:
		return fmt.Errorf("Timeout(%v): must not be negative", c.timeout)
	case c.size < 0 || c.size > maxSize:
		return fmt.Errorf("Size(%d): must be 0..%d", c.size, maxSize)
	case c.ttl < 0 || c.ttl > 255:
		return fmt.Errorf("TTL(%d): must be 1..255", c.ttl)
	case c.source.IsValid() && c.source.Is4() != dst.Is4():
		return fmt.Errorf("Source(%v): not the same IP family as %v", c.source, dst)
	}
	return nil
}

// Ping opens an ICMP socket in the calling thread's network namespace (before
// doing anything else), sends echo requests to dst, and closes the socket. It
// returns the Stats so far together with any error: a request that cannot be
// sent (no route: syscall.ENETUNREACH; too big with DontFragment:
// syscall.EMSGSIZE) ends the run, and so does ctx, with an error wrapping
// ctx.Err(). An IPv6 link-local dst may carry a zone naming an interface of
// the namespace.
func Ping(ctx context.Context, dst netip.Addr, opts ...Option) (*Stats, error) {
	c, err := Open(FamilyOf(dst), Auto)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if z := dst.Zone(); z != "" {
		if _, err := strconv.Atoi(z); err != nil {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return nil, fmt.Errorf("ping %v: zone %q: %w", dst, z, err)
			}
			dst = dst.WithZone(strconv.Itoa(ifi.Index))
		}
	}
	return c.Ping(ctx, dst, opts...)
}
