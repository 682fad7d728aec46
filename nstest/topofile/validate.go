package topofile

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nstest/harness/nstest"
)

const (
	// MaxIfNameLen is the longest interface name Linux accepts (IFNAMSIZ-1);
	// it bounds bridge names, which are interface names.
	MaxIfNameLen = 15
	// MaxNameLen bounds host and router names, which name namespaces, not
	// interfaces, but appear in every message and in debug mount names.
	MaxNameLen = 64
	// MinMTU and MaxMTU bound an mtu value; IPv6 needs at least MinIPv6MTU.
	MinMTU     = 68
	MaxMTU     = 65535
	MinIPv6MTU = 1280
)

// validName reports whether name follows the one rule for names of nodes
// and topologies, nstest.ValidName's, leaving aside its length (bridges have
// a shorter limit, checked apart).
func validName(name string) bool {
	return nstest.ValidName("", name[:min(len(name), MaxNameLen)]) == nil
}

// Validate checks the whole topology and returns every problem found,
// joined with errors.Join and sorted by position; nil when it is sound.
// Parse calls it; call it yourself on a File built or changed in Go.
func (f *File) Validate() error {
	n := len(f.Bridges) + len(f.Hosts) + len(f.Routers)
	v := &validator{
		f:      f,
		kinds:  make(map[string]declared, n),
		addrs:  make(map[netip.Addr]owner, n),
		nets:   make(map[string][]netip.Prefix, n),
		has:    make(map[string]bool, n),
		broken: map[string]bool{},
	}
	v.run()
	return joinErrors(v.errs)
}

type validator struct {
	f     *File
	errs  []*Error
	kinds map[string]declared       // every name: "bridge", "host" or "router"
	addrs map[netip.Addr]owner      // every address given to anything
	nets  map[string][]netip.Prefix // each node's (and "" the fabric's) subnets
	// has and broken note nodes ("" the fabric) given any address, and
	// given an invalid one, so that one bad address does not also make
	// its node look address-less.
	has, broken map[string]bool
}

type declared struct {
	kind string
	pos  Pos
}

type owner struct {
	what string // `host "ns1"`
	node string // the node holding it; empty for a bridge
	pos  Pos
}

func (v *validator) errorf(p Pos, format string, args ...any) {
	v.errs = append(v.errs, &Error{File: v.f.filename, Pos: p, Msg: sprintf(format, args...)})
}

// where renders a position for "declared at ..." notes.
func (v *validator) where(p Pos) string {
	if !p.IsValid() {
		return ""
	}
	if v.f.filename == "" {
		return fmt.Sprintf(" (line %d:%d)", p.Line, p.Col)
	}
	return fmt.Sprintf(" (%s:%d:%d)", v.f.filename, p.Line, p.Col)
}

func (v *validator) run() {
	f := v.f
	if f.Name != "" && nstest.ValidName("topology", f.Name) != nil {
		v.errorf(Pos{}, "topology name %q: want a letter, then letters, digits, '.', '-' or '_', at most %d bytes", f.Name, MaxNameLen)
	}
	// Names first, so that references can be checked whatever the order.
	for i := range f.Bridges {
		b := &f.Bridges[i]
		v.declare("bridge", b.Name, b.at.of("name", b.Pos), MaxIfNameLen)
	}
	for i := range f.Hosts {
		h := &f.Hosts[i]
		v.declare("host", h.Name, h.at.of("name", h.Pos), MaxNameLen)
	}
	for i := range f.Routers {
		r := &f.Routers[i]
		v.declare("router", r.Name, r.at.of("name", r.Pos), MaxNameLen)
	}
	for i := range f.Bridges {
		b := &f.Bridges[i]
		what := sprintf("bridge %q", b.Name)
		switch b.Kind {
		case "", KindLinux, KindOVS:
		default:
			v.errorf(b.at.of("kind", b.Pos), "%s: kind %q: unknown; want %s (a Linux bridge, the default) or %s (Open vSwitch)", what, b.Kind, KindLinux, KindOVS)
		}
		for j, a := range b.Addrs {
			if p, ok := v.addr(what, "", a, b.at.of("addrs."+strconv.Itoa(j), b.Pos)); ok {
				v.nets[""] = append(v.nets[""], p)
			}
		}
	}
	for _, list := range [][]Node{f.Hosts, f.Routers} {
		for i := range list {
			v.connections(&list[i])
		}
	}
	v.links()
	for _, list := range [][]Node{f.Hosts, f.Routers} {
		for i := range list {
			v.routes(&list[i])
		}
	}
	v.expect()
}

