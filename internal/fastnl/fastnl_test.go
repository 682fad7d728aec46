package fastnl_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"go.uber.org/goleak"

	"github.com/nstest/harness/internal/fastnl"
	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/internal/rootcheck"
	"github.com/nstest/harness/internal/rootless"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(rootcheck.Tests(m.Run))
}

// space is a namespace with a fastnl connection and a netlink handle.
type space struct {
	n *ns.NS
	c *fastnl.Conn
	h *netlink.Handle
}

func newSpace(t *testing.T) *space {
	t.Helper()
	if err := rootless.Probe(); err != nil {
		t.Skipf("needs CAP_NET_ADMIN to build network namespaces: %v", err)
	}
	n, err := ns.New()
	if err != nil {
		t.Fatal(err)
	}
	s := &space{n: n}
	if err := n.Do(func() (err error) { s.c, err = fastnl.Open(); return err }); err != nil {
		t.Fatal(err)
	}
	if s.h, err = n.NetlinkHandle(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.h.Close(); s.c.Close(); n.Close() })
	return s
}

func (s *space) sysctl(t *testing.T, key string) string {
	t.Helper()
	var v string
	err := s.n.Do(func() error {
		b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		v = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAddVethConfiguresBothEndsInOneMessage(t *testing.T) {
	fab, host := newSpace(t), newSpace(t)
	if err := fab.n.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/default/addr_gen_mode", []byte("1"), 0)
	}); err != nil {
		t.Fatal(err)
	}
	if err := fab.c.Do(fastnl.AddBridge(fastnl.Bridge{Name: "br0", Index: 10, Up: true, NoSnooping: true})); err != nil {
		t.Fatalf("add bridge: %v", err)
	}
	err := fab.c.Do(fastnl.AddVeth(
		fastnl.End{Name: "port0", Index: 20, Master: 10, Up: true},
		fastnl.End{Name: "eth0", Index: 30, NSFd: host.n.Fd(), MTU: 1400},
	))
	if err != nil {
		t.Fatalf("add veth: %v", err)
	}
	err = host.c.Do(
		fastnl.SetAddrGenMode(30, nl.IN6_ADDR_GEN_MODE_NONE),
		fastnl.AddAddr(30, netip.MustParsePrefix("10.1.2.3/24"), 0),
		fastnl.SetUp(30),
	)
	if err != nil {
		t.Fatalf("configure eth0: %v", err)
	}
	port, err := fab.h.LinkByName("port0")
	if err != nil {
		t.Fatal(err)
	}
	if a := port.Attrs(); a.Index != 20 || a.MasterIndex != 10 || a.Flags&unix.IFF_UP == 0 {
		t.Errorf("port0: index %d master %d flags %v, want index 20, master 10, up", a.Index, a.MasterIndex, a.Flags)
	}
	eth, err := host.h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if a := eth.Attrs(); a.Index != 30 || a.Flags&unix.IFF_UP == 0 || a.MTU != 1400 {
		t.Errorf("eth0: index %d flags %v mtu %d, want index 30, up, mtu 1400", a.Index, a.Flags, a.MTU)
	}
	addrs, err := host.h.AddrList(eth, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != "10.1.2.3/24" || addrs[0].Broadcast.String() != "10.1.2.255" {
		t.Errorf("eth0 addresses %v (%v), want 10.1.2.3/24 brd 10.1.2.255", addrs, err)
	}
	if v := host.sysctl(t, "net.ipv6.conf.eth0.addr_gen_mode"); v != "1" {
		t.Errorf("eth0 addr_gen_mode %s, want 1 (none)", v)
	}
	if v := fab.sysctl(t, "net.ipv6.conf.port0.addr_gen_mode"); v != "1" {
		t.Errorf("port0 addr_gen_mode %s, want 1 (none)", v)
	}
	if v := fab.sysctl(t, "net.ipv6.conf.br0.addr_gen_mode"); v != "1" {
		t.Errorf("br0 addr_gen_mode %s, want 1 (none)", v)
	}
	br, err := fab.h.LinkByName("br0")
	if err != nil {
		t.Fatal(err)
	}
	if s := br.(*netlink.Bridge).MulticastSnooping; s == nil || *s {
		t.Errorf("br0 multicast snooping %v, want off", s)
	}
	// Operationally up soon after: both ends are up and the port forwards.
	host.waitLink(t, 30, func(l netlink.Link) bool { return l.Attrs().OperState == netlink.OperUp }, "eth0 operationally up")
}

// hangGuard bounds waits for kernel events: only a broken kernel or test
// reaches it, never a slow machine.
const hangGuard = time.Minute

// waitLink waits until the link index of s is in the state cond wants, as
// the kernel reports it: its state now, then every change.
func (s *space) waitLink(t *testing.T, index int, cond func(netlink.Link) bool, what string) {
	t.Helper()
	ch, done := make(chan netlink.LinkUpdate, 64), make(chan struct{})
	defer close(done)
	if err := s.n.Do(func() error {
		return netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{ListExisting: true})
	}); err != nil {
		t.Fatal(err)
	}
	guard := time.NewTimer(hangGuard)
	defer guard.Stop()
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatalf("waiting for %s: link updates ended", what)
			}
			if int(u.Index) == index && u.Header.Type == unix.RTM_NEWLINK && cond(u.Link) {
				return
			}
		case <-guard.C:
			t.Fatalf("no %s after %v", what, hangGuard)
		}
	}
}

