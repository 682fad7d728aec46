package capture_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/nstest/capture"
)

// Open a capture inside a namespace, wait for the ARP request a ping
// triggers, and keep a pcap of what crossed the interface.
func Example() {
	var n *ns.NS // a namespace holding eth0, e.g. from nstest's Host
	var c *capture.Capture
	if err := n.Do(func() (err error) {
		c, err = capture.Open("eth0", capture.Limit(10000))
		return err
	}); err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// ... start a ping to 10.0.0.2 from another host ...

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pkts, err := c.Wait(ctx, capture.ARPRequest(netip.MustParseAddr("10.0.0.2")), 1)
	if err != nil {
		log.Fatal(err) // capture eth0: 0 of 1 wanted packets matched (...): context deadline exceeded
	}
	fmt.Println(&pkts[0]) // ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28
	fmt.Println(c.Count(capture.ICMPEcho(), capture.Host(netip.MustParseAddr("10.0.0.2"))))
	if err := c.WriteFile("eth0.pcap"); err != nil { // tcpdump -r eth0.pcap -nn
		log.Fatal(err)
	}
}

// Capture both ends of a link, in two namespaces, and keep one pcapng file
// that shows each packet leaving one end and arriving at the other.
func ExampleWritePcapngFile() {
	var n1, n2 *ns.NS // two namespaces joined by a veth pair, e.g. nstest Hosts
	var c1, c2 *capture.Capture
	if err := n1.Do(func() (err error) {
		c1, err = capture.Open("eth0", capture.Node("h1"))
		return err
	}); err != nil {
		log.Fatal(err)
	}
	if err := n2.Do(func() (err error) {
		c2, err = capture.Open("eth0", capture.Node("h2"))
		return err
	}); err != nil {
		log.Fatal(err)
	}

	// ... traffic between h1 and h2 ...

	c1.Close()
	c2.Close()
	// Interfaces "h1:eth0" and "h2:eth0", packets in time order with their
	// direction: tshark -r all.pcapng -T fields -e frame.interface_name
	if err := capture.WritePcapngFile("all.pcapng", c1, c2); err != nil {
		log.Fatal(err)
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
