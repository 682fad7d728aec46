package ns

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetlinkHandle returns a vishvananda/netlink handle whose rtnetlink socket
// was opened by a thread inside n (through Do), so it acts on n whichever
// thread uses it. Use it instead of netlink.NewHandleAt, whose namespace
// switch ignores a failed switch back and unlocks the thread anyway, and
// which also opens XFRM and netfilter sockets (failing on kernels where
// xfrm_user cannot be loaded).
//
// The handle serves rtnetlink (links, addresses, routes, neighbours,
// qdiscs) only: a call for another netlink family would open a socket in the
// calling thread's namespace, and so would any call after Close.
func (n *NS) NetlinkHandle() (*netlink.Handle, error) {
	var h *netlink.Handle
	err := n.Do(func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink handle: %w", err)
	}
	return h, nil
}
