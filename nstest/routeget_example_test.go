package nstest_test

import (
	"context"
	"testing"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/ping"
)

// A host learns the path MTU of a narrow link behind its router, and RouteGet
// shows what the kernel cached: `ip route get` in Go. (Needs root or
// nstest.Main; TestExampleRouteGet runs it.)
func ExampleHost_RouteGet() {
	// In a test: func TestPMTU(t *testing.T) { routeGetExample(t) }
	_ = routeGetExample
}

func routeGetExample(t testing.TB) {
	topo := nstest.New(t)
	h, r, srv := topo.AddHost("h"), topo.AddRouter("r"), topo.AddHost("srv")
	topo.Link(h, r, "10.0.1.2/24", "10.0.1.1/24")
	topo.Link(r, srv, "10.0.2.1/24", "10.0.2.2/24", nstest.MTU(1300))
	if err := h.AddRoute("default", "r"); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddRoute("default", "r"); err != nil {
		t.Fatal(err)
	}

	// Too big for the 1300-byte link, and not to be fragmented: r drops it
	// and answers "fragmentation needed, MTU 1300".
	st, err := h.Ping(context.Background(), "srv", ping.DontFragment(), ping.Size(1400))
	if err != nil || st.Received != 0 {
		t.Fatalf("a 1428-byte DF packet crossed a 1300-byte link: %v, %v", st, err)
	}

	route, err := h.RouteGet("srv")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(route) // 0.0.0.0/0 via 10.0.1.1 dev eth0 src 10.0.1.2 cache mtu 1300 expires 599s
	if route.Exception == nil || route.Exception.MTU != 1300 {
		t.Fatalf("route to srv: %v, want a cached path MTU of 1300", route)
	}
}
