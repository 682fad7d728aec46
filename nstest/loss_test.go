package nstest_test

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/firewall"
	"github.com/nstest/harness/nstest/ping"
)

var iputilsSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// iputilsLoss runs iputils ping in h and returns the loss computed from its
// counts (not its rounded percentage).
func iputilsLoss(h *nstest.Host, args ...string) (float64, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := h.CommandContext(ctx, "ping", args...).CombinedOutput()
	m := iputilsSummary.FindSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("ping %v: %v: no summary in %q", args, err, out)
	}
	sent, _ := strconv.Atoi(string(m[1]))
	recv, _ := strconv.Atoi(string(m[2]))
	return 100 * float64(sent-recv) / float64(sent), sent, nil
}

// TestLossAgreesWithIputils drops 30% of the echo requests ns2 receives, at
// random, and pings it 500 times from ns1 with host.Ping and with iputils
// ping at once. Each loss estimate is binomial, with a standard deviation of
// sqrt(0.3*0.7/500) = 2.05 points; the two are independent, so their
// difference has 2.9. Both must be within 4.5 deviations of 30% (9.2
// points), and of each other (13 points): a false alarm about once in
// 150,000 runs.
func TestLossAgreesWithIputils(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("iputils ping is not installed (Debian package iputils-ping)")
	}
	_, ns1, ns2, _ := three(t)
	require.NoError(t, firewall.Add(ns2,
		firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp", ICMPType: "echo-request", Probability: 30},
		firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmpv6", ICMPType: "echo-request", Probability: 30},
	))
	const n, p = 500, 0.30
	sd := 100 * math.Sqrt(p*(1-p)/n)
	for _, dst := range []string{"10.0.0.2", "fd00::2"} {
		t.Run(dst, func(t *testing.T) {
			var (
				theirs float64
				sent   int
				ierr   error
				wg     sync.WaitGroup
			)
			wg.Go(func() {
				theirs, sent, ierr = iputilsLoss(ns1, "-c", strconv.Itoa(n), "-i", "0.002", "-W", "1", "-q", dst)
			})
			st, err := ns1.Ping(context.Background(), dst, ping.Count(n), ping.Interval(2*time.Millisecond))
			wg.Wait()
			require.NoError(t, err)
			require.NoError(t, ierr)
			t.Logf("native: %v", st)
			t.Logf("iputils: %d sent, %.1f%% loss; tolerance %.1f points from 30%%, %.1f between them", sent, theirs, 4.5*sd, 4.5*sd*math.Sqrt2)
			if st.Sent != n || sent != n {
				t.Errorf("sent native %d, iputils %d; want %d each", st.Sent, sent, n)
			}
			if math.Abs(st.Loss-100*p) > 4.5*sd {
				t.Errorf("native loss %.1f%%, want 30%% ± %.1f", st.Loss, 4.5*sd)
			}
			if math.Abs(theirs-100*p) > 4.5*sd {
				t.Errorf("iputils loss %.1f%%, want 30%% ± %.1f", theirs, 4.5*sd)
			}
			if math.Abs(st.Loss-theirs) > 4.5*sd*math.Sqrt2 {
				t.Errorf("native loss %.1f%% and iputils loss %.1f%% differ by more than %.1f points", st.Loss, theirs, 4.5*sd*math.Sqrt2)
			}
		})
	}
}
