package nstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Route is a route of a host's routing table, or the route the kernel chose
// for one destination (Host.RouteGet, as `ip route get`).
type Route struct {
	// Dst is the route's destination prefix: 0.0.0.0/0 or ::/0 for a
	// default route. For RouteGet it is the prefix of the table entry that
	// matched (`ip route get fibmatch`), not the address asked about.
	Dst   netip.Prefix
	Table int    // 254 is the main table, 255 the local one
	Type  string // "unicast", "local", "broadcast", "multicast", "blackhole", "unreachable", "prohibit", "throw", ...

	// Gateway is the next hop; the zero Addr for a directly connected
	// destination. An IPv6 link-local gateway carries the output
	// interface's name as its zone (fe80::1%eth0). For RouteGet it is the
	// gateway packets go to now: a redirected one when an ICMP redirect
	// was followed, one of the next hops of a multipath route.
	Gateway netip.Addr
	// Dev is the output interface's name, and Interface the interface
	// itself when nstest made it (nil for lo, a bridge or a device made by
	// other means).
	Dev       string
	Interface *Interface
	Src       netip.Addr // the preferred source address, if the route has one
	Metric    int        // the route's priority (ip route ... metric N); lower wins
	MTU       int        // the route's own MTU (ip route ... mtu N), 0 if it has none
	MTULocked bool       // the route's MTU is locked (ip route ... mtu lock N)
	Flags     RouteFlags
	NextHops  []NextHop // a multipath route's next hops; nil for a single one

	// Exception is what the kernel learned about this one destination and
	// keeps in its route cache (the "cache" part of `ip route get`): a path
	// MTU from "fragmentation needed" / "packet too big", a gateway from an
	// ICMP redirect. Only RouteGet fills it; nil when there is none.
	Exception *RouteException
}

// RouteFlags are the kernel's flags of a route or of one next hop.
type RouteFlags struct {
	Dead          bool // the next hop is unusable (its interface is down)
	LinkDown      bool // the output interface has no carrier
	OnLink        bool // the gateway is taken as directly reachable, subnet or not
	Offload       bool // a device offloads the route
	Trap          bool // a device traps matching packets to the CPU
	OffloadFailed bool // offloading the route to a device failed
}

// NextHop is one next hop of a multipath route.
type NextHop struct {
	Gateway   netip.Addr // with the interface as zone when link-local
	Dev       string
	Interface *Interface // nil unless nstest made the interface
	Weight    int        // 1..256: the share of flows this hop gets is Weight over the sum
	Flags     RouteFlags
}

// RouteException is a cached route exception: what the kernel learned
// about one destination from the network and keeps for a while.
type RouteException struct {
	// MTU is the path MTU learned from an ICMP "fragmentation needed" or
	// ICMPv6 "packet too big", 0 if none. Packets to the destination are
	// fragmented (or refused, with DF) above it.
	MTU int
	// MTULocked reports that the learned MTU is locked: an IPv4 router
	// announced less than net.ipv4.route.min_pmtu, so the kernel uses
	// min_pmtu and sends without DF rather than go lower.
	MTULocked bool
	// Redirected reports that an ICMP redirect changed the gateway, and
	// Gateway is the gateway it named (zero if the redirect said the
	// destination itself is on the link).
	Redirected bool
	Gateway    netip.Addr
	// Expires is the time left until the kernel forgets the exception
	// (net.ipv4.route.mtu_expires, 10 minutes by default, for a PMTU).
	Expires time.Duration
}

