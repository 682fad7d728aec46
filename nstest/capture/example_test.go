package capture_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

// Open a capture inside a namespace, wait for the ARP request a ping
// triggers, and keep a pcap of what crossed the interface.
func Example() {
	nstest.Run("TestCapture", os.Stderr, func(tb testing.TB) {
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
	})
}
