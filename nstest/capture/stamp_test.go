package capture_test

import (
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/nstest/capture"
)

// star makes a hub namespace joined by veth pairs to n leaf namespaces: hub
// interface hubK has 10.9.K.1/30, with a permanent neighbour entry for the
// leaf's 10.9.K.2, so that nothing waits for ARP. It returns the hub.
func star(t *testing.T, n int) *ns.NS {
	t.Helper()
	tb := newTube(t, false) // skips where namespaces cannot be made
	hub := tb.a
	h, err := netlink.NewHandleAt(netns.NsHandle(hub.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	for k := range n {
		leaf, err := ns.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { leaf.Close() })
		name := fmt.Sprintf("hub%d", k)
		// Index apart from the leaf's: the kernel defers the carrier of a
		// veth whose index equals its peer's by up to a second.
		err = h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name, Index: 100 + k}, PeerName: "leaf", PeerNamespace: netlink.NsFd(leaf.Fd())})
		if err != nil {
			t.Fatalf("add veth %s: %v", name, err)
		}
		err = leaf.Do(func() error {
			l, err := netlink.LinkByName("leaf")
			if err == nil {
				err = netlink.LinkSetUp(l)
			}
			return err
		})
		if err != nil {
			t.Fatalf("set leaf up: %v", err)
		}
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := netlink.ParseAddr(fmt.Sprintf("10.9.%d.1/30", k))
		if err := h.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		err = h.NeighAdd(&netlink.Neigh{LinkIndex: l.Attrs().Index, State: netlink.NUD_PERMANENT,
			IP: net.ParseIP(fmt.Sprintf("10.9.%d.2", k)), HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 9, byte(k)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return hub
}

// Frames of several captures sorted by their timestamps come out in the
// order they crossed the interfaces, for captures opened just before the
// traffic: the timestamps are the kernel's, never the time of reading.
// Datagrams go round-robin over four interfaces, numbered by their
// destination port; the repetitions open and close captures each time.
func TestTimestampsOrderFramesAcrossCaptures(t *testing.T) {
	const ifaces, rounds, reps = 4, 10, 40
	hub := star(t, ifaces)
	conn := udpConn(t, hub)
	for rep := range reps {
		var cs []*capture.Capture
		for k := range ifaces {
			cs = append(cs, open(t, hub, fmt.Sprintf("hub%d", k), capture.NoPromiscuous()))
		}
		for seq := range ifaces * rounds {
			k := seq % ifaces
			dst := &net.UDPAddr{IP: net.IPv4(10, 9, byte(k), 2), Port: 40000 + seq}
			if _, err := conn.WriteToUDP([]byte("x"), dst); err != nil {
				t.Fatal(err)
			}
		}
		var all []capture.Packet
		for k, c := range cs {
			pkts, err := c.Wait(testContext(t), func(p *capture.Packet) bool { return p.IsUDP() && p.DstPort >= 40000 }, rounds)
			if err != nil {
				t.Fatalf("rep %d: hub%d: %v", rep, k, err)
			}
			c.Close()
			if st := c.Stats(); st.Unstamped != 0 {
				t.Errorf("rep %d: hub%d: %d frames without a kernel timestamp", rep, k, st.Unstamped)
			}
			all = append(all, pkts...)
		}
		slices.SortStableFunc(all, func(a, b capture.Packet) int { return a.Time.Compare(b.Time) })
		var order []int
		for _, p := range all {
			order = append(order, int(p.DstPort)-40000)
		}
		if !slices.IsSorted(order) {
			t.Fatalf("rep %d: datagrams sorted by capture time are in the order %v, want 0..%d", rep, order, ifaces*rounds-1)
		}
	}
}
