// Package rootcheck records what the test process's own network namespace
// looks like, and what this process kept under /run/netns, so that a test
// suite can prove it left them exactly as they were.
//
// It looks only at what the tests could have changed: the namespace the
// process runs in (which no test may touch) and the namespaces this process
// itself kept. The machine's /run/netns and mount table as a whole are
// shared with everyone else on the machine (`ip netns add`, other test
// binaries): comparing them would blame the tests for what others do.
package rootcheck

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/keep"
	"github.com/nstest/harness/internal/rootless"
)

// Snapshot describes the current namespace (links, addresses, routes of
// every table, forwarding and related sysctls) and the kept namespaces this
// process made that are still there (see keep.Leftovers).
func Snapshot() (string, error) {
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	links, err := netlink.LinkList()
	if err != nil {
		return "", err
	}
	for _, l := range links {
		a := l.Attrs()
		add("link %d %s type=%s flags=%v mtu=%d master=%d", a.Index, a.Name, l.Type(), a.Flags, a.MTU, a.MasterIndex)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		add("addr %d %s", a.LinkIndex, a.IPNet)
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return "", err
	}
	for _, r := range routes {
		add("route table=%d dst=%v gw=%v dev=%d", r.Table, r.Dst, r.Gw, r.LinkIndex)
	}
	for _, k := range []string{
		"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv4/conf/all/rp_filter",
		"net/ipv4/ping_group_range", "net/ipv4/conf/all/forwarding",
	} {
		b, _ := os.ReadFile("/proc/sys/" + k)
		add("sysctl %s=%s", k, strings.TrimSpace(string(b)))
	}
	for _, l := range keep.Leftovers() {
		add("kept %s", l)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n"), nil
}

// Diff returns the lines only in before ("-") or only in after ("+").
func Diff(before, after string) string {
	in := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	b, a := in(before), in(after)
	var out []string
	for l, n := range b {
		if a[l] < n {
			out = append(out, "- "+l)
		}
	}
	for l, n := range a {
		if b[l] < n {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// Main runs a test binary's tests, checking that the namespace the tests run
// in is the same afterwards and that nothing this process kept under
// /run/netns is left. It returns the exit code.
func Main(run func() int) int {
	before, err := Snapshot()
	if err != nil {
		return run()
	}
	code := run()
	after, err := Snapshot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rootcheck: %v\n", err)
		return 1
	}
	if d := Diff(before, after); d != "" {
		fmt.Fprintf(os.Stderr, "FAIL: the tests changed the namespace they ran in:\n%s\n", d)
		return 1
	}
	return code
}

// TestingM is a test run as go.uber.org/goleak's VerifyTestMain takes it.
type TestingM interface{ Run() int }

type runFunc func() int

func (f runFunc) Run() int { return f() }

// Tests returns the test run of a TestMain: run (m.Run) re-executed rootless
// when needed, as nstest.Main does, and failed if it changed the namespace
// it ran in (Main). Hand it to goleak, which also fails the run if a
// goroutine outlives the tests:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(rootcheck.Tests(m.Run)) }
func Tests(run func() int) TestingM {
	return runFunc(func() int { return rootless.Run(func() int { return Main(run) }) })
}