// String formats the route as `ip route` does, roughly: "10.0.2.0/24 via
// 10.0.1.1 dev eth0 src 10.0.1.2 cache mtu 1300 expires 599s".
func (r *Route) String() string {
	var b strings.Builder
	if r.Type != "" && r.Type != "unicast" {
		b.WriteString(r.Type + " ")
	}
	b.WriteString(r.Dst.String())
	if r.Gateway.IsValid() {
		fmt.Fprintf(&b, " via %s", r.Gateway.WithZone(""))
	}
	if r.Dev != "" {
		fmt.Fprintf(&b, " dev %s", r.Dev)
	}
	if r.Table != 0 && r.Table != unix.RT_TABLE_MAIN {
		fmt.Fprintf(&b, " table %d", r.Table)
	}
	if r.Src.IsValid() {
		fmt.Fprintf(&b, " src %s", r.Src)
	}
	if r.Metric != 0 {
		fmt.Fprintf(&b, " metric %d", r.Metric)
	}
	if r.MTU != 0 {
		fmt.Fprintf(&b, " mtu %s%d", lockWord(r.MTULocked), r.MTU)
	}
	b.WriteString(r.Flags.string())
	for _, h := range r.NextHops {
		fmt.Fprintf(&b, " nexthop via %s dev %s weight %d%s", h.Gateway.WithZone(""), h.Dev, h.Weight, h.Flags.string())
	}
	if e := r.Exception; e != nil {
		b.WriteString(" cache")
		if e.Redirected {
			b.WriteString(" <redirected>")
		}
		if e.MTU != 0 {
			fmt.Fprintf(&b, " mtu %s%d", lockWord(e.MTULocked), e.MTU)
		}
		if e.Expires > 0 {
			fmt.Fprintf(&b, " expires %ds", int(e.Expires/time.Second))
		}
	}
	return b.String()
}

func lockWord(locked bool) string {
	if locked {
		return "lock "
	}
	return ""
}

func (f RouteFlags) string() string {
	var s string
	for _, x := range []struct {
		on   bool
		name string
	}{{f.Dead, "dead"}, {f.LinkDown, "linkdown"}, {f.OnLink, "onlink"}, {f.Offload, "offload"}, {f.Trap, "trap"}, {f.OffloadFailed, "offload_failed"}} {
		if x.on {
			s += " " + x.name
		}
	}
	return s
}

func routeFlags(nh, rtm int) RouteFlags {
	return RouteFlags{
		Dead:          nh&unix.RTNH_F_DEAD != 0,
		LinkDown:      nh&unix.RTNH_F_LINKDOWN != 0,
		OnLink:        nh&unix.RTNH_F_ONLINK != 0,
		Offload:       nh&unix.RTNH_F_OFFLOAD != 0 || rtm&unix.RTM_F_OFFLOAD != 0,
		Trap:          nh&unix.RTNH_F_TRAP != 0 || rtm&unix.RTM_F_TRAP != 0,
		OffloadFailed: rtm&unix.RTM_F_OFFLOAD_FAILED != 0,
	}
}

// routeType names a route type as iproute2 does (routeTypes is state.go's).
func routeType(t int) string {
	if t == unix.RTN_UNICAST {
		return "unicast"
	}
	if s, ok := routeTypes[t]; ok {
		return s
	}
	return fmt.Sprintf("type%d", t)
}

// A RouteOption adds to a route made by AddRouteWith or ReplaceRoute.
type RouteOption func(*routeSpec)

type routeSpec struct {
	dev     string
	src     string
	metric  int
	mtu     int
	locked  bool
	onLink  bool
	hops    []hopSpec
	badOpts []string
}

type hopSpec struct {
	via    string
	weight int
}

// RouteDev sends the route's packets out of the host's interface called
// name (`ip route ... dev NAME`). A route without a gateway needs it; so does
// an IPv6 link-local gateway written without a zone.
func RouteDev(name string) RouteOption { return func(s *routeSpec) { s.dev = name } }

// RouteSrc sets the route's preferred source address (`ip route ... src
// ADDR`): an address of the host.
func RouteSrc(addr string) RouteOption { return func(s *routeSpec) { s.src = addr } }

// RouteMetric sets the route's priority (`ip route ... metric N`); among
// routes to the same prefix the lowest wins.
func RouteMetric(n int) RouteOption {
	return func(s *routeSpec) {
		if n < 0 {
			s.badOpts = append(s.badOpts, fmt.Sprintf("RouteMetric(%d): must be 0 or more", n))
		}
		s.metric = n
	}
}

