package nstest

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/nstest/firewall"
)

// WriteState writes, for every host, router and the fabric, what `ip -s
// link`, `ip addr`, `ip route show table all`, `ip neigh`, `tc qdisc`,
// `bridge vlan` and `nft list ruleset` would show there, plus the forwarding
// and rp_filter sysctls and, where there are bridges, their settings, ports
// and forwarding databases (`bridge -d link`, `bridge fdb`), as text for a
// person reading a failure. A section
// that cannot be read says why; WriteState returns only write errors.
func (t *Topology) WriteState(w io.Writer) error {
	if t.isClosed() {
		return fmt.Errorf("nstest: topology %q: write state: %w", t.name, ErrClosed)
	}
	return t.writeState(w, t.allHosts())
}

// allHosts returns the hosts and routers, then the fabric if there is one.
func (t *Topology) allHosts() []*Host {
	t.mu.Lock()
	defer t.mu.Unlock()
	hosts := append([]*Host(nil), t.hosts...)
	if t.fabric != nil {
		hosts = append(hosts, t.fabric)
	}
	return hosts
}

func (t *Topology) writeState(w io.Writer, hosts []*Host) error {
	var b strings.Builder
	fmt.Fprintf(&b, "topology %s\n", t.name)
	for _, h := range hosts {
		b.WriteString("\n")
		h.writeState(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// section starts a titled block and returns a function that prints a line
// of it, indented.
func section(b *strings.Builder, title string) func(format string, args ...any) {
	fmt.Fprintf(b, "%s:\n", title)
	return func(format string, args ...any) {
		fmt.Fprintf(b, "    "+format+"\n", args...)
	}
}

func (h *Host) writeState(b *strings.Builder) {
	fmt.Fprintf(b, "=== %s %s\n", h.kind, h.name)

	p := section(b, "  sysctls")
	var kv []string
	h.do(func() error {
		for _, k := range []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"} {
			v, err := readSysctl(k)
			if err != nil {
				v = "?"
			}
			kv = append(kv, k+"="+v)
		}
		return nil
	})
	p("%s", strings.Join(kv, " "))

	// One hold on the host's handles for every netlink listing.
	if err := h.use(func() error {
		links, err := h.nl.LinkList()
		names := map[int]string{}
		for _, l := range links {
			names[l.Attrs().Index] = l.Attrs().Name
		}
		ifName := func(index int) string {
			if n, ok := names[index]; ok {
				return n
			}
			return fmt.Sprintf("if%d", index)
		}
		p = section(b, "  links")
		if err != nil {
			p("(cannot list: %v)", err)
		}
		for _, l := range links {
			h.writeLink(p, l, ifName)
		}

		p = section(b, "  addresses")
		if addrs, err := h.nl.AddrList(nil, netlink.FAMILY_ALL); err != nil {
			p("(cannot list: %v)", err)
		} else {
			for _, a := range addrs {
				p("%s %s scope %s", ifName(a.LinkIndex), a.IPNet, scopeName(netlink.Scope(a.Scope)))
			}
		}

		p = section(b, "  routes (all tables)")
		if rs, err := h.nl.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE); err != nil {
			p("(cannot list: %v)", err)
		} else {
			// The main table first: it is the one people mean by "the routes".
			slices.SortStableFunc(rs, func(x, y netlink.Route) int { return tableRank(x.Table) - tableRank(y.Table) })
			for _, r := range rs {
				p("%s", formatRoute(r, ifName))
			}
		}

		p = section(b, "  neighbours")
		if ns, err := h.nl.NeighList(0, netlink.FAMILY_ALL); err != nil {
			p("(cannot list: %v)", err)
		} else {
			for _, n := range ns {
				if n.IP == nil || n.IP.IsMulticast() {
					continue
				}
				ll := ""
				if len(n.HardwareAddr) > 0 {
					ll = " lladdr " + n.HardwareAddr.String()
				}
				p("%s dev %s%s %s", n.IP, ifName(n.LinkIndex), ll, neighState(n.State))
			}
		}

		p = section(b, "  qdiscs")
		if qs, err := h.nl.QdiscList(nil); err != nil {
			p("(cannot list: %v)", err)
		} else {
			for _, q := range qs {
				p("%s", formatQdisc(q, ifName))
			}
		}

		// Bridge VLANs, where there are any: ports of VLAN-filtering bridges.
		if vs, err := h.nl.BridgeVlanList(); err == nil && len(vs) > 0 {
			p = section(b, "  bridge vlans")
			for _, i := range slices.Sorted(maps.Keys(vs)) {
				var parts []string
				for _, v := range vs[i] {
					s := fmt.Sprint(v.Vid)
					if v.PortVID() {
						s += " PVID"
					}
					if v.EngressUntag() {
						s += " untagged"
					}
					parts = append(parts, s)
				}
				p("%s: %s", ifName(int(i)), strings.Join(parts, ", "))
			}
		}

		return nil
	}); err != nil {
		p("(cannot list: %v)", err)
	}

	p = section(b, "  nftables")
	if s, err := firewall.Dump(hostNS{h}); err != nil {
		p("(cannot list: %v)", err)
	} else {
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			p("%s", strings.ReplaceAll(l, "\t", "    "))
		}
	}

	for _, br := range h.Bridges() {
		if br.ovs != nil {
			br.writeOVSState(b)
		} else {
			br.writeLinuxState(b)
		}
	}
}

