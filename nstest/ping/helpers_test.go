package ping_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/nstest/ping"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// host is a namespace of the test's own with loopback up.
type host struct {
	t  testing.TB
	ns *ns.NS
	nl *netlink.Handle
}

func newHost(t testing.TB) *host {
	t.Helper()
	n, err := ns.New()
	if err != nil {
		t.Skipf("cannot create a network namespace (needs CAP_SYS_ADMIN; run as root): %v", err)
	}
	t.Cleanup(func() { n.Close() })
	nl, err := n.NetlinkHandle()
	if err != nil {
		t.Fatalf("netlink handle in namespace: %v", err)
	}
	t.Cleanup(nl.Close)
	h := &host{t: t, ns: n, nl: nl}
	h.sysctl("/proc/sys/net/ipv6/conf/default/accept_dad", "0")
	h.up("lo")
	return h
}

// sysctl writes a sysctl of h's namespace.
func (h *host) sysctl(path, v string) {
	h.t.Helper()
	if err := h.ns.Do(func() error { return os.WriteFile(path, []byte(v), 0) }); err != nil {
		h.t.Fatalf("sysctl in namespace: %v", err)
	}
}

func (h *host) up(name string) {
	h.t.Helper()
	l, err := h.nl.LinkByName(name)
	if err != nil {
		h.t.Fatalf("link %q: %v", name, err)
	}
	if err := h.nl.LinkSetUp(l); err != nil {
		h.t.Fatalf("set %q up: %v", name, err)
	}
}

func (h *host) addAddr(name, cidr string) {
	h.t.Helper()
	l, err := h.nl.LinkByName(name)
	if err != nil {
		h.t.Fatalf("link %q: %v", name, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		h.t.Fatalf("address %q: %v", cidr, err)
	}
	a.Flags |= unix.IFA_F_NODAD // usable at once
	if err := h.nl.AddrAdd(l, a); err != nil {
		h.t.Fatalf("add %q to %q: %v", cidr, name, err)
	}
}

func (h *host) route(dst, via string) {
	h.t.Helper()
	_, d, err := net.ParseCIDR(dst)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.nl.RouteAdd(&netlink.Route{Dst: d, Gw: net.ParseIP(via)}); err != nil {
		h.t.Fatalf("route %s via %s: %v", dst, via, err)
	}
}

// link joins a and b with a veth pair, aName in a and bName in b, both up,
// with the given addresses.
func link(t testing.TB, a *host, aName string, aAddrs []string, b *host, bName string, bAddrs []string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}, PeerName: bName, PeerNamespace: netlink.NsFd(b.ns.Fd())}
	if err := a.nl.LinkAdd(v); err != nil {
		t.Fatalf("veth %s-%s: %v", aName, bName, err)
	}
	a.up(aName)
	b.up(bName)
	for _, c := range aAddrs {
		a.addAddr(aName, c)
	}
	for _, c := range bAddrs {
		b.addAddr(bName, c)
	}
}

// pair is two hosts on a veth: a has 10.0.0.1 and fd00::1, b .2 and ::2.
func pair(t testing.TB) (a, b *host) {
	a, b = newHost(t), newHost(t)
	link(t, a, "eth0", []string{"10.0.0.1/24", "fd00::1/64"}, b, "eth0", []string{"10.0.0.2/24", "fd00::2/64"})
	a.waitReachable("10.0.0.2", "fd00::2")
	return a, b
}

// waitReachable waits until h reaches each dst. On a veth pair that was just
// made, the first IPv6 neighbour solicitation is sometimes lost, and the
// kernel solicits again only a second later (retrans_time_ms); tests that
// count replies start once the path works.
func (h *host) waitReachable(dsts ...string) {
	h.t.Helper()
	for _, dst := range dsts {
		var st *ping.Stats
		var err error
		for range 50 {
			st, err = h.ping(context.Background(), dst, ping.Wait(100*time.Millisecond))
			if err != nil || st.Received > 0 {
				break
			}
		}
		if err != nil || st.Received == 0 {
			h.t.Fatalf("setup: %s unreachable: %v, %v", dst, st, err)
		}
	}
}

