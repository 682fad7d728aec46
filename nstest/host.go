package nstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/fastnl"
	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/internal/nsexec"
	"github.com/nstest/harness/nstest/ping"
)

// Host is a network namespace of a topology: a host, a router or the
// fabric. Its methods are safe for concurrent use.
type Host struct {
	topo *Topology
	name string
	kind string // "host", "router" or "fabric"
	ns   *ns.NS
	nl   *netlink.Handle
	fnl  *fastnl.Conn // the build path's batched requests

	// life guards ns, nl and fnl against teardown: every use of them holds
	// it for reading (use, do), and close holds it for writing. A closed
	// netlink.Handle silently opens sockets in the calling thread's
	// namespace, and a closed descriptor's number soon names another
	// namespace, so nothing may touch them once closed is set.
	life   sync.RWMutex
	closed bool

	mu      sync.Mutex
	ifaces  []*Interface
	bridges []*Bridge // made inside the host (Host.AddBridge)
	nextIf  int
	closers []io.Closer
	pruned  int         // len(closers) after the last pruning (see track)
	started atomic.Bool // Command was used: look for processes at teardown
}

type hostConfig struct {
	sysctls [][2]string
}

// A HostOption configures a host or router.
type HostOption func(*hostConfig)

// Forwarding makes the host forward IPv4 and IPv6 packets between its
// interfaces, as AddRouter does.
func Forwarding() HostOption {
	return func(c *hostConfig) {
		c.sysctls = append(c.sysctls, [2]string{"net.ipv4.ip_forward", "1"}, [2]string{"net.ipv6.conf.all.forwarding", "1"})
	}
}

// Sysctl sets a sysctl in the host's namespace when it is made:
// Sysctl("net.ipv4.conf.all.rp_filter", "1"); give the option once per
// sysctl. Only the namespace's own network sysctls (net.*) can be set; a
// key that is not one, or that the kernel does not have, fails the build.
func Sysctl(key, value string) HostOption {
	return func(c *hostConfig) { c.sysctls = append(c.sysctls, [2]string{key, value}) }
}

