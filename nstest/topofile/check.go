package topofile

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nstest/harness/nstest"
)

// Kinds of expectation, as Result.Kind reports them; they are the keys of a
// file's expect section.
const (
	KindPingAll        = "pingall"
	KindReachable      = "reachable"
	KindUnreachable    = "unreachable"
	KindTCP            = "tcp"
	KindTCPUnreachable = "tcp_unreachable"
	KindService        = "service" // a TCP connection to a program that listens
)

// transport reports whether checks of kind go to "host:port" over TCP.
func transport(kind string) bool {
	return kind == KindTCP || kind == KindTCPUnreachable || kind == KindService
}

// negative reports whether checks of kind expect no answer.
func negative(kind string) bool { return kind == KindUnreachable || kind == KindTCPUnreachable }

// Result is the outcome of one expectation; pingall gives one Result per
// ordered pair of hosts.
type Result struct {
	Kind     string        // KindReachable, KindTCP, ...
	From, To string        // as written in the file; To is "host:port" for tcp and service
	Addr     string        // the address tried: "10.0.0.2", or "10.0.0.2:8080" for tcp and service
	OK       bool          // the expectation held
	Message  string        // why it did not hold; empty when OK
	Duration time.Duration // how long the check took
	Pos      Pos           // the expectation's place in the file; zero for pingall pairs
}

// String describes the check: "ns1 -> ns2 reachable", "h1 -> h2:80 tcp".
func (r Result) String() string {
	switch r.Kind {
	case KindPingAll:
		return r.From + " -> " + r.To + " (pingall)"
	case KindTCPUnreachable:
		return r.From + " -> " + r.To + " tcp unreachable"
	}
	return r.From + " -> " + r.To + " " + r.Kind
}

// maxParallel bounds the sources that send checks at once.
const maxParallel = 64

