package nstest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/rootcheck"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/firewall"
)

// recTB is a testing.TB whose cleanups run when the test says (teardown)
// and whose Fatal calls are recorded, so that a test can tear a topology
// down, call its builders afterwards and read what they said.
type recTB struct {
	testing.TB // the real test: Skip and Log go there

	mu       sync.Mutex
	cleanups []func()
	fatals   []string
}

func (r *recTB) Helper()      {}
func (r *recTB) Name() string { return r.TB.Name() + "-topology" }
func (r *recTB) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}
func (r *recTB) Failed() bool { return false }
func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}
func (r *recTB) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recTB) Fatal(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)); runtime.Goexit() }
func (r *recTB) FailNow()                          { r.Errorf("FailNow"); runtime.Goexit() }

func (r *recTB) teardown() {
	r.mu.Lock()
	cs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// builderFails calls a builder after teardown and checks that it failed the
// test with a message saying the topology is torn down, rather than
// returning or panicking.
func (r *recTB) builderFails(t *testing.T, what string, build func()) {
	t.Helper()
	r.mu.Lock()
	n := len(r.fatals)
	r.mu.Unlock()
	returned, panicked := false, any(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		build()
		returned = true
	}()
	<-done
	if !assert.Nil(t, panicked, "%s after teardown panicked instead of failing the test", what) ||
		!assert.False(t, returned, "%s after teardown returned instead of failing the test", what) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if assert.Greater(t, len(r.fatals), n, "%s after teardown ended the test without a message", what) {
		assert.Contains(t, r.fatals[len(r.fatals)-1], "torn down", "%s after teardown: the message does not say why", what)
	}
}

const closedEnv = "NSTEST_CLOSED_SANDBOX"

// TestUseAfterTeardown calls every method of a torn-down topology's
// Topology, Host, Bridge and Interface and checks that each fails with
// ErrClosed (builders fail the test, InNS panics naming the host) and that
// none acted anywhere: it runs in a child test process in a network
// namespace of its own, holding up links with the interface indexes the
// topology used (1000 and up) and addresses on its subnet, where a netlink
// call that fell back to the caller's namespace would land.
func TestUseAfterTeardown(t *testing.T) {
	if sandboxed(t) {
		useAfterTeardown(t)
	}
}

// sandboxed reports whether the test runs in its sandbox: a child test
// process, in a network namespace of its own, that runs only this test. If
// not, it runs that child and reports its outcome as the test's. A misuse
// that escapes its topology then lands in the sandbox, where the test sees
// it, never in the namespace the tests run in.
func sandboxed(t *testing.T) bool {
	if os.Getenv(closedEnv) == t.Name() {
		return true
	}
	nstest.New(t) // skips when this machine cannot build namespaces
	child := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	child.Env = append(os.Environ(), closedEnv+"="+t.Name())
	child.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := child.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the sandboxed run failed (%v):\n%s", err, out)
	}
	return false
}

// sandboxState describes the calling thread's namespace: links, addresses,
// routes and sysctls (rootcheck.Snapshot), qdiscs and nf_tables rules.
func sandboxState(t *testing.T) string {
	t.Helper()
	s, err := rootcheck.Snapshot()
	require.NoError(t, err)
	qs, err := netlink.QdiscList(nil)
	require.NoError(t, err)
	for _, q := range qs {
		s += fmt.Sprintf("\nqdisc %s dev %d handle %x", q.Type(), q.Attrs().LinkIndex, q.Attrs().Handle)
	}
	rules, err := firewall.Dump(here{})
	require.NoError(t, err)
	return s + "\n" + rules
}

// here is the calling thread's namespace, as package firewall takes it.
type here struct{}

func (here) Do(fn func() error) error { return fn() }