func newHost(t *Topology, name, kind string, hc hostConfig) (*Host, error) {
	b, err := takeBlank()
	if err != nil {
		return nil, err
	}
	h := &Host{topo: t, name: name, kind: kind, ns: b.n, nl: b.nl, fnl: b.fnl}
	if kind == "fabric" {
		// Bridges and their ports never need IPv6 link-local addresses;
		// without them no port sends router solicitations, DAD probes or
		// MLD reports, which on a big bridge flood every other port.
		// Bridge.AddAddr turns it back on for a bridge given an IPv6 address.
		hc.sysctls = append([][2]string{{"net.ipv6.conf.default.addr_gen_mode", "1"}}, hc.sysctls...)
	}
	if len(hc.sysctls) > 0 {
		err = b.n.Do(func() error {
			for _, kv := range hc.sysctls {
				if err := writeSysctl(kv[0], kv[1]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// allocIndex returns an interface index to ask for; the kernel refuses one
// already taken (EBUSY), and the caller asks again. Indexes come from a
// counter of the whole topology, so the two ends of a veth pair never share
// one: the kernel's link-watch code handles a carrier change at once only
// for a device whose index differs from its peer's, and otherwise batches it
// for up to a second, during which the device's queue is inactive and a
// bridge port is not forwarding.
func (h *Host) allocIndex() int {
	t := h.topo
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nextIndex == 0 {
		t.nextIndex = firstIndex
	}
	i := t.nextIndex
	t.nextIndex++
	return i
}

// firstIndex is above the indexes the kernel hands out itself in a young
// namespace (lo, bridges, VXLAN devices).
const firstIndex = 1000

// writeSysctl writes a network sysctl of the calling thread's namespace.
func writeSysctl(key, value string) error {
	if !strings.HasPrefix(key, "net.") || strings.Contains(key, "..") || strings.ContainsAny(key, "/ ") {
		return fmt.Errorf("sysctl %q: only network sysctls (net.*) of the host's namespace can be set", key)
	}
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	err := os.WriteFile(path, []byte(value), 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sysctl %q: no such network sysctl in the host's namespace (check the spelling, and that the kernel has the feature): %w", key, err)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("sysctl %s=%q: the kernel refuses the value: %w", key, value, err)
	case err != nil:
		return fmt.Errorf("sysctl %s=%q: %w", key, value, err)
	}
	return nil
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/")))
	return strings.TrimSpace(string(b)), err
}

// close releases the netlink handles and the namespace descriptor, once no
// method is using them; every later use fails with ErrClosed.
func (h *Host) close() {
	h.life.Lock()
	defer h.life.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	if h.nl != nil {
		h.nl.Close()
	}
	if h.fnl != nil {
		h.fnl.Close()
	}
	h.ns.Close()
}

// use runs fn, which may use the host's ns, nl and fnl, while they stay
// open, or returns ErrClosed once teardown has closed them. The check and
// the use are under one lock, so teardown cannot close them in between.
// Teardown waits for fn: keep it to a few netlink exchanges, and never call
// use on the same host inside it (a waiting teardown would deadlock it).
func (h *Host) use(fn func() error) error {
	h.life.RLock()
	defer h.life.RUnlock()
	if h.closed {
		return ErrClosed
	}
	return fn()
}

// useBoth is use on two hosts at once, which may be the same.
func useBoth(a, b *Host, fn func() error) error {
	if a == b {
		return a.use(fn)
	}
	return a.use(func() error { return b.use(fn) })
}

// enter runs fn inside the host's namespace. It reports whether fn ran:
// if not, err says why, ErrClosed after teardown.
func (h *Host) enter(fn func() error) (err error, entered bool) {
	err = h.ns.Do(func() error {
		entered = true
		return fn()
	})
	if !entered && errors.Is(err, ns.ErrClosed) {
		err = ErrClosed
	}
	return err, entered
}

// do runs fn inside the host's namespace, as Do does without waiting for
// links to come up, or returns ErrClosed after teardown. The thread stays
// in the namespace until fn returns even if teardown closes the host
// meanwhile, so fn acts on this namespace or not at all.
func (h *Host) do(fn func() error) error {
	err, _ := h.enter(fn)
	return err
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// String returns the host's name.
func (h *Host) String() string { return h.name }

// Topology returns the topology the host belongs to.
func (h *Host) Topology() *Topology { return h.topo }

// InNS runs fn inside the host's network namespace and returns when fn
// returns. Sockets that fn opens belong to the host's namespace for their
// whole life, and can be used from any goroutine afterwards.
//
// fn runs on a fresh goroutine locked to an OS thread that has entered the
// namespace. Goroutines that fn starts do NOT run in the namespace: they run
// on other threads, in the test process's namespace, and a socket or process
// they create is not the host's. To use the host's network from other
// goroutines, make the socket or process here or with Dial, Listen,
// ListenPacket or Command, and hand it over. Likewise /proc/net and
// /proc/self/net show the namespace of the process's main thread: inside fn,
// read /proc/thread-self/net. A panic in fn is re-raised in the caller as an
// error whose text holds the original value and the stack where fn
// panicked (its Value method returns the value), so the trace names the
// line that panicked; t.FailNow (runtime.Goexit) in fn ends the caller's
// goroutine too. A nil fn panics, naming the host. After teardown InNS
// panics with an error that names the host and wraps ErrClosed, without
// running fn.
func (h *Host) InNS(fn func()) {
	if fn == nil {
		panic(fmt.Sprintf("nstest: host %q: InNS: fn is nil", h.name))
	}
	h.topo.ready()
	if err, entered := h.enter(func() error { fn(); return nil }); !entered {
		panic(fmt.Errorf("nstest: host %q: InNS: %w", h.name, err))
	}
}

// Do is InNS for a function that returns an error: it runs fn inside the
// host's network namespace and returns what fn returns. The caveats of InNS
// apply. A nil fn is an error. After teardown Do returns an error wrapping
// ErrClosed without running fn.
func (h *Host) Do(fn func() error) error {
	if fn == nil {
		return fmt.Errorf("nstest: host %q: Do: fn is nil", h.name)
	}
	h.topo.ready()
	err, entered := h.enter(fn)
	if !entered {
		return fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return err
}

// NSPath returns a path that opens the host's namespace, for tools such as
// nsenter --net=PATH, or an error wrapping ErrClosed after teardown. The path
// names one of this process's descriptors: use it while the topology lives,
// never after, since the descriptor's number is reused once teardown closes
// it and the path would then open some other namespace. For anything that
// may outlive the topology, use NSFile.
func (h *Host) NSPath() (string, error) {
	var p string
	err := h.use(func() error {
		p = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), h.ns.Fd())
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("nstest: host %q: namespace path: %w", h.name, err)
	}
	return p, nil
}

// NSFile returns a new descriptor of the host's network namespace, which the
// caller owns and closes: for packages and programs that take a namespace
// as a file (cmd.ExtraFiles, setns). Unlike a descriptor number borrowed from
// the host, it names this namespace for as long as it is open, and keeps the
// namespace alive that long. After teardown NSFile returns an error
// wrapping ErrClosed.
func (h *Host) NSFile() (*os.File, error) {
	var f *os.File
	err := h.use(func() error {
		fd, err := unix.FcntlInt(uintptr(h.ns.Fd()), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return err
		}
		f = os.NewFile(uintptr(fd), "netns:"+h.name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: namespace file: %w", h.name, err)
	}
	return f, nil
}

// Command returns a command that runs the program name with the given
// arguments inside the host's network namespace, like exec.Command. The
// process is killed and reaped when the topology is torn down, and dies with
// the test process even if that is killed with SIGKILL.
func (h *Host) Command(name string, arg ...string) *exec.Cmd {
	h.started.Store(true)
	h.topo.ready()
	return nsexec.Command(h.ns.Fd(), name, arg...)
}

// CommandContext is Command with a context, like exec.CommandContext: the
// process is killed when ctx is done.
func (h *Host) CommandContext(ctx context.Context, name string, arg ...string) *exec.Cmd {
	h.started.Store(true)
	h.topo.ready()
	return nsexec.CommandContext(ctx, h.ns.Fd(), name, arg...)
}

// track keeps c to close it at teardown. What the user closed meanwhile is
// forgotten: the list is pruned whenever it has doubled since the last
// pruning, so a dial loop's memory stays flat at a cost of O(1) per call.
func (h *Host) track(c io.Closer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closers = append(h.closers, c)
	if len(h.closers) < 2*h.pruned+16 {
		return
	}
	open := h.closers[:0]
	for _, c := range h.closers {
		if !isClosed(c) {
			open = append(open, c)
		}
	}
	clear(h.closers[len(open):]) // let the closed ones be collected
	h.closers, h.pruned = open, len(open)
}

// isClosed reports whether the socket c was closed already: its descriptor
// refuses any use then.
func isClosed(c io.Closer) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	return err != nil || rc.Control(func(uintptr) {}) != nil
}

func (h *Host) closeSockets() {
	h.mu.Lock()
	cs := h.closers
	h.closers = nil
	h.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].Close()
	}
}

// Dial connects to address from inside the host's namespace, like
// net.Dial. The host part of address may be the name of a node of the
// topology ("ns2:8080"). The connection stays in the host's namespace and can
// be used from any goroutine; it is closed at teardown if still open.
func (h *Host) Dial(network, address string) (net.Conn, error) {
	return h.DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	h.topo.ready()
	addr, err := h.topo.resolveHostPort(h, address)
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: dial %s %s: %w", h.name, network, address, err)
	}
	var c net.Conn
	err = h.do(func() (err error) {
		// No Happy Eyeballs: its fallback dials from another goroutine,
		// which would run outside the namespace.
		d := net.Dialer{FallbackDelay: -1}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	h.track(c)
	return c, nil
}

// Listen listens on address inside the host's namespace, like net.Listen.
// The listener is closed at teardown if still open.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	h.topo.ready()
	addr, err := h.topo.resolveHostPort(h, address)
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: listen %s %s: %w", h.name, network, address, err)
	}
	var l net.Listener
	err = h.do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	h.track(l)
	return l, nil
}

// ListenPacket listens on address inside the host's namespace, like
// net.ListenPacket. The connection is closed at teardown if still open.
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	h.topo.ready()
	addr, err := h.topo.resolveHostPort(h, address)
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: listen %s %s: %w", h.name, network, address, err)
	}
	var c net.PacketConn
	err = h.do(func() (err error) {
		c, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	h.track(c)
	return c, nil
}

// Ping sends ICMP or ICMPv6 echo requests from the host to dst, an IP
// address or the name of a node of the topology, and returns the
// statistics. The defaults are those of package ping: one echo, waiting up to
// a second for the reply.
func (h *Host) Ping(ctx context.Context, dst string, opts ...ping.Option) (*ping.Stats, error) {
	a, err := h.topo.resolve(h, dst)
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: ping %s: %w", h.name, dst, err)
	}
	return h.ping(ctx, a, opts...)
}

func (h *Host) ping(ctx context.Context, dst netip.Addr, opts ...ping.Option) (*ping.Stats, error) {
	h.topo.ready()
	var (
		st  *ping.Stats
		c   *ping.Conn
		err error
	)
	if dst.Zone() != "" {
		// A zone names an interface of the host: resolve it inside.
		err = h.do(func() (err error) {
			st, err = ping.Ping(ctx, dst, opts...)
			return err
		})
	} else {
		// Only the socket needs the namespace; the exchange runs here.
		err = h.do(func() (err error) {
			c, err = ping.Open(ping.FamilyOf(dst), ping.Auto)
			return err
		})
		if err == nil {
			st, err = c.Ping(ctx, dst, opts...)
			c.Close()
		}
	}
	if err != nil {
		return st, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return st, nil
}

// Interfaces returns the host's interfaces (not lo) in the order they were
// made.
func (h *Host) Interfaces() []*Interface {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*Interface(nil), h.ifaces...)
}

// Interface returns the host's interface called name, or nil.
func (h *Host) Interface(name string) *Interface {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, i := range h.ifaces {
		if i.name == name {
			return i
		}
	}
	return nil
}

// Addr returns the host's first global IPv4 address, or else its first
// global IPv6 address, or the zero Addr if it has none.
func (h *Host) Addr() netip.Addr {
	var v6 netip.Addr
	for _, p := range h.Addrs() {
		a := p.Addr()
		if !a.IsGlobalUnicast() {
			continue
		}
		if a.Is4() {
			return a
		}
		if !v6.IsValid() {
			v6 = a
		}
	}
	return v6
}

// Addrs returns every address of the host's interfaces, in order, after the
// addresses of its bridges (the fabric's, or those of Host.AddBridge).
func (h *Host) Addrs() []netip.Prefix {
	var out []netip.Prefix
	for _, b := range h.Bridges() {
		out = append(out, b.Addrs()...)
	}
	for _, i := range h.Interfaces() {
		out = append(out, i.Addrs()...)
	}
	return out
}

// SetSysctl sets a network sysctl (net.*) in the host's namespace.
func (h *Host) SetSysctl(key, value string) error {
	if err := h.do(func() error { return writeSysctl(key, value) }); err != nil {
		return fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return nil
}

// Sysctl reads a network sysctl (net.*) in the host's namespace.
func (h *Host) Sysctl(key string) (string, error) {
	var v string
	err := h.do(func() (err error) { v, err = readSysctl(key); return err })
	if err != nil {
		return "", fmt.Errorf("nstest: host %q: sysctl %s: %w", h.name, key, err)
	}
	return v, nil
}

// AddRoute adds a route to dst, "default" or a CIDR, through the gateway via,
// an address on one of the host's subnets (or the name of a node that has
// one).
func (h *Host) AddRoute(dst, via string) error {
	if err := h.addRoute(dst, via); err != nil {
		return fmt.Errorf("nstest: host %q: route %s via %s: %w", h.name, dst, via, err)
	}
	return nil
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "it has no addresses"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// allocIfName returns the next free interface name eth0, eth1, ...
func (h *Host) allocIfName() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := fmt.Sprintf("eth%d", h.nextIf)
	h.nextIf++
	return n
}

func (h *Host) addIface(i *Interface) {
	h.mu.Lock()
	h.ifaces = append(h.ifaces, i)
	h.mu.Unlock()
}

// resolveHostPort replaces a node name in the host part of "host:port" by its
// address.
func (t *Topology) resolveHostPort(from *Host, address string) (string, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return address, nil // let the net package report it
	}
	if host == "" {
		return address, nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return address, nil
	}
	a, ok, err := t.lookup(from, host)
	if err != nil {
		return "", err
	}
	if !ok {
		if host == "localhost" {
			return address, nil
		}
		// No name service inside a topology: say so instead of timing out.
		return "", fmt.Errorf("%q is neither an IP address nor a node of topology %q", host, t.name)
	}
	return net.JoinHostPort(a.String(), port), nil
}
