package nstest

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/fastnl"
	"github.com/nstest/harness/internal/ns"
)

// Host is a network namespace of a topology: a host, a router or the
// fabric. Its methods are safe for concurrent use.
type Host struct {
	topo *Topology
	name string
	kind nodeKind
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
	pruned  int       // len(closers) after the last pruning (see track)
	procs   hostProcs // the init of the host's PID namespace

	// socketsClosed says closeSockets ran: track closes what comes later.
	socketsClosed bool
}

// nodeKind says what a Host stands for. Its String is the word messages,
// state dumps (state.txt) and keep's listing have always used.
type nodeKind uint8

const (
	kindHost   nodeKind = iota // AddHost
	kindRouter                 // AddRouter: forwards IPv4 and IPv6
	kindFabric                 // the namespace holding the topology's bridges
	kindSite                   // a VXLAN site's machine (Overlay.AddSite)
)

func (k nodeKind) String() string {
	switch k {
	case kindRouter:
		return "router"
	case kindFabric:
		return "fabric"
	case kindSite:
		return "site"
	}
	return "host"
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

func newHost(t *Topology, name string, kind nodeKind, hc hostConfig) (*Host, error) {
	b, err := takeBlank()
	if err != nil {
		return nil, err
	}
	h := &Host{topo: t, name: name, kind: kind, ns: b.n, nl: b.nl, fnl: b.fnl}
	if kind == kindFabric {
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
// goroutine too.
//
// Programs that fn starts with os/exec run in the host's network and PID
// namespaces, so they and everything they start die when the host is torn
// down. They keep the machine's hostname, /etc and /proc; start them with
// Command to give them the host's. Go code in fn resolves names
// with the machine's resolver, which knows nothing of the topology: Dial,
// Listen, Ping, HTTPClient and the assertions take node names. The first
// InNS, Do or Command of a host starts the host's init, a small process.
//
// A nil fn panics, naming the host. InNS panics with an error if it cannot
// enter the host; after teardown that error names the host and wraps
// ErrClosed, and fn does not run.
func (h *Host) InNS(fn func()) {
	if fn == nil {
		panic(fmt.Sprintf("nstest: host %q: InNS: fn is nil", h.name))
	}
	if err, entered := h.userDo(func() error { fn(); return nil }); !entered {
		panic(fmt.Errorf("nstest: InNS: %w", err))
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
	err, entered := h.userDo(fn)
	if !entered {
		return fmt.Errorf("nstest: %w", err)
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
// global IPv6 address, or the zero Addr if it has none (see
// Topology.Resolve; unique local addresses such as fd00::/8 count).
func (h *Host) Addr() netip.Addr { return firstGlobal(h.Addrs()) }

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

func (h *Host) removeIface(i *Interface) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for j, x := range h.ifaces {
		if x == i {
			h.ifaces = append(h.ifaces[:j], h.ifaces[j+1:]...)
			return
		}
	}
}
