package firewall

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"

	"github.com/nstest/harness/internal/kconfig"
)

// Direction says which packets of an interface RandomDrop affects.
type Direction int

// The directions of RandomDrop. The zero Direction is invalid.
const (
	Egress  Direction = iota + 1 // packets leaving the interface
	Ingress                      // packets entering the interface
)

// String returns "egress" or "ingress".
func (d Direction) String() string {
	switch d {
	case Egress:
		return "egress"
	case Ingress:
		return "ingress"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// RandomDrop drops percent% of the IPv4 and IPv6 packets leaving (Egress) or
// entering (Ingress) iface, each packet independently at random. It stands in
// for netem's loss where the kernel lacks sch_netem. Unlike netem it spares
// ARP and neighbour discovery, which do not pass the inet hooks. A new call
// for the same interface and direction replaces the previous one; percent 0
// removes it.
func RandomDrop(n Namespace, iface string, percent float64, dir Direction) error {
	what := fmt.Sprintf("firewall: random drop %g%% %s on %q", percent, dir, iface)
	spec, key := egressDropChain, expr.MetaKeyOIFNAME
	switch dir {
	case Egress:
	case Ingress:
		spec, key = ingressDropChain, expr.MetaKeyIIFNAME
	default:
		return fmt.Errorf("%s: direction %d: not Egress or Ingress", what, int(dir))
	}
	if iface == "" {
		return fmt.Errorf("%s: interface name is empty", what)
	}
	if err := checkIface(iface); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if math.IsNaN(percent) || percent < 0 || percent > 100 {
		return fmt.Errorf("%s: not a percentage between 0 and 100", what)
	}

	return session(n, func(c *nftables.Conn) error {
		return randomDrop(c, spec, key, iface, percent, dir, what)
	})
}

func randomDrop(c *nftables.Conn, spec *chainSpec, key expr.MetaKey, iface string, percent float64, dir Direction, what string) error {
	old, err := dropRules(c, spec, dir, iface)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if percent == 0 && len(old) == 0 {
		return nil
	}
	for _, r := range old {
		if err := c.DelRule(r); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if percent > 0 {
		t := ensureTable(c)
		ch := spec.add(c, t)
		m := matchIface(key, iface)
		if percent < 100 {
			m = append(m, matchRandom(percent)...)
		}
		m = append(m, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
		text := fmt.Sprintf("%s%s %s drop %g%%", dropPrefix, dir, iface, percent)
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: m, UserData: comment(text)})
	}
	if err := c.Flush(); err != nil {
		if percent > 0 {
			err = kconfig.Check(err, "CONFIG_NF_TABLES_INET", "CONFIG_NFT_NUMGEN")
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// dropPrefix starts the comment of every random-drop rule; the comment
// identifies the rule when it is replaced.
const dropPrefix = "random drop "

// dropRules returns the random-drop rules installed for iface and dir.
func dropRules(c *nftables.Conn, spec *chainSpec, dir Direction, iface string) ([]*nftables.Rule, error) {
	ok, err := chainExists(c, spec.name)
	if err != nil || !ok {
		return nil, err
	}
	rules, err := c.GetRules(table(), spec.chain())
	if err != nil {
		return nil, fmt.Errorf("list chain %s: %w", spec.name, err)
	}
	want := dropPrefix + dir.String() + " " + iface + " drop "
	var out []*nftables.Rule
	for _, r := range rules {
		if s, _ := userdata.GetString(r.UserData, userdata.TypeComment); strings.HasPrefix(s, want) {
			out = append(out, r)
		}
	}
	return out, nil
}

// FramesTable is the netdev-family table DropFrames keeps its chains in.
const FramesTable = "nstest-frames"

// DropFrames drops percent of the frames that arrive on iface, at the
// device's ingress hook (netdev family): before the stack or a bridge sees
// them, ARP and neighbour discovery included, and without the sender
// noticing anything, as if the wire had lost them. Placed on the far end of
// a veth pair it imitates netem loss on the near end. Zero removes the drop.
// The kernel needs CONFIG_NF_TABLES_NETDEV.
func DropFrames(n Namespace, iface string, percent float64) error {
	return dropFramesIn(n, iface, percent, Ingress)
}

// DropFramesLeaving drops percent of the frames that iface sends, at the
// device's egress hook (netdev family, kernel 5.16 or later with
// CONFIG_NETFILTER_EGRESS): before its qdisc and before packet sockets on
// iface see them, as netem loss does. It serves where the receiving end
// reads frames with a packet socket, which sees them before the ingress hook
// (Open vSwitch's userspace datapath). Zero removes the drop.
func DropFramesLeaving(n Namespace, iface string, percent float64) error {
	return dropFramesIn(n, iface, percent, Egress)
}

func dropFramesIn(n Namespace, iface string, percent float64, dir Direction) error {
	what := fmt.Sprintf("firewall: drop %g%% of frames arriving on %q", percent, iface)
	if dir == Egress {
		what = fmt.Sprintf("firewall: drop %g%% of frames leaving %q", percent, iface)
	}
	if err := checkIface(iface); err != nil || iface == "" {
		return fmt.Errorf("%s: invalid interface name", what)
	}
	if math.IsNaN(percent) || percent < 0 || percent > 100 {
		return fmt.Errorf("%s: not a percentage between 0 and 100", what)
	}
	return session(n, func(c *nftables.Conn) error { return dropFrames(c, iface, percent, dir, what) })
}

func dropFrames(c *nftables.Conn, iface string, percent float64, dir Direction, what string) error {
	hook, chain, hookName := nftables.ChainHookIngress, "in-"+iface, "ingress"
	if dir == Egress {
		hook, chain, hookName = nftables.ChainHookEgress, "out-"+iface, "egress"
	}
	tb := &nftables.Table{Name: FramesTable, Family: nftables.TableFamilyNetdev}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyNetdev)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	exists := false
	for _, ch := range chains {
		if ch.Table.Name == FramesTable && ch.Name == chain {
			exists = true
		}
	}
	if exists {
		c.DelChain(&nftables.Chain{Name: chain, Table: tb})
	}
	if percent > 0 {
		c.AddTable(tb)
		ch := c.AddChain(&nftables.Chain{
			Name: chain, Table: tb, Type: nftables.ChainTypeFilter,
			Hooknum: hook, Priority: nftables.ChainPriorityFilter, Device: iface,
		})
		var m []expr.Any
		if percent < 100 {
			m = matchRandom(percent)
		}
		m = append(m, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: m,
			UserData: comment(fmt.Sprintf("%s%s %s drop %g%% of frames", dropPrefix, hookName, iface, percent))})
	} else if !exists {
		return nil
	}
	if err := c.Flush(); err != nil {
		if percent == 0 { // only removed a chain
			return fmt.Errorf("%s: %w", what, err)
		}
		needs := []string{"CONFIG_NF_TABLES_NETDEV"}
		if percent < 100 {
			needs = append(needs, "CONFIG_NFT_NUMGEN")
		}
		return fmt.Errorf("%s: %w", what, kconfig.Check(err, needs...))
	}
	return nil
}
