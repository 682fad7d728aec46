package firewall

import (
	"errors"
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/nstest/harness/internal/kconfig"
)

// Cuts are the tables of a network partition (nstest's Topology.Partition):
// each is a table of its own, named by the caller, so that several
// partitions can hold at once and each heals alone with DeleteTable. They
// live outside TableName and FramesTable, which Flush and DropFrames own.

// CutMACs adds to n a bridge-family table called table that drops every
// frame a bridge in n forwards from a MAC address of one group to a MAC
// address of another group. Frames within a group, and broadcasts (ARP
// requests), pass; so no answer crosses groups. The kernel needs
// CONFIG_NF_TABLES_BRIDGE.
func CutMACs(n Namespace, table string, groups [][]net.HardwareAddr) error {
	if err := checkCutTable(table); err != nil {
		return err
	}
	return session(n, func(c *nftables.Conn) error {
		tb := c.AddTable(&nftables.Table{Name: table, Family: nftables.TableFamilyBridge})
		ch := c.AddChain(&nftables.Chain{
			Name: "forward", Table: tb, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter,
		})
		for a := range groups {
			for b := range groups {
				if a == b {
					continue
				}
				for _, src := range groups[a] {
					for _, dst := range groups[b] {
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
			return fmt.Errorf("add bridge table %s: %w", table, kconfig.Check(err, "CONFIG_NF_TABLES_BRIDGE"))
		}
		return nil
	})
}

// CutIngress adds to n a netdev-family table called table that drops every
// frame entering each of the interfaces ifaces, at their ingress hook:
// before a bridge or the stack sees it. The kernel needs
// CONFIG_NF_TABLES_NETDEV.
func CutIngress(n Namespace, table string, ifaces []string) error {
	if err := checkCutTable(table); err != nil {
		return err
	}
	for _, ifn := range ifaces {
		if err := checkIface(ifn); err != nil {
			return fmt.Errorf("firewall: cut ingress of %q: %w", ifn, err)
		}
	}
	return session(n, func(c *nftables.Conn) error {
		tb := c.AddTable(&nftables.Table{Name: table, Family: nftables.TableFamilyNetdev})
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
			return fmt.Errorf("add netdev table %s on %v: %w", table, ifaces, kconfig.Check(err, "CONFIG_NF_TABLES_NETDEV"))
		}
		return nil
	})
}

// DeleteTable deletes from n the tables called table that CutMACs and
// CutIngress made (bridge and netdev families), with their rules. It fails
// if n has no such table.
func DeleteTable(n Namespace, table string) error {
	if err := checkCutTable(table); err != nil {
		return err
	}
	return session(n, func(c *nftables.Conn) error {
		ts, err := c.ListTables()
		if err != nil {
			return fmt.Errorf("list tables: %w", err)
		}
		found := false
		for _, t := range ts {
			if t.Name == table && (t.Family == nftables.TableFamilyBridge || t.Family == nftables.TableFamilyNetdev) {
				c.DelTable(&nftables.Table{Name: table, Family: t.Family})
				found = true
			}
		}
		if !found {
			return fmt.Errorf("delete table %s: no such bridge or netdev table", table)
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("delete table %s: %w", table, err)
		}
		return nil
	})
}

// checkCutTable keeps cuts out of the tables the rest of the package owns.
func checkCutTable(table string) error {
	switch table {
	case "":
		return errors.New("firewall: cut: no table name given")
	case TableName, FramesTable:
		return fmt.Errorf("firewall: cut: table %q belongs to the package's own rules; name the cut's table", table)
	}
	return nil
}