// writeOVSState prints an Open vSwitch bridge's OpenFlow ports and flows
// with their counters, as ovs-ofctl show and dump-flows would.
func (br *Bridge) writeOVSState(b *strings.Builder) {
	p := section(b, fmt.Sprintf("  openvswitch bridge %s (datapath %s)", br.name, br.ovs.datapath))
	if ports, err := br.ovsPorts(); err != nil {
		p("ports: (cannot list: %v)", err)
	} else {
		p("ports: %s", strings.Join(ports, " "))
	}
	flows, err := br.Flows()
	if err != nil {
		p("flows: (cannot list: %v)", err)
	}
	for _, f := range flows {
		p("%s", f)
	}
}

// writeLink prints one link as `ip -s link` would, briefly, naming the other
// end of a veth pair of the topology.
func (h *Host) writeLink(p func(string, ...any), l netlink.Link, ifName func(int) string) {
	a := l.Attrs()
	flags := strings.ToUpper(strings.ReplaceAll(a.Flags.String(), "|", ","))
	s := fmt.Sprintf("%d: %s %s <%s> mtu %d state %s", a.Index, a.Name, l.Type(), flags, a.MTU, strings.ToUpper(a.OperState.String()))
	if a.MasterIndex != 0 {
		s += " master " + ifName(a.MasterIndex)
	}
	if len(a.HardwareAddr) > 0 {
		s += " mac " + a.HardwareAddr.String()
	}
	if i := h.ifaceByIndex(a.Index); i != nil && i.peer != nil {
		s += " peer " + i.peer.String()
	}
	p("%s", s)
	if st := a.Statistics; st != nil {
		p("    rx %d packets %d bytes %d dropped %d errors; tx %d packets %d bytes %d dropped %d errors",
			st.RxPackets, st.RxBytes, st.RxDropped, st.RxErrors, st.TxPackets, st.TxBytes, st.TxDropped, st.TxErrors)
	}
}

func (h *Host) ifaceByIndex(index int) *Interface {
	for _, i := range h.Interfaces() {
		if i.index == index {
			return i
		}
	}
	return nil
}

func tableRank(t int) int {
	switch t {
	case unix.RT_TABLE_MAIN:
		return 0
	case unix.RT_TABLE_LOCAL:
		return 2
	}
	return 1
}

func tableName(t int) string {
	switch t {
	case unix.RT_TABLE_MAIN:
		return "main"
	case unix.RT_TABLE_LOCAL:
		return "local"
	case unix.RT_TABLE_DEFAULT:
		return "default"
	}
	return fmt.Sprint(t)
}

var routeTypes = map[int]string{
	unix.RTN_LOCAL: "local", unix.RTN_BROADCAST: "broadcast", unix.RTN_ANYCAST: "anycast",
	unix.RTN_MULTICAST: "multicast", unix.RTN_BLACKHOLE: "blackhole", unix.RTN_UNREACHABLE: "unreachable",
	unix.RTN_PROHIBIT: "prohibit", unix.RTN_THROW: "throw", unix.RTN_NAT: "nat",
}

