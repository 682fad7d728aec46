package nstest_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

// A bridge floods a frame for an address it has not learned to every port,
// and learns the address from the source of the frames it sees. Frames are
// sent raw with SendFrame and seen with captures. It needs privileges, so
// it only compiles; the same body runs in TestExampleSendFrame.
func ExampleInterface_SendFrame() {
	topo := nstest.New(tb)
	br := topo.AddBridge("br1")
	h1, h2, h3 := topo.AddHost("h1"), topo.AddHost("h2"), topo.AddHost("h3")
	e1, e2 := topo.Connect(h1, br), topo.Connect(h2, br)
	topo.Connect(h3, br)
	c2, c3 := h2.Capture("eth0"), h3.Capture("eth0")
	is := func(f []byte) capture.Filter { return func(p *capture.Packet) bool { return bytes.Equal(p.Data, f) } }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	a, _ := net.ParseMAC("02:00:00:00:00:0a") // an address behind h1
	b, _ := net.ParseMAC("02:00:00:00:00:0b") // one behind h2
	toA, _ := nstest.EthernetFrame(a, b, nstest.EtherTypeExperimental, []byte("for A"))
	fromA, _ := nstest.EthernetFrame(b, a, nstest.EtherTypeExperimental, []byte("from A"))
	if err := e2.SendFrame(toA); err != nil {
		tb.Fatal(err)
	}
	if _, err := c3.Wait(ctx, is(toA), 1); err != nil {
		tb.Fatal(err)
	}
	fmt.Println("h3 saw the frame for A: br1 did not know A and flooded it")
	if err := e1.SendFrame(fromA); err != nil {
		tb.Fatal(err)
	}
	if _, err := c2.Wait(ctx, is(fromA), 1); err != nil {
		tb.Fatal(err)
	}
	fdb, err := br.FDB()
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range fdb {
		if e.Learned && bytes.Equal(e.MAC, a) {
			fmt.Println("br1 learned A on", e.Port, "the peer of", e.Port.Peer())
		}
	}
}

// A host that is itself a switch: the bridge is in the host's namespace,
// Connect plugs other hosts into it, and its address is the host's. It needs
// privileges, so it only compiles; the same body runs in
// TestExampleHostAddBridge.
func ExampleHost_AddBridge() {
	topo := nstest.New(tb)
	sw := topo.AddHost("sw")
	br := sw.AddBridge("br0", nstest.AgeingTime(30*time.Second))
	if err := br.AddAddr("10.0.0.254/24"); err != nil {
		tb.Fatal(err)
	}
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	topo.Connect(h1, br, "10.0.0.1/24")
	e2 := topo.Connect(h2, br, "10.0.0.2/24")
	if err := e2.SetBridgePort(nstest.Learning(false)); err != nil {
		tb.Fatal(err)
	}
	nstest.AssertConnectivity(tb, h1, h2, sw)
	fmt.Println(br, "port", e2.Peer(), "serves", e2)
}

func TestExampleSendFrame(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	h1, h2, h3 := topo.AddHost("h1"), topo.AddHost("h2"), topo.AddHost("h3")
	e1, e2 := topo.Connect(h1, br), topo.Connect(h2, br)
	topo.Connect(h3, br)
	c2, c3 := h2.Capture("eth0"), h3.Capture("eth0")
	is := func(f []byte) capture.Filter { return func(p *capture.Packet) bool { return bytes.Equal(p.Data, f) } }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	a, _ := net.ParseMAC("02:00:00:00:00:0a") // an address behind h1
	b, _ := net.ParseMAC("02:00:00:00:00:0b") // one behind h2
	toA, _ := nstest.EthernetFrame(a, b, nstest.EtherTypeExperimental, []byte("for A"))
	fromA, _ := nstest.EthernetFrame(b, a, nstest.EtherTypeExperimental, []byte("from A"))
	if err := e2.SendFrame(toA); err != nil {
		t.Fatal(err)
	}
	if _, err := c3.Wait(ctx, is(toA), 1); err != nil {
		t.Fatal(err)
	}
	if err := e1.SendFrame(fromA); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Wait(ctx, is(fromA), 1); err != nil {
		t.Fatal(err)
	}
	fdb, err := br.FDB()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range fdb {
		if e.Learned && bytes.Equal(e.MAC, a) {
			found = true
			if e.Port != e1.Peer() || e.Port.Peer() != e1 {
				t.Errorf("br1 learned A on %s, want %s", e.Port, e1.Peer())
			}
		}
	}
	if !found {
		t.Errorf("br1 did not learn A: %v", fdb)
	}
}

func TestExampleHostAddBridge(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	sw := topo.AddHost("sw")
	br := sw.AddBridge("br0", nstest.AgeingTime(30*time.Second))
	if err := br.AddAddr("10.0.0.254/24"); err != nil {
		t.Fatal(err)
	}
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	topo.Connect(h1, br, "10.0.0.1/24")
	e2 := topo.Connect(h2, br, "10.0.0.2/24")
	if err := e2.SetBridgePort(nstest.Learning(false)); err != nil {
		t.Fatal(err)
	}
	nstest.AssertConnectivity(t, h1, h2, sw)
	if got, want := fmt.Sprint(br, " port ", e2.Peer(), " serves ", e2), "sw:br0 port sw:h2+eth0 serves h2:eth0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
