package nstest

import (
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/nstest/harness/internal/rootless"
)

// Topology is a disposable network built for one test: hosts, routers and
// bridges, each in namespaces the topology created. It is torn down through
// tb.Cleanup. Its methods are safe for concurrent use.
type Topology struct {
	tb   testing.TB
	name string
	cfg  config

	mu        sync.Mutex
	nodes     map[string]any // *Host or *Bridge, by name
	hosts     []*Host
	bridges   []*Bridge
	fabric    *Host
	addrMu    sync.Mutex                 // guards addrs; taken before mu
	addrs     map[netip.Addr][]addrClaim // who holds each address (segment.go)
	undo      []func()                   // teardown steps, run in reverse
	closed    bool
	nextIndex int
	pending   []*Interface // set up, maybe not yet operationally up
	readyMu   sync.Mutex
	art       *artifacts // NSTEST_ARTIFACTS: captures to save if the test fails
	drawn     drawing    // what Graph draws beyond hosts and bridges

	ovsMu sync.Mutex
	ovs   *ovsSwitch // the Open vSwitch daemons, started by the first OVS bridge
}

type config struct {
	name string
	keep bool
}

// An Option configures a Topology.
type Option func(*config)

// WithName names the topology. It defaults to the test's name and is used in
// log lines and in the names of kept namespaces (see NSTEST_KEEP).
func WithName(name string) Option { return func(c *config) { c.name = name } }

// Keep keeps the topology's namespaces, bind-mounted under /run/netns, when the
// test fails, as NSTEST_KEEP=1 does for every topology.
func Keep() Option { return func(c *config) { c.keep = true } }

// New returns an empty topology for the test tb and registers its teardown
// with tb.Cleanup. When this process cannot create and configure network
// namespaces, New skips tb with a sentence saying how to run it.
func New(tb testing.TB, opts ...Option) *Topology {
	tb.Helper()
	if err := rootless.Probe(); err != nil {
		tb.Skipf("nstest: this test builds network namespaces and needs CAP_NET_ADMIN (%v); run it as root (go test -exec sudo ./...) or call nstest.Main from TestMain to run it in a user namespace", err)
	}
	t := &Topology{
		tb:    tb,
		nodes: map[string]any{},
		addrs: map[netip.Addr][]addrClaim{},
	}
	t.cfg.name = tb.Name()
	t.cfg.keep = os.Getenv("NSTEST_KEEP") == "1"
	t.art = newArtifacts()
	for _, o := range opts {
		o(&t.cfg)
	}
	t.name = t.cfg.name
	holdPool()
	tb.Cleanup(t.close)
	return t
}

// Name returns the topology's name.
func (t *Topology) Name() string { return t.name }

// nodeName is what a node or topology name looks like. It starts with a
// letter, so that a name never reads as an IP address ("10.0.0.9"): node
// names and addresses are both accepted wherever a destination is named.
var nodeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)

// maxNameLen bounds node names, and the names of kept topologies.
const maxNameLen = 64

// ValidName checks a name as AddHost, AddRouter and AddBridge check node
// names: a letter, then letters, digits, '.', '_' and '-', at most 64
// bytes. Topology files (package topofile) and the names of kept
// topologies follow the same rule (the nstest command checks the names it
// is given with it), so that a name is always one path component. kind names the thing in the error: "host",
// "node", "topology".
func ValidName(kind, name string) error {
	if !nodeName.MatchString(name) || len(name) > maxNameLen {
		shown := fmt.Sprintf("%q", name)
		if len(name) > 2*maxNameLen {
			shown = fmt.Sprintf("%q… (%d bytes)", name[:maxNameLen], len(name))
		}
		return fmt.Errorf("nstest: %s %s: invalid name: want a letter, then letters, digits, '.', '_' or '-', at most %d bytes", kind, shown, maxNameLen)
	}
	return nil
}

// checkName validates a new node name; the caller holds t.mu.
func (t *Topology) checkName(kind, name string) error {
	if err := ValidName(kind, name); err != nil {
		return err
	}
	if _, dup := t.nodes[name]; dup {
		return fmt.Errorf("nstest: %s %q: duplicate name: the topology already has a node called %q", kind, name, name)
	}
	if t.closed {
		return fmt.Errorf("nstest: %s %q: %w", kind, name, ErrClosed)
	}
	return nil
}

// isClosed reports whether the topology has been torn down.
func (t *Topology) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// AddHost adds a host: a network namespace of its own with its loopback up.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value, and leaves nothing
// half-built.
func (t *Topology) AddHost(name string, opts ...HostOption) *Host {
	t.tb.Helper()
	h, err := t.addHost(name, kindHost, opts)
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return h
}

