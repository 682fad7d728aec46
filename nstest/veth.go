package nstest

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Veth pairs are made with one RTM_NEWLINK request of our own, because it
// carries what the netlink library's cannot: an interface index chosen for
// each end, the master bridge, and both ends up at once.
//
// The chosen indexes matter. The kernel's link-watch code handles a carrier
// change at once only for a device whose index differs from its peer's
// ("stacked" devices); otherwise it batches the event for up to a second, and
// until then the device's queue is inactive and a bridge port is not
// forwarding. Two fresh namespaces both number their first veth 2, so
// without care a direct link comes up a second late. Indexes here come from a
// counter shared by the topology, so the two ends always differ.

// firstIndex is above the indexes the kernel hands out in a young namespace
// (lo, bridges); a clash is retried with the next number.
const firstIndex = 1000

type vethEnd struct {
	host  *Host
	name  string
	index int // filled in
}

type vethSpec struct {
	a, b   vethEnd
	mtu    int
	master int // bridge index in a's namespace, or 0
}

// rawSocket returns the host's socket for requests the netlink library
// cannot make, opening it in the host's namespace on first use.
func (h *Host) rawSocket() (*nl.SocketHandle, error) {
	h.rawOnce.Do(func() {
		h.rawErr = h.ns.Do(func() error {
			s, err := nl.Subscribe(unix.NETLINK_ROUTE)
			if err == nil {
				h.raw = &nl.SocketHandle{Socket: s}
			}
			return err
		})
	})
	return h.raw, h.rawErr
}

// nextIndexPair reserves two interface indexes.
func (t *Topology) nextIndexPair() (int, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nextIndex == 0 {
		t.nextIndex = firstIndex
	}
	i := t.nextIndex
	t.nextIndex += 2
	return i, i + 1
}

// addVeth creates the pair described by v, both ends up, and fills in their
// indexes.
func (t *Topology) addVeth(v *vethSpec) error {
	sock, err := v.a.host.rawSocket()
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		ai, bi := t.nextIndexPair()
		err := sendVeth(sock, v, ai, bi)
		if errors.Is(err, unix.EBUSY) && try < 8 {
			continue // an index the kernel gave to something else: take the next
		}
		if err != nil {
			return err
		}
		v.a.index, v.b.index = ai, bi
		if err := v.b.host.nl.LinkSetUp(vethLink(v.b)); err != nil {
			v.a.host.nl.LinkDel(vethLink(v.a))
			return fmt.Errorf("set %s up: %w", v.b.name, err)
		}
		return nil
	}
}

func vethLink(e vethEnd) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: e.name, Index: e.index}}
}

func sendVeth(sock *nl.SocketHandle, v *vethSpec, ai, bi int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: sock}
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(ai)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(v.a.name)))
	if v.mtu > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(v.mtu))))
	}
	if v.master > 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(v.master))))
	}
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(nl.VETH_INFO_PEER, nil)
	pm := nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	pm.Index = int32(bi)
	// The peer cannot be created up: veth_open refuses (ENOTCONN) until
	// both ends exist. addVeth sets it up afterwards.
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(v.b.name))
	if v.mtu > 0 {
		peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(v.mtu)))
	}
	if v.b.host != v.a.host {
		peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(v.b.host.ns.Fd())))
	}
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}