// open opens a Conn in h.
func (h *host) open(f ping.Family, kind ping.SocketKind) *ping.Conn {
	h.t.Helper()
	var c *ping.Conn
	err := h.ns.Do(func() (err error) { c, err = ping.Open(f, kind); return err })
	if err != nil {
		h.t.Fatalf("open %v %v socket: %v", kind, f, err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// ping runs ping.Ping on a thread inside h.
func (h *host) ping(ctx context.Context, dst string, opts ...ping.Option) (st *ping.Stats, err error) {
	h.ns.Do(func() error {
		st, err = ping.Ping(ctx, netip.MustParseAddr(dst), opts...)
		return nil
	})
	return st, err
}

func (h *host) allowDatagram() {
	h.t.Helper()
	if err := h.ns.Do(ping.AllowDatagram); err != nil {
		h.t.Fatal(err)
	}
}

// command returns a command that runs inside h through nsenter, which
// enters the namespace through the descriptor it inherits as fd 3.
func (h *host) command(ctx context.Context, name string, arg ...string) *exec.Cmd {
	h.t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		h.t.Skipf("%s not installed: %v", name, err)
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		h.t.Skipf("nsenter (util-linux) not installed: %v", err)
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--net=/proc/self/fd/3", name}, arg...)...)
	cmd.ExtraFiles = []*os.File{h.ns.File()}
	return cmd
}

// nft loads an nftables ruleset into h.
func (h *host) nft(ruleset string) {
	h.t.Helper()
	cmd := h.command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		h.t.Fatalf("nft -f - in namespace: %v\n%s\nruleset:\n%s", err, out.String(), ruleset)
	}
}

// checkStats fails t unless st is consistent with itself.
func checkStats(t testing.TB, st *ping.Stats) {
	t.Helper()
	if st.Received != len(st.RTTs) {
		t.Errorf("Received %d but %d RTTs", st.Received, len(st.RTTs))
	}
	if len(st.TTLs) != len(st.RTTs) {
		t.Errorf("%d TTLs for %d RTTs", len(st.TTLs), len(st.RTTs))
	}
	if st.Received > st.Sent {
		t.Errorf("Received %d > Sent %d", st.Received, st.Sent)
	}
	if st.Sent > 0 {
		want := 100 * float64(st.Sent-st.Received) / float64(st.Sent)
		if st.Loss != want {
			t.Errorf("Loss %v, want %v from Sent %d Received %d", st.Loss, want, st.Sent, st.Received)
		}
	}
	if len(st.RTTs) == 0 {
		return
	}
	lo, hi, sum := st.RTTs[0], st.RTTs[0], 0.0
	for _, r := range st.RTTs {
		if r <= 0 {
			t.Errorf("RTT %v is not positive", r)
		}
		lo, hi, sum = min(lo, r), max(hi, r), sum+float64(r)
	}
	avg := sum / float64(len(st.RTTs))
	if st.Min != lo || st.Max != hi {
		t.Errorf("Min/Max %v/%v, RTTs say %v/%v", st.Min, st.Max, lo, hi)
	}
	if d := float64(st.Avg) - avg; d > 1 || d < -1 {
		t.Errorf("Avg %v, RTTs say %v", st.Avg, avg)
	}
	if st.StdDev < 0 || st.StdDev > st.Max-st.Min {
		t.Errorf("StdDev %v outside [0, Max-Min=%v]", st.StdDev, st.Max-st.Min)
	}
}

var summary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// parseLoss reads the loss from iputils ping's summary line, computed from
// its counts rather than its rounded percentage.
func parseLoss(out string) (float64, error) {
	m := summary.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no summary in iputils output: %q", out)
	}
	sent, _ := strconv.Atoi(m[1])
	recv, _ := strconv.Atoi(m[2])
	if sent == 0 {
		return 0, fmt.Errorf("iputils sent nothing: %q", out)
	}
	return 100 * float64(sent-recv) / float64(sent), nil
}

func sqrt(x float64) float64 { return math.Sqrt(x) }
func itoa(n int) string      { return strconv.Itoa(n) }
