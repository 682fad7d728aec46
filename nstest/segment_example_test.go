package nstest_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/firewall"
)

// Two LANs on the same range behind two routers: a name resolves to the
// address only its node holds, and a name that could mean either LAN's host
// is an error where it is used.
func ExampleTopology_Resolve() {
	topo := nstest.New(tb)
	lanA, lanB, wan := topo.AddBridge("lanA"), topo.AddBridge("lanB"), topo.AddBridge("wan")
	a, b, r1, r2 := topo.AddHost("a"), topo.AddHost("b"), topo.AddRouter("r1"), topo.AddRouter("r2")
	topo.Connect(a, lanA, "192.168.1.10/24")
	topo.Connect(b, lanB, "192.168.1.10/24")
	topo.Connect(r1, lanA, "192.168.1.1/24")
	topo.Connect(r2, lanB, "192.168.1.1/24")
	topo.Connect(r1, wan, "203.0.113.1/24")
	topo.Connect(r2, wan, "203.0.113.2/24")

	r, _ := topo.Resolve("r1") // a host of lanA would get 192.168.1.1
	fmt.Println("r1:", r)
	_, err := topo.Resolve("a")
	fmt.Println(err)
}

// Mininet's NAT node: the inside gets out, the outside gets only replies
// in, and the rules' counters say which rule each packet matched.
func ExampleHost_SetFirewallPolicy() {
	topo := nstest.New(tb)
	inside, nat, outside := topo.AddHost("inside"), topo.AddRouter("nat"), topo.AddHost("outside")
	topo.Link(inside, nat, "192.168.1.10/24", "192.168.1.1/24")
	topo.Link(nat, outside, "203.0.113.1/24", "203.0.113.9/24") // nat's eth1
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(inside.AddRoute("default", "nat"))
	must(outside.AddRoute("192.168.1.0/24", "nat"))
	must(nat.Masquerade("eth1", "192.168.1.0/24"))
	must(nat.SetFirewallPolicy(firewall.Forward, firewall.Drop))
	must(nat.Firewall(
		firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, InIface: "eth0"},
		firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, State: "established,related"},
	))
	for _, h := range []*nstest.Host{inside, outside} {
		_, err := h.Listen("tcp", ":22")
		must(err)
	}
	fmt.Println("inside -> outside:", nstest.AssertTCPReachable(tb, inside, "outside:22"))
	fmt.Println("outside -> inside:", nstest.AssertTCPUnreachable(tb, outside, "inside:22"))
	c, err := nat.FirewallCount(firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, State: "established,related"})
	must(err)
	fmt.Println("replies let in:", c.Packets > 0)
}

// stdout runs fn and returns what it printed.
func stdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		done <- b.String()
	}()
	defer func() { os.Stdout = old }()
	fn()
	w.Close()
	return <-done
}

// The examples need privileges, so they print no Output to check: run them
// here, where a machine without them skips.
func TestSegmentAndFirewallExamples(t *testing.T) {
	nstest.New(t)
	tb = t
	out := stdout(t, ExampleTopology_Resolve)
	assert.Contains(t, out, "r1: 203.0.113.1\n")
	assert.Contains(t, out, `"a" is ambiguous: it could mean 192.168.1.10 (also b's)`)
	out = stdout(t, ExampleHost_SetFirewallPolicy)
	assert.Equal(t, "inside -> outside: true\noutside -> inside: true\nreplies let in: true\n", out)
}
