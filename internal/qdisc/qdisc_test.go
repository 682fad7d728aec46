package qdisc_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/internal/qdisc"
	"github.com/nstest/harness/nstest/firewall"
	"github.com/vishvananda/netlink"
)

type node struct {
	ns *ns.NS
	h  *netlink.Handle
}

func newNode(tb testing.TB) *node {
	tb.Helper()
	n, err := ns.New()
	if err != nil {
		tb.Skipf("cannot create a network namespace (needs CAP_SYS_ADMIN and CAP_NET_ADMIN; run as root): %v", err)
	}
	tb.Cleanup(func() { n.Close() })
	h, err := n.NetlinkHandle()
	if err != nil {
		tb.Fatalf("netlink handle: %v", err)
	}
	tb.Cleanup(h.Close)
	return &node{n, h}
}

func (n *node) up(tb testing.TB, name, cidr string) netlink.Link {
	tb.Helper()
	l, err := n.h.LinkByName(name)
	if err != nil {
		tb.Fatal(err)
	}
	a, _ := netlink.ParseAddr(cidr)
	if err := n.h.AddrAdd(l, a); err != nil {
		tb.Fatal(err)
	}
	if err := n.h.LinkSetUp(l); err != nil {
		tb.Fatal(err)
	}
	return l
}

// pair joins two namespaces with a veth a-eth (10.0.0.1) / b-eth (10.0.0.2)
// and returns a's end.
func pair(tb testing.TB) (a, b *node, aLink netlink.Link) {
	a, b = newNode(tb), newNode(tb)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "a-eth"}, PeerName: "b-eth", PeerNamespace: netlink.NsFd(b.ns.Fd())}
	if err := a.h.LinkAdd(veth); err != nil {
		tb.Fatal(err)
	}
	aLink = a.up(tb, "a-eth", "10.0.0.1/24")
	b.up(tb, "b-eth", "10.0.0.2/24")
	return a, b, aLink
}

// apply impairs a's end of the pair as nstest does: without netem, loss is
// dropped at the far end's ingress (b-eth in b).
func apply(a, b *node, l netlink.Link, im qdisc.Impairment) error {
	drop := func(p float64) error { return firewall.DropFrames(b.ns, "b-eth", p) }
	_, err := qdisc.Apply(a.h, l.Attrs().Index, im, drop, true)
	return err
}

// root returns the link's root qdisc.
func root(t *testing.T, n *node, l netlink.Link) netlink.Qdisc {
	t.Helper()
	qs, err := n.h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q
		}
	}
	t.Fatalf("no root qdisc on %s", l.Attrs().Name)
	return nil
}

func TestRateInstallsTbfAndZeroRemovesIt(t *testing.T) {
	t.Parallel()
	a, b, l := pair(t)
	def := root(t, a, l).Type()
	for _, rate := range []uint64{10_000_000, 2_000_000_000} {
		if err := apply(a, b, l, qdisc.Impairment{Rate: rate}); err != nil {
			t.Fatalf("Apply rate %d: %v", rate, err)
		}
		q, ok := root(t, a, l).(*netlink.Tbf)
		if !ok {
			t.Fatalf("root qdisc is %s, want tbf", root(t, a, l).Type())
		}
		if q.Rate != rate/8 {
			t.Errorf("tbf rate %d bytes/s, want %d", q.Rate, rate/8)
		}
	}
	if err := apply(a, b, l, qdisc.Impairment{}); err != nil {
		t.Fatalf("Apply zero: %v", err)
	}
	if got := root(t, a, l).Type(); got != def {
		t.Errorf("root qdisc after reset is %s, want the default %s", got, def)
	}
	if err := apply(a, b, l, qdisc.Impairment{}); err != nil {
		t.Errorf("second reset: %v", err)
	}
}