// formatRoute writes a route as `ip route` does: "table main default via
// 10.0.0.254 dev eth0 proto static".
func formatRoute(r netlink.Route, ifName func(int) string) string {
	var s []string
	s = append(s, "table "+tableName(r.Table))
	if t, ok := routeTypes[r.Type]; ok {
		s = append(s, t)
	}
	if r.Dst == nil || (r.Dst.IP.IsUnspecified() && isZeroMask(r.Dst.Mask)) {
		s = append(s, "default")
	} else if ones, bits := r.Dst.Mask.Size(); ones == bits {
		s = append(s, r.Dst.IP.String()) // a host route, as ip prints it
	} else {
		s = append(s, r.Dst.String())
	}
	if r.Gw != nil {
		s = append(s, "via "+r.Gw.String())
	}
	for _, nh := range r.MultiPath {
		s = append(s, fmt.Sprintf("nexthop via %s dev %s", nh.Gw, ifName(nh.LinkIndex)))
	}
	if r.LinkIndex != 0 {
		s = append(s, "dev "+ifName(r.LinkIndex))
	}
	s = append(s, "proto "+r.Protocol.String())
	if r.Scope != netlink.SCOPE_UNIVERSE {
		s = append(s, "scope "+scopeName(r.Scope))
	}
	if r.Src != nil {
		s = append(s, "src "+r.Src.String())
	}
	if r.Priority != 0 {
		s = append(s, fmt.Sprintf("metric %d", r.Priority))
	}
	if r.MTU != 0 {
		s = append(s, fmt.Sprintf("mtu %d", r.MTU))
	}
	return strings.Join(s, " ")
}

// scopeName names a scope as ip does: "global" rather than "universe".
func scopeName(s netlink.Scope) string {
	if s == netlink.SCOPE_UNIVERSE {
		return "global"
	}
	return s.String()
}

func isZeroMask(m net.IPMask) bool {
	ones, _ := m.Size()
	return ones == 0
}

func neighState(s int) string {
	var out []string
	for _, st := range []struct {
		bit  int
		name string
	}{
		{netlink.NUD_INCOMPLETE, "INCOMPLETE"}, {netlink.NUD_REACHABLE, "REACHABLE"}, {netlink.NUD_STALE, "STALE"},
		{netlink.NUD_DELAY, "DELAY"}, {netlink.NUD_PROBE, "PROBE"}, {netlink.NUD_FAILED, "FAILED"},
		{netlink.NUD_NOARP, "NOARP"}, {netlink.NUD_PERMANENT, "PERMANENT"},
	} {
		if s&st.bit != 0 {
			out = append(out, st.name)
		}
	}
	if len(out) == 0 {
		return "NONE"
	}
	return strings.Join(out, ",")
}

// formatQdisc writes a qdisc as `tc qdisc` does, with the parameters of the
// ones Impair sets.
func formatQdisc(q netlink.Qdisc, ifName func(int) string) string {
	a := q.Attrs()
	s := fmt.Sprintf("%s: %s handle %s parent %s", ifName(a.LinkIndex), q.Type(), netlink.HandleStr(a.Handle), netlink.HandleStr(a.Parent))
	switch q := q.(type) {
	case *netlink.Tbf:
		s += fmt.Sprintf(" rate %dbit", q.Rate*8)
	case *netlink.Netem:
		s += fmt.Sprintf(" delay %s jitter %s loss %.2f%% limit %d", ticksToUsec(q.Latency), ticksToUsec(q.Jitter), float64(q.Loss)/math.MaxUint32*100, q.Limit)
	}
	return s
}

// ticksToUsec converts packet scheduler ticks to microseconds with the
// kernel's clock parameters, as tc does.
func ticksToUsec(ticks uint32) string {
	b, err := os.ReadFile("/proc/net/psched")
	var t2us, us2t, clockRes uint32
	if err == nil {
		_, err = fmt.Sscanf(string(b), "%x %x %x", &t2us, &us2t, &clockRes)
	}
	if err != nil || us2t == 0 || clockRes == 0 {
		return fmt.Sprintf("%d ticks", ticks)
	}
	tickInUsec := float64(t2us) / float64(us2t) * (float64(clockRes) / 1e6)
	return fmt.Sprintf("%.0fus", float64(ticks)/tickInUsec)
}
