package topofile

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// File is a topology read from a topology file or made by a generator.
// Its strings are kept as written; Validate checks them.
type File struct {
	Name    string
	Bridges []Bridge
	Hosts   []Node
	Routers []Node // nodes that forward IPv4 and IPv6
	Links   []Link // direct veth pairs between nodes, or between bridges
	Expect  Expect

	filename string // for error messages; empty for generated files
}

// Pos is a line and column (both from 1) in a topology file.
// The zero Pos means the value was not read from a file.
type Pos struct {
	Line, Col int
}

// IsValid reports whether p points into a file.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Bridge is a Linux bridge, or an Open vSwitch bridge, in the topology's
// fabric namespace.
type Bridge struct {
	Name  string
	Kind  string   // "" or KindLinux for a Linux bridge, KindOVS for Open vSwitch (nstest.OVS)
	Addrs []string // CIDRs given to the bridge itself, as with Bridge.AddAddr
	Pos   Pos

	at positions
}

// Node is a host or a router.
type Node struct {
	Name    string
	Connect []Connection // interfaces eth0, eth1, ... in this order, then its direct links in file order
	Routes  []Route
	Pos     Pos

	at positions
}

// Connection is a veth pair from a node to a bridge, as made by Topology.Connect.
type Connection struct {
	Bridge string
	Addrs  []string // CIDRs on the node's end
	MTU    int      // 0 keeps the kernel's default
	Pos    Pos

	at positions
}

// Route is a static route on a node.
type Route struct {
	Dst string // "default" or a CIDR
	Via string // gateway address
	Pos Pos

	at positions
}

// Link is a direct veth pair, as made by Topology.Link when both ends are
// nodes. When both ends are bridges it joins the two bridges (a port on
// each) and carries no addresses.
type Link struct {
	A, B           string
	AAddrs, BAddrs []string
	MTU            int // 0 keeps the kernel's default; applies to both ends
	Pos            Pos

	at positions
}

// Expect lists what must hold once the topology is built.
type Expect struct {
	// PingAll asks for every ordered pair of hosts (not routers) to be reachable.
	PingAll        bool
	Reachable      []Check // ping answered
	Unreachable    []Check // ping not answered
	TCP            []Check // To is "host:port"; a connection is accepted
	TCPUnreachable []Check // To is "host:port"; a connection is not accepted
	Pos            Pos

	// Service checks that a program listening at To ("host:port") accepts a
	// connection; unlike TCP, nothing is started to listen there.
	Service []Check

	at positions
}

// Check is one expectation "From -> To". From is a host, router or bridge
// name (a bridge stands for the fabric namespace); To is a host, router or
// bridge name or an IP address, followed by ":port" in TCP checks.
type Check struct {
	From, To string
	Pos      Pos
}

// String returns the check as written in a file: "From -> To".
func (c Check) String() string { return c.From + " -> " + c.To }

// positions keeps where the values of an item were read, by key:
// "name", "addrs.0", "mtu", ...
type positions map[string]Pos

func (p positions) of(key string, fallback Pos) Pos {
	if q, ok := p[key]; ok {
		return q
	}
	return fallback
}

// Error is one problem in a topology file.
type Error struct {
	File string // may be empty
	Pos  Pos    // zero when not read from a file
	Msg  string
}

// Error returns "file:line:col: msg", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	switch {
	case e.Pos.IsValid() && e.Pos.Col > 0:
		fmt.Fprintf(&b, "%d:%d:", e.Pos.Line, e.Pos.Col)
	case e.Pos.IsValid():
		fmt.Fprintf(&b, "%d:", e.Pos.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// MaxFileSize bounds the size of a topology file ParseFile reads: 8 MiB,
// several times a file of MaxGeneratedHosts hosts.
const MaxFileSize = 8 << 20

// ParseFile reads and parses the topology file at path, which may be any
// file that can be read (a pipe, /dev/stdin) up to MaxFileSize bytes.
// Error messages name the file as path was given.
func ParseFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("topofile: %w", err)
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is %d bytes, over the limit of %d bytes (%d MiB) for a topology file", st.Size(), MaxFileSize, MaxFileSize>>20)}
	}
	// Read one byte more than allowed, to tell a file at the limit from
	// one past it: files such as /dev/zero have no size until read.
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("topofile: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("more than %d bytes (%d MiB), the limit for a topology file", MaxFileSize, MaxFileSize>>20)}
	}
	return Parse(path, data)
}

// Node returns the host or router called name, or nil.
func (f *File) Node(name string) *Node {
	for i := range f.Hosts {
		if f.Hosts[i].Name == name {
			return &f.Hosts[i]
		}
	}
	for i := range f.Routers {
		if f.Routers[i].Name == name {
			return &f.Routers[i]
		}
	}
	return nil
}

// Bridge returns the bridge called name, or nil.
func (f *File) Bridge(name string) *Bridge {
	for i := range f.Bridges {
		if f.Bridges[i].Name == name {
			return &f.Bridges[i]
		}
	}
	return nil
}

// IsRouter reports whether name is one of the file's routers.
func (f *File) IsRouter(name string) bool {
	for i := range f.Routers {
		if f.Routers[i].Name == name {
			return true
		}
	}
	return false
}

// The kinds of bridge a file may name.
const (
	KindLinux = "linux" // a Linux bridge, the default
	KindOVS   = "ovs"   // an Open vSwitch bridge with OpenFlow rules
)

// SetSwitch gives every bridge that names no kind the kind k, as Mininet's
// --switch does: "ovs" (KindOVS), or "linux" or Mininet's "lxbr" (KindLinux).
func (f *File) SetSwitch(k string) error {
	switch k {
	case KindOVS:
	case KindLinux, "lxbr":
		k = KindLinux
	default:
		return fmt.Errorf("switch %q: unknown; want lxbr (a Linux bridge) or ovs (Open vSwitch)", k)
	}
	for i := range f.Bridges {
		if f.Bridges[i].Kind == "" {
			f.Bridges[i].Kind = k
		}
	}
	return nil
}
