package nstest

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/nstest/harness/nstest/firewall"
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

	var done []*Host // namespaces holding one of the partition's tables
	heal := func() error {
		var errs []error
		for _, h := range done {
			if err := firewall.DeleteTable(hostNS{h}, table); err != nil {
				errs = append(errs, fmt.Errorf("nstest: partition: heal %q: %w", h.name, err))
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
		if err := firewall.CutMACs(hostNS{b}, table, macs); err != nil {
			return fail(b, err)
		}
		done = append(done, b)
	}
	byHost := map[*Host][]string{}
	for _, i := range cuts {
		// Both ends of each cut link are in cuts, each met from its own
		// host: one rule per end.
		byHost[i.host] = append(byHost[i.host], i.name)
	}
	for h, names := range byHost {
		if err := firewall.CutIngress(hostNS{h}, table, names); err != nil {
			return fail(h, err)
		}
		if !slices.Contains(done, h) { // DeleteTable removes both families
			done = append(done, h)
		}
	}
	return healOnce, nil
}

// partitions numbers partitions, so that each has tables of its own.
var partitions atomic.Uint64
