package firewall_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nstest/harness/nstest/firewall"
)

// connects reports whether from can open a TCP connection to addr within
// d, and why not. Checks that expect a connection give it 5s: the links of
// this testbed may still be coming up, and a SYN lost then is sent again
// after a second.
func connects(from *node, addr string, d time.Duration) error {
	return from.ns.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
}

func count(t *testing.T, n *node, r firewall.Rule) uint64 {
	t.Helper()
	c, err := firewall.Count(n.ns, r)
	if err != nil {
		t.Fatal(err)
	}
	return c.Packets
}

// A router with a Drop policy in its forward chain passes what its rules
// accept: new connections from the client's side, and with a state rule the
// replies to them, never new connections from the server's side.
func TestStatefulForwardLetsOnlyRepliesIn(t *testing.T) {
	t.Parallel()
	client, router, server := chain(t)
	server.defaultRoute(t, "10.2.0.1") // the server could reach the client, were it let through
	server.listen(t, "tcp", ":80")
	client.listen(t, "tcp", ":22")
	if err := connects(client, "10.2.0.2:80", 5*time.Second); err != nil {
		t.Fatalf("client -> server before any rule: %v", err)
	}
	if err := connects(server, "10.1.0.2:22", 5*time.Second); err != nil {
		t.Fatalf("server -> client before any rule: %v", err)
	}

	out := firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, InIface: "r-cli"}
	back := firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, State: "established, related"}
	if err := firewall.SetPolicy(router.ns, firewall.Forward, firewall.Drop); err != nil {
		t.Fatal(err)
	}
	if err := firewall.Add(router.ns, out); err != nil {
		t.Fatal(err)
	}
	// Without the state rule the policy drops the replies too.
	if err := connects(client, "10.2.0.2:80", time.Second); err == nil {
		t.Fatal("client -> server connected, though the policy drops the server's replies")
	}
	if n := count(t, router, out); n == 0 {
		t.Error("the client's SYNs were not counted by the rule that let them out")
	}

	// Adding a rule keeps the chain's Drop policy.
	if err := firewall.Add(router.ns, back); err != nil {
		t.Fatal(err)
	}
	if err := connects(client, "10.2.0.2:80", 5*time.Second); err != nil {
		t.Fatalf("client -> server with the state rule: %v", err)
	}
	if n := count(t, router, back); n == 0 {
		t.Error("the replies were not counted by the state rule")
	}
	if err := connects(server, "10.1.0.2:22", time.Second); err == nil {
		t.Fatal("server -> client connected through the Drop policy")
	}
	d := dump(t, router)
	t.Logf("Dump:\n%s", d)
	for _, want := range []string{
		"chain forward { type filter hook forward priority 0; policy drop; }",
		"forward ct state established,related accept  [packets",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("Dump lacks %q", want)
		}
	}

	// Policy Accept opens the chain again.
	if err := firewall.SetPolicy(router.ns, firewall.Forward, firewall.Accept); err != nil {
		t.Fatal(err)
	}
	if err := connects(server, "10.1.0.2:22", 5*time.Second); err != nil {
		t.Errorf("server -> client after policy accept: %v", err)
	}
	// A policy counts nothing; a rule that drops what the Drop policy did
	// shows that the server's SYNs were new, not established.
	in := firewall.Rule{Chain: firewall.Forward, Action: firewall.Drop, InIface: "r-srv", State: "new"}
	if err := firewall.Add(router.ns, in); err != nil {
		t.Fatal(err)
	}
	if err := connects(server, "10.1.0.2:22", time.Second); err == nil {
		t.Fatal("server -> client connected through the Drop rule")
	}
	if n := count(t, router, in); n == 0 {
		t.Error("the server's SYNs were not counted as new")
	}
}

// Conntrack sees a ping run as one connection: its first echo request is
// "new", the later ones "established".
func TestStateNewAndEstablishedCountPings(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	newRule := firewall.Rule{Chain: firewall.Input, Action: firewall.Accept, Proto: "icmp", State: "new"}
	estRule := firewall.Rule{Chain: firewall.Input, Action: firewall.Accept, Proto: "icmp", State: "established"}
	if err := firewall.Add(b.ns, newRule, estRule); err != nil {
		t.Fatal(err)
	}
	// iputils' ping uses one identifier for its whole run: the first
	// request is new, the later ones established.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nsPath := "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(a.fd())
	out, err := exec.CommandContext(ctx, "nsenter", "--net="+nsPath, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "10.0.0.2").CombinedOutput()
	if err != nil {
		t.Skipf("ping (Debian package iputils-ping): %v\n%s", err, out)
	}
	if n := count(t, b, newRule); n != 1 {
		t.Errorf("new: %d packets, want 1 (the first echo request)", n)
	}
	if n := count(t, b, estRule); n != 2 {
		t.Errorf("established: %d packets, want 2 (the later echo requests)", n)
	}
}

