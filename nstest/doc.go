// Package nstest gives every Go test its own disposable Linux network: hosts
// in network namespaces, veth pairs, Linux bridges and routers, built in
// milliseconds, torn down through t.Cleanup, and gone even when the test
// process is killed.
//
//	func TestMain(m *testing.M) { nstest.Main(m) } // runs rootless when not root
//
//	func TestTwoHosts(t *testing.T) {
//		t.Parallel()
//		topo := nstest.New(t)
//		br := topo.AddBridge("br1")
//		ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
//		topo.Connect(ns1, br, "10.0.0.1/24")
//		topo.Connect(ns2, br, "10.0.0.2/24")
//		nstest.RequireReachable(t, ns1, "ns2")
//		ns1.InNS(func() { /* code that sees only ns1's network */ })
//	}
//
// # Where things live
//
// Every host and router is an anonymous network namespace held by a file
// descriptor, so the kernel destroys it, with its interfaces, when the test
// process exits for any reason. Bridges and the bridge-side ends of their
// veth pairs live in the topology's own fabric namespace (Topology.Fabric),
// which plays the part of "the host machine": nothing is ever created in, and
// no test traffic ever leaves from, the namespace the test process runs in.
// Names are per topology, so parallel tests may all call their hosts ns1 and
// their bridges br1.
//
// # Running code inside a host
//
// Host.InNS and Host.Do run a function on a thread switched into the host's
// namespace. Goroutines started by that function run elsewhere: use Dial,
// Listen, ListenPacket and Command, whose sockets and processes stay in the
// host's namespace and can be used from any goroutine.
//
// # Names
//
// Dial, Listen, Ping, HTTPClient and the assertions take node names
// ("ns2:8080", "http://ns2/"): nstest resolves them itself. Go code inside
// InNS uses the machine's resolver, which knows nothing of the topology (a
// resolver cannot be per thread), so give it addresses or use those methods.
// Programs started with Command get names of their own: their hostname is
// the host's name, /etc/hosts lists every node of the topology with its
// IPv4 and IPv6 addresses as of the moment the program starts, and
// /etc/resolv.conf names no server, so nothing is looked up outside the
// topology. This is done in a private mount namespace per program; the
// machine's /etc is never written.
//
// # Processes
//
// Everything a host runs, started by Command or by os/exec inside InNS or
// Do, lives in the host's own PID namespace, whose first process (the
// host's init, started by the first Command, InNS or Do of the host) is a
// small copy of the test binary. However a program detaches (double forks,
// setsid, daemons), it is dead when the teardown returns, and within a
// second of the test process dying by any means (SIGKILL, -timeout,
// os.Exit, a panic), as the kernel kills every process of a PID namespace
// whose init dies. After teardown, Command's Start, Do and InNS fail with
// an error wrapping ErrClosed.
//
// # Privileges
//
// Building namespaces needs CAP_NET_ADMIN and CAP_SYS_ADMIN: run the tests as
// root (go test -exec sudo ./...) or call Main from TestMain, which re-runs
// the test binary in a user namespace for an ordinary user. Without either,
// New skips the test with a sentence saying how to run it.
//
// # Debugging
//
// NSTEST_KEEP=1 keeps a failing test's namespaces under /run/netns as
// nstest-<test>-<node> and logs the `ip netns exec` lines that enter them.
package nstest
