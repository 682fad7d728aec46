package firewall_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nstest/harness/nstest/firewall"
	"golang.org/x/sys/unix"
)

// pair is two namespaces a and b joined by a veth, a-eth/b-eth,
// 10.0.0.1-2/24 and fd00::1-2/64.
func pair(t *testing.T) (a, b *node) {
	a, b = newNode(t), newNode(t)
	link(t, a, "a-eth", []string{"10.0.0.1/24", "fd00::1/64"}, b, "b-eth", []string{"10.0.0.2/24", "fd00::2/64"})
	return a, b
}

// chain is client -- router -- server: client 10.1.0.2 (c-eth) to router
// 10.1.0.1 (r-cli), router 10.2.0.1 (r-srv) to server 10.2.0.2 (s-eth). The
// client's default route goes through the router; the server has none.
func chain(t *testing.T) (client, router, server *node) {
	client, router, server = newNode(t), newNode(t), newNode(t)
	link(t, client, "c-eth", []string{"10.1.0.2/24"}, router, "r-cli", []string{"10.1.0.1/24"})
	link(t, router, "r-srv", []string{"10.2.0.1/24"}, server, "s-eth", []string{"10.2.0.2/24"})
	client.defaultRoute(t, "10.1.0.1")
	router.forward(t)
	return client, router, server
}

func dump(t *testing.T, n *node) string {
	t.Helper()
	s, err := firewall.Dump(n.ns)
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	return s
}

func TestDropEchoRequestThenFlush(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	if !a.ping(t, "10.0.0.2", 3) || !a.ping(t, "fd00::2", 3) {
		t.Fatal("no ping reply before any rule")
	}
	err := firewall.Add(b.ns,
		firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp", ICMPType: "echo-request"},
		firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmpv6", ICMPType: "echo-request", Src: "fd00::1"},
	)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	if a.ping(t, "10.0.0.2", 1) {
		t.Error("IPv4 ping answered despite the drop rule")
	}
	if a.ping(t, "fd00::2", 1) {
		t.Error("IPv6 ping answered despite the drop rule")
	}
	d := dump(t, b)
	t.Logf("Dump:\n%s", d)
	for _, want := range []string{
		"table inet nstest",
		"chain input { type filter hook input priority 0; policy accept; }",
		"input icmp type echo-request drop  [packets 1 bytes 84]",
		"input icmpv6 type echo-request saddr fd00::1 drop  [packets 1 bytes 104]",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("Dump lacks %q", want)
		}
	}

	if err := firewall.Flush(b.ns); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if !a.ping(t, "10.0.0.2", 3) || !a.ping(t, "fd00::2", 3) {
		t.Error("no ping reply after Flush")
	}
	if d := dump(t, b); strings.Contains(d, "nstest") {
		t.Errorf("table left after Flush:\n%s", d)
	}
	if err := firewall.Flush(b.ns); err != nil {
		t.Errorf("second Flush: %v", err)
	}
}

func TestRejectTCPPortIsConnectionRefused(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	b.listen(t, "tcp", ":80")
	b.listen(t, "tcp", ":81")
	err := firewall.Add(b.ns, firewall.Rule{Chain: firewall.Input, Action: firewall.Reject, Proto: "tcp", DstPort: 80})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	for _, addr := range []string{"10.0.0.2:80", "[fd00::2]:80"} {
		c, err := a.dial("tcp", addr)
		if err == nil {
			c.Close()
			t.Errorf("dial %s: connected despite reject", addr)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s: %v, want connection refused", addr, err)
		}
	}
	c, err := a.dial("tcp", "10.0.0.2:81")
	if err != nil {
		t.Fatalf("dial port 81, not rejected: %v", err)
	}
	c.Close()
	if d := dump(t, b); !strings.Contains(d, "input tcp dport 80 reject  [packets 2 ") {
		t.Errorf("Dump lacks the reject rule with 2 packets:\n%s", d)
	}
}