// Verify checks every expectation of f on topo, a topology built from f by
// Build, with the core assertions (AssertReachable, AssertUnreachable,
// AssertTCPReachable, AssertTCPUnreachable), and returns one Result per check
// in the order of the file's expect keys: pingall pairs (in host order),
// reachable, unreachable, tcp, tcp_unreachable, service. opts (such as
// nstest.Within) apply to every check.
//
// Every failure is also reported through tb.Errorf, prefixed with the
// expectation's position in the file; failed pingall pairs are reported
// together as one Mininet-style matrix (see Matrix).
//
// For tcp and tcp_unreachable checks Verify listens on the wildcard address
// and the port on the destination node (one listener per node and port),
// accepting and closing connections, and closes the listeners when done: they
// test the path, not a program. service checks connect to whatever the
// topology runs and start nothing; they run first, before those listeners
// exist, so that a tcp check of the same port cannot answer for them. Then
// the checks that expect an answer run; then the checks that expect none, so
// that those watch for their whole window without other checks' traffic in
// flight. Checks from different sources run at once,
// the pings from one source one after another.
func Verify(tb testing.TB, topo *nstest.Topology, f *File, opts ...nstest.CheckOption) []Result {
	tb.Helper()
	var rs []Result
	var fns []func(tb testing.TB) bool
	add := func(kind string, c Check, run func(tb testing.TB, from *nstest.Host) bool) {
		i := len(rs)
		rs = append(rs, Result{Kind: kind, From: c.From, To: c.To, Pos: c.Pos})
		fns = append(fns, func(tb testing.TB) bool {
			from := source(topo, c.From)
			rs[i].Addr = destination(topo, from, c.To, transport(kind))
			return run(tb, from)
		})
	}
	if f.Expect.PingAll {
		for _, a := range f.Hosts {
			for _, b := range f.Hosts {
				if a.Name == b.Name {
					continue
				}
				add(KindPingAll, Check{From: a.Name, To: b.Name}, func(tb testing.TB, from *nstest.Host) bool {
					return nstest.AssertReachable(tb, from, b.Name, opts...)
				})
			}
		}
	}
	for _, c := range f.Expect.Reachable {
		add(KindReachable, c, func(tb testing.TB, from *nstest.Host) bool {
			return nstest.AssertReachable(tb, from, c.To, opts...)
		})
	}
	for _, c := range f.Expect.Unreachable {
		add(KindUnreachable, c, func(tb testing.TB, from *nstest.Host) bool {
			return nstest.AssertUnreachable(tb, from, c.To, opts...)
		})
	}
	for _, c := range f.Expect.TCP {
		add(KindTCP, c, func(tb testing.TB, from *nstest.Host) bool {
			return nstest.AssertTCPReachable(tb, from, c.To, opts...)
		})
	}
	for _, c := range f.Expect.TCPUnreachable {
		add(KindTCPUnreachable, c, func(tb testing.TB, from *nstest.Host) bool {
			return nstest.AssertTCPUnreachable(tb, from, c.To, opts...)
		})
	}
	for _, c := range f.Expect.Service {
		add(KindService, c, func(tb testing.TB, from *nstest.Host) bool {
			return nstest.AssertTCPReachable(tb, from, c.To, opts...)
		})
	}

	var lerrs map[string]error // set once the listeners are up
	check := func(i int) {
		r := &rs[i]
		if err := lerrs[listenKey(r)]; err != nil && (r.Kind == KindTCP || r.Kind == KindTCPUnreachable) {
			r.Message = err.Error()
			return
		}
		rec := &recorder{TB: tb}
		start := time.Now()
		r.OK = fns[i](rec)
		r.Duration = time.Since(start)
		r.Message = strings.Join(rec.msgs, "\n")
		if r.OK {
			r.Message = ""
		} else if r.Message == "" {
			r.Message = "failed" // an assertion that did not say why
		}
	}
	// run runs the checks whose kind is chosen: those of different sources
	// at once, those of one source one after the other, so that no check
	// can take an echo reply meant for another for its own.
	run := func(chosen func(kind string) bool) {
		bySource := map[string][]int{}
		var sources []string
		for i := range rs {
			if !chosen(rs[i].Kind) {
				continue
			}
			src := rs[i].From
			if transport(rs[i].Kind) {
				src += " tcp" // echo replies cannot be mistaken for these
			}
			if _, ok := bySource[src]; !ok {
				sources = append(sources, src)
			}
			bySource[src] = append(bySource[src], i)
		}
		sem := make(chan struct{}, maxParallel)
		var wg sync.WaitGroup
		for _, src := range sources {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				for _, i := range bySource[src] {
					check(i)
				}
			}()
		}
		wg.Wait()
	}
	run(func(kind string) bool { return kind == KindService })
	ls, errs := listen(topo, f)
	defer ls.close()
	lerrs = errs
	run(func(kind string) bool { return kind != KindService && !negative(kind) })
	run(negative)

	for _, r := range rs {
		switch {
		case r.OK || r.Kind == KindPingAll:
		case r.Pos.IsValid():
			tb.Errorf("%v", &Error{File: f.filename, Pos: r.Pos, Msg: r.Message})
		default:
			tb.Errorf("%s", r.Message)
		}
	}
	if m, received, total := Matrix(rs); received < total {
		tb.Errorf("%v", &Error{File: f.filename, Pos: f.Expect.at.of("pingall", f.Expect.Pos), Msg: "expect.pingall:\n" + m})
	}
	return rs
}

// Matrix renders the pingall results among rs as Mininet's pingall does,
// one line per source host naming the hosts it reached and X for each it
// did not, then "Results: 0% dropped (380/380 received)". It returns the
// text without a final newline, and the counts; all zero when rs holds no
// pingall result.
func Matrix(rs []Result) (text string, received, total int) {
	var b strings.Builder
	from := ""
	for _, r := range rs {
		if r.Kind != KindPingAll {
			continue
		}
		if r.From != from {
			if from != "" {
				b.WriteByte('\n')
			}
			from = r.From
			b.WriteString(from + " ->")
		}
		total++
		if r.OK {
			received++
			b.WriteString(" " + r.To)
		} else {
			b.WriteString(" X")
		}
	}
	if total == 0 {
		return "", 0, 0
	}
	fmt.Fprintf(&b, "\nResults: %d%% dropped (%d/%d received)", 100*(total-received)/total, received, total)
	return b.String(), received, total
}