func useAfterTeardown(t *testing.T) {
	// Decoys: up bridges with the indexes a topology hands out, with
	// addresses on the topology's subnet, in this process's namespace
	// (the sandbox). Without IPv6: a link-local address would finish DAD
	// and add its route a second after the snapshot, a change nobody made.
	require.NoError(t, os.WriteFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", []byte("1"), 0))
	for idx := 1000; idx < 1040; idx++ {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "decoy" + strconv.Itoa(idx), Index: idx}}
		require.NoError(t, netlink.LinkAdd(br))
		require.NoError(t, netlink.LinkSetUp(br))
		a, _ := netlink.ParseAddr(fmt.Sprintf("10.0.0.%d/24", idx-1000+100))
		require.NoError(t, netlink.AddrAdd(br, a))
		t.Cleanup(func() { netlink.LinkDel(br) }) // the sandbox's TestMain checks it is left as found
	}

	rt := &recTB{TB: t}
	topo := nstest.New(rt)
	br := topo.AddBridge("br1")
	h1, h2 := topo.AddRouter("h1"), topo.AddHost("h2")
	i1 := topo.Connect(h1, br, "10.0.0.1/24")
	i2 := topo.Connect(h2, br, "10.0.0.2/24")
	l1, _ := topo.Link(h1, h2, "10.1.0.1/24", "10.1.0.2/24")
	ov := topo.AddOverlay("ov", 42)
	site := ov.AddSite("s1", "192.168.100.1/24")
	fab := topo.Fabric()
	port := i1.Peer()
	rt.teardown()

	before := sandboxState(t)

	closed := func(what string, err error) {
		t.Helper()
		assert.True(t, errors.Is(err, nstest.ErrClosed), "%s after teardown: got %v, want an error wrapping ErrClosed", what, err)
	}
	ctx := context.Background()
	drop := firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp"}

	// Topology.
	_, err := topo.Resolve("h1")
	closed("Topology.Resolve", err)
	_, err = topo.KeepNamespaces()
	closed("Topology.KeepNamespaces", err)
	closed("Topology.WriteState", topo.WriteState(&strings.Builder{}))
	rt.builderFails(t, "AddHost", func() { topo.AddHost("h3") })
	rt.builderFails(t, "AddRouter", func() { topo.AddRouter("r3") })
	rt.builderFails(t, "AddBridge", func() { topo.AddBridge("br2") })
	rt.builderFails(t, "Connect", func() { topo.Connect(h1, br, "10.0.0.3/24") })
	rt.builderFails(t, "Link", func() { topo.Link(h1, h2, "10.2.0.1/24", "10.2.0.2/24") })
	rt.builderFails(t, "ConnectBridges", func() { topo.ConnectBridges(br, ov.Underlay()) })
	rt.builderFails(t, "Fabric", func() { topo.Fabric() })
	rt.builderFails(t, "Partition", func() { topo.Partition([]*nstest.Host{h1}, []*nstest.Host{h2}) })
	rt.builderFails(t, "AddOverlay", func() { topo.AddOverlay("ov2", 43) })
	rt.builderFails(t, "CaptureAll", func() { topo.CaptureAll() })
	rt.builderFails(t, "Overlay.AddSite", func() { ov.AddSite("s2", "192.168.100.2/24") })
	rt.builderFails(t, "Site.Connect", func() { site.Connect(h2, "10.5.0.2/24") })
	_, err = site.MTU()
	closed("Site.MTU", err)

	// Host, for a host and for the fabric.
	for _, h := range []*nstest.Host{h1, fab} {
		name := h.Name()
		closed(name+".Do", h.Do(func() error { t.Errorf("Do ran fn in torn-down %s", name); return nil }))
		func() {
			defer func() {
				p := recover()
				err, ok := p.(error)
				if assert.True(t, ok, "InNS on torn-down %s: want a panic with an error, got %#v", name, p) {
					closed(name+".InNS (panic)", err)
					assert.Contains(t, err.Error(), strconv.Quote(name), "InNS's panic does not name the host")
				}
			}()
			h.InNS(func() { t.Errorf("InNS ran fn in torn-down %s", name) })
		}()
		_, err = h.Dial("tcp", "10.0.0.2:80")
		closed(name+".Dial", err)
		_, err = h.DialContext(ctx, "udp", "10.0.0.2:80")
		closed(name+".DialContext", err)
		_, err = h.Listen("tcp", ":0")
		closed(name+".Listen", err)
		_, err = h.ListenPacket("udp", ":0")
		closed(name+".ListenPacket", err)
		_, err = h.Ping(ctx, "10.0.0.2")
		closed(name+".Ping", err)
		closed(name+".SetSysctl", h.SetSysctl("net.ipv4.ip_forward", "1"))
		_, err = h.Sysctl("net.ipv4.ip_forward")
		closed(name+".Sysctl", err)
		closed(name+".Firewall", h.Firewall(drop))
		closed(name+".FlushFirewall", h.FlushFirewall())
		closed(name+".Masquerade", h.Masquerade("eth0", ""))
		closed(name+".ForwardPort", h.ForwardPort("tcp", 80, "10.0.0.2:8080", ""))
		closed(name+".ClampMSS", h.ClampMSS(""))
		_, err = h.FirewallRules()
		closed(name+".FirewallRules", err)
		_, err = h.NSPath()
		closed(name+".NSPath", err)
		_, err = h.NSFile()
		closed(name+".NSFile", err)
		rt.builderFails(t, name+".Capture", func() { h.Capture("lo") })
	}
	closed("Host.AddRoute", h1.AddRoute("10.9.0.0/16", "10.0.0.2"))
	closed("Host.AddRoute default", h2.AddRoute("default", "10.0.0.1"))

	// Bridge.
	closed("Bridge.AddAddr", br.AddAddr("10.0.0.254/24"))
	_, err = br.Ports()
	closed("Bridge.Ports", err)

	// Interface: a host's end, a bridge port, a direct link's end.
	for _, i := range []*nstest.Interface{i1, port, l1} {
		name := i.String()
		closed(name+".AddAddr", i.AddAddr("10.0.0.77/24"))
		if as := i.Addrs(); len(as) > 0 {
			closed(name+".DelAddr", i.DelAddr(as[0].String()))
		}
		closed(name+".SetDown", i.SetDown())
		closed(name+".SetUp", i.SetUp())
		closed(name+".SetMTU", i.SetMTU(1280))
		_, err = i.MTU()
		closed(name+".MTU", err)
		_, _, err = i.LinkState()
		closed(name+".LinkState", err)
		closed(name+".Impair loss", i.Impair(nstest.Impairment{Loss: 50}))
		closed(name+".Impair rate", i.Impair(nstest.Impairment{Rate: 1_000_000}))
		closed(name+".Impair reset", i.Impair(nstest.Impairment{}))
		rt.builderFails(t, name+".Capture", func() { i.Capture() })
		closed(name+".SetVLAN", i.SetVLAN(10))
		closed(name+".RemoveVLAN", i.RemoveVLAN(10))
		_, err = i.VLANs()
		closed(name+".VLANs", err)
		rt.builderFails(t, name+".Flap", func() { i.Flap(ctx, 1, 1) })
	}
	closed("Interface.SetMaster", port.SetMaster(br))
	closed("Interface.MoveTo", i2.MoveTo(h1))
	closed("Interface.Peer().Delete", i2.Peer().Delete())
	closed("Interface.Delete", l1.Delete())

	after := sandboxState(t)
	assert.Empty(t, rootcheck.Diff(before, after), "calls on the torn-down topology changed the caller's namespace")
}

