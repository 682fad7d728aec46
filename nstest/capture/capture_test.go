package capture_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/nstest/capture"
)

// tube is the seed tutorial's veth pair: ns1_in in namespace A, ns1_out in
// namespace B.
type tube struct {
	a, b       *ns.NS
	aMAC, bMAC net.HardwareAddr
}

var (
	addrA  = netip.MustParseAddr("10.0.0.1")
	addrB  = netip.MustParseAddr("10.0.0.2")
	addr6A = netip.MustParseAddr("fd00::1")
	addr6B = netip.MustParseAddr("fd00::2")
)

// newTube makes two namespaces joined by a veth pair, both ends up. With
// addressed, A gets 10.0.0.1/24 and fd00::1/64, B gets 10.0.0.2/24 and
// fd00::2/64; otherwise only A gets 10.0.0.1/24, as in the seed.
func newTube(t testing.TB, addressed bool) *tube {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("capture tests need CAP_NET_ADMIN and CAP_NET_RAW: run as root (go test -exec sudo)")
	}
	tb := &tube{}
	for _, p := range []**ns.NS{&tb.a, &tb.b} {
		n, err := ns.New()
		if err != nil {
			t.Fatalf("new namespace: %v", err)
		}
		t.Cleanup(func() { n.Close() })
		*p = n
	}
	ha, err := tb.a.NetlinkHandle()
	if err != nil {
		t.Fatalf("netlink handle in A: %v", err)
	}
	t.Cleanup(ha.Close)
	hb, err := tb.b.NetlinkHandle()
	if err != nil {
		t.Fatalf("netlink handle in B: %v", err)
	}
	t.Cleanup(hb.Close)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: "ns1_in"},
		PeerName:      "ns1_out",
		PeerNamespace: netlink.NsFd(tb.b.Fd()),
	}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatalf("add veth ns1_in/ns1_out: %v", err)
	}
	la, err := ha.LinkByName("ns1_in")
	if err != nil {
		t.Fatalf("find ns1_in: %v", err)
	}
	lb, err := hb.LinkByName("ns1_out")
	if err != nil {
		t.Fatalf("find ns1_out: %v", err)
	}
	tb.aMAC, tb.bMAC = la.Attrs().HardwareAddr, lb.Attrs().HardwareAddr
	addAddr := func(h *netlink.Handle, l netlink.Link, cidr string) {
		a, err := netlink.ParseAddr(cidr)
		if err != nil {
			t.Fatalf("parse %s: %v", cidr, err)
		}
		a.Flags = unix.IFA_F_NODAD
		if err := h.AddrAdd(l, a); err != nil {
			t.Fatalf("add address %s to %s: %v", cidr, l.Attrs().Name, err)
		}
	}
	addAddr(ha, la, "10.0.0.1/24")
	if addressed {
		addAddr(ha, la, "fd00::1/64")
		addAddr(hb, lb, "10.0.0.2/24")
		addAddr(hb, lb, "fd00::2/64")
	}
	if err := ha.LinkSetUp(la); err != nil {
		t.Fatalf("set ns1_in up: %v", err)
	}
	if err := hb.LinkSetUp(lb); err != nil {
		t.Fatalf("set ns1_out up: %v", err)
	}
	waitOperUp(t, tb.a, "ns1_in")
	waitOperUp(t, tb.b, "ns1_out")
	return tb
}

// waitOperUp waits until the link named name in namespace n is
// operationally up. Until then the link has no transmit queue (the kernel's
// link watcher attaches it, a work item away and behind the RTNL lock that
// other tests' namespaces hold): what it sends, ARP requests included, is
// dropped, and after three unanswered ARP probes so are the datagrams that
// waited for the neighbour.
func waitOperUp(t testing.TB, n *ns.NS, name string) {
	t.Helper()
	var s *nl.NetlinkSocket
	if err := n.Do(func() (err error) { s, err = nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK); return err }); err != nil {
		t.Fatalf("subscribe to the links of %s's namespace: %v", name, err)
	}
	defer s.Close()
	h, err := n.NetlinkHandle()
	if err != nil {
		t.Fatalf("netlink handle for %s: %v", name, err)
	}
	defer h.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Look after subscribing, and again after every link event, so
		// that no change falls in between.
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("find %s: %v", name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%s not operationally up within 20s (%v)", name, l.Attrs().OperState)
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := s.SetReceiveTimeout(&tv); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Receive(); err != nil && !errors.Is(err, unix.EAGAIN) {
			t.Fatalf("link events of %s's namespace: %v", name, err)
		}
	}
}