func (v *validator) declare(kind, name string, p Pos, max int) {
	switch {
	case name == "":
		v.errorf(p, "%s with an empty name", kind)
		return
	case !validName(name):
		v.errorf(p, "%s %q: bad name: want a letter, then letters, digits, '.', '-' or '_'", kind, name)
	case len(name) > max && kind == "bridge":
		v.errorf(p, "bridge %q: name is %d bytes, over the %d-byte limit of Linux interface names", name, len(name), max)
	case len(name) > max:
		v.errorf(p, "%s %q: name is %d bytes, over the limit of %d", kind, name, len(name), max)
	case kind == "bridge" && name == "lo":
		v.errorf(p, "bridge %q: name taken by the loopback interface", name)
	}
	if d, dup := v.kinds[name]; dup {
		v.errorf(p, "%s %q: name already used by %s %q%s; bridges, hosts and routers share one set of names", kind, name, d.kind, name, v.where(d.pos))
		return
	}
	v.kinds[name] = declared{kind, p}
}

func (v *validator) what(name string) string {
	if d, ok := v.kinds[name]; ok {
		return sprintf("%s %q", d.kind, name)
	}
	return Quote(name)
}

// addr checks one interface address and records its owner.
func (v *validator) addr(what, node, cidr string, p Pos) (netip.Prefix, bool) {
	v.has[node] = true
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		v.broken[node] = true
		hint := "invalid CIDR"
		if _, aerr := netip.ParseAddr(cidr); aerr == nil {
			hint = "invalid CIDR: missing prefix length such as /24 or /64"
		}
		v.errorf(p, "%s: address %q: %s", what, cidr, hint)
		return netip.Prefix{}, false
	}
	a := pfx.Addr()
	bad := ""
	switch {
	case a.Is4In6():
		bad = "an IPv4-mapped IPv6 address; write the IPv4 address"
	case a.IsUnspecified():
		bad = "the unspecified address"
	case a.IsLoopback():
		bad = "a loopback address"
	case a.IsMulticast():
		bad = "a multicast address"
	case a.Is4() && pfx.Bits() < 31 && a == pfx.Masked().Addr():
		bad = fmt.Sprintf("the network address of %s", pfx.Masked())
	case a.Is4() && pfx.Bits() < 31 && a == lastAddr(pfx):
		bad = fmt.Sprintf("the broadcast address of %s", pfx.Masked())
	}
	if bad != "" {
		v.broken[node] = true
		v.errorf(p, "%s: address %q: %s", what, cidr, bad)
		return netip.Prefix{}, false
	}
	if o, dup := v.addrs[a]; dup {
		v.errorf(p, "%s: address %q: %s already given to %s%s", what, cidr, a, o.what, v.where(o.pos))
		return pfx, true
	}
	v.addrs[a] = owner{what, node, p}
	return pfx, true
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// mtu checks an mtu against the addresses on the interface(s) it sets.
func (v *validator) mtu(what string, mtu int, p Pos, addrs ...[]string) {
	if mtu == 0 {
		return
	}
	if mtu < MinMTU || mtu > MaxMTU {
		v.errorf(p, "%s: mtu %d: want %d to %d", what, mtu, MinMTU, MaxMTU)
		return
	}
	for _, list := range addrs {
		for _, a := range list {
			if pfx, err := netip.ParsePrefix(a); err == nil && pfx.Addr().Is6() && mtu < MinIPv6MTU {
				v.errorf(p, "%s: mtu %d: IPv6 address %q needs at least %d", what, mtu, a, MinIPv6MTU)
				return
			}
		}
	}
}

func (v *validator) connections(n *Node) {
	kind := v.kinds[n.Name].kind
	if kind == "" {
		kind = "host"
	}
	what := sprintf("%s %q", kind, n.Name)
	for i := range n.Connect {
		c := &n.Connect[i]
		bp := c.at.of("bridge", c.Pos)
		switch d, ok := v.kinds[c.Bridge]; {
		case c.Bridge == "":
			v.errorf(bp, "%s: connect: missing bridge name", what)
		case !ok:
			v.errorf(bp, "%s: connect: unknown bridge %q", what, c.Bridge)
		case d.kind != "bridge":
			v.errorf(bp, "%s: connect: %s %q is not a bridge; put a direct link between nodes under links", what, d.kind, c.Bridge)
		}
		for j, a := range c.Addrs {
			if p, ok := v.addr(what, n.Name, a, c.at.of("addrs."+strconv.Itoa(j), c.Pos)); ok {
				v.nets[n.Name] = append(v.nets[n.Name], p)
			}
		}
		v.mtu(what+": connect "+c.Bridge, c.MTU, c.at.of("mtu", c.Pos), c.Addrs)
	}
}

