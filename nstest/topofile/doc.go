// Package topofile reads, checks and generates topology files: YAML
// descriptions of the hosts, routers, bridges and links of an nstest
// topology, with the connectivity expected once it is built.
//
// Parsing, validation and the generators need no privilege. Build turns a
// File into a live nstest topology for a test, and Verify checks its
// expectations with the nstest assertions; the nstest command does both.
//
// # Example: the seed tutorial
//
//	# fixtures/seed.yaml
//	name: seed
//	bridges:
//	  - name: br1
//	    addrs: [10.0.0.100/24]
//	hosts:
//	  - name: ns1
//	    connect:
//	      - {bridge: br1, addrs: [10.0.0.1/24]}
//	  - name: ns2
//	    connect:
//	      - {bridge: br1, addrs: [10.0.0.2/24]}
//	expect:
//	  reachable:
//	    - ns1 -> ns2
//	    - ns2 -> ns1
//	    - ns1 -> 10.0.0.100
//	    - ns2 -> 10.0.0.100
//	    - br1 -> ns1          # from the fabric namespace, the seed's root namespace
//	    - br1 -> ns2
//
// # Format
//
// A file is one YAML document: a mapping with these keys, all optional.
//
//	name:     the topology's name; defaults to the file name without extension
//	          (made a valid name: 06-x.yaml gives topo-06-x; see NameFromFile)
//	bridges:  list of bridges
//	hosts:    list of nodes
//	routers:  list of nodes that also forward IPv4 and IPv6
//	links:    list of direct links
//	expect:   what must hold once the topology is built
//
// A bridge (Topology.AddBridge, Bridge.AddAddr) lives in the fabric
// namespace:
//
//	name:   interface name
//	kind:   linux (a Linux bridge, the default) or ovs (an Open vSwitch
//	        bridge, nstest.OVS; nstest run --switch ovs makes every bridge
//	        without a kind one)
//	addrs:  list of CIDRs given to the bridge itself
//
// A host or router (Topology.AddHost, Topology.AddRouter):
//
//	name:     node name
//	connect:  list of {bridge: NAME, addrs: [CIDR, ...], mtu: N}: a veth pair
//	          from the node to the bridge (Topology.Connect); addrs and mtu
//	          are optional and apply to the node's end
//	routes:   list of {dst: default | CIDR, via: ADDRESS} (Host.AddRoute);
//	          "default" is IPv4 or IPv6 after the gateway's family
//
// A link (Topology.Link) is a veth pair between two nodes:
//
//	{a: NODE, b: NODE, a_addrs: [CIDR, ...], b_addrs: [CIDR, ...], mtu: N}
//
// mtu applies to both ends. A link whose ends are both bridges joins the two
// bridges with a veth pair in the fabric namespace (one end a port of each),
// as a cable joins two switches; it takes no addresses. Bridges joined this
// way must not form a loop: they run no spanning tree. A link between a node
// and a bridge is refused: write it under the node's connect.
//
// A node's interfaces are named eth0, eth1, ... in this order: its connect
// entries as listed, then the links it is an end of, in file order.
//
// # Expectations
//
//	expect:
//	  pingall: true              # every ordered pair of hosts (routers excluded) answers ping
//	  reachable:   [FROM -> TO, ...]   # ping answered
//	  unreachable: [FROM -> TO, ...]   # ping not answered
//	  tcp:             [FROM -> TO:PORT, ...]  # a TCP connection is accepted
//	  tcp_unreachable: [FROM -> TO:PORT, ...]  # a TCP connection is not accepted
//	  service:         [FROM -> TO:PORT, ...]  # a program listening there accepts a connection
//
// FROM is a host or router name, or a bridge name meaning the fabric
// namespace (the seed's root namespace). TO is a host, router or bridge name,
// standing for its first address (IPv4 first), or an IP address. In tcp and
// service entries TO is followed by :PORT (an IPv6 address in brackets, as in
// "[fd00::2]:80"), and an entry may also be written {from: FROM, to: TO:PORT}.
// Spaces around "->" are optional; quote an entry that YAML would otherwise
// misread (one starting with '[' or '{', or holding ": ").
//
// For tcp and tcp_unreachable, the runner starts a TCP listener on the
// wildcard address and the port on the destination node (the node named, or
// the node holding the address) before checking, and closes it afterwards;
// one listener serves every check of the same node and port. So tcp tests
// the path, not whether some program happens to listen: "tcp: [a -> b:80]"
// passes with nothing listening on b. A tcp_unreachable destination may be
// an address no node holds; nothing listens there.
//
// service checks a real program instead: it only connects (and closes the
// connection), starting nothing, so it fails when nothing listens on the
// port. Use it for what a test runs in the topology: build the file with
// Build, start the servers (Host.Command, Host.Listen), then Verify. (nstest
// run starts no program, so there a service check fails.) service checks run
// before the tcp listeners start, so that a tcp check of the same port
// cannot answer for them.
//
// # Names
//
// Bridges, hosts and routers share one set of names. A name starts with a
// letter, then holds letters, digits, '.', '-' and '_' (so it never reads as
// an address and "name:port" is unambiguous). Bridge names are Linux
// interface names: at most 15 bytes (MaxIfNameLen), and not "lo". Host and
// router names name namespaces, not interfaces, and may be up to 64 bytes
// (MaxNameLen).
//
// # Checks
//
// Parse is strict. It refuses unknown or repeated keys, values of the wrong
// YAML type (a string where a list is due, mtu: "1400"), YAML anchors,
// aliases and custom tags, and more than one document. Validate then checks:
// duplicate names; names too long or badly formed; links and connections
// to unknown or wrong-kind ends; invalid CIDRs and addresses that cannot be
// on an interface (IPv4 network or broadcast address, loopback, multicast,
// unspecified, IPv4-mapped); the same IP address twice anywhere; mtu out of
// 68..65535, or under 1280 with IPv6; route destinations that are not
// "default" or a CIDR without host bits; gateways of the wrong family, equal
// to the node's own address, or outside every subnet of the node's
// interfaces; the same route destination twice on a node; loops of bridges;
// expectations that are not "from -> to", name unknown ends, lack a port,
// reach for an address no one has, start from or go to a node with no
// address, or contradict each other.
//
// Every error is an *Error and reads "file:line:col: what: value: problem",
// for example
//
//	seed.yaml:12:31: host "ns1": address "10.0.0.300/24": invalid CIDR
//
// Parse reports all the errors of a stage, joined with errors.Join and
// sorted by position: first all syntax, type and key errors; if there are
// none, all semantic errors. It returns a File only when there are none.
//
// # Generators
//
// Single, Linear, LinearN, Tree and Preset make Mininet's topologies (same
// switch and host names, same 10.0.0.0/8 addresses, same numbering) with
// bridges as switches and pingall expected; Preset reads Mininet's
// "--topo" spelling such as "single,20", "linear,4" or "tree,2,2".
// Marshal writes any File in this format.
package topofile
