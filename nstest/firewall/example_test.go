package firewall_test

import (
	"fmt"
	"net/netip"

	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/nstest/firewall"
)

// A router namespace that hides its LAN behind its WAN address, forwards a
// port to a server, and refuses telnet.
func Example() {
	router, err := ns.New() // in a test: a host of an nstest topology
	if err != nil {
		fmt.Println(err)
		return
	}
	defer router.Close()

	err = firewall.Add(router,
		firewall.Rule{Chain: firewall.Forward, Action: firewall.Reject, Proto: "tcp", DstPort: 23},
		firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp", ICMPType: "echo-request", Probability: 10},
	)
	if err == nil {
		err = firewall.Masquerade(router, "wan0", "192.168.1.0/24")
	}
	if err == nil {
		err = firewall.ForwardPort(router, "tcp", 8080, netip.MustParseAddrPort("192.168.1.10:80"), "wan0")
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	listing, _ := firewall.Dump(router) // rules with their packet and byte counters
	fmt.Print(listing)
}
