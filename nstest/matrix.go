package nstest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
)

// maxDetails bounds the lines explaining failed pairs under a matrix.
const maxDetails = 20

// AssertConnectivity checks that every host reaches every other host's
// address (Host.Addr) with ICMP echo, all ordered pairs at once: each source
// host sends from one socket to all the others and retries only those that
// have not answered, for up to 2s. On failure it prints the matrix as
// Mininet's pingAll does, one line per source with the name of each host it
// reached and X for each it did not, then the share dropped and why each
// failed pair failed:
//
//	ns1 -> ns2 X
//	ns2 -> ns1 ns3
//	ns3 -> X ns2
//	Results: 33% dropped (4/6 received)
//	ns1 -> ns3 (10.0.0.3): no reply to 8 echo requests in 2s
//	ns3 -> ns1 (10.0.0.1): no reply to 8 echo requests in 2s
//
// A nil host, or fewer than two hosts, is a failure: the assertion would
// check nothing, which is most likely a mistake (a host that was never
// made, an empty Hosts()).
func AssertConnectivity(tb testing.TB, hosts ...*Host) bool {
	tb.Helper()
	n := len(hosts)
	for k, h := range hosts {
		if h == nil {
			tb.Errorf("nstest: connectivity: host %d of %d is nil", k+1, n)
			return false
		}
	}
	if n < 2 {
		tb.Errorf("nstest: connectivity of %d hosts checks nothing: give at least two", n)
		return false
	}
	type pair struct{ from, to, job int }
	var pairs []pair
	var jobs []probeJob
	for i, h := range hosts {
		for j, o := range hosts {
			if i == j {
				continue
			}
			p := pair{i, j, -1}
			if dst := o.Addr(); dst.IsValid() {
				p.job = len(jobs)
				jobs = append(jobs, probeJob{from: h, dst: dst, reach: true, until: DefaultWithin})
			}
			pairs = append(pairs, p)
		}
	}
	res := probeAll(jobs)
	received := 0
	var matrix, why strings.Builder
	details := 0
	for k, p := range pairs {
		from, to := hosts[p.from], hosts[p.to]
		if k == 0 || pairs[k-1].from != p.from {
			fmt.Fprintf(&matrix, "%s ->", from.name)
		}
		ok := p.job >= 0 && res[p.job].replies > 0
		if ok {
			received++
			fmt.Fprintf(&matrix, " %s", to.name)
		} else {
			matrix.WriteString(" X")
			from.topo.markFailed(from, to.name, "ping", true)
			if details++; details <= maxDetails {
				if p.job < 0 {
					fmt.Fprintf(&why, "%s -> %s: it has no address\n", from.name, to.name)
				} else {
					r := &res[p.job]
					fmt.Fprintf(&why, "%s -> %s (%s): %s\n", from.name, to.name, jobs[p.job].dst, r.happened(from.topo, from))
				}
			}
		}
		if k == len(pairs)-1 || pairs[k+1].from != p.from {
			matrix.WriteByte('\n')
		}
	}
	total := len(pairs)
	if received == total {
		return true
	}
	if details > maxDetails {
		fmt.Fprintf(&why, "... and %d more\n", details-maxDetails)
	}
	tb.Errorf("nstest: connectivity of %d hosts: %d of %d pairs got no reply\n%sResults: %s%% dropped (%d/%d received)\n%s",
		n, total-received, total, matrix.String(), percent(total-received, total), received, total, strings.TrimSuffix(why.String(), "\n"))
	return false
}

// RequireConnectivity is AssertConnectivity that stops the test when it
// fails.
func RequireConnectivity(tb testing.TB, hosts ...*Host) {
	tb.Helper()
	if !AssertConnectivity(tb, hosts...) {
		tb.FailNow()
	}
}

// percent formats 100*part/total with no decimals, or one when that would
// round a nonzero share to 0 or 100.
func percent(part, total int) string {
	p := 100 * float64(part) / float64(total)
	s := strconv.FormatFloat(p, 'f', 0, 64)
	if (s == "0" && part > 0) || (s == "100" && part < total) {
		s = strconv.FormatFloat(p, 'f', 1, 64)
	}
	return s
}

// An Expectation says whether From should reach To (an IP address or the
// name of a node) with ICMP echo.
type Expectation struct {
	From      *Host
	To        string
	Reachable bool
}

