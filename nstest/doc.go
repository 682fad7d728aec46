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
// # Three kinds of node
//
// A host (Topology.AddHost) is a network namespace of its own with its
// loopback up: a machine. A router (AddRouter) is a host that forwards IPv4
// and IPv6 between its interfaces. A bridge (AddBridge) is a Linux bridge,
// a switch; every bridge of a topology lives in one extra namespace, the
// fabric (Topology.Fabric), which plays "the host machine" of a tutorial.
// A host can also hold bridges of its own (Host.AddBridge): a host that is a
// switch.
// Connect plugs a host into a bridge with a veth pair (the host's end is
// eth0, eth1, ...); Link joins two hosts directly; ConnectBridges cables two
// bridges. AddOverlay adds VXLAN sites, namespaces standing for separate
// machines joined over an underlay. Names are per topology, so parallel
// tests may all have an ns1 and a br1; Dial, Ping and the assertions accept
// a node's name where an address is due ("ns2:8080"), standing for the
// address Topology.Resolve says. Addresses are unique per L2 segment, not
// per topology: two LANs behind NAT routers may use the same range.
//
// # Builders fail the test; methods return errors
//
// A builder makes something the topology then owns until teardown (a node,
// a link, a capture, a service, a partition, a flap) and returns it without
// an error: New, AddHost, AddRouter, AddBridge (of the topology and of a
// host), Fabric, Connect, Link, ConnectBridges, AddVLAN, AddDummy,
// AddOverlay, AddSite, Site.Connect, StartService, ServeUDPEcho, Capture (of
// a host and of an interface), CaptureAll, Partition and Interface.Flap. On
// bad input or a failure a builder stops the test (tb.Fatalf) with a message
// naming the object and the value, and leaves nothing half-built; asking
// for a feature the kernel lacks, it skips the test instead, naming the
// kernel option. Every other method (AddAddr, AddRoute, SetDown, Impair,
// Firewall, Dial, Ping, ...) changes or reads something that exists and
// returns an error, wrapping ErrUnsupported when the kernel lacks what it
// needs and ErrClosed after teardown. A name means the same on every type:
// Capture is a builder on a Host and on an Interface alike. Assertions
// report through tb.Errorf and return whether they held (AssertReachable,
// AssertTCPReachable, AssertConnectivity, AssertMatrix, ...); each has a
// Require counterpart with the same arguments that stops the test instead.
//
// # The InNS caveat
//
// A network namespace belongs to an OS thread, not to a goroutine. Host.InNS
// and Host.Do run a function on a thread switched into the host's namespace
// and switch back (or discard the thread) afterwards. Goroutines started by
// that function run elsewhere, in the test process's own namespace. Open
// sockets and start processes inside, or use Dial, Listen, ListenPacket and
// Command: their sockets and processes stay in the host's namespace and can
// be used from any goroutine. Inside InNS, /proc/net still shows the main
// thread's namespace: read /proc/thread-self/net.
//
// # Names
//
// Dial, Listen, Ping, HTTPClient and the assertions take node names
// ("ns2:8080", "http://ns2/"): nstest resolves them itself, by the one rule
// documented on Topology.Resolve ("localhost" is the host's own loopback).
// Go code inside InNS uses the machine's resolver, which knows nothing of
// the topology (a resolver cannot be per thread), so give it addresses or
// use those methods.
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
// To reap a program whose launcher was killed (cmd.Process.Kill() kills
// the launcher, and the kernel the program), the first host that runs
// something makes the test process a child subreaper: orphans of programs
// the test starts outside any host are then its children too, and stay
// zombies until it reaps them or exits.
//
// # Teardown
//
// New registers the teardown with tb.Cleanup: every process of every host
// is killed (see Processes), sockets closed, then the namespaces released.
// Every host is an anonymous namespace held by a file descriptor, so the
// kernel destroys it, with its interfaces, when the test process
// exits for any reason, SIGKILL and go test -timeout included. Nothing is
// ever created in, and no test traffic leaves from, the namespace the test
// process runs in.
//
// # Privileges
//
// Building namespaces needs CAP_NET_ADMIN and CAP_SYS_ADMIN: run the tests as
// root (go test -exec sudo ./...) or call Main from TestMain, which re-runs
// the test binary in a user namespace for an ordinary user. Without either,
// New skips the test with a sentence saying how to run it.
//
// # Environment
//
// NSTEST_KEEP=1 keeps a failing test's namespaces, bind-mounted under
// /run/netns as nstest-<test>-<node>, and logs the `ip netns exec` lines that
// enter them; `nstest clean` removes them. The Keep option does the same for
// one topology.
//
// NSTEST_ARTIFACTS=DIR captures every interface into a small ring of its
// recent packets, and a failing test leaves DIR/<test>/ with state.txt
// (links, addresses, routes, neighbours, nftables rules and qdiscs of every
// node, as WriteState writes them), a pcap file per interface, all.pcapng
// merging them in time order (see CaptureGroup), and the picture of the
// topology as topology.mmd (Mermaid) and topology.dot (Graphviz), the pairs
// that failed drawn in red (see Topology.Graph).
//
// # More
//
// The examples of this package, the ready-made topologies of package
// github.com/nstest/harness/fixtures, and the scenarios directory of the
// module (the seed tutorial replayed step by step, and real network bugs
// reproduced) show whole tests. Packages ping, capture, firewall and
// topofile hold the native pinger, packet capture, nf_tables rules and
// topology files.
package nstest
