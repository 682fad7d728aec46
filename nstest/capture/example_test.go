package capture_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

// Open a capture inside a namespace, wait for the ARP request a ping
// triggers, and keep a pcap of what crossed the interface.
func Example() {
	topo := nstest.New(tb)
	ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
	topo.Link(ns1, ns2, "10.0.0.1/24", "10.0.0.2/24")

	var c *capture.Capture
	if err := ns1.Do(func() (err error) {
		c, err = capture.Open("eth0", capture.Limit(10000))
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := ns1.Ping(ctx, "ns2"); err != nil {
		tb.Fatal(err)
	}
	pkts, err := c.Wait(ctx, capture.ARPRequest(netip.MustParseAddr("10.0.0.2")), 1)
	if err != nil {
		tb.Fatal(err) // capture eth0: 0 of 1 wanted packets matched (...): context deadline exceeded
	}
	fmt.Println(&pkts[0]) // ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28
	// The capture reads packets as they come: wait for the echo request
	// too, before counting it.
	echo := capture.And(capture.ICMPEcho(), capture.Host(netip.MustParseAddr("10.0.0.2")))
	if _, err := c.Wait(ctx, echo, 1); err != nil {
		tb.Fatal(err)
	}
	fmt.Println(c.Count(echo)) // 1
	// tcpdump -r eth0.pcap -nn, or Wireshark, reads it.
	if err := c.WriteFile(filepath.Join(tb.TempDir(), "eth0.pcap")); err != nil {
		tb.Fatal(err)
	}
}

// Capture both ends of a link, in two namespaces, and keep one pcapng file
// that shows each packet leaving one end and arriving at the other.
func ExampleWritePcapngFile() {
	topo := nstest.New(tb)
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	topo.Link(h1, h2, "10.0.0.1/24", "10.0.0.2/24")
	c1 := h1.Capture("eth0") // named "h1:eth0" in the file
	c2 := h2.Capture("eth0")
	if _, err := h1.Ping(context.Background(), "h2"); err != nil {
		tb.Fatal(err)
	}
	c1.Close()
	c2.Close()
	// Packets of both interfaces in time order, with their direction:
	// tshark -r all.pcapng -T fields -e frame.interface_name
	if err := capture.WritePcapngFile(filepath.Join(tb.TempDir(), "all.pcapng"), c1, c2); err != nil {
		tb.Fatal(err)
	}
}

// Write packets from any source to a pcapng stream, one interface per
// point of observation, and read them back.
func ExamplePcapngWriter() {
	var buf bytes.Buffer
	w := capture.NewPcapngWriter(&buf)
	id, err := w.AddInterface(capture.PcapngInterface{Name: "r1:eth1", LinkType: capture.LinkTypeRaw})
	if err != nil {
		log.Fatal(err)
	}
	// An IPv4 header alone: 10.0.0.1 > 10.0.1.2, protocol 253 (experimental).
	ip := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 253, 0, 0, 10, 0, 0, 1, 10, 0, 1, 2}
	p := capture.Packet{Time: time.Unix(1700000000, 5), Outgoing: true, Data: ip, Length: len(ip)}
	if err := w.WritePacket(id, &p); err != nil {
		log.Fatal(err)
	}

	pkts, err := capture.ReadPcapng(&buf)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range pkts {
		fmt.Println(p.Time.UTC().Format(time.RFC3339Nano), p.Node, p.Interface, p.Outgoing, &p)
	}
	// Output:
	// 2023-11-14T22:13:20.000000005Z r1 eth1 true IP 10.0.0.1 > 10.0.1.2: ip-proto-253
}