func (v *validator) links() {
	// Bridges joined by links must form a forest: the bridges run no STP,
	// so a loop would flood broadcasts forever.
	parent := map[string]string{}
	root := func(s string) string {
		for {
			p, ok := parent[s]
			if !ok {
				return s
			}
			if gp, ok := parent[p]; ok {
				parent[s] = gp // path halving keeps long chains cheap
			}
			s = p
		}
	}
	for i := range v.f.Links {
		l := &v.f.Links[i]
		what := fmt.Sprintf("link %s-%s", clip(l.A), clip(l.B))
		ka, oka := v.kinds[l.A]
		kb, okb := v.kinds[l.B]
		for _, end := range []struct {
			name, key string
			ok        bool
		}{{l.A, "a", oka}, {l.B, "b", okb}} {
			if end.name == "" {
				v.errorf(l.at.of(end.key, l.Pos), "%s: missing %s", what, end.key)
			} else if !end.ok {
				v.errorf(l.at.of(end.key, l.Pos), "%s: unknown host, router or bridge %q", what, end.name)
			}
		}
		if !oka || !okb {
			continue
		}
		switch {
		case l.A == l.B:
			v.errorf(l.at.of("b", l.Pos), "%s: both ends are %s", what, v.what(l.A))
			continue
		case ka.kind == "bridge" && kb.kind == "bridge":
			for _, k := range []string{"a_addrs", "b_addrs"} {
				if len(l.AAddrs) > 0 && k == "a_addrs" || len(l.BAddrs) > 0 && k == "b_addrs" {
					v.errorf(l.at.of(k, l.Pos), "%s: %s: a link between two bridges carries no addresses; give them to the bridges", what, k)
				}
			}
			ra, rb := root(l.A), root(l.B)
			if ra == rb {
				v.errorf(l.Pos, "%s: closes a loop of bridges, which would flood broadcasts (the bridges run no STP)", what)
			} else {
				parent[ra] = rb
			}
			v.mtu(what, l.MTU, l.at.of("mtu", l.Pos))
			continue
		case ka.kind == "bridge" || kb.kind == "bridge":
			n, b := l.A, l.B
			if ka.kind == "bridge" {
				n, b = l.B, l.A
			}
			v.errorf(l.Pos, "%s: joins a node to a bridge; write it under the %s's connect: {bridge: %s}", what, v.kinds[n].kind, b)
			continue
		}
		for j, a := range l.AAddrs {
			if p, ok := v.addr(what, l.A, a, l.at.of("a_addrs."+strconv.Itoa(j), l.Pos)); ok {
				v.nets[l.A] = append(v.nets[l.A], p)
			}
		}
		for j, a := range l.BAddrs {
			if p, ok := v.addr(what, l.B, a, l.at.of("b_addrs."+strconv.Itoa(j), l.Pos)); ok {
				v.nets[l.B] = append(v.nets[l.B], p)
			}
		}
		v.mtu(what, l.MTU, l.at.of("mtu", l.Pos), l.AAddrs, l.BAddrs)
	}
}

func (v *validator) routes(n *Node) {
	what := sprintf("%s %q", v.kinds[n.Name].kind, n.Name)
	seen := map[string]Pos{}
	for i := range n.Routes {
		r := &n.Routes[i]
		dp, vp := r.at.of("dst", r.Pos), r.at.of("via", r.Pos)
		via, err := netip.ParseAddr(r.Via)
		if err != nil {
			hint := "invalid IP address"
			if _, perr := netip.ParsePrefix(r.Via); perr == nil {
				hint = "want an address without a prefix length"
			}
			v.errorf(vp, "%s: route via %q: %s", what, r.Via, hint)
			continue
		}
		var key string
		switch r.Dst {
		case "default":
			key = "default/4"
			if via.Is6() {
				key = "default/6"
			}
		default:
			dst, err := netip.ParsePrefix(r.Dst)
			if err != nil {
				v.errorf(dp, "%s: route dst %q: want \"default\" or a CIDR", what, r.Dst)
				continue
			}
			if dst != dst.Masked() {
				v.errorf(dp, "%s: route dst %q: host bits set; did you mean %s?", what, r.Dst, dst.Masked())
				continue
			}
			if dst.Addr().Is4() != via.Is4() {
				v.errorf(vp, "%s: route to %s via %q: gateway of the other IP family", what, r.Dst, r.Via)
				continue
			}
			key = dst.String()
		}
		if p, dup := seen[key]; dup {
			v.errorf(dp, "%s: route dst %q given twice%s", what, r.Dst, v.where(p))
			continue
		}
		seen[key] = dp
		if o, ok := v.addrs[via]; ok && o.node == n.Name {
			v.errorf(vp, "%s: route via %q: that is the %s's own address", what, r.Via, v.kinds[n.Name].kind)
			continue
		}
		onLink := v.broken[n.Name] // do not guess with a subnet missing
		for _, p := range v.nets[n.Name] {
			if p.Contains(via) {
				onLink = true
				break
			}
		}
		if !onLink {
			v.errorf(vp, "%s: route via %q: gateway is not on any of the %s's subnets (%s)", what, r.Via, v.kinds[n.Name].kind, prefixList(v.nets[n.Name]))
		}
	}
}

