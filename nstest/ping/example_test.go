package ping_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/nstest/ping"
)

// Open the socket on a thread inside the namespace, then ping from anywhere.
func ExampleOpen() {
	n, err := ns.New() // a namespace of your own; bring lo up before pinging 127.0.0.1
	if err != nil {
		return
	}
	defer n.Close()
	var c *ping.Conn
	if err := n.Do(func() (err error) { c, err = ping.Open(ping.IPv4, ping.Auto); return err }); err != nil {
		return
	}
	defer c.Close()
	st, err := c.Ping(context.Background(), netip.MustParseAddr("127.0.0.1"), ping.Count(3), ping.Interval(10*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st) // 3 packets transmitted, 3 received, 0% packet loss; rtt min/avg/max/mdev = ...
}