// RouteMTU sets the route's MTU (`ip route ... mtu N`). Path MTU discovery may
// still lower it for one destination, as a cached exception.
func RouteMTU(n int) RouteOption {
	return func(s *routeSpec) { s.mtu, s.locked = n, false; s.checkMTU("RouteMTU", n) }
}

// RouteLockedMTU sets the route's MTU and locks it (`ip route ... mtu lock
// N`). For IPv4 the kernel then ignores "fragmentation needed" for the
// route's destinations, learns no path MTU, and sends without the DF bit
// unless a socket insists on it. IPv6 has no optional path MTU discovery: a
// "packet too big" still creates an exception.
func RouteLockedMTU(n int) RouteOption {
	return func(s *routeSpec) { s.mtu, s.locked = n, true; s.checkMTU("RouteLockedMTU", n) }
}

func (s *routeSpec) checkMTU(name string, n int) {
	if n < 68 || n > 65535 {
		s.badOpts = append(s.badOpts, fmt.Sprintf("%s(%d): out of range 68..65535", name, n))
	}
}

// RouteOnLink makes the kernel take the gateway as directly reachable on the
// output interface even if it is on none of its subnets (`ip route ...
// onlink`). It needs RouteDev or a gateway with a zone.
func RouteOnLink() RouteOption { return func(s *routeSpec) { s.onLink = true } }

// WeightedNextHop adds a next hop to a multipath route: via is a gateway as for
// AddRoute (an address, "fe80::1%eth0", or a node's name) and weight, 1..256,
// its share of the flows (`ip route ... nexthop via ADDR weight N`). With
// WeightedNextHop options, the via argument of AddRouteWith or ReplaceRoute is "".
func WeightedNextHop(via string, weight int) RouteOption {
	return func(s *routeSpec) {
		if weight < 1 || weight > 256 {
			s.badOpts = append(s.badOpts, fmt.Sprintf("WeightedNextHop(%q, %d): weight out of range 1..256", via, weight))
		}
		s.hops = append(s.hops, hopSpec{via, weight})
	}
}

// AddRouteWith adds a route to dst, "default" or a CIDR, like AddRoute, with
// options: `ip route add`. via is the gateway (an address, an IPv6 link-local
// address with its interface as zone such as "fe80::1%eth0", or the name of a
// node on one of the host's subnets), or "" for a route straight out of
// RouteDev's interface ("default" then means IPv4; write ::/0 for IPv6) or a
// multipath route given by WeightedNextHop options. A route that exists already is
// an error.
func (h *Host) AddRouteWith(dst, via string, opts ...RouteOption) error {
	return h.changeRoute("add", dst, via, opts)
}

// ReplaceRoute adds a route to dst, or replaces the host's route to that
// prefix (same metric) in place: `ip route replace`. Its arguments are those
// of AddRouteWith. Packets follow the new route at once, without the route
// ever being missing.
func (h *Host) ReplaceRoute(dst, via string, opts ...RouteOption) error {
	return h.changeRoute("replace", dst, via, opts)
}

func (h *Host) changeRoute(op, dst, via string, opts []RouteOption) error {
	var s routeSpec
	for _, o := range opts {
		o(&s)
	}
	err := h.makeRoute(op, dst, via, &s)
	if err != nil {
		what := "route " + dst
		if via != "" {
			what += " via " + via
		}
		return fmt.Errorf("nstest: host %q: %s %s: %w", h.name, op, what, err)
	}
	return nil
}

// addRoute is AddRoute's body; AddRoute keeps its own error wording.
func (h *Host) addRoute(dst, via string) error {
	return h.makeRoute("add", dst, via, &routeSpec{})
}