func prefixList(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "it has no addresses"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Masked().String()
	}
	return strings.Join(s, ", ")
}

func (v *validator) expect() {
	e := &v.f.Expect
	if e.PingAll {
		for _, h := range v.f.Hosts {
			if !v.has[h.Name] && v.kinds[h.Name].kind == "host" {
				v.errorf(e.at.of("pingall", e.Pos), "expect.pingall: host %q has no address to ping", h.Name)
			}
		}
	}
	type pair struct{ from, to string }
	want := map[pair]Pos{}
	for _, c := range e.Reachable {
		if v.check("expect.reachable", c, true, false) {
			want[pair{c.From, c.To}] = c.Pos
		}
	}
	for _, c := range e.Unreachable {
		if v.check("expect.unreachable", c, false, false) {
			if p, ok := want[pair{c.From, c.To}]; ok {
				v.errorf(c.Pos, "expect.unreachable %q: also expected reachable%s", c.String(), v.where(p))
			}
		}
	}
	want = map[pair]Pos{}
	for _, c := range e.TCP {
		if v.check("expect.tcp", c, true, true) {
			want[pair{c.From, c.To}] = c.Pos
		}
	}
	for _, c := range e.TCPUnreachable {
		if v.check("expect.tcp_unreachable", c, false, true) {
			if p, ok := want[pair{c.From, c.To}]; ok {
				v.errorf(c.Pos, "expect.tcp_unreachable %q: also expected in tcp%s", c.String(), v.where(p))
			}
		}
	}
	for _, c := range e.Service {
		v.check("expect.service", c, true, true)
	}
}

// check validates one expectation; reachable ones must have addresses at
// both ends, tcp ones a port and a node to listen on.
func (v *validator) check(what string, c Check, reachable, tcp bool) bool {
	what = sprintf("%s %q", what, c.String())
	ok := true
	// The source: a node, or a bridge standing for the fabric namespace.
	if d, known := v.kinds[c.From]; !known {
		if _, err := netip.ParseAddr(c.From); err == nil {
			v.errorf(c.Pos, "%s: source %q: want a host, router or bridge name, not an address", what, c.From)
		} else {
			v.errorf(c.Pos, "%s: unknown host, router or bridge %q", what, c.From)
		}
		ok = false
	} else if reachable {
		netOf := c.From
		if d.kind == "bridge" {
			netOf = ""
		}
		if !v.has[netOf] {
			v.errorf(c.Pos, "%s: %s has no address to send from", what, v.what(c.From))
			ok = false
		}
	}
	to := c.To
	if tcp {
		host, port, err := net.SplitHostPort(c.To)
		if err != nil {
			v.errorf(c.Pos, "%s: destination %q: want host:port, [IPv6]:port or name:port", what, c.To)
			return false
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.errorf(c.Pos, "%s: port %q: want 1 to 65535", what, port)
			ok = false
		}
		to = host
	}
	if d, known := v.kinds[to]; known {
		switch {
		case d.kind == "bridge" && tcp:
			v.errorf(c.Pos, "%s: bridge %q cannot listen; name a host or router", what, to)
			ok = false
		case d.kind == "bridge" && reachable && len(v.f.Bridge(to).Addrs) == 0:
			v.errorf(c.Pos, "%s: bridge %q has no address to reach", what, to)
			ok = false
		case d.kind != "bridge" && reachable && !v.has[to]:
			v.errorf(c.Pos, "%s: %s has no address to reach", what, v.what(to))
			ok = false
		}
		return ok
	}
	a, err := netip.ParseAddr(to)
	if err != nil {
		if _, perr := netip.ParsePrefix(to); perr == nil {
			v.errorf(c.Pos, "%s: destination %q: want an address without a prefix length", what, to)
		} else {
			v.errorf(c.Pos, "%s: unknown host, router or bridge %q", what, to)
		}
		return false
	}
	o, owned := v.addrs[a]
	switch {
	case tcp && reachable && (!owned || o.node == ""):
		v.errorf(c.Pos, "%s: address %s is not on any host or router, so nothing can listen there", what, a)
		ok = false
	case reachable && !owned && !a.IsLoopback():
		v.errorf(c.Pos, "%s: address %s is not given to anything in this topology", what, a)
		ok = false
	}
	return ok
}
