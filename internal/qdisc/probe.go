package qdisc

import (
	"errors"
	"fmt"
	"sync"

	"github.com/nstest/harness/internal/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var probe struct {
	sync.Mutex
	done, netem bool
}

// NetemSupported reports whether the kernel has the netem qdisc
// (CONFIG_NET_SCH_NETEM), by adding one to a veth in a throwaway anonymous
// namespace. The answer is cached; an error (no privilege to create the
// namespace, say) is not, and the next call probes again.
func NetemSupported() (bool, error) {
	probe.Lock()
	defer probe.Unlock()
	if probe.done {
		return probe.netem, nil
	}
	ok, err := probeNetem()
	if err != nil {
		return false, fmt.Errorf("probe for netem: %w", err)
	}
	probe.done, probe.netem = true, ok
	return ok, nil
}

func probeNetem() (bool, error) {
	n, err := ns.New()
	if err != nil {
		return false, err
	}
	defer n.Close()
	h, err := n.NetlinkHandle()
	if err != nil {
		return false, err
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}, PeerName: "probe1"}
	if err := h.LinkAdd(veth); err != nil {
		return false, fmt.Errorf("veth: %w", err)
	}
	link, err := h.LinkByName("probe0")
	if err != nil {
		return false, err
	}
	attrs := netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
	err = h.QdiscAdd(netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{Latency: 1000}))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP):
		return false, nil // "Specified qdisc kind is unknown"
	}
	return false, fmt.Errorf("add netem qdisc: %w", err)
}