func (h *Host) makeRoute(op, dst, via string, s *routeSpec) error {
	if len(s.badOpts) > 0 {
		return errors.New(strings.Join(s.badOpts, "; "))
	}
	var to netip.Prefix
	if dst != "default" {
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			return fmt.Errorf("destination %q: want \"default\" or a CIDR", dst)
		}
		to = p.Masked()
	}
	r := &netlink.Route{Priority: s.metric, MTU: s.mtu, MTULock: s.locked}
	if s.onLink {
		r.Flags |= unix.RTNH_F_ONLINK
	}
	devIndex := 0
	if s.dev != "" {
		i, err := h.linkIndex(s.dev)
		if err != nil {
			return fmt.Errorf("RouteDev(%q): %w", s.dev, err)
		}
		devIndex = i
	}
	switch {
	case len(s.hops) > 0 && via != "":
		return fmt.Errorf("gateway %q and WeightedNextHop options: give either one gateway or the next hops", via)
	case len(s.hops) > 0:
		var fam netip.Addr
		for _, hop := range s.hops {
			gw, idx, err := h.gateway(hop.via, to, devIndex, s.onLink)
			if err != nil {
				return fmt.Errorf("next hop %q: %w", hop.via, err)
			}
			if fam.IsValid() && fam.Is4() != gw.Is4() {
				return fmt.Errorf("next hops %s and %s are of different IP versions", fam, gw)
			}
			fam = gw
			r.MultiPath = append(r.MultiPath, &netlink.NexthopInfo{LinkIndex: idx, Gw: gw.AsSlice(), Hops: hop.weight - 1, Flags: r.Flags})
		}
		if len(s.hops) == 1 {
			r.LinkIndex, r.Gw, r.MultiPath = r.MultiPath[0].LinkIndex, r.MultiPath[0].Gw, nil
		}
		to = defaultFor(dst, to, fam)
	case via != "":
		gw, idx, err := h.gateway(via, to, devIndex, s.onLink)
		if err != nil {
			return err
		}
		r.LinkIndex, r.Gw = idx, gw.AsSlice()
		to = defaultFor(dst, to, gw)
	default:
		if devIndex == 0 {
			return errors.New("no gateway: give one, WeightedNextHop options, or RouteDev for a directly connected destination")
		}
		r.LinkIndex = devIndex
		if dst == "default" {
			to = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		if to.Addr().Is4() {
			r.Scope = netlink.SCOPE_LINK
		}
	}
	if r.Gw != nil && to.Addr().Is4() != (r.Gw.To4() != nil) {
		return fmt.Errorf("destination %s and gateway %s are of different IP versions", to, r.Gw)
	}
	if len(r.MultiPath) > 0 && to.Addr().Is4() != (r.MultiPath[0].Gw.To4() != nil) {
		return fmt.Errorf("destination %s and next hop %s are of different IP versions", to, r.MultiPath[0].Gw)
	}
	if s.src != "" {
		a, err := netip.ParseAddr(s.src)
		if err != nil || a.Is4() != to.Addr().Is4() {
			return fmt.Errorf("RouteSrc(%q): want an %s address of the host", s.src, family(to.Addr()))
		}
		r.Src = a.AsSlice()
	}
	r.Dst = prefixToIPNet(to)
	return h.use(func() error {
		if op == "replace" {
			return h.nl.RouteReplace(r)
		}
		return h.nl.RouteAdd(r)
	})
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// defaultFor turns "default" into the default prefix of gw's IP version.
func defaultFor(dst string, to netip.Prefix, gw netip.Addr) netip.Prefix {
	switch {
	case dst != "default":
		return to
	case gw.Is4():
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	default:
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
}

// gateway resolves via for a route to `to` (invalid for "default") and
// returns the gateway and the index of the interface it is reached through.
func (h *Host) gateway(via string, to netip.Prefix, devIndex int, onLink bool) (netip.Addr, int, error) {
	gw, err := netip.ParseAddr(via)
	if a, z, ok := strings.Cut(via, "%"); err != nil && ok {
		if _, err := netip.ParseAddr(a); err == nil && z != "" {
			return gw, 0, fmt.Errorf("gateway %q: only an IPv6 link-local address takes a zone", via)
		}
	}
	viaIndex := 0 // the link a gateway given by name is reached through
	if err != nil {
		a, idx, ok := h.topo.gatewayAddr(h, via, to)
		if !ok {
			return gw, 0, fmt.Errorf("gateway %q: not an IP address, nor a node with an address of that IP version on one of the host's subnets and L2 segments (%s)", via, prefixList(h.Addrs()))
		}
		gw, viaIndex = a, idx
	}
	if z := gw.Zone(); z != "" {
		if !gw.Is6() || !gw.IsLinkLocalUnicast() {
			return gw, 0, fmt.Errorf("gateway %q: only an IPv6 link-local address takes a zone", via)
		}
		i, err := h.linkIndex(z)
		if err != nil {
			return gw, 0, fmt.Errorf("gateway %q: %w", via, err)
		}
		if devIndex != 0 && devIndex != i {
			return gw, 0, fmt.Errorf("gateway %q: its zone and RouteDev name different interfaces", via)
		}
		return gw.WithZone(""), i, nil
	}
	if to.IsValid() && to.Addr().Is4() != gw.Is4() {
		return gw, 0, fmt.Errorf("destination %s and gateway %s are of different IP versions", to, gw)
	}
	if devIndex != 0 && (onLink || gw.IsLinkLocalUnicast()) {
		return gw, devIndex, nil
	}
	if gw.Is6() && gw.IsLinkLocalUnicast() {
		return gw, 0, fmt.Errorf("gateway %s: a link-local gateway needs its interface: write %s%%eth0 or add RouteDev(\"eth0\")", gw, gw)
	}
	if onLink {
		return gw, 0, fmt.Errorf("gateway %s: RouteOnLink needs the interface: add RouteDev", gw)
	}
	if viaIndex != 0 && (devIndex == 0 || devIndex == viaIndex) {
		// Resolved on its L2 segment: another interface may share the subnet.
		return gw, viaIndex, nil
	}
	for _, i := range h.Interfaces() {
		if devIndex != 0 && i.index != devIndex {
			continue
		}
		for _, p := range i.Addrs() {
			if p.Masked().Contains(gw) && p.Addr() != gw {
				return gw, i.index, nil
			}
		}
	}
	return gw, 0, fmt.Errorf("gateway %s unreachable: it is on none of the host's subnets (%s)", gw, prefixList(h.Addrs()))
}

// linkIndex returns the index of the host's interface called name: one
// nstest made, or any link of the namespace (lo, a bridge in the fabric).
func (h *Host) linkIndex(name string) (int, error) {
	if i := h.Interface(name); i != nil {
		return i.index, nil
	}
	if err := checkIfName(name); err != nil {
		return 0, err
	}
	var idx int
	err := h.use(func() error {
		l, err := h.nl.LinkByName(name)
		if err != nil {
			return err
		}
		idx = l.Attrs().Index
		return nil
	})
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return 0, fmt.Errorf("interface %q: the host has none of that name", name)
		}
		return 0, fmt.Errorf("interface %q: %w", name, err)
	}
	return idx, nil
}

