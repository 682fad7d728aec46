package nstest_test

import (
	"bufio"
	"fmt"
	"os"

	"github.com/nstest/harness/nstest"
)

// The seed tutorial's network: two hosts on a bridge, reachable both ways.
// The body is a whole test: tb is its *testing.T
// (func TestTwoHosts(tb *testing.T) { ... }).
//
// The examples build namespaces, which not every machine allows, so they
// have no "Output:" for go test to check; TestExamples runs them and checks
// what they print, or skips saying why the machine cannot.
func Example() {
	topo := nstest.New(tb)
	br := topo.AddBridge("br1")
	ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
	topo.Connect(ns1, br, "10.0.0.1/24")
	topo.Connect(ns2, br, "10.0.0.2/24")
	nstest.RequireReachable(tb, ns1, "ns2")
	nstest.RequireReachable(tb, ns2, "ns1")
	fmt.Println("ns1 and ns2 reach each other through", br.Name()) // ... through br1
}

// A server listens in one host and a client dials it by host name from
// another; both sockets stay in their hosts' namespaces.
func ExampleHost_Listen() {
	topo := nstest.New(tb)
	br := topo.AddBridge("br1")
	srv, cli := topo.AddHost("srv"), topo.AddHost("cli")
	topo.Connect(srv, br, "10.0.0.1/24")
	topo.Connect(cli, br, "10.0.0.2/24")

	l, err := srv.Listen("tcp", ":8080")
	if err != nil {
		tb.Fatal(err)
	}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "hello %s\n", c.RemoteAddr())
		c.Close()
	}()
	c, err := cli.Dial("tcp", "srv:8080")
	if err != nil {
		tb.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line[:len("hello 10.0.0.2")], "\n") // hello 10.0.0.2
}

// Programs run inside a host with Command, like exec.Command; they are killed
// at teardown and die with the test process.
func ExampleHost_Command() {
	topo := nstest.New(tb)
	h := topo.AddHost("h1")
	topo.Link(h, topo.AddHost("h2"), "10.0.0.1/24", "10.0.0.2/24")
	out, err := h.Command("cat", "/sys/class/net/eth0/mtu").Output()
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Printf("eth0 mtu %s", out) // eth0 mtu 1500
}

// Code run with InNS sees only the host's network. Files under /proc/net show
// the main thread's namespace: read /proc/thread-self/net instead.
func ExampleHost_InNS() {
	topo := nstest.New(tb)
	h := topo.AddHost("h1")
	h.InNS(func() {
		b, _ := os.ReadFile("/proc/thread-self/net/dev")
		lines := 0
		for _, c := range b {
			if c == '\n' {
				lines++
			}
		}
		fmt.Println("interfaces:", lines-2) // interfaces: 1 (lo; two header lines)
	})
}

// AssertConnectivity checks every ordered pair at once; on failure it prints a
// matrix like Mininet's pingall.
func ExampleAssertConnectivity() {
	topo := nstest.New(tb)
	br := topo.AddBridge("s1")
	var hosts []*nstest.Host
	for i := 1; i <= 4; i++ {
		h := topo.AddHost(fmt.Sprintf("h%d", i))
		topo.Connect(h, br, fmt.Sprintf("10.0.0.%d/24", i))
		hosts = append(hosts, h)
	}
	fmt.Println("all pairs:", nstest.AssertConnectivity(tb, hosts...)) // all pairs: true
}