func TestInvalidImpairmentsAreNamed(t *testing.T) {
	t.Parallel()
	a, b, l := pair(t)
	for _, tc := range []struct {
		im   qdisc.Impairment
		want string
	}{
		{qdisc.Impairment{Delay: -time.Millisecond}, `impairment on "a-eth": delay -1ms: negative`},
		{qdisc.Impairment{Delay: time.Second, Jitter: -time.Millisecond}, `impairment on "a-eth": jitter -1ms: negative`},
		{qdisc.Impairment{Jitter: 5 * time.Millisecond}, `impairment on "a-eth": jitter 5ms without delay: jitter varies the delay, set Delay too`},
		{qdisc.Impairment{Loss: 120}, `impairment on "a-eth": loss 120%: not a percentage between 0 and 100`},
		{qdisc.Impairment{Loss: -1}, `impairment on "a-eth": loss -1%: not a percentage between 0 and 100`},
		{qdisc.Impairment{Rate: 100}, `impairment on "a-eth": rate 100 bit/s: below the minimum of 8000 bit/s`},
	} {
		err := apply(a, b, l, tc.im)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Apply(%+v) = %v, want %s", tc.im, err, tc.want)
		}
	}
	if got := root(t, a, l).Type(); got == "tbf" || got == "netem" {
		t.Errorf("an invalid impairment installed %s", got)
	}
}

func skipWithNetem(t *testing.T) {
	t.Helper()
	ok, err := qdisc.NetemSupported()
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Skip("kernel has sch_netem; this tests the path for kernels without it")
	}
}

func requireNetem(t *testing.T) {
	t.Helper()
	ok, err := qdisc.NetemSupported()
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skip("kernel lacks sch_netem (CONFIG_NET_SCH_NETEM)")
	}
}

func TestDelayWithoutNetemIsUnsupported(t *testing.T) {
	t.Parallel()
	skipWithNetem(t)
	a, b, l := pair(t)
	err := apply(a, b, l, qdisc.Impairment{Delay: 50 * time.Millisecond, Rate: 1e6})
	if !errors.Is(err, qdisc.ErrUnsupported) {
		t.Fatalf("Apply delay: %v, want ErrUnsupported", err)
	}
	want := `delay 50ms on "a-eth": netem qdisc unavailable (kernel built without CONFIG_NET_SCH_NETEM): not supported by this kernel`
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if got := root(t, a, l).Type(); got == "tbf" {
		t.Error("a refused impairment still installed its rate")
	}
}

// sendCounted sends n datagrams from a to b, then an end marker once lift
// has removed the impairment, and returns how many of the n arrived.
func sendCounted(t *testing.T, a, b *node, n int, lift func()) int {
	t.Helper()
	var srv net.PacketConn
	var c net.Conn
	err := b.ns.Do(func() (err error) { srv, err = net.ListenPacket("udp", "10.0.0.2:0"); return err })
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	err = a.ns.Do(func() (err error) { c, err = net.Dial("udp", srv.LocalAddr().String()); return err })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range n {
		c.Write([]byte("x"))
	}
	lift()
	if _, err := c.Write([]byte("end")); err != nil {
		t.Fatal(err)
	}
	got, buf := 0, make([]byte, 8)
	srv.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		k, _, err := srv.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", got, err)
		}
		if string(buf[:k]) == "end" {
			return got
		}
		got++
	}
}