// DelRoute deletes the host's routes to dst, "default" or a CIDR, from the
// main table: every route to exactly that prefix, whatever its gateway or
// metric (`ip route del` until none is left). "default" deletes the IPv4 and
// the IPv6 default routes; write 0.0.0.0/0 or ::/0 for one of them. It is an
// error if there is no such route.
func (h *Host) DelRoute(dst string) error {
	var want []netip.Prefix
	if dst == "default" {
		want = []netip.Prefix{netip.PrefixFrom(netip.IPv4Unspecified(), 0), netip.PrefixFrom(netip.IPv6Unspecified(), 0)}
	} else {
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			return fmt.Errorf("nstest: host %q: delete route %s: destination %q: want \"default\" or a CIDR", h.name, dst, dst)
		}
		want = []netip.Prefix{p.Masked()}
	}
	n := 0
	err := h.use(func() error {
		for _, p := range want {
			fam := unix.AF_INET
			if p.Addr().Is6() {
				fam = unix.AF_INET6
			}
			rs, err := h.nl.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if ipNetPrefix(r.Dst, fam) != p {
					continue
				}
				if err := h.nl.RouteDel(&r); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("nstest: host %q: delete route %s: %w", h.name, dst, err)
	}
	if n == 0 {
		return fmt.Errorf("nstest: host %q: delete route %s: no such route in the main table", h.name, dst)
	}
	return nil
}

// Routes returns the routes of the host's main table, IPv4 then IPv6, as
// `ip route; ip -6 route` list them (cached exceptions are not listed: see
// RouteGet).
func (h *Host) Routes() ([]Route, error) {
	var out []Route
	err := h.use(func() error {
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			rs, err := h.nl.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
			if err != nil {
				return err
			}
			for _, r := range rs {
				out = append(out, h.fromNetlink(&r, fam))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: list routes: %w", h.name, err)
	}
	return out, nil
}

func ipNetPrefix(n *net.IPNet, fam int) netip.Prefix {
	if n == nil {
		if fam == unix.AF_INET {
			return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	a, _ := netip.AddrFromSlice(n.IP)
	if fam == unix.AF_INET {
		a = a.Unmap()
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones)
}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// fromNetlink converts a route netlink parsed; call it inside h.use.
func (h *Host) fromNetlink(r *netlink.Route, fam int) Route {
	out := Route{
		Dst:       ipNetPrefix(r.Dst, fam),
		Table:     r.Table,
		Type:      routeType(r.Type),
		Src:       ipAddr(r.Src),
		Metric:    r.Priority,
		MTU:       r.MTU,
		MTULocked: r.MTULock,
		Flags:     routeFlags(r.Flags, r.Flags),
	}
	out.Gateway = ipAddr(r.Gw)
	out.Dev, out.Interface = h.dev(r.LinkIndex)
	out.Gateway = zoned(out.Gateway, out.Dev)
	for _, nh := range r.MultiPath {
		hop := NextHop{Gateway: ipAddr(nh.Gw), Weight: nh.Hops + 1, Flags: routeFlags(nh.Flags, 0)}
		hop.Dev, hop.Interface = h.dev(nh.LinkIndex)
		hop.Gateway = zoned(hop.Gateway, hop.Dev)
		out.NextHops = append(out.NextHops, hop)
	}
	return out
}

func zoned(a netip.Addr, dev string) netip.Addr {
	if a.Is6() && a.IsLinkLocalUnicast() && dev != "" {
		return a.WithZone(dev)
	}
	return a
}

// dev names the link with the given index; call it inside h.use.
func (h *Host) dev(index int) (string, *Interface) {
	if index == 0 {
		return "", nil
	}
	for _, i := range h.Interfaces() {
		if i.index == index {
			return i.name, i
		}
	}
	if l, err := h.nl.LinkByIndex(index); err == nil {
		return l.Attrs().Name, nil
	}
	return fmt.Sprintf("if%d", index), nil
}

// A RouteGetOption qualifies the lookup of RouteGet.
type RouteGetOption func(*routeQuery)

type routeQuery struct {
	from, in, out string
}

// RouteFrom looks the route up for packets from the source address src
// (`ip route get DST from SRC`): an address of the host, or with RouteInput
// the source of a packet arriving from elsewhere.
func RouteFrom(src string) RouteGetOption { return func(q *routeQuery) { q.from = src } }

// RouteOutput looks the route up for packets sent out of the host's
// interface called name (`ip route get DST oif NAME`), as a socket bound to
// that device does.
func RouteOutput(name string) RouteGetOption { return func(q *routeQuery) { q.out = name } }

// RouteInput looks the route up for a packet arriving on the host's
// interface called name (`ip route get DST from SRC iif NAME`): what a router
// does with a packet it forwards, reverse path filtering included. It needs
// RouteFrom.
func RouteInput(name string) RouteGetOption { return func(q *routeQuery) { q.in = name } }

// RouteGet asks the kernel which route the host uses for packets to dst, an
// IP address or the name of a node, as `ip route get` does, and returns it
// with its table, type, gateway, output interface, preferred source, flags
// and, in Exception, anything the kernel learned about dst and cached: a path
// MTU (and whether it is locked), a gateway from an ICMP redirect, and when
// that expires. An unreachable destination is an error wrapping the kernel's
// errno (syscall.ENETUNREACH, EHOSTUNREACH, EACCES for a prohibit route, or
// EINVAL for a blackhole).
func (h *Host) RouteGet(dst string, opts ...RouteGetOption) (*Route, error) {
	var q routeQuery
	for _, o := range opts {
		o(&q)
	}
	r, err := h.routeGet(dst, q)
	if err != nil {
		what := dst
		if q.from != "" {
			what += " from " + q.from
		}
		if q.in != "" {
			what += " iif " + q.in
		}
		if q.out != "" {
			what += " oif " + q.out
		}
		return nil, fmt.Errorf("nstest: host %q: route get %s: %w", h.name, what, err)
	}
	return r, nil
}

func (h *Host) routeGet(dst string, q routeQuery) (*Route, error) {
	a, err := h.topo.resolve(h, dst, 0)
	if err != nil {
		return nil, err
	}
	if a.Zone() != "" {
		q.out, a = a.Zone(), a.WithZone("")
	}
	var req getRequest
	req.dst = a
	if q.from != "" {
		s, err := netip.ParseAddr(q.from)
		if err != nil {
			return nil, fmt.Errorf("RouteFrom(%q): not an IP address", q.from)
		}
		if s.Is4() != a.Is4() {
			return nil, fmt.Errorf("RouteFrom(%q): not of the IP version of %s", q.from, a)
		}
		req.src = s
	}
	if q.in != "" && q.from == "" {
		return nil, fmt.Errorf("RouteInput(%q): needs RouteFrom, the source of the arriving packet", q.in)
	}
	for _, x := range []struct {
		name string
		opt  string
		idx  *int
	}{{q.in, "RouteInput", &req.iif}, {q.out, "RouteOutput", &req.oif}} {
		if x.name == "" {
			continue
		}
		i, err := h.linkIndex(x.name)
		if err != nil {
			return nil, fmt.Errorf("%s(%q): %w", x.opt, x.name, err)
		}
		*x.idx = i
	}
	fam := unix.AF_INET
	if a.Is6() {
		fam = unix.AF_INET6
	}
	var out Route
	err = h.use(func() error {
		// The table entry that matched: prefix, type, flags, next hops.
		fib, err := h.nl.RouteGetWithOptions(a.AsSlice(), &netlink.RouteGetOptions{
			IifIndex: req.iif, OifIndex: req.oif, SrcAddr: addrSlice(req.src), FIBMatch: true,
		})
		if err != nil {
			return err
		}
		if len(fib) == 0 {
			return errors.New("the kernel returned no route")
		}
		out = h.fromNetlink(&fib[0], fam)
		// The dst the kernel would use: the chosen next hop, and the
		// exception. vishvananda/netlink drops RTA_CACHEINFO (the
		// expiry), so this one is asked and parsed here.
		d, err := h.routeGetDst(req)
		if err != nil {
			return err
		}
		h.mergeDst(&out, d, fam)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func addrSlice(a netip.Addr) net.IP {
	if !a.IsValid() {
		return nil
	}
	return a.AsSlice()
}

type getRequest struct {
	dst, src netip.Addr
	iif, oif int
}

// dstRoute is the kernel's answer to a plain RTM_GETROUTE: the dst entry.
type dstRoute struct {
	flags    uint32
	gw       netip.Addr
	oif      int
	src      netip.Addr
	mtu      int
	locked   bool
	expires  time.Duration
	hasCache bool
}

// routeGetDst sends RTM_GETROUTE on a socket opened in the host's namespace.
func (h *Host) routeGetDst(g getRequest) (dstRoute, error) {
	var d dstRoute
	fam, bits := unix.AF_INET, uint8(32)
	if g.dst.Is6() {
		fam, bits = unix.AF_INET6, 128
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETROUTE, unix.NLM_F_REQUEST)
	msg := &nl.RtMsg{RtMsg: unix.RtMsg{Family: uint8(fam), Dst_len: bits, Flags: unix.RTM_F_LOOKUP_TABLE}}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.RTA_DST, g.dst.AsSlice()))
	if g.src.IsValid() {
		msg.Src_len = bits
		req.AddData(nl.NewRtAttr(unix.RTA_SRC, g.src.AsSlice()))
	}
	if g.iif != 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_IIF, nl.Uint32Attr(uint32(g.iif))))
	}
	if g.oif != 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(uint32(g.oif))))
	}
	var msgs [][]byte
	err := h.ns.Do(func() (err error) {
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWROUTE)
		return err
	})
	if err != nil {
		return d, err
	}
	if len(msgs) == 0 {
		return d, errors.New("the kernel returned no route")
	}
	m := msgs[0]
	rtm := nl.DeserializeRtMsg(m)
	d.flags = rtm.Flags
	attrs, err := nl.ParseRouteAttr(m[rtm.Len():])
	if err != nil {
		return d, err
	}
	for _, at := range attrs {
		switch at.Attr.Type {
		case unix.RTA_GATEWAY:
			d.gw = ipAddr(at.Value)
		case unix.RTA_OIF:
			d.oif = int(nl.NativeEndian().Uint32(at.Value))
		case unix.RTA_PREFSRC:
			d.src = ipAddr(at.Value)
		case unix.RTA_CACHEINFO:
			// struct rta_cacheinfo: clntref, lastuse, expires (signed,
			// in clock ticks of USER_HZ, 100 on Linux), ...
			if len(at.Value) >= 12 {
				ticks := int32(nl.NativeEndian().Uint32(at.Value[8:12]))
				d.expires = time.Duration(ticks) * 10 * time.Millisecond
			}
		case unix.RTA_METRICS:
			ms, err := nl.ParseRouteAttr(at.Value)
			if err != nil {
				return d, err
			}
			for _, mt := range ms {
				switch mt.Attr.Type {
				case unix.RTAX_MTU:
					d.mtu = int(nl.NativeEndian().Uint32(mt.Value))
				case unix.RTAX_LOCK:
					d.locked = nl.NativeEndian().Uint32(mt.Value)&(1<<unix.RTAX_MTU) != 0
				}
			}
		}
	}
	return d, nil
}

