package nstest_test

import (
	"fmt"
	"time"

	"github.com/nstest/harness/nstest"
)

// A firewall or routing test states which pairs must and must not reach
// each other; AssertMatrix checks them all at once and, on failure, prints
// each pair with what was wanted and what happened.
func ExampleAssertMatrix() {
	topo := nstest.New(tb)
	lan := topo.AddBridge("lan")
	client, web, db := topo.AddHost("client"), topo.AddHost("web"), topo.AddHost("db")
	topo.Connect(client, lan, "10.0.0.1/24")
	topo.Connect(web, lan, "10.0.0.2/24", "10.0.1.2/24")
	topo.Connect(db, lan, "10.0.1.3/24") // another subnet: only web reaches it
	ok := nstest.AssertMatrix(tb, nstest.Reach(client, "web").
		NotReach(client, "db").
		Reach(web, "db"), nstest.Window(300*time.Millisecond))
	fmt.Println("as expected:", ok) // as expected: true
}

// AssertTCPReachable and AssertUDPReachable say why a service cannot be
// reached: refused, timed out, or no route.
func ExampleAssertUDPReachable() {
	topo := nstest.New(tb)
	a, b := topo.AddHost("a"), topo.AddHost("b")
	topo.Link(a, b, "10.0.0.1/24", "10.0.0.2/24")
	nstest.ServeUDPEcho(tb, b, ":7")                       // UDP "reachable" means: something answers
	fmt.Println(nstest.AssertUDPReachable(tb, a, "b:7"))   // true: a datagram comes back
	fmt.Println(nstest.AssertUDPUnreachable(tb, a, "b:9")) // true: refused (ICMP port unreachable)
}