// AddRouter adds a host that forwards IPv4 and IPv6 between its interfaces.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value, and leaves nothing
// half-built.
func (t *Topology) AddRouter(name string, opts ...HostOption) *Host {
	t.tb.Helper()
	h, err := t.addHost(name, kindRouter, append([]HostOption{Forwarding()}, opts...))
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return h
}

func (t *Topology) addHost(name string, kind nodeKind, opts []HostOption) (*Host, error) {
	var hc hostConfig
	for _, o := range opts {
		o(&hc)
	}
	t.mu.Lock()
	if err := t.checkName(kind.String(), name); err != nil {
		t.mu.Unlock()
		return nil, err
	}
	t.nodes[name] = nil // reserve the name while the namespace is made
	t.mu.Unlock()

	h, err := newHost(t, name, kind, hc)
	if testHookHostMade != nil && err == nil {
		testHookHostMade(h)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil && t.closed {
		// Torn down meanwhile: the teardown has run its undo list already.
		h.close()
		err = fmt.Errorf("torn down while the host was being made: %w", ErrClosed)
	}
	if err != nil {
		delete(t.nodes, name)
		return nil, fmt.Errorf("nstest: %s %q: %w", kind, name, err)
	}
	t.nodes[name] = h
	t.hosts = append(t.hosts, h)
	t.undo = append(t.undo, h.close)
	return h, nil
}

// testHookHostMade, if set, runs between making a host's namespace and
// recording the host: tests use it to tear the topology down there.
var testHookHostMade func(*Host)

// Host returns the host or router called name, or nil if there is none.
func (t *Topology) Host(name string) *Host {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, _ := t.nodes[name].(*Host)
	return h
}

// Hosts returns the topology's hosts and routers in the order they were added.
func (t *Topology) Hosts() []*Host {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*Host(nil), t.hosts...)
}

// Bridge returns the bridge called name, or nil if there is none.
func (t *Topology) Bridge(name string) *Bridge {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, _ := t.nodes[name].(*Bridge)
	return b
}

// Bridges returns the topology's bridges in the order they were added.
func (t *Topology) Bridges() []*Bridge {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*Bridge(nil), t.bridges...)
}

// Fabric returns the namespace that holds the topology's bridges and the
// bridge-side ends of their veth pairs: the seed tutorial's "root namespace",
// kept apart from the real one. A test that needs "the host machine" uses it.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value.
func (t *Topology) Fabric() *Host {
	t.tb.Helper()
	f, err := t.getFabric()
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return f
}

func (t *Topology) getFabric() (*Host, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fabric != nil && !t.closed {
		return t.fabric, nil
	}
	if t.closed {
		return nil, fmt.Errorf("nstest: fabric: %w", ErrClosed)
	}
	f, err := newHost(t, "fabric", kindFabric, hostConfig{})
	if err != nil {
		return nil, fmt.Errorf("nstest: fabric namespace: %w", err)
	}
	t.fabric = f
	t.undo = append(t.undo, f.close)
	return f, nil
}

// close tears the topology down in reverse order of creation: processes,
// then sockets, then namespace handles. It does not wait for the kernel to
// destroy the namespaces.
func (t *Topology) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	hosts := append([]*Host(nil), t.hosts...)
	if t.fabric != nil {
		hosts = append(hosts, t.fabric)
	}
	undo := t.undo
	t.undo = nil
	t.mu.Unlock()

	if t.tb.Failed() {
		t.onFailure(hosts)
	}
	// Closing the armed captures waits for the kernel's grace period:
	// overlap it with the rest of teardown, but wait for it, so that no
	// packet socket (nor the goroutine reading it) outlives the teardown.
	var captures sync.WaitGroup
	if t.art != nil {
		captures.Go(t.art.closeAll)
	}
	stopProcesses(hosts)
	for _, h := range hosts {
		h.closeSockets()
	}
	for i := len(undo) - 1; i >= 0; i-- {
		undo[i]()
	}
	captures.Wait()
	releasePool()
}

// onFailure saves the failure artifacts and keeps the namespaces for
// debugging when asked to.
func (t *Topology) onFailure(hosts []*Host) {
	if t.art != nil {
		t.writeArtifacts(hosts)
	}
	if t.cfg.keep {
		t.keep(hosts)
	}
}

// parsePrefix parses an interface address in CIDR form.
func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if _, err2 := netip.ParseAddr(s); err2 == nil {
			return p, fmt.Errorf("address %q: missing prefix length (write it as a CIDR, for example %s/24)", s, s)
		}
		return p, fmt.Errorf("address %q: invalid CIDR", s)
	}
	return p, nil
}

func nlAddr(p netip.Prefix) *netlink.Addr {
	a := &netlink.Addr{IPNet: prefixToIPNet(p)}
	if p.Addr().Is6() {
		a.Flags = nodad
	}
	return a
}