// mergeDst completes the table entry r with what the dst lookup says: the
// next hop chosen now, and the exception if there is one.
func (h *Host) mergeDst(r *Route, d dstRoute, fam int) {
	fibMTU, fibGW, fibHops := r.MTU, r.Gateway.WithZone(""), r.NextHops
	r.Dev, r.Interface = h.dev(d.oif)
	r.Gateway = zoned(d.gw, r.Dev)
	if d.src.IsValid() {
		r.Src = d.src
	}
	var exc bool
	if fam == unix.AF_INET {
		// Every IPv4 answer is marked RTM_F_CLONED; an exception has an
		// expiry or the redirected flag.
		exc = d.expires != 0 || d.flags&rtcfRedirected != 0
	} else {
		exc = d.flags&unix.RTM_F_CLONED != 0
	}
	if !exc {
		return
	}
	e := &RouteException{Expires: d.expires}
	if d.expires < 0 {
		e.Expires = 0
	}
	if d.mtu != 0 && d.mtu != fibMTU {
		e.MTU, e.MTULocked = d.mtu, d.locked
	}
	known := d.gw == fibGW
	for _, hop := range fibHops {
		if hop.Gateway.WithZone("") == d.gw {
			known = true
		}
	}
	if d.flags&rtcfRedirected != 0 || !known {
		e.Redirected, e.Gateway = true, r.Gateway
	}
	r.Exception = e
}

// rtcfRedirected is RTCF_REDIRECTED of <linux/in_route.h>: an IPv4 route
// cache entry made by an ICMP redirect.
const rtcfRedirected = 0x00040000

// AddRoute adds a route to dst, "default" or a CIDR, through the gateway via,
// an address on one of the host's subnets (or the name of a node that has
// one).
func (h *Host) AddRoute(dst, via string) error {
	if err := h.addRoute(dst, via); err != nil {
		return fmt.Errorf("nstest: host %q: route %s via %s: %w", h.name, dst, via, err)
	}
	return nil
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "it has no addresses"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