func TestLossWithoutNetemFallsBackToFrameDrop(t *testing.T) {
	t.Parallel()
	skipWithNetem(t)
	a, b, l := pair(t)
	// The drop takes ARP too, as netem's loss does: give a a static
	// neighbour so that only the datagrams are at stake.
	bl, err := b.h.LinkByName("b-eth")
	if err != nil {
		t.Fatal(err)
	}
	nb := &netlink.Neigh{LinkIndex: l.Attrs().Index, State: netlink.NUD_PERMANENT, IP: net.ParseIP("10.0.0.2"), HardwareAddr: bl.Attrs().HardwareAddr}
	if err := a.h.NeighAdd(nb); err != nil {
		t.Fatal(err)
	}
	if err := apply(a, b, l, qdisc.Impairment{Loss: 30, Rate: 50_000_000}); err != nil {
		t.Fatalf("Apply loss: %v", err)
	}
	if _, ok := root(t, a, l).(*netlink.Tbf); !ok {
		t.Errorf("root qdisc is %s, want tbf for the rate", root(t, a, l).Type())
	}
	d, err := firewall.Dump(b.ns)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(d, "random drop ingress b-eth drop 30% of frames") {
		t.Errorf("no frame drop at the far end for the loss:\n%s", d)
	}
	const n = 300
	got := sendCounted(t, a, b, n, func() {
		if err := apply(a, b, l, qdisc.Impairment{}); err != nil {
			t.Fatalf("Apply zero: %v", err)
		}
	})
	loss := 100 * float64(n-got) / n
	t.Logf("%d of %d datagrams arrived: %.1f%% loss for 30%%", got, n, loss)
	if loss < 15 || loss > 45 {
		t.Errorf("loss %.1f%%, want about 30%% (15..45)", loss)
	}
	if d, _ := firewall.Dump(b.ns); strings.Contains(d, "random drop") {
		t.Errorf("frame drop left after reset:\n%s", d)
	}
	if got := root(t, a, l).Type(); got == "tbf" {
		t.Error("tbf left after reset")
	}
}

func TestNetemDelayLossRate(t *testing.T) {
	t.Parallel()
	requireNetem(t)
	a, b, l := pair(t)
	im := qdisc.Impairment{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 1, Rate: 10_000_000}
	if err := apply(a, b, l, im); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	q, ok := root(t, a, l).(*netlink.Netem)
	if !ok {
		t.Fatalf("root qdisc is %s, want netem", root(t, a, l).Type())
	}
	if q.Latency == 0 || q.Jitter == 0 || q.Loss == 0 || q.Rate64 != im.Rate/8 {
		t.Errorf("netem read back as %+v, want delay, jitter, loss and rate %d bytes/s", q, im.Rate/8)
	}
	if d, _ := firewall.Dump(a.ns); strings.Contains(d, "random drop") {
		t.Errorf("random drop installed although netem does the loss:\n%s", d)
	}
	// Switch to tbf alone, then back to the default.
	if err := apply(a, b, l, qdisc.Impairment{Rate: 1e6}); err != nil {
		t.Fatalf("Apply rate after netem: %v", err)
	}
	if got := root(t, a, l).Type(); got != "tbf" {
		t.Errorf("root qdisc is %s, want tbf", got)
	}
	if err := apply(a, b, l, qdisc.Impairment{}); err != nil {
		t.Fatalf("Apply zero: %v", err)
	}
}

// BenchmarkRateLimitedTransfer measures TCP throughput from a to b with no
// impairment and with Rate set; the reported Mbit/s should follow the rate.
func BenchmarkRateLimitedTransfer(b *testing.B) {
	for _, rate := range []uint64{0, 100_000_000, 20_000_000} {
		name := "unlimited"
		if rate > 0 {
			name = fmt.Sprintf("%dMbit", rate/1_000_000)
		}
		b.Run(name, func(b *testing.B) {
			a, srvNode, l := pair(b)
			if err := apply(a, srvNode, l, qdisc.Impairment{Rate: rate}); err != nil {
				b.Fatal(err)
			}
			var ln net.Listener
			if err := srvNode.ns.Do(func() (err error) { ln, err = net.Listen("tcp", "10.0.0.2:0"); return err }); err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			received := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					received <- -1
					return
				}
				n, _ := io.Copy(io.Discard, c)
				received <- n
			}()
			var c net.Conn
			if err := a.ns.Do(func() (err error) { c, err = net.Dial("tcp", ln.Addr().String()); return err }); err != nil {
				b.Fatal(err)
			}
			size := int64(2 << 20) // 2 MiB per iteration
			if rate == 0 {
				size = 64 << 20
			}
			buf := make([]byte, 64<<10)
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				for sent := int64(0); sent < size; sent += int64(len(buf)) {
					if _, err := c.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
			}
			c.Close()
			n := <-received
			elapsed := time.Since(start)
			b.ReportMetric(float64(n)*8/elapsed.Seconds()/1e6, "Mbit/s")
			b.SetBytes(size)
		})
	}
}