// recorder keeps the failures an assertion reports, for its Result; Verify
// reports them to the test itself, with their position in the file.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Error(args ...any) {
	r.record(strings.TrimSuffix(fmt.Sprintln(args...), "\n"))
}

func (r *recorder) Errorf(format string, args ...any) {
	r.record(fmt.Sprintf(format, args...))
}

func (r *recorder) record(msg string) {
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	r.mu.Unlock()
}

// source returns the namespace a check is sent from: a node, or for a
// bridge the fabric.
func source(topo *nstest.Topology, name string) *nstest.Host {
	if h := topo.Host(name); h != nil {
		return h
	}
	return topo.Fabric()
}

// destination says what address a check from `from` to `to` goes to, as the
// assertions resolve it: a node's first IPv4 address, or its first IPv6 one
// when from has no IPv4 address (or the node has none).
func destination(topo *nstest.Topology, from *nstest.Host, to string, tcp bool) string {
	host, port := to, ""
	if tcp {
		var err error
		if host, port, err = net.SplitHostPort(to); err != nil {
			return to
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		var ps []netip.Prefix
		if h := topo.Host(host); h != nil {
			ps = h.Addrs()
		} else if b := topo.Bridge(host); b != nil {
			ps = b.Addrs()
		}
		want4 := false
		for _, p := range from.Addrs() {
			want4 = want4 || p.Addr().Is4()
		}
		var v4, v6 netip.Addr
		for _, p := range ps {
			switch {
			case !p.Addr().IsGlobalUnicast():
			case p.Addr().Is4() && !v4.IsValid():
				v4 = p.Addr()
			case p.Addr().Is6() && !v6.IsValid():
				v6 = p.Addr()
			}
		}
		a = v4
		if !a.IsValid() || (!want4 && v6.IsValid()) {
			a = v6
		}
	}
	if !a.IsValid() {
		return ""
	}
	if tcp {
		return net.JoinHostPort(a.String(), port)
	}
	return a.String()
}

// listeners are the TCP listeners Verify starts for tcp checks.
type listeners []net.Listener

func (ls listeners) close() {
	for _, l := range ls {
		l.Close()
	}
}

// listenKey identifies a tcp check, for the errors of listen.
func listenKey(r *Result) string { return r.Kind + " " + r.To }

// listen starts one listener per destination node and port of f's tcp
// checks. Errors are returned by listenKey of the checks they affect.
func listen(topo *nstest.Topology, f *File) (listeners, map[string]error) {
	var ls listeners
	errs := map[string]error{}
	started := map[string]error{}
	for _, set := range []struct {
		kind   string
		checks []Check
	}{{KindTCP, f.Expect.TCP}, {KindTCPUnreachable, f.Expect.TCPUnreachable}} {
		for _, c := range set.checks {
			host, port, err := net.SplitHostPort(c.To)
			if err != nil {
				continue // Validate refused it already
			}
			h := holder(topo, host)
			if h == nil {
				continue // an address nobody has: nothing listens there
			}
			key := h.Name() + ":" + port
			err, done := started[key]
			if !done {
				var l net.Listener
				l, err = h.Listen("tcp", ":"+port)
				if err == nil {
					ls = append(ls, l)
					go accept(l)
				} else {
					err = fmt.Errorf("cannot listen on %s port %s for %s: %w", h.Name(), port, c, err)
				}
				started[key] = err
			}
			if err != nil {
				errs[set.kind+" "+c.To] = err
			}
		}
	}
	return ls, errs
}

// holder returns the node named host, or the node holding the address host.
func holder(topo *nstest.Topology, host string) *nstest.Host {
	if h := topo.Host(host); h != nil {
		return h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	for _, h := range topo.Hosts() {
		for _, p := range h.Addrs() {
			if p.Addr() == a {
				return h
			}
		}
	}
	return nil
}

// accept accepts connections and closes them at once, until l is closed.
func accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		c.Close()
	}
}
