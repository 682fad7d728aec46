package nstest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

// A test watches the packets of a ping on the receiving host's interface.
func ExampleHost_Capture() {
	topo := nstest.New(tb)
	br := topo.AddBridge("br1")
	ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
	topo.Connect(ns1, br, "10.0.0.1/24")
	topo.Connect(ns2, br, "10.0.0.2/24")

	c := ns2.Capture("eth0") // closed at teardown
	if _, err := ns1.Ping(context.Background(), "ns2"); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pkts, err := c.Wait(ctx, capture.ICMPEcho(), 1)
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Printf("%s > %s: echo request\n", pkts[0].Src, pkts[0].Dst) // 10.0.0.1 > 10.0.0.2: echo request
	// c.WriteFile("ping.pcap") saves it for tcpdump -r or Wireshark.
}

// A router masquerades its inside network: the server sees the router's
// address, not the client's.
func ExampleHost_Masquerade() {
	topo := nstest.New(tb)
	client, r, srv := topo.AddHost("client"), topo.AddRouter("r"), topo.AddHost("srv")
	topo.Link(client, r, "192.168.1.2/24", "192.168.1.1/24")
	topo.Link(r, srv, "203.0.113.1/24", "203.0.113.2/24") // r's eth1
	if err := client.AddRoute("default", "r"); err != nil {
		tb.Fatal(err)
	}
	if err := r.Masquerade("eth1", "192.168.1.0/24"); err != nil {
		tb.Fatal(err)
	}
	l, err := srv.Listen("tcp", ":80")
	if err != nil {
		tb.Fatal(err)
	}
	go func() {
		if c, err := client.Dial("tcp", "srv:80"); err == nil {
			io.ReadAll(c)
		}
	}()
	c, err := l.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Println("server sees", c.RemoteAddr().(*net.TCPAddr).IP) // server sees 203.0.113.1
	c.Close()
}