// TestTornDownHostCannotReachTheNextTopology tears topology A down, builds
// topology B until one of B's namespaces has the descriptor number one of
// A's hosts had, then calls that host's methods that act through the
// namespace (Firewall, Masquerade, Impair's loss fallback, Partition,
// NSPath): each must fail with ErrClosed, and B must be unchanged. It runs
// sandboxed too, for what would fall back to the caller's namespace.
func TestTornDownHostCannotReachTheNextTopology(t *testing.T) {
	if !sandboxed(t) {
		return
	}
	rt := &recTB{TB: t}
	a := nstest.New(rt)
	hosts := []*nstest.Host{a.AddHost("a1"), a.AddHost("a2"), a.AddHost("a3")}
	a1i, _ := a.Link(hosts[0], hosts[1], "10.7.0.1/24", "10.7.0.2/24")
	// The descriptor numbers of A's namespaces, from the paths they had.
	old := map[int]*nstest.Host{}
	for _, h := range append(hosts, a.Fabric()) {
		p, err := h.NSPath()
		require.NoError(t, err)
		fd, err := strconv.Atoi(p[strings.LastIndex(p, "/")+1:])
		require.NoError(t, err)
		old[fd] = h
	}
	rt.teardown()

	b := nstest.New(t)
	br := b.AddBridge("br1")
	var bHosts []*nstest.Host
	var victim, reused *nstest.Host // a host of A, and the host of B whose namespace has its old number
	for n := 0; victim == nil && n < 16; n++ {
		h := b.AddHost(fmt.Sprintf("b%d", n))
		b.Connect(h, br, fmt.Sprintf("10.7.0.%d/24", n+1))
		bHosts = append(bHosts, h)
		for fd, ah := range old {
			for _, bh := range append(bHosts, b.Fabric()) {
				if sameNS(t, fd, bh) {
					victim, reused = ah, bh
				}
			}
		}
	}
	if victim == nil {
		// No namespace of B happened to get one of A's old numbers (the
		// spare namespaces or other sockets took them): give one to B's
		// first host by hand, on a number nothing holds now, which is the
		// same situation.
		for fd, ah := range old {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
				continue // in use by something else of this process
			}
			f, err := bHosts[0].NSFile()
			require.NoError(t, err)
			require.NoError(t, unix.Dup3(int(f.Fd()), fd, unix.O_CLOEXEC))
			f.Close()
			t.Cleanup(func() { unix.Close(fd) })
			victim, reused = ah, bHosts[0]
			break
		}
	}
	require.NotNil(t, victim, "every descriptor number of A is in use by something else: the case cannot be set up")
	t.Logf("host %s of the torn-down topology had the descriptor number of %s's namespace in B", victim.Name(), reused.Name())
	// A rule of B's own there, which a FlushFirewall reaching B would remove.
	require.NoError(t, reused.Firewall(firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "udp", DstPort: 9}))

	state := func() string {
		var b2 strings.Builder
		for _, h := range append(bHosts, b.Fabric()) {
			rules, err := h.FirewallRules()
			require.NoError(t, err)
			var links []string
			require.NoError(t, h.Do(func() error {
				ls, err := netlink.LinkList()
				for _, l := range ls {
					links = append(links, fmt.Sprintf("%d %s %v mtu %d", l.Attrs().Index, l.Attrs().Name, l.Attrs().Flags, l.Attrs().MTU))
				}
				return err
			}))
			fmt.Fprintf(&b2, "== %s\n%s\n%s\n", h.Name(), strings.Join(links, "\n"), rules)
		}
		return b2.String()
	}
	before := state()

	closed := func(what string, err error) {
		t.Helper()
		assert.True(t, errors.Is(err, nstest.ErrClosed), "%s of torn-down %s: got %v, want an error wrapping ErrClosed", what, victim.Name(), err)
	}
	closed("Firewall", victim.Firewall(firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp"}))
	closed("Masquerade", victim.Masquerade("eth0", ""))
	closed("FlushFirewall", victim.FlushFirewall())
	_, err := victim.NSPath()
	closed("NSPath", err)
	for _, i := range victim.Interfaces() {
		closed("Impair loss", i.Impair(nstest.Impairment{Loss: 100}))
	}
	closed("Impair loss of a1", a1i.Impair(nstest.Impairment{Loss: 100}))
	rt.builderFails(t, "Partition", func() { a.Partition(hosts[:1], hosts[1:]) })

	assert.Equal(t, before, state(), "calls on the torn-down topology changed the next one")
}

// sameNS reports whether descriptor fd of this process is host h's
// namespace.
func sameNS(t *testing.T, fd int, h *nstest.Host) bool {
	t.Helper()
	f, err := h.NSFile()
	require.NoError(t, err)
	defer f.Close()
	var a, b syscall.Stat_t
	if syscall.Fstat(fd, &a) != nil {
		return false
	}
	require.NoError(t, syscall.Fstat(int(f.Fd()), &b))
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// TestSocketMadeDuringTeardownIsClosed: a socket that Dial, Listen or
// ListenPacket makes while the host is being torn down (a goroutine that
// outlives its test) is closed, and the call says the host is closed,
// instead of the socket holding the host's namespace until the process ends.
func TestSocketMadeDuringTeardownIsClosed(t *testing.T) {
	var made io.Closer
	nstest.OnTrack(func(h *nstest.Host, c io.Closer) {
		made = c
		nstest.TearDown(h.Topology())
	})
	defer nstest.OnTrack(nil)
	topo := nstest.New(t)
	h := topo.AddHost("h1")
	pc, err := h.ListenPacket("udp", "127.0.0.1:0")
	require.ErrorIs(t, err, nstest.ErrClosed)
	assert.Nil(t, pc)
	require.NotNil(t, made)
	_, err = made.(net.PacketConn).WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
	assert.ErrorIs(t, err, net.ErrClosed, "the socket made during the teardown is still open")
}
