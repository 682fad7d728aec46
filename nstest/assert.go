package nstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nstest/harness/nstest/ping"
)

// A CheckOption configures an assertion.
type CheckOption func(*checkConfig)

type checkConfig struct {
	timeout time.Duration // reachable: give up after; unreachable: watch for
	set     bool
}

// Within sets how long a check may take: how long a Reachable check keeps
// trying (default 2s) and how long an Unreachable check watches for an answer
// (default 1s).
func Within(d time.Duration) CheckOption {
	return func(c *checkConfig) { c.timeout, c.set = d, true }
}

const (
	defaultReachable   = 2 * time.Second
	defaultUnreachable = time.Second
)

func checkOpts(opts []CheckOption, def time.Duration) checkConfig {
	c := checkConfig{timeout: def}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// target names a destination in messages: "ns2 (10.0.0.2)" or "10.0.0.2".
func target(to string, a netip.Addr) string {
	if a.IsValid() && a.String() != to {
		return fmt.Sprintf("%s (%s)", to, a)
	}
	return to
}

// probeReach pings from h to dst until a reply arrives or d has passed. It
// returns the number of echoes sent, whether a reply came, and the last error.
func probeReach(h *Host, dst netip.Addr, d time.Duration) (sent int, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		left := time.Until(deadline(ctx))
		if left <= 0 {
			return sent, false, err
		}
		w := min(wait, left)
		var st *ping.Stats
		st, err = h.ping(ctx, dst, ping.Count(1), ping.Wait(w))
		if st != nil {
			sent += st.Sent
			if st.Received > 0 {
				return sent, true, nil
			}
			if err == nil && len(st.ICMPErrors) > 0 {
				err = st.ICMPErrors[len(st.ICMPErrors)-1]
			}
		}
		if err != nil && ctx.Err() == nil {
			// An immediate error (no route) would repeat itself; pace it.
			select {
			case <-ctx.Done():
			case <-time.After(w):
			}
		}
		wait = min(wait*2, 400*time.Millisecond)
	}
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// AssertReachable checks that from gets an ICMP echo reply from to, an IP
// address or the name of a node of from's topology, retrying until it does
// or the check's time (default 2s, see Within) is up.
func AssertReachable(tb testing.TB, from *Host, to string, opts ...CheckOption) bool {
	tb.Helper()
	c := checkOpts(opts, defaultReachable)
	dst, err := from.topo.resolve(from, to)
	if err != nil {
		tb.Errorf("nstest: %s -> %s: %v", from.name, to, err)
		return false
	}
	sent, ok, perr := probeReach(from, dst, c.timeout)
	if ok {
		return true
	}
	why := fmt.Sprintf("no reply to %d echo requests in %v", sent, c.timeout)
	if perr != nil && !errors.Is(perr, context.DeadlineExceeded) {
		why = fmt.Sprintf("%v (%d echo requests sent in %v)", perr, sent, c.timeout)
	}
	tb.Errorf("nstest: %s -> %s: expected reachable, but %s", from.name, target(to, dst), why)
	return false
}

// AssertUnreachable checks that from gets no ICMP echo reply from to during
// the check's window (default 1s, see Within), sending a few echo requests.
func AssertUnreachable(tb testing.TB, from *Host, to string, opts ...CheckOption) bool {
	tb.Helper()
	c := checkOpts(opts, defaultUnreachable)
	dst, err := from.topo.resolve(from, to)
	if err != nil {
		tb.Errorf("nstest: %s -> %s: %v", from.name, to, err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, _ := from.ping(ctx, dst, ping.Count(3), ping.Interval(c.timeout/4), ping.Wait(c.timeout/2), ping.Timeout(c.timeout))
	if st != nil && st.Received > 0 {
		tb.Errorf("nstest: %s -> %s: expected unreachable, but %s answered %d of %d echo requests", from.name, target(to, dst), dst, st.Received, st.Sent)
		return false
	}
	return true
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

// AssertConnectivity checks that every host reaches every other host's
// address (Host.Addr), all ordered pairs at once. On failure it prints the
// matrix, one line per source listing what it reached and X for what it did
// not, and the share of pairs dropped.
func AssertConnectivity(tb testing.TB, hosts ...*Host) bool {
	tb.Helper()
	type pair struct{ from, to int }
	n := len(hosts)
	ok := make([][]bool, n)
	for i := range ok {
		ok[i] = make([]bool, n)
	}
	var pairs []pair
	for i := range hosts {
		for j := range hosts {
			if i != j {
				pairs = append(pairs, pair{i, j})
			}
		}
	}
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, p := range pairs {
		dst := hosts[p.to].Addr()
		if !dst.IsValid() {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, r, _ := probeReach(hosts[p.from], dst, defaultReachable)
			ok[p.from][p.to] = r
		}()
	}
	wg.Wait()
	received := 0
	var b strings.Builder
	for i, h := range hosts {
		fmt.Fprintf(&b, "%s ->", h.name)
		for j, o := range hosts {
			if i == j {
				continue
			}
			if ok[i][j] {
				received++
				fmt.Fprintf(&b, " %s", o.name)
			} else {
				b.WriteString(" X")
			}
		}
		b.WriteByte('\n')
	}
	total := len(pairs)
	if received == total {
		return true
	}
	dropped := 100 * (total - received) / total
	fmt.Fprintf(&b, "Results: %d%% dropped (%d/%d received)", dropped, received, total)
	tb.Errorf("nstest: connectivity:\n%s", b.String())
	return false
}

// AssertTCPReachable checks that from can open a TCP connection to address
// ("host:port", where host may be a node name), retrying until the check's
// time (default 2s) is up.
func AssertTCPReachable(tb testing.TB, from *Host, address string, opts ...CheckOption) bool {
	tb.Helper()
	c := checkOpts(opts, defaultReachable)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var last error
	for wait := 20 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		conn, err := from.DialContext(ctx, "tcp", address)
		if err == nil {
			conn.Close()
			return true
		}
		last = err
		select {
		case <-ctx.Done():
			tb.Errorf("nstest: %s -> tcp %s: expected a connection, but %s", from.name, from.topo.describeAddr(from, address), dialFailure(last, c.timeout))
			return false
		case <-time.After(wait):
		}
	}
}

// AssertTCPUnreachable checks that from cannot open a TCP connection to
// address within the check's window (default 1s).
func AssertTCPUnreachable(tb testing.TB, from *Host, address string, opts ...CheckOption) bool {
	tb.Helper()
	c := checkOpts(opts, defaultUnreachable)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	conn, err := from.DialContext(ctx, "tcp", address)
	if err == nil {
		conn.Close()
		tb.Errorf("nstest: %s -> tcp %s: expected no connection, but it was accepted", from.name, from.topo.describeAddr(from, address))
		return false
	}
	return true
}

func (t *Topology) describeAddr(from *Host, address string) string {
	r, err := t.resolveHostPort(from, address)
	if err != nil || r == address {
		return address
	}
	return fmt.Sprintf("%s (%s)", address, r)
}

// dialFailure says in words why a dial failed.
func dialFailure(err error, d time.Duration) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused (nothing listens there, or a firewall rejects it)"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fmt.Sprintf("there is no route (%v)", err)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Sprintf("the connection attempt timed out after %v (packets dropped on the way?)", d)
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
