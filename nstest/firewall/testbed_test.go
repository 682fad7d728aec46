package firewall_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nstest/harness/internal/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// node is a namespace with loopback up and a netlink handle bound to it.
type node struct {
	ns *ns.NS
	h  *netlink.Handle
}

func newNode(t *testing.T) *node {
	t.Helper()
	n, err := ns.New()
	if err != nil {
		t.Skipf("cannot create a network namespace (needs CAP_SYS_ADMIN and CAP_NET_ADMIN; run as root): %v", err)
	}
	t.Cleanup(func() { n.Close() })
	// No duplicate address detection on the links to come: IPv6 is usable
	// as soon as they are up.
	err = n.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/default/accept_dad", []byte("0"), 0)
	})
	if err != nil {
		t.Fatalf("accept_dad: %v", err)
	}
	h, err := n.NetlinkHandle()
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	return &node{ns: n, h: h}
}

func (n *node) fd() int { return n.ns.Fd() }

// link joins a and b with a veth pair named aName/bName and gives each end
// its addresses (CIDRs, IPv6 without duplicate address detection).
func link(t *testing.T, a *node, aName string, aAddrs []string, b *node, bName string, bAddrs []string) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: aName}, PeerName: bName, PeerNamespace: netlink.NsFd(b.fd())}
	if err := a.h.LinkAdd(veth); err != nil {
		t.Fatalf("veth %s/%s: %v", aName, bName, err)
	}
	a.configure(t, aName, aAddrs)
	b.configure(t, bName, bAddrs)
}

func (n *node) configure(t *testing.T, name string, addrs []string) {
	t.Helper()
	l, err := n.h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range addrs {
		a, err := netlink.ParseAddr(s)
		if err != nil {
			t.Fatal(err)
		}
		if a.IP.To4() == nil {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := n.h.AddrAdd(l, a); err != nil {
			t.Fatalf("address %s on %s: %v", s, name, err)
		}
	}
	if err := n.h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
}

func (n *node) defaultRoute(t *testing.T, gw string) {
	t.Helper()
	if err := n.h.RouteAdd(&netlink.Route{Gw: net.ParseIP(gw)}); err != nil {
		t.Fatalf("default route via %s: %v", gw, err)
	}
}

// forward turns on IPv4 forwarding: /proc/sys/net belongs to the namespace
// of the thread that opens it.
func (n *node) forward(t *testing.T) {
	t.Helper()
	err := n.ns.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
	})
	if err != nil {
		t.Fatalf("ip_forward: %v", err)
	}
}

func (n *node) dial(network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.ns.Do(func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		c, err = d.Dial(network, addr)
		return err
	})
	return c, err
}

func (n *node) listen(t *testing.T, network, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	err := n.ns.Do(func() (err error) { l, err = net.Listen(network, addr); return err })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func (n *node) listenPacket(t *testing.T, network, addr string) net.PacketConn {
	t.Helper()
	var l net.PacketConn
	err := n.ns.Do(func() (err error) { l, err = net.ListenPacket(network, addr); return err })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// ping runs the system ping once inside n and reports whether a reply came
// within wait seconds. The very first IPv6 packet on a fresh link can take a
// second (a neighbour solicitation retransmit), so checks that expect a reply
// wait longer than checks that expect none.
func (n *node) ping(t *testing.T, dst string, wait int) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nsPath := "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(n.fd())
	out, err := exec.CommandContext(ctx, "nsenter", "--net="+nsPath, "ping", "-n", "-c", "1", "-W", strconv.Itoa(wait), dst).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("ping %s: %v", dst, err)
		}
		t.Logf("ping %s: %v\n%s", dst, err, out)
		return false
	}
	return strings.Contains(string(out), "1 received")
}

// accept waits for one connection and returns it.
func accept(t *testing.T, l net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(ch)
			return
		}
		t.Cleanup(func() { c.Close() })
		ch <- c
	}()
	return ch
}