// open starts a capture on iface inside namespace n and closes it at cleanup.
func open(t testing.TB, n *ns.NS, iface string, opts ...capture.Option) *capture.Capture {
	t.Helper()
	var c *capture.Capture
	if err := n.Do(func() (err error) {
		c, err = capture.Open(iface, opts...)
		return err
	}); err != nil {
		t.Fatalf("open capture: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// udpConn returns a UDP socket made inside namespace n.
func udpConn(t testing.TB, n *ns.NS) *net.UDPConn {
	t.Helper()
	var conn net.PacketConn
	if err := n.Do(func() (err error) {
		conn, err = net.ListenPacket("udp4", "0.0.0.0:0")
		return err
	}); err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.(*net.UDPConn)
}

// command starts name inside namespace n; the child inherits the locked
// thread's namespace.
func command(t testing.TB, n *ns.NS, ctx context.Context, name string, arg ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed: %v", name, err)
	}
	cmd := exec.CommandContext(ctx, name, arg...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := n.Do(cmd.Start); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return cmd
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The seed's tube step: pinging an unanswered address through ns1_in makes
// ARP requests appear at ns1_out.
func TestARPRequestSeenAtPeer(t *testing.T) {
	tb := newTube(t, false)
	c := open(t, tb.b, "ns1_out")
	ctx := testContext(t)

	t.Run("go", func(t *testing.T) {
		conn := udpConn(t, tb.a)
		if _, err := conn.WriteToUDP([]byte("hello"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 9}); err != nil {
			t.Fatalf("send UDP to 10.0.0.2: %v", err)
		}
		pkts, err := c.Wait(ctx, capture.ARPRequest(addrB), 1)
		if err != nil {
			t.Fatal(err)
		}
		p := pkts[0]
		if p.Outgoing {
			t.Errorf("ARP request at ns1_out marked outgoing: %s", &p)
		}
		if p.ARP.SenderIP != addrA || !bytes.Equal(p.ARP.SenderMAC, tb.aMAC) || !bytes.Equal(p.SrcMAC, tb.aMAC) {
			t.Errorf("ARP sender = %s %s (frame from %s), want %s %s", p.ARP.SenderIP, p.ARP.SenderMAC, p.SrcMAC, addrA, tb.aMAC)
		}
		if p.DstMAC.String() != "ff:ff:ff:ff:ff:ff" {
			t.Errorf("ARP request sent to %s, want broadcast", p.DstMAC)
		}
		if got, want := p.String(), "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28"; got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	})

	t.Run("ping", func(t *testing.T) {
		// As in the seed: ping -c3 -I ns1_in 10.0.0.0 # the address doesn't matter
		command(t, tb.a, ctx, "ping", "-c", "3", "-I", "ns1_in", "10.0.0.0")
		pkts, err := c.Wait(ctx, capture.ARPRequest(netip.MustParseAddr("10.0.0.0")), 1)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := pkts[0].String(), "ARP, Request who-has 10.0.0.0 tell 10.0.0.1, length 28"; got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	})
}

// Pings through the tube are decoded with the right addresses, directions
// and ids, and the pcap file written reads back in tcpdump line for line.
func TestPingDecodedAndReadByTcpdump(t *testing.T) {
	tb := newTube(t, true)
	c := open(t, tb.b, "ns1_out")
	ctx := testContext(t)

	ping := command(t, tb.a, ctx, "ping", "-c", "3", "-i", "0.2", "10.0.0.2")
	if err := ping.Wait(); err != nil {
		t.Fatalf("ping 10.0.0.2 from A: %v", err)
	}
	ping6 := command(t, tb.a, ctx, "ping", "-6", "-c", "2", "-i", "0.2", "fd00::2")
	if err := ping6.Wait(); err != nil {
		t.Fatalf("ping fd00::2 from A: %v", err)
	}

	reqs, err := c.Wait(ctx, capture.And(capture.ICMPEcho(), capture.Host(addrA)), 3)
	if err != nil {
		t.Fatal(err)
	}
	replies, err := c.Wait(ctx, capture.And(capture.ICMPEchoReply(), capture.Host(addrA)), 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		q, r := reqs[i], replies[i]
		if q.Src != addrA || q.Dst != addrB || q.Outgoing {
			t.Errorf("request %d: %s, outgoing %v; want incoming 10.0.0.1 > 10.0.0.2", i, &q, q.Outgoing)
		}
		if r.Src != addrB || r.Dst != addrA || !r.Outgoing {
			t.Errorf("reply %d: %s, outgoing %v; want outgoing 10.0.0.2 > 10.0.0.1", i, &r, r.Outgoing)
		}
		if q.ICMPSeq != uint16(i+1) || r.ICMPSeq != q.ICMPSeq || r.ICMPID != q.ICMPID || q.ICMPID != reqs[0].ICMPID {
			t.Errorf("request %d id %d seq %d, reply id %d seq %d: want seq %d and one id", i, q.ICMPID, q.ICMPSeq, r.ICMPID, r.ICMPSeq, i+1)
		}
		want := fmt.Sprintf("IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id %d, seq %d, length 64", q.ICMPID, i+1)
		if q.String() != want {
			t.Errorf("request %d String() = %q, want %q", i, q.String(), want)
		}
		if q.Length != 98 || len(q.Data) != 98 {
			t.Errorf("request %d: length %d, captured %d bytes; want 98 (14 Ethernet + 20 IP + 64 ICMP)", i, q.Length, len(q.Data))
		}
	}
	// Wait, not Count: ping has its replies, but the capture's goroutine
	// may not have read the last frames yet.
	if _, err := c.Wait(ctx, capture.And(capture.ICMPEcho(), capture.Src(addr6A), capture.Dst(addr6B), capture.Incoming()), 2); err != nil {
		t.Error(err)
	}
	if _, err := c.Wait(ctx, capture.And(capture.ICMPEchoReply(), capture.Src(addr6B), capture.Outgoing()), 2); err != nil {
		t.Error(err)
	}
	if n := c.Count(capture.ARPRequest(addrB)); n == 0 {
		t.Errorf("no ARP request for 10.0.0.2 captured before the pings")
	}

	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	pkts := c.Packets()
	path := filepath.Join(t.TempDir(), "ns1_out.pcap")
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}

	back, lt, err := capture.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lt != capture.LinkTypeEthernet || len(back) != len(pkts) {
		t.Fatalf("read back %d packets with link type %d, want %d with %d", len(back), lt, len(pkts), capture.LinkTypeEthernet)
	}
	for i := range pkts {
		if !back[i].Time.Equal(pkts[i].Time) || !bytes.Equal(back[i].Data, pkts[i].Data) || back[i].String() != pkts[i].String() {
			t.Errorf("packet %d read back as %s %s, written %s %s", i, back[i].Time, &back[i], pkts[i].Time, &pkts[i])
		}
	}

	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skipf("tcpdump not installed, pcap not cross-checked: %v", err)
	}
	out, err := exec.CommandContext(ctx, "tcpdump", "-r", path, "-nn", "-tt", "--time-stamp-precision=nano").CombinedOutput()
	skipIfTcpdumpCannotRun(t, out)
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v\n%s", path, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "reading from file") {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(pkts) {
		t.Fatalf("tcpdump printed %d packets, capture holds %d:\n%s", len(lines), len(pkts), out)
	}
	compared := 0
	for i, p := range pkts {
		ts, summary, _ := strings.Cut(lines[i], " ")
		if want := fmt.Sprintf("%d.%09d", p.Time.Unix(), p.Time.Nanosecond()); ts != want {
			t.Errorf("packet %d: tcpdump time %s, captured %s", i, ts, want)
		}
		// Compare the protocols whose summary copies tcpdump's; tcpdump says
		// more about neighbor discovery and MLD than String does.
		if p.ARP != nil || capture.Or(capture.ICMPEcho(), capture.ICMPEchoReply())(&p) {
			compared++
			if summary != p.String() {
				t.Errorf("packet %d:\ntcpdump: %s\nString:  %s", i, summary, p.String())
			}
		}
	}
	if compared < 10 {
		t.Errorf("compared %d ARP and echo packets with tcpdump, want at least 10 (6 IPv4 and 4 IPv6 echoes):\n%s", compared, out)
	}
}

// A ring keeps only the newest packets: what Limit and LimitBytes keep is
// the tail of what an unlimited capture of the same interface saw.
func TestLimitKeepsNewest(t *testing.T) {
	tb := newTube(t, true)
	// Frames are told apart by their bytes below, and a ring keeps the last
	// datagram only if nothing follows it: so only this test's frames may
	// cross. IPv6 repeats byte-identical router solicitations and MLD
	// reports at any time: turn it off before the captures start. A socket
	// on b takes the datagrams, so that b sends no ICMP errors after them.
	for _, s := range []struct {
		n     *ns.NS
		iface string
	}{{tb.a, "ns1_in"}, {tb.b, "ns1_out"}} {
		if err := s.n.Do(func() error {
			return os.WriteFile("/proc/sys/net/ipv6/conf/"+s.iface+"/disable_ipv6", []byte("1"), 0)
		}); err != nil {
			t.Fatalf("turn IPv6 off on %s: %v", s.iface, err)
		}
	}
	const maxBytes = 3 * (14 + 20 + 8 + 4) // three of the datagrams below
	full := open(t, tb.b, "ns1_out")
	byCount := open(t, tb.b, "ns1_out", capture.Limit(5))
	byBytes := open(t, tb.b, "ns1_out", capture.LimitBytes(maxBytes))
	ctx := testContext(t)
	conn := udpConn(t, tb.a)
	const port, n = 4000, 20
	var sink net.PacketConn
	if err := tb.b.Do(func() (err error) { sink, err = net.ListenPacket("udp4", fmt.Sprintf("10.0.0.2:%d", port)); return err }); err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	for i := range n {
		if _, err := conn.WriteToUDP(fmt.Appendf(nil, "%04d", i), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: port}); err != nil {
			t.Fatalf("send datagram %d: %v", i, err)
		}
	}
	last := func(p *capture.Packet) bool {
		return p.IsUDP() && bytes.HasSuffix(p.Data, fmt.Appendf(nil, "%04d", n-1))
	}
	for _, c := range []*capture.Capture{byCount, byBytes, full} {
		if _, err := c.Wait(ctx, last, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Closing the unlimited capture last makes its packets a superset.
	for _, c := range []*capture.Capture{byCount, byBytes, full} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	all := full.Packets()
	if got := full.Count(capture.UDPPort(port)); got != n {
		t.Fatalf("unlimited capture holds %d of the %d datagrams", got, n)
	}
	// tail returns where kept starts in all, checking kept is a contiguous run.
	tail := func(name string, kept []capture.Packet) int {
		t.Helper()
		if len(kept) == 0 {
			t.Fatalf("%s kept nothing", name)
		}
		for i := range all {
			// Frames are told apart by their bytes and direction, not their
			// times: until the kernel's timestamping is switched on (a work
			// item after the first socket asks for it) each socket stamps a
			// frame itself.
			same := func(a, b *capture.Packet) bool { return a.Outgoing == b.Outgoing && bytes.Equal(a.Data, b.Data) }
			if same(&all[i], &kept[0]) {
				for j := range kept {
					if i+j >= len(all) || !same(&all[i+j], &kept[j]) {
						t.Fatalf("%s: kept packet %d (%s) is not packet %d of the full capture", name, j, &kept[j], i+j)
					}
				}
				return i
			}
		}
		t.Fatalf("%s: kept packet %s not in the full capture", name, &kept[0])
		return 0
	}

	kept := byCount.Packets()
	if len(kept) != 5 {
		t.Fatalf("Limit(5) kept %d packets", len(kept))
	}
	i := tail("Limit(5)", kept)
	lastIdx := slices.IndexFunc(all, func(p capture.Packet) bool { return last(&p) })
	if i+4 < lastIdx {
		t.Errorf("Limit(5) kept packets %d..%d of the full capture, older than the last datagram (%d)", i, i+4, lastIdx)
	}
	if st := byCount.Stats(); st.Evicted < n-5 || st.Captured != st.Evicted+5 {
		t.Errorf("Limit(5) stats %+v: want at least %d evicted and captured = evicted + 5", st, n-5)
	}
	if byCount.Count(capture.UDPPort(port)) > 5 || len(byCount.Packets(func(p *capture.Packet) bool { return bytes.HasSuffix(p.Data, []byte("0000")) })) > 0 {
		t.Errorf("Limit(5) kept the oldest datagram")
	}

	kept = byBytes.Packets()
	i = tail("LimitBytes", kept)
	total := 0
	for _, p := range kept {
		total += len(p.Data)
	}
	if i+len(kept)-1 < lastIdx {
		t.Errorf("LimitBytes kept packets %d..%d of the full capture, older than the last datagram (%d)", i, i+len(kept)-1, lastIdx)
	}
	if total > maxBytes || i == 0 || total+len(all[i-1].Data) <= maxBytes {
		t.Errorf("LimitBytes(%d) kept %d bytes from packet %d: want the longest tail under the limit", maxBytes, total, i)
	}
}

// Wait returns as soon as enough packets matched, and explains a timeout.
func TestWait(t *testing.T) {
	tb := newTube(t, true)
	c := open(t, tb.b, "ns1_out")
	conn := udpConn(t, tb.a)
	send := func(port int) {
		t.Helper()
		if _, err := conn.WriteToUDP([]byte("x"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: port}); err != nil {
			t.Fatalf("send to port %d: %v", port, err)
		}
	}

	t.Run("returns when enough matched", func(t *testing.T) {
		done := make(chan error, 1)
		go func() {
			pkts, err := c.Wait(testContext(t), capture.UDPPort(5001), 2)
			if err == nil && len(pkts) != 2 {
				err = fmt.Errorf("Wait returned %d packets, want 2", len(pkts))
			}
			done <- err
		}()
		send(5001)
		send(5001)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("counts packets already captured", func(t *testing.T) {
		pkts, err := c.Wait(testContext(t), capture.UDPPort(5001), 2)
		if err != nil || len(pkts) != 2 {
			t.Fatalf("Wait for 2 captured datagrams: %d, %v", len(pkts), err)
		}
	})

	t.Run("error names how many matched", func(t *testing.T) {
		send(5002)
		if _, err := c.Wait(testContext(t), capture.UDPPort(5002), 1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		pkts, err := c.Wait(ctx, capture.UDPPort(5002), 2)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait for a packet never sent: %v, want context.DeadlineExceeded", err)
		}
		if len(pkts) != 1 || !strings.Contains(err.Error(), "capture ns1_out: 1 of 2 wanted packets matched") {
			t.Errorf("Wait returned %d packets and %q", len(pkts), err)
		}
		t.Log(err)
	})
}

// Close unblocks the reader and waiting callers, and keeps the packets.
func TestCloseUnblocks(t *testing.T) {
	tb := newTube(t, true)
	var c *capture.Capture
	if err := tb.b.Do(func() (err error) {
		c, err = capture.Open("lo") // down: no traffic at all
		return err
	}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Wait(context.Background(), nil, 1)
		errc <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; !errors.Is(err, capture.ErrClosed) {
		t.Fatalf("Wait after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Wait(context.Background(), nil, 1); !errors.Is(err, capture.ErrClosed) {
		t.Fatalf("Wait on a closed capture: %v, want ErrClosed", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tb := newTube(t, false)
	for _, name := range []string{"nosuch0", "a-name-longer-than-15"} {
		err := tb.b.Do(func() error {
			c, err := capture.Open(name)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "capture "+name+":") {
			t.Errorf("Open(%q) = %v, want an error naming it", name, err)
		}
	}
}

func TestOpenAll(t *testing.T) {
	tb := newTube(t, true)
	var cs []*capture.Capture
	if err := tb.b.Do(func() (err error) {
		cs, err = capture.OpenAll()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Interface())
		defer c.Close()
	}
	if strings.Join(names, ",") != "lo,ns1_out" {
		t.Errorf("OpenAll in B opened %v, want [lo ns1_out]", names)
	}
}

// BenchmarkCapture measures sending a UDP datagram through the tube and
// seeing it decoded at the other end.
func BenchmarkCapture(b *testing.B) {
	tb := newTube(b, true)
	c := open(b, tb.b, "ns1_out", capture.Limit(1000))
	conn := udpConn(b, tb.a)
	dst := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 6000}
	payload := make([]byte, 64)
	conn.WriteToUDP(payload, dst) // resolve ARP outside the timing
	ctx := testContext(b)
	if _, err := c.Wait(ctx, capture.UDPPort(6000), 1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	const batch = 64
	for i := 0; i < b.N; i += batch {
		c.Clear()
		k := min(batch, b.N-i)
		for range k {
			if _, err := conn.WriteToUDP(payload, dst); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := c.Wait(ctx, capture.UDPPort(6000), k); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := c.Stats(); st.KernelDrops > 0 {
		b.Logf("kernel dropped %d frames", st.KernelDrops)
	}
}

// BenchmarkNoCapture is BenchmarkCapture's baseline: the same datagrams
// read by a UDP socket in B instead of a capture.
func BenchmarkNoCapture(b *testing.B) {
	tb := newTube(b, true)
	var rc net.PacketConn
	if err := tb.b.Do(func() (err error) {
		rc, err = net.ListenPacket("udp4", "10.0.0.2:6000")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	conn := udpConn(b, tb.a)
	dst := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 6000}
	payload, buf := make([]byte, 64), make([]byte, 1500)
	conn.WriteToUDP(payload, dst)
	if _, _, err := rc.ReadFrom(buf); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	const batch = 64
	for i := 0; i < b.N; i += batch {
		k := min(batch, b.N-i)
		for range k {
			if _, err := conn.WriteToUDP(payload, dst); err != nil {
				b.Fatal(err)
			}
		}
		for range k {
			if _, _, err := rc.ReadFrom(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// An interface going down and up again does not end the capture.
func TestSurvivesLinkDown(t *testing.T) {
	tb := newTube(t, true)
	c := open(t, tb.b, "ns1_out")
	h, err := tb.b.NetlinkHandle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName("ns1_out")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	conn := udpConn(t, tb.a)
	if _, err := conn.WriteToUDP([]byte("after"), &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 7000}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(testContext(t), capture.UDPPort(7000), 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close after the link went down and up: %v", err)
	}
}

// skipIfTcpdumpCannotRun skips when tcpdump refused to start because it
// cannot switch to its own user, as inside the user namespace of a rootless
// run (setgroups is denied there).
func skipIfTcpdumpCannotRun(t *testing.T, out []byte) {
	t.Helper()
	if strings.Contains(string(out), "Couldn't change to") {
		t.Skipf("tcpdump cannot drop privileges here (a rootless run's user namespace maps no tcpdump user): %s", bytes.TrimSpace(out))
	}
}