func TestStateAndPolicyErrorsNameTheValue(t *testing.T) {
	t.Parallel()
	a, _ := pair(t)
	ok := firewall.Rule{Chain: firewall.Input, Action: firewall.Accept, State: "established,related"}
	bad := firewall.Rule{Chain: firewall.Input, Action: firewall.Accept, State: "established,relatd"}
	err := firewall.Add(a.ns, ok, bad)
	if want := `firewall: rule 2: state "established,relatd": "relatd" is not new, established, related, invalid or untracked`; err == nil || err.Error() != want {
		t.Errorf("Add(ok, bad state) = %v, want %s", err, want)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{firewall.SetPolicy(a.ns, firewall.Forward, firewall.Reject), `firewall: set policy of chain forward to reject: policy reject: a chain's policy is Accept or Drop`},
		{firewall.SetPolicy(a.ns, firewall.Chain(7), firewall.Drop), `firewall: set policy of chain Chain(7) to drop: chain 7: not Input, Output or Forward`},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("got error %v, want %s", tc.err, tc.want)
		}
	}
	if d := dump(t, a); strings.Contains(d, "nstest") {
		t.Errorf("a failed call left a table:\n%s", d)
	}
	if cs, err := firewall.Counters(a.ns); err != nil || len(cs) != 0 {
		t.Errorf("Counters without a table = %v, %v; want none", cs, err)
	}
	if err := firewall.Add(a.ns, ok); err != nil {
		t.Fatal(err)
	}
	_, err = firewall.Count(a.ns, bad)
	if want := `firewall: count rule "input ct state established,relatd accept": not installed (rules: input ct state established,related accept)`; err == nil || err.Error() != want {
		t.Errorf("Count(not installed) = %v, want %s", err, want)
	}
}

func TestCountersListEveryRule(t *testing.T) {
	t.Parallel()
	client, router, server := chain(t)
	server.listenPacket(t, "udp", ":53")
	reject := firewall.Rule{Chain: firewall.Forward, Action: firewall.Reject, Dst: "10.2.0.2"}
	if err := firewall.Masquerade(router.ns, "r-srv", ""); err != nil {
		t.Fatal(err)
	}
	if err := firewall.Add(router.ns, reject); err != nil {
		t.Fatal(err)
	}
	if err := connects(client, "10.2.0.2:80", 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("client -> server: %v, want connection refused", err)
	}
	c, err := client.dial("udp", "10.2.0.2:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("UDP to the server: %v, want the port-unreachable as connection refused", err)
	}
	cs, err := firewall.Counters(router.ns)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, fmt.Sprintf("%s: %s: %d", c.Chain, c.Rule, c.Packets))
	}
	want := []string{
		"snat: postrouting oifname r-srv masquerade: 0", // nothing got through
		"forward: forward daddr 10.2.0.2 reject (tcp reset): 1",
		"forward: forward daddr 10.2.0.2 reject (icmp port-unreachable): 1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Counters:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := count(t, router, reject); n != 2 {
		t.Errorf("Count(reject without proto) = %d, want both halves summed: 2", n)
	}
}

// A rule that matches connection state names conntrack among the kernel
// options its errors cite when the kernel lacks them (internal/kconfig maps
// the errno to ErrUnsupported, and is tested there).
func TestStateRulesNeedConntrack(t *testing.T) {
	got := firewall.Needs([]firewall.Rule{{Chain: firewall.Forward, Action: firewall.Accept, State: "established,related"}})
	for _, want := range []string{"CONFIG_NF_TABLES_INET", "CONFIG_NF_CONNTRACK", "CONFIG_NFT_CT"} {
		if !slices.Contains(got, want) {
			t.Errorf("needs %v, want %s among them", got, want)
		}
	}
	if got := firewall.Needs([]firewall.Rule{{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp"}}); slices.Contains(got, "CONFIG_NF_CONNTRACK") {
		t.Errorf("a stateless rule needs %v", got)
	}
}

// TestNftReadsStateAndPolicy cross-checks the state match and the policy
// with the nft tool's reading, where nft is installed.
func TestNftReadsStateAndPolicy(t *testing.T) {
	t.Parallel()
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft (Debian package nftables) not installed; it is only used to cross-check")
	}
	a, _ := pair(t)
	if err := firewall.SetPolicy(a.ns, firewall.Input, firewall.Drop); err != nil {
		t.Fatal(err)
	}
	err = firewall.Add(a.ns,
		firewall.Rule{Chain: firewall.Input, Action: firewall.Accept, State: "established,related"},
		firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, State: "invalid"},
		firewall.Rule{Chain: firewall.Input, Action: firewall.Accept, Proto: "tcp", DstPort: 22, State: "new"},
	)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("nsenter", "--net=/proc/"+strconv.Itoa(os.Getpid())+"/fd/"+strconv.Itoa(a.fd()), nft, "list", "table", "inet", "nstest").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	t.Logf("nft list table inet nstest:\n%s", out)
	got := regexp.MustCompile(`counter packets \d+ bytes \d+`).ReplaceAllString(strings.Join(strings.Fields(string(out)), " "), "counter")
	for _, want := range []string{
		`type filter hook input priority filter; policy drop;`,
		`ct state established,related counter accept`,
		`ct state invalid counter drop`,
		`tcp dport 22 ct state new counter accept`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("nft does not read back %q", want)
		}
	}
}
