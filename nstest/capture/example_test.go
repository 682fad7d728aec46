package capture_test

import (
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
