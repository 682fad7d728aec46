package fastnl

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Bridge port states (BR_STATE_*), as IFLA_BRPORT_STATE reports them.
const (
	PortDisabled   = 0
	PortListening  = 1
	PortLearning   = 2
	PortForwarding = 3
	PortBlocking   = 4
)

// Settling reports whether a bridge port is on its way to forwarding under
// STP: listening or learning, each for the bridge's forward delay.
func (ls LinkState) Settling() bool {
	return ls.PortState == PortListening || ls.PortState == PortLearning
}

// portState finds IFLA_BRPORT_STATE in a link's IFLA_LINKINFO (inside
// IFLA_INFO_SLAVE_DATA, when the link is a bridge port) or, with linkinfo
// false, in its IFLA_PROTINFO.
func portState(b []byte, linkinfo bool) uint8 {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return 0
	}
	if linkinfo {
		for _, a := range attrs {
			if a.Attr.Type&nl.NLA_TYPE_MASK == nl.IFLA_INFO_SLAVE_DATA {
				return portState(a.Value, false)
			}
		}
		return 0
	}
	for _, a := range attrs {
		if a.Attr.Type&nl.NLA_TYPE_MASK == nl.IFLA_BRPORT_STATE && len(a.Value) > 0 {
			return a.Value[0]
		}
	}
	return 0
}

// SetBridge changes attributes (IFLA_BR_*) of the bridge with the given
// index.
func SetBridge(index int, data ...*nl.RtAttr) *Request {
	m := nl.NewIfInfomsg(unix.AF_UNSPEC)
	m.Index = int32(index)
	r := newRequest(unix.RTM_NEWLINK, 0, m)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	d := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	for _, at := range data {
		d.AddChild(at)
	}
	r.req.AddData(info)
	return r
}

// SetBridgePort changes attributes (IFLA_BRPORT_*) of the bridge port with
// the given index, all in one message.
func SetBridgePort(index int, attrs ...*nl.RtAttr) *Request {
	m := nl.NewIfInfomsg(unix.AF_BRIDGE)
	m.Index = int32(index)
	r := newRequest(unix.RTM_SETLINK, 0, m)
	p := nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)
	for _, at := range attrs {
		p.AddChild(at)
	}
	r.req.AddData(p)
	return r
}

// LinkInfo is what a link's IFLA_LINKINFO says: its kind and attributes
// (IFLA_BR_* for a bridge) and, for a port of a master device, the master's
// kind and the port's attributes (IFLA_BRPORT_* for a bridge port). Values
// are raw, in host byte order as the kernel sends them.
type LinkInfo struct {
	Index, Master int
	Kind          string
	Data          map[uint16][]byte
	SlaveKind     string
	SlaveData     map[uint16][]byte
}

// Uint8 returns attribute t of m as a byte, and whether it is there.
func Uint8(m map[uint16][]byte, t uint16) (uint8, bool) {
	v, ok := m[t]
	if !ok || len(v) < 1 {
		return 0, false
	}
	return v[0], true
}

// Uint32 returns attribute t of m as a 32-bit number, and whether it is
// there.
func Uint32(m map[uint16][]byte, t uint16) (uint32, bool) {
	v, ok := m[t]
	if !ok || len(v) < 4 {
		return 0, false
	}
	return nl.NativeEndian().Uint32(v), true
}

// LinkInfo returns the IFLA_LINKINFO of the link with the given index.
func (c *Conn) LinkInfo(index int) (LinkInfo, error) {
	var li LinkInfo
	var perr error
	found := false
	err := c.getLink(index, func(b []byte) bool {
		li, perr = parseLinkInfo(b)
		found = true
		return true
	})
	if err != nil {
		return LinkInfo{}, err
	}
	if !found {
		return LinkInfo{}, fmt.Errorf("get link %d: no such link", index)
	}
	return li, perr
}

func parseLinkInfo(b []byte) (LinkInfo, error) {
	if len(b) < unix.SizeofIfInfomsg {
		return LinkInfo{}, errors.New("short link message")
	}
	li := LinkInfo{Index: int(nl.DeserializeIfInfomsg(b).Index)}
	attrs, err := nl.ParseRouteAttr(b[unix.SizeofIfInfomsg:])
	if err != nil {
		return li, fmt.Errorf("link %d: %w", li.Index, err)
	}
	for _, a := range attrs {
		switch a.Attr.Type & nl.NLA_TYPE_MASK {
		case unix.IFLA_MASTER:
			if len(a.Value) >= 4 {
				li.Master = int(nl.NativeEndian().Uint32(a.Value))
			}
		case unix.IFLA_LINKINFO:
			info, err := nl.ParseRouteAttr(a.Value)
			if err != nil {
				return li, fmt.Errorf("link %d: linkinfo: %w", li.Index, err)
			}
			for _, x := range info {
				switch x.Attr.Type & nl.NLA_TYPE_MASK {
				case nl.IFLA_INFO_KIND:
					li.Kind = string(trimNUL(x.Value))
				case nl.IFLA_INFO_SLAVE_KIND:
					li.SlaveKind = string(trimNUL(x.Value))
				case nl.IFLA_INFO_DATA:
					li.Data = attrMap(x.Value)
				case nl.IFLA_INFO_SLAVE_DATA:
					li.SlaveData = attrMap(x.Value)
				}
			}
		}
	}
	return li, nil
}

func attrMap(b []byte) map[uint16][]byte {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return nil
	}
	m := make(map[uint16][]byte, len(attrs))
	for _, a := range attrs {
		m[a.Attr.Type&nl.NLA_TYPE_MASK] = a.Value
	}
	return m
}