// Expect is a partial reachability matrix: the pairs a firewall or routing
// test cares about. Build it as a literal or with Reach and NotReach:
//
//	nstest.AssertMatrix(t, nstest.Reach(client, "web", "dns").
//		NotReach(client, "db").
//		Reach(web, "db"))
type Expect []Expectation

// Reach returns an Expect saying that from reaches each of to.
func Reach(from *Host, to ...string) Expect { return Expect(nil).Reach(from, to...) }

// NotReach returns an Expect saying that from reaches none of to.
func NotReach(from *Host, to ...string) Expect { return Expect(nil).NotReach(from, to...) }

// Reach adds that from reaches each of to.
func (e Expect) Reach(from *Host, to ...string) Expect {
	for _, d := range to {
		e = append(e, Expectation{From: from, To: d, Reachable: true})
	}
	return e
}

// NotReach adds that from reaches none of to.
func (e Expect) NotReach(from *Host, to ...string) Expect {
	for _, d := range to {
		e = append(e, Expectation{From: from, To: d})
	}
	return e
}

// AssertMatrix checks every expectation of e at once, as AssertConnectivity
// does: reachable pairs until the first reply (default 2s, see Within),
// unreachable ones for the whole window (default 1s, see Window), each
// source host probing all its destinations from one socket. On failure it
// prints every pair with what was wanted and what happened, the wrong ones
// marked FAIL:
//
//	nstest: reachability: 1 of 3 pairs not as expected
//	ok    client -> web (10.0.0.2)  want reachable    got a reply
//	FAIL  client -> db (10.0.0.3)   want unreachable  got a reply from db (10.0.0.3)
//	ok    web -> db (10.0.0.3)      want reachable    got a reply
func AssertMatrix(tb testing.TB, e Expect, opts ...CheckOption) bool {
	tb.Helper()
	c := checkOpts(opts)
	if err := c.err(); err != nil {
		tb.Errorf("nstest: reachability: %v", err)
		return false
	}
	type row struct {
		ex  Expectation
		job int
		err error
	}
	rows := make([]row, len(e))
	var jobs []probeJob
	for i, x := range e {
		rows[i] = row{ex: x, job: -1}
		if x.From == nil {
			rows[i].err = fmt.Errorf("no source host")
			continue
		}
		dst, err := x.From.topo.resolve(x.From, x.To, c.family)
		if err != nil {
			rows[i].err = err
			continue
		}
		d := c.within
		if !x.Reachable {
			d = c.window
		}
		rows[i].job = len(jobs)
		jobs = append(jobs, probeJob{from: x.From, dst: dst, reach: x.Reachable, until: d})
	}
	res := probeAll(jobs)
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	bad := 0
	for _, r := range rows {
		want := "unreachable"
		if r.ex.Reachable {
			want = "reachable"
		}
		from := "<nil>"
		if r.ex.From != nil {
			from = r.ex.From.name
		}
		status, pair, got := "ok", from+" -> "+r.ex.To, ""
		switch {
		case r.err != nil:
			status, got = "FAIL", "an error: "+r.err.Error()
		default:
			j, p := jobs[r.job], &res[r.job]
			pair = from + " -> " + r.ex.From.topo.destination(r.ex.To, j.dst)
			replied := p.replies > 0
			switch {
			case replied == r.ex.Reachable && replied:
				got = "a reply"
			case replied == r.ex.Reachable:
				got = "X"
			case replied:
				status, got = "FAIL", p.happened(r.ex.From.topo, r.ex.From)
			default:
				status, got = "FAIL", "X: "+p.happened(r.ex.From.topo, r.ex.From)
			}
		}
		if status != "ok" {
			bad++
			if r.ex.From != nil {
				r.ex.From.topo.markFailed(r.ex.From, r.ex.To, "ping", r.ex.Reachable)
			}
		}
		fmt.Fprintf(w, "%s\t%s\twant %s\tgot %s\n", status, pair, want, got)
	}
	w.Flush()
	if bad == 0 {
		return true
	}
	tb.Errorf("nstest: reachability: %d of %d pairs not as expected\n%s", bad, len(rows), strings.TrimSuffix(b.String(), "\n"))
	return false
}

// RequireMatrix is AssertMatrix that stops the test when it fails.
func RequireMatrix(tb testing.TB, e Expect, opts ...CheckOption) {
	tb.Helper()
	if !AssertMatrix(tb, e, opts...) {
		tb.FailNow()
	}
}
