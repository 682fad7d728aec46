package ping_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/ping"
)

// Open the socket on a thread inside the namespace, then ping from anywhere.
// Here the namespace is a host of an nstest topology, whose lo is up.
func ExampleOpen() {
	h := nstest.New(tb).AddHost("h1")
	var c *ping.Conn
	if err := h.Do(func() (err error) { c, err = ping.Open(ping.IPv4, ping.Auto); return err }); err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	st, err := c.Ping(context.Background(), netip.MustParseAddr("127.0.0.1"), ping.Count(3), ping.Interval(10*time.Millisecond))
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Println(st) // 3 packets transmitted, 3 received, 0% packet loss; rtt min/avg/max/mdev = ...
}
