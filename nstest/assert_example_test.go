package nstest_test

import (
	"testing"
	"time"

	"github.com/nstest/harness/nstest"
)

// A firewall or routing test states which pairs must and must not reach
// each other; AssertMatrix checks them all at once and, on failure, prints
// each pair with what was wanted and what happened.
func ExampleAssertMatrix() {
	var t *testing.T // the test's own *testing.T
	topo := nstest.New(t)
	lan := topo.AddBridge("lan")
	client, web, db := topo.AddHost("client"), topo.AddHost("web"), topo.AddHost("db")
	topo.Connect(client, lan, "10.0.0.1/24")
	topo.Connect(web, lan, "10.0.0.2/24", "10.0.1.2/24")
	topo.Connect(db, lan, "10.0.1.3/24") // another subnet: only web reaches it
	nstest.AssertMatrix(t, nstest.Reach(client, "web").
		NotReach(client, "db").
		Reach(web, "db"), nstest.Window(300*time.Millisecond))
}

// AssertTCPReachable and AssertUDPReachable say why a service cannot be
// reached: refused, timed out, or no route.
func ExampleAssertUDPReachable() {
	var t *testing.T // the test's own *testing.T
	topo := nstest.New(t)
	a, b := topo.AddHost("a"), topo.AddHost("b")
	topo.Link(a, b, "10.0.0.1/24", "10.0.0.2/24")
	nstest.ServeUDPEcho(t, b, ":7")          // UDP "reachable" means: something answers
	nstest.AssertUDPReachable(t, a, "b:7")   // a datagram comes back
	nstest.AssertUDPUnreachable(t, a, "b:9") // refused: ICMP port unreachable
}