// waitAddr waits until link index of s has an address that cond wants, as
// the kernel reports it: its addresses now, then every new one.
func (s *space) waitAddr(t *testing.T, index int, cond func(net.IPNet) bool, what string) {
	t.Helper()
	ch, done := make(chan netlink.AddrUpdate, 64), make(chan struct{})
	defer close(done)
	if err := s.n.Do(func() error {
		return netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{ListExisting: true})
	}); err != nil {
		t.Fatal(err)
	}
	guard := time.NewTimer(hangGuard)
	defer guard.Stop()
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatalf("waiting for %s: address updates ended", what)
			}
			if u.LinkIndex == index && u.NewAddr && cond(u.LinkAddress) {
				return
			}
		case <-guard.C:
			t.Fatalf("no %s after %v", what, hangGuard)
		}
	}
}

func TestNoLinkLocalUntilModeChanges(t *testing.T) {
	a, b := newSpace(t), newSpace(t)
	err := a.c.Do(fastnl.AddVeth(fastnl.End{Name: "eth0", Index: 2, Up: true}, fastnl.End{Name: "eth0", Index: 2, NSFd: b.n.Fd()}))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.c.Do(fastnl.SetAddrGenMode(2, nl.IN6_ADDR_GEN_MODE_NONE), fastnl.SetUp(2)); err != nil {
		t.Fatal(err)
	}
	ll := func(s *space) []netlink.Addr {
		l, err := s.h.LinkByIndex(2)
		if err != nil {
			t.Fatal(err)
		}
		as, err := s.h.AddrList(l, netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		return as
	}
	// a's end generates a link-local address once the carrier is up; b's,
	// up as long, has none.
	a.waitAddr(t, 2, func(a net.IPNet) bool { return a.IP.IsLinkLocalUnicast() }, "link-local address on a's eth0")
	if as := ll(b); len(as) != 0 {
		t.Fatalf("the end with addr_gen_mode none has %v", as)
	}
	// Switching the mode through the device's sysctl makes the address.
	if err := b.n.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/eth0/addr_gen_mode", []byte("0"), 0)
	}); err != nil {
		t.Fatal(err)
	}
	as := ll(b)
	if len(as) != 1 || !as[0].IP.IsLinkLocalUnicast() {
		t.Fatalf("after addr_gen_mode 0: addresses %v, want one link-local", as)
	}
}

func TestPeerCannotBeUpInCreation(t *testing.T) {
	a, b := newSpace(t), newSpace(t)
	err := a.c.Do(fastnl.AddVeth(fastnl.End{Name: "eth0"}, fastnl.End{Name: "eth0", NSFd: b.n.Fd(), Up: true}))
	if !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("veth with its peer up in the creation message: %v; fastnl.End documents ENOTCONN", err)
	}
}

func TestErrorsCarryErrnoAndKernelMessage(t *testing.T) {
	s := newSpace(t)
	errs, err := s.c.Exec(
		fastnl.SetUp(1),
		fastnl.SetUp(999),
		fastnl.AddAddr(999, netip.MustParsePrefix("10.0.0.1/8"), 0),
	)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil {
		t.Errorf("set lo up: %v", errs[0])
	}
	if !errors.Is(errs[1], unix.ENODEV) {
		t.Errorf("set link 999 up: %v, want ENODEV", errs[1])
	}
	if errs[2] == nil {
		t.Errorf("address on link 999: no error")
	}
	ls, err := s.c.Links()
	if err != nil || len(ls) != 1 || ls[0].Index != 1 || !ls[0].Up {
		t.Errorf("links %v (%v), want lo up", ls, err)
	}
}

// More requests than the socket's receive buffer has room to acknowledge at
// once all get their answer: Exec sends them in batches.
func TestExecMoreRequestsThanTheBufferHolds(t *testing.T) {
	s := newSpace(t)
	reqs := make([]*fastnl.Request, 2000)
	for k := range reqs {
		reqs[k] = fastnl.SetUp(1)
	}
	reqs[1500] = fastnl.SetUp(999)
	errs, err := s.c.Exec(reqs...)
	if err != nil {
		t.Fatal(err)
	}
	for k, e := range errs {
		switch {
		case k < 1500 && e != nil:
			t.Fatalf("request %d: %v", k, e)
		case k == 1500 && !errors.Is(e, unix.ENODEV):
			t.Fatalf("request %d (link 999 up): %v, want ENODEV", k, e)
		case k > 1500 && e != nil && e != fastnl.ErrNotSent:
			t.Fatalf("request %d after the refusal: %v, want nil or ErrNotSent", k, e)
		}
	}
}

// When acknowledgements are lost, Exec says from which request on the
// outcome is unknown, and the answers before it are kept.
func TestExecLostAcknowledgements(t *testing.T) {
	s := newSpace(t)
	if err := s.c.SetReadBuffer(1); err != nil { // the kernel's minimum
		t.Fatal(err)
	}
	s.c.SetBatch(100)
	reqs := make([]*fastnl.Request, 100)
	for k := range reqs {
		reqs[k] = fastnl.SetUp(1)
	}
	errs, err := s.c.Exec(reqs...)
	var xerr *fastnl.ExchangeError
	if !errors.As(err, &xerr) || !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("Exec with a %d-request batch and a minimal buffer: %v, want an ExchangeError wrapping ENOBUFS", len(reqs), err)
	}
	if xerr.At < 1 || xerr.At >= len(reqs) {
		t.Fatalf("outcome unknown from request %d, want some acknowledged and some lost", xerr.At)
	}
	for k, e := range errs[:xerr.At] {
		if e != nil {
			t.Errorf("request %d, acknowledged: %v", k, e)
		}
	}
	// The socket still works, with batches bounded by its buffer again.
	s.c.SetBatch(0)
	if errs, err := s.c.Exec(reqs...); err != nil || errors.Join(errs...) != nil {
		t.Fatalf("after the loss: %v %v", err, errors.Join(errs...))
	}
}
