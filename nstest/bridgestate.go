package nstest

import (
	"fmt"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/nstest/harness/internal/fastnl"
)

// writeLinuxState prints a Linux bridge's settings, its ports with their
// state and flags, and its forwarding database, for WriteState.
func (br *Bridge) writeLinuxState(b *strings.Builder) {
	h := br.host
	var (
		info  fastnl.LinkInfo
		links []netlink.Link
	)
	err := h.use(func() (err error) {
		if info, err = h.fnl.LinkInfo(br.index); err != nil {
			return err
		}
		links, err = h.nl.LinkList()
		return err
	})
	p := section(b, "  bridge "+br.name)
	if err != nil {
		p("(cannot read: %v)", err)
		return
	}
	p("%s", bridgeSettingsText(info.Data))
	for _, l := range links {
		if l.Attrs().MasterIndex != br.index {
			continue
		}
		i := h.ifaceByIndex(l.Attrs().Index)
		if i == nil {
			i = &Interface{host: h, name: l.Attrs().Name, index: l.Attrs().Index}
		}
		pi, err := i.BridgePort()
		if err != nil {
			p("port %s: (cannot read: %v)", l.Attrs().Name, err)
			continue
		}
		peer := ""
		if i.peer != nil {
			peer = " (to " + i.peer.String() + ")"
		}
		p("port %s%s: %s, learning %s, flood %s, mcast_flood %s, bcast_flood %s", l.Attrs().Name, peer,
			pi.State, onOff(pi.Learning), onOff(pi.UnicastFlood), onOff(pi.MulticastFlood), onOff(pi.BroadcastFlood))
	}
	es, err := br.FDB()
	if err != nil {
		p("fdb: (cannot list: %v)", err)
		return
	}
	for _, e := range es {
		p("fdb %s", e)
	}
}

// bridgeSettingsText describes a bridge's IFLA_BR_* attributes as `ip -d
// link` would: "stp off, forward delay 15s, ageing time 5m0s, multicast
// snooping on".
func bridgeSettingsText(data map[uint16][]byte) string {
	var parts []string
	if v, ok := fastnl.Uint32(data, nl.IFLA_BR_STP_STATE); ok {
		parts = append(parts, "stp "+onOff(v != 0))
	}
	if v, ok := fastnl.Uint32(data, nl.IFLA_BR_FORWARD_DELAY); ok {
		parts = append(parts, fmt.Sprintf("forward delay %v", time.Duration(v)*tick))
	}
	if v, ok := fastnl.Uint32(data, nl.IFLA_BR_AGEING_TIME); ok {
		parts = append(parts, fmt.Sprintf("ageing time %v", time.Duration(v)*tick))
	}
	if v, ok := fastnl.Uint8(data, nl.IFLA_BR_MCAST_SNOOPING); ok {
		parts = append(parts, "multicast snooping "+onOff(v != 0))
	}
	if v, ok := fastnl.Uint8(data, nl.IFLA_BR_VLAN_FILTERING); ok && v != 0 {
		parts = append(parts, "vlan filtering on")
	}
	return strings.Join(parts, ", ")
}
