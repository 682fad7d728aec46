package nstest

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nstest/harness/nstest/ping"
)

// A CheckOption configures an assertion.
type CheckOption func(*checkConfig)

type checkConfig struct {
	within, window       time.Duration
	withinSet, windowSet bool
	family               ping.Family // 0: as the topology resolves names
	payload              []byte      // UDP probes
}

// Within sets how long a check may take: how long a reachability check keeps
// trying before it gives up (default 2s), and how long an unreachability
// check watches for an answer (default 1s; Window sets only this one). The
// duration must be positive: with zero or less a check would send nothing,
// or watch for nothing, so the assertion fails saying so.
func Within(d time.Duration) CheckOption {
	return func(c *checkConfig) {
		c.within, c.withinSet = d, true
		c.window, c.windowSet = d, true
	}
}

// Window sets only how long an unreachability check watches for an answer
// (default 1s), leaving the time a reachability check may take as it is:
// useful for AssertMatrix, which checks both kinds at once. Like Within, it
// must be positive.
func Window(d time.Duration) CheckOption {
	return func(c *checkConfig) { c.window, c.windowSet = d, true }
}

// IPv4 makes the check resolve a node name to the node's first IPv4
// address. An IP address given directly must then be an IPv4 one.
func IPv4() CheckOption { return func(c *checkConfig) { c.family = ping.IPv4 } }

// IPv6 makes the check resolve a node name to the node's first global IPv6
// address (unique local addresses such as fd00::/8 included). An IP address
// given directly must then be an IPv6 one.
func IPv6() CheckOption { return func(c *checkConfig) { c.family = ping.IPv6 } }

// Defaults of the checks.
const (
	DefaultWithin = 2 * time.Second // how long a reachability check keeps trying
	DefaultWindow = time.Second     // how long an unreachability check watches
)

func checkOpts(opts []CheckOption) checkConfig {
	c := checkConfig{within: DefaultWithin, window: DefaultWindow}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// err reports a Within or Window under which a check would check nothing.
func (c checkConfig) err() error {
	switch {
	case c.withinSet && c.within <= 0:
		return fmt.Errorf("Within(%v): a check needs a positive duration, with none it would check nothing", c.within)
	case c.windowSet && c.window <= 0:
		return fmt.Errorf("Window(%v): a check needs a positive duration, with none it would check nothing", c.window)
	}
	return nil
}

// happened says in words what a probe saw: the reply, or why there was
// none.
func (r *probeResult) happened(t *Topology, from *Host) string {
	switch {
	case r.replies > 0:
		return "a reply from " + t.describe(r.replyFrom)
	case r.openErr != nil:
		return "no answer: " + r.openErr.Error()
	}
	requests := fmt.Sprintf("%d echo requests", r.sent)
	if r.sent == 1 {
		requests = "1 echo request"
	}
	var b strings.Builder
	if len(r.icmpErrs) > 0 {
		e := r.icmpErrs[len(r.icmpErrs)-1]
		what := e.Error()
		if _, rest, ok := strings.Cut(what, ": "); ok {
			what = rest // drop "from X icmp_seq=N: "
		}
		fmt.Fprintf(&b, "%s from %s, ", what, t.describe(e.From))
	}
	if r.sendErr != nil {
		switch {
		case isNoRoute(r.sendErr):
			fmt.Fprintf(&b, "no route from %s (%v), ", from.name, errnoOf(r.sendErr))
		case errors.Is(r.sendErr, syscall.ENOBUFS):
			// The neighbour tables are one per kernel, shared by every
			// namespace: many hosts, here or in other tests, can fill them.
			fmt.Fprintf(&b, "%s in %s (%v: the kernel's neighbour table, shared by all namespaces, may be full; see net.ipv4.neigh.default.gc_thresh3), ",
				plural(r.sendFails, "failed send"), from.name, errnoOf(r.sendErr))
		default:
			fmt.Fprintf(&b, "%s in %s (%v), ", plural(r.sendFails, "failed send"), from.name, errnoOf(r.sendErr))
		}
	}
	if r.sent == 0 {
		fmt.Fprintf(&b, "no echo request could be sent in %v", r.took.Round(time.Millisecond))
	} else {
		fmt.Fprintf(&b, "no reply to %s in %v", requests, r.took.Round(time.Millisecond))
	}
	return b.String()
}

// errnoOf returns the system error inside err, which says it shortest
// ("network is unreachable"), or err.
func errnoOf(err error) error {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return err
}

// AssertReachable checks that from gets an ICMP (or ICMPv6) echo reply from
// to, an IP address or the name of a node of from's topology. It returns as
// soon as one reply arrives, and retries until the check's time is up
// (default 2s, see Within). A failure names both ends and why: no reply, an
// ICMP error from a router (naming it), or no route.
func AssertReachable(tb testing.TB, from *Host, to string, opts ...CheckOption) bool {
	tb.Helper()
	return checkOne(tb, from, to, true, opts)
}

// AssertUnreachable checks that from gets no ICMP (or ICMPv6) echo reply from
// to during the check's window (default 1s, see Within and Window), sending
// echo requests at growing intervals. It holds early when a router answers
// "destination unreachable" or from has no route. A failure names what
// answered.
func AssertUnreachable(tb testing.TB, from *Host, to string, opts ...CheckOption) bool {
	tb.Helper()
	return checkOne(tb, from, to, false, opts)
}

func checkOne(tb testing.TB, from *Host, to string, reach bool, opts []CheckOption) (held bool) {
	tb.Helper()
	defer markUnless(&held, from, to, "ping", reach)
	c := checkOpts(opts)
	want, d := "reachable", c.within
	if !reach {
		want, d = "unreachable", c.window
	}
	if err := c.err(); err != nil {
		tb.Errorf("nstest: %s -> %s: want %s, but %v", from.name, to, want, err)
		return false
	}
	t := from.topo
	dst, err := t.resolve(from, to, c.family)
	if err != nil {
		tb.Errorf("nstest: %s -> %s: want %s, but %v", from.name, to, want, err)
		return false
	}
	r := probeAll([]probeJob{{from: from, dst: dst, reach: reach, until: d}})[0]
	if (r.replies > 0) == reach {
		return true
	}
	tb.Errorf("nstest: %s -> %s: want %s, got %s", from.name, t.destination(to, dst), want, r.happened(t, from))
	return false
}

// RequireReachable is AssertReachable that stops the test when it fails.
func RequireReachable(tb testing.TB, from *Host, to string, opts ...CheckOption) {
	tb.Helper()
	if !AssertReachable(tb, from, to, opts...) {
		tb.FailNow()
	}
}

// RequireUnreachable is AssertUnreachable that stops the test when it fails.
func RequireUnreachable(tb testing.TB, from *Host, to string, opts ...CheckOption) {
	tb.Helper()
	if !AssertUnreachable(tb, from, to, opts...) {
		tb.FailNow()
	}
}
