package nstest

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nstest/harness/internal/kconfig"
)

// Partition splits the network between groups of hosts, as a failed switch
// or a split data centre does, and returns heal, which joins them again.
// While the partition holds, a host in one group cannot exchange packets
// with a host in another group; hosts in the same group still can, and hosts
// named in no group are left alone.
//
// Nothing about the hosts changes: no link goes down, no address, route or
// firewall rule of theirs is touched, so the partition looks to them like
// silent loss. Two things carry it out:
//
//   - On bridges (Connect, and the sites of an Overlay), nf_tables rules of the
//     bridge family, in the namespace holding the bridge, drop every frame
//     whose source MAC address belongs to a host of one group and whose
//     destination MAC address belongs to a host of another. Broadcasts (ARP
//     requests) still pass, but no answer does, on one bridge or across bridges
//     joined by ConnectBridges or by an overlay.
//   - A direct veth pair (Link) between hosts of different groups drops every
//     frame at both ends, through nf_tables netdev ingress rules.
//
// Paths through a host in no group stay open: to cut a routed path, put the
// router in one of the groups. heal removes the rules; it may be called more
// than once, and the topology's teardown needs no heal. A kernel without the
// nf_tables families this needs (CONFIG_NF_TABLES_BRIDGE,
// CONFIG_NF_TABLES_NETDEV) skips the test, naming the option.
func (t *Topology) Partition(groups ...[]*Host) (heal func() error) {
	t.tb.Helper()
	heal, err := t.partition(groups)
	if errors.Is(err, ErrUnsupported) {
		t.tb.Skipf("%v", err)
	}
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return heal
}

// partitionTable is the prefix of the nf_tables tables a partition adds.
const partitionTable = "nstest_partition"

func (t *Topology) partition(groups [][]*Host) (func() error, error) {
	if t.isClosed() {
		return nil, fmt.Errorf("nstest: partition: %w", ErrClosed)
	}
	group := map[*Host]int{}
	var macs [][]net.HardwareAddr // by group
	for g, hs := range groups {
		macs = append(macs, nil)
		for _, h := range hs {
			switch {
			case h == nil:
				return nil, fmt.Errorf("nstest: partition: group %d: host is nil", g+1)
			case h.topo != t:
				return nil, fmt.Errorf("nstest: partition: group %d: host %q belongs to another topology", g+1, h.name)
			}
			if prev, dup := group[h]; dup {
				return nil, fmt.Errorf("nstest: partition: host %q is in group %d and in group %d", h.name, prev+1, g+1)
			}
			group[h] = g
		}
	}
	table := fmt.Sprintf("%s%d", partitionTable, partitions.Add(1))

	bridging := map[*Host]bool{} // namespaces holding bridges the hosts are on
	var cuts []*Interface        // ends of direct links between groups
	for h, g := range group {
		for _, i := range h.Interfaces() {
			p := i.peer
			if p == nil {
				continue
			}
			switch pg, grouped := group[p.host]; {
			case p.ovsPort():
				// nf_tables bridge rules never see what OVS switches.
				return nil, fmt.Errorf("nstest: partition: host %q: its interface %s is on an Open vSwitch bridge, which Partition cannot cut; add OpenFlow drop rules with AddFlow instead", h.name, i.name)
			case p.host.kind == kindFabric || p.host.kind == kindSite:
				l, err := i.linkByIndex()
				if err != nil {
					return nil, fmt.Errorf("nstest: partition: interface %s: %w", i, err)
				}
				macs[g] = append(macs[g], l.Attrs().HardwareAddr)
				bridging[p.host] = true
			case grouped && pg != g:
				cuts = append(cuts, i) // the other end is met from its own host
			}
		}
	}

	type added struct {
		h   *Host
		fam nftables.TableFamily
	}
	var done []added
	heal := func() error {
		var errs []error
		for _, a := range done {
			err := nftSession(a.h, func(c *nftables.Conn) error {
				c.DelTable(&nftables.Table{Name: table, Family: a.fam})
				return c.Flush()
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("nstest: partition: heal %q: delete table %s: %w", a.h.name, table, err))
			}
		}
		done = nil
		return errors.Join(errs...)
	}
	var once sync.Once
	var herr error
	healOnce := func() error { once.Do(func() { herr = heal() }); return herr }
	fail := func(h *Host, err error) (func() error, error) {
		heal()
		return nil, fmt.Errorf("nstest: partition: %q: %w", h.name, err)
	}
	for b := range bridging {
		if err := addMACCuts(b, table, macs); err != nil {
			return fail(b, err)
		}
		done = append(done, added{b, nftables.TableFamilyBridge})
	}
	byHost := map[*Host][]string{}
	for _, i := range cuts {
		// Both ends of each cut link are in cuts, each met from its own
		// host: one rule per end.
		byHost[i.host] = append(byHost[i.host], i.name)
	}
	for h, names := range byHost {
		if err := addIngressCuts(h, table, names); err != nil {
			return fail(h, err)
		}
		done = append(done, added{h, nftables.TableFamilyNetdev})
	}
	return healOnce, nil
}

// addMACCuts adds a bridge-family table dropping frames between the MAC
// addresses of different groups.
func addMACCuts(h *Host, name string, macs [][]net.HardwareAddr) error {
	return nftSession(h, func(c *nftables.Conn) error { return macCuts(c, name, macs) })
}

func macCuts(c *nftables.Conn, name string, macs [][]net.HardwareAddr) error {
	tb := c.AddTable(&nftables.Table{Name: name, Family: nftables.TableFamilyBridge})
	ch := c.AddChain(&nftables.Chain{
		Name: "forward", Table: tb, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter,
	})
	for a := range macs {
		for b := range macs {
			if a == b {
				continue
			}
			for _, src := range macs[a] {
				for _, dst := range macs[b] {
					c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
						&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
						&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: src},
						&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 0, Len: 6},
						&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst},
						&expr.Counter{},
						&expr.Verdict{Kind: expr.VerdictDrop},
					}})
				}
			}
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add bridge table %s: %w", name, kconfig.Check(err, "CONFIG_NF_TABLES_BRIDGE"))
	}
	return nil
}

// addIngressCuts adds a netdev-family table dropping every frame that enters
// the named interfaces.
func addIngressCuts(h *Host, name string, ifaces []string) error {
	return nftSession(h, func(c *nftables.Conn) error { return ingressCuts(c, name, ifaces) })
}

func ingressCuts(c *nftables.Conn, name string, ifaces []string) error {
	tb := c.AddTable(&nftables.Table{Name: name, Family: nftables.TableFamilyNetdev})
	for _, ifn := range ifaces {
		ch := c.AddChain(&nftables.Chain{
			Name: "in-" + ifn, Table: tb, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookIngress, Priority: nftables.ChainPriorityFilter, Device: ifn,
		})
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add netdev table %s on %v: %w", name, ifaces, kconfig.Check(err, "CONFIG_NF_TABLES_NETDEV"))
	}
	return nil
}

// partitions numbers partitions, so that each has tables of its own.
var partitions atomic.Uint64

// nftSession runs fn with an nf_tables socket opened inside h's namespace, on
// a thread in it: never through a descriptor number, which after teardown
// could name another namespace. After teardown it returns ErrClosed.
func nftSession(h *Host, fn func(c *nftables.Conn) error) error {
	return h.do(func() error {
		c, err := nftables.New(nftables.AsLasting())
		if err != nil {
			return fmt.Errorf("open nf_tables netlink socket: %w", kconfig.Check(err, "CONFIG_NF_TABLES"))
		}
		defer c.CloseLasting()
		return fn(c)
	})
}