func TestRejectUDPWithoutProtoIsPortUnreachable(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	if err := firewall.Add(b.ns, firewall.Rule{Chain: firewall.Input, Action: firewall.Reject, Src: "10.0.0.1"}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	c, err := a.dial("udp", "10.0.0.2:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 16))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("read after a rejected datagram: %v, want connection refused (ICMP port unreachable)", err)
	}
	if _, err := a.dial("tcp", "10.0.0.2:80"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial tcp: %v, want connection refused (TCP reset)", err)
	}
}

func TestMasqueradeServerSeesRouter(t *testing.T) {
	t.Parallel()
	client, router, server := chain(t)
	l := server.listen(t, "tcp", "10.2.0.2:80")
	if err := firewall.Masquerade(router.ns, "r-srv", "10.1.0.0/24"); err != nil {
		t.Fatalf("Masquerade: %v", err)
	}
	conns := accept(t, l)
	c, err := client.dial("tcp", "10.2.0.2:80")
	if err != nil {
		t.Fatalf("dial through the router: %v", err)
	}
	defer c.Close()
	sc := <-conns
	if sc == nil {
		t.Fatal("accept failed")
	}
	if got := sc.RemoteAddr().(*net.TCPAddr).IP.String(); got != "10.2.0.1" {
		t.Errorf("server sees the client as %s, want the router's 10.2.0.1", got)
	}
	if d := dump(t, router); !strings.Contains(d, "postrouting oifname r-srv saddr 10.1.0.0/24 masquerade  [packets 1 ") {
		t.Errorf("Dump lacks the masquerade rule with one packet:\n%s", d)
	}
}

func TestForwardPortReachesServer(t *testing.T) {
	t.Parallel()
	client, router, server := chain(t)
	server.defaultRoute(t, "10.2.0.1")
	l := server.listen(t, "tcp", "10.2.0.2:80")
	if err := firewall.ForwardPort(router.ns, "tcp", 8080, netip.MustParseAddrPort("10.2.0.2:80"), "r-cli"); err != nil {
		t.Fatalf("ForwardPort: %v", err)
	}
	conns := accept(t, l)
	c, err := client.dial("tcp", "10.1.0.1:8080")
	if err != nil {
		t.Fatalf("dial the router's forwarded port: %v", err)
	}
	defer c.Close()
	sc := <-conns
	if sc == nil {
		t.Fatal("accept failed")
	}
	if got := sc.RemoteAddr().(*net.TCPAddr).IP.String(); got != "10.1.0.2" {
		t.Errorf("server sees the client as %s, want 10.1.0.2", got)
	}
	if _, err := sc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Errorf("client read %q, %v; want hello", buf, err)
	}
	if d := dump(t, router); !strings.Contains(d, "prerouting iifname r-cli tcp dport 8080 dnat to 10.2.0.2:80  [packets 1 ") {
		t.Errorf("Dump lacks the DNAT rule with one packet:\n%s", d)
	}
}

func TestInvalidRulesNameTheValueAndApplyNothing(t *testing.T) {
	t.Parallel()
	a, _ := pair(t)
	ok := firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "tcp", DstPort: 22}
	for _, tc := range []struct {
		bad  firewall.Rule
		want string
	}{
		{firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Src: "10.0.0.300"}, `firewall: rule 2: src "10.0.0.300": invalid address`},
		{firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Dst: "10.0.0.0/33"}, `firewall: rule 2: dst "10.0.0.0/33": invalid CIDR`},
		{firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Src: "10.0.0.1", Dst: "fd00::1"}, `firewall: rule 2: src "10.0.0.1" and dst "fd00::1": mix IPv4 and IPv6`},
		{firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "sctp"}, `firewall: rule 2: proto "sctp": not tcp, udp, icmp or icmpv6`},
		{firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, DstPort: 80}, `firewall: rule 2: port with proto "": ports need tcp or udp`},
		{firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp", Dst: "fd00::2"}, `firewall: rule 2: proto "icmp" with an IPv6 address: use icmpv6`},
		{firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp", ICMPType: "echo"}, `firewall: rule 2: icmp type "echo": unknown for icmp`},
		{firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, ICMPType: "echo-request"}, `firewall: rule 2: icmp type "echo-request" with proto "": needs proto icmp or icmpv6`},
		{firewall.Rule{Chain: firewall.Output, Action: firewall.Drop, InIface: "eth0"}, `firewall: rule 2: in iface "eth0": output packets have no input interface`},
		{firewall.Rule{Chain: firewall.Forward, Action: firewall.Drop, OutIface: "a-very-long-interface"}, `firewall: rule 2: out iface "a-very-long-interface": longer than 15 bytes`},
		{firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Probability: 120}, `firewall: rule 2: probability 120: not a percentage between 0 and 100`},
		{firewall.Rule{Action: firewall.Drop}, `firewall: rule 2: chain 0: not Input, Output or Forward`},
		{firewall.Rule{Chain: firewall.Input}, `firewall: rule 2: action 0: not Accept, Drop or Reject`},
	} {
		err := firewall.Add(a.ns, ok, tc.bad)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Add(ok, %v) = %v, want %s", tc.bad, err, tc.want)
		}
	}
	if d := dump(t, a); strings.Contains(d, "nstest") {
		t.Errorf("a failed Add left a table:\n%s", d)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{firewall.Masquerade(a.ns, "a-eth", "10.1.0.0/99"), `firewall: masquerade on "a-eth": src "10.1.0.0/99": invalid CIDR`},
		{firewall.ForwardPort(a.ns, "icmp", 80, netip.MustParseAddrPort("10.0.0.2:80"), ""), `firewall: forward icmp port 80 to 10.0.0.2:80: proto "icmp": not tcp or udp`},
		{firewall.RandomDrop(a.ns, "a-eth", 101, firewall.Egress), `firewall: random drop 101% egress on "a-eth": not a percentage between 0 and 100`},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("got error %v, want %s", tc.err, tc.want)
		}
	}
	if d := dump(t, a); strings.Contains(d, "nstest") {
		t.Errorf("a failed call left a table:\n%s", d)
	}
}

// sendCounted sends n numbered UDP datagrams from a to b, then an end marker
// after the drop is lifted, and returns how many numbered ones arrived.
func sendCounted(t *testing.T, from *node, to net.PacketConn, dst string, n int, lift func()) int {
	t.Helper()
	c, err := from.dial("udp", dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < n; i++ {
		if _, err := c.Write([]byte("x")); err != nil && !errors.Is(err, unix.EPERM) {
			t.Fatalf("send datagram %d: %v", i, err)
		}
	}
	lift()
	if _, err := c.Write([]byte("end")); err != nil {
		t.Fatal(err)
	}
	got := 0
	buf := make([]byte, 16)
	to.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		k, _, err := to.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", got, err)
		}
		if string(buf[:k]) == "end" {
			return got
		}
		got++
	}
}

func TestRandomDropLosesAboutThatShare(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	const n = 300
	for _, dir := range []firewall.Direction{firewall.Egress, firewall.Ingress} {
		t.Run(dir.String(), func(t *testing.T) {
			srv := b.listenPacket(t, "udp", "10.0.0.2:0")
			fd, iface := a.ns, "a-eth"
			if dir == firewall.Ingress {
				fd, iface = b.ns, "b-eth"
			}
			// Installed twice: the second call replaces the first.
			if err := firewall.RandomDrop(fd, iface, 90, dir); err != nil {
				t.Fatalf("RandomDrop: %v", err)
			}
			if err := firewall.RandomDrop(fd, iface, 30, dir); err != nil {
				t.Fatalf("RandomDrop: %v", err)
			}
			d, _ := firewall.Dump(fd)
			if c := strings.Count(d, "random drop "+dir.String()+" "+iface); c != 1 {
				t.Errorf("%d random-drop rules for %s, want 1:\n%s", c, iface, d)
			}
			got := sendCounted(t, a, srv, srv.LocalAddr().String(), n, func() {
				if err := firewall.RandomDrop(fd, iface, 0, dir); err != nil {
					t.Fatalf("RandomDrop 0: %v", err)
				}
			})
			loss := 100 * float64(n-got) / n
			t.Logf("%d of %d datagrams arrived: %.1f%% loss for 30%%", got, n, loss)
			if loss < 15 || loss > 45 {
				t.Errorf("loss %.1f%%, want about 30%% (15..45)", loss)
			}
			if d, _ := firewall.Dump(fd); strings.Contains(d, "random drop") {
				t.Errorf("random drop left after reset:\n%s", d)
			}
		})
	}
}

func TestProbabilityRuleDropsAShare(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	srv := b.listenPacket(t, "udp", "[fd00::2]:0")
	err := firewall.Add(b.ns, firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "udp", Src: "fd00::1", Probability: 50})
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	const n = 300
	got := sendCounted(t, a, srv, srv.LocalAddr().String(), n, func() {
		if err := firewall.Flush(b.ns); err != nil {
			t.Fatal(err)
		}
	})
	if loss := 100 * float64(n-got) / n; loss < 35 || loss > 65 {
		t.Errorf("loss %.1f%% for probability 50%%, want 35..65", loss)
	}
}

// TestClampMSSFixesMTUBlackHole builds the setting of a path MTU black hole:
// the router's side of the server link has MTU 1300 while the server's side
// has 1500, so the server would send segments too large for the router to
// take. Clamping the MSS of forwarded SYNs to the route's MTU makes the server
// use segments that fit. (The test reads the server's MSS rather than losing
// data: veth accepts oversized GSO packets, so the loss itself does not
// happen between veths unless offloads are turned off.)
func TestClampMSSFixesMTUBlackHole(t *testing.T) {
	t.Parallel()
	client, router, server := chain(t)
	server.defaultRoute(t, "10.2.0.1")
	rs, err := router.h.LinkByName("r-srv")
	if err != nil {
		t.Fatal(err)
	}
	if err := router.h.LinkSetMTU(rs, 1300); err != nil {
		t.Fatal(err)
	}
	l := server.listen(t, "tcp", "10.2.0.2:80")

	// mss connects the client to the server and returns the MSS the server
	// uses towards the client.
	mss := func() (mss int) {
		conns := accept(t, l)
		c, err := client.dial("tcp", "10.2.0.2:80")
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		sc := <-conns
		if sc == nil {
			t.Fatal("accept failed")
		}
		raw, _ := sc.(*net.TCPConn).SyscallConn()
		raw.Control(func(fd uintptr) { mss, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG) })
		if err != nil {
			t.Fatal(err)
		}
		return mss
	}
	if got := mss(); got <= 1260 {
		t.Fatalf("server's MSS without clamping is %d; the test needs it above the narrow link's 1260", got)
	}
	if err := firewall.ClampMSS(router.ns, ""); err != nil {
		t.Fatalf("ClampMSS: %v", err)
	}
	if got := mss(); got > 1260 {
		t.Errorf("server's MSS with clamping is %d, want at most 1260 (MTU 1300 - 40)", got)
	}
	// The SYN and the SYN-ACK.
	if d := dump(t, router); !strings.Contains(d, "tcp option maxseg size set rt mtu  [packets 2 ") {
		t.Errorf("Dump lacks the clamp rule with two packets:\n%s", d)
	}
}
