package nstest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/fastnl"
)

// The build path. A veth pair is made and configured with one batch of
// netlink requests per namespace, each batch one system call that the kernel
// works through in order: in the first end's namespace the pair itself (both
// indexes chosen here, so no lookup is needed, the first end already
// enslaved to its bridge), then that end's addresses and "up"; in the
// peer's namespace its addresses and "up". The naive order costs seven round
// trips per Connect.
//
// IPv6 link-local addresses are made only where IPv6 is used: an end
// without an IPv6 address gets addr_gen_mode none (the fabric has it as its
// default), so it sends no DAD probes, router solicitations or MLD reports,
// which on a big bridge reach every port. Adding an IPv6 address later turns
// link-local generation back on (enableLinkLocal).

// vethEnd is one end of a veth pair to make.
type vethEnd struct {
	i      *Interface // host and name set; addVeth sets index and addrs
	master int        // index of the bridge to enslave it to, or 0
	addrs  []netip.Prefix
}

// maxIndexTries bounds the retries when a chosen interface index is taken.
const maxIndexTries = 16

// addVeth makes the veth pair a-b with both ends configured and up. On
// failure nothing is left: no link, no claimed address.
func (t *Topology) addVeth(a, b vethEnd, mtu int) error {
	if err := t.claimAll(a, b); err != nil {
		return err
	}
	err := t.makeVeth(a, b, mtu)
	if err != nil {
		for _, e := range []vethEnd{a, b} {
			for _, p := range e.addrs {
				t.releaseAddr(p, e.i)
			}
		}
		return err
	}
	for _, e := range []vethEnd{a, b} {
		e.i.mu.Lock()
		e.i.addrs = append(e.i.addrs, e.addrs...)
		e.i.master = e.master
		e.i.mu.Unlock()
	}
	return nil
}

// claimAll claims the addresses of both ends, or none of them.
func (t *Topology) claimAll(a, b vethEnd) error {
	var claimed []addrClaim
	for _, e := range []vethEnd{a, b} {
		for _, p := range e.addrs {
			if err := t.claimAddr(p, e.i); err != nil {
				for _, c := range claimed {
					t.releaseAddr(c.p, c.owner)
				}
				return fmt.Errorf("host %q: interface %s: %w", e.i.host.name, e.i.name, err)
			}
			claimed = append(claimed, addrClaim{p, e.i})
		}
	}
	return nil
}

// step is a request with what to say if it fails.
type step struct {
	r    *fastnl.Request
	what string
}

// makeVeth makes the pair while both hosts' handles stay open: the peer's
// namespace is named by its descriptor number, which after teardown could
// name another namespace.
func (t *Topology) makeVeth(a, b vethEnd, mtu int) error {
	return useBoth(a.i.host, b.i.host, func() error { return t.makeVethHeld(a, b, mtu) })
}

func (t *Topology) makeVethHeld(a, b vethEnd, mtu int) error {
	ah, bh := a.i.host, b.i.host
	for try := 0; ; try++ {
		a.i.index, b.i.index = ah.allocIndex(), bh.allocIndex()
		aCfg := a.config(true)
		pair := fastnl.End{Name: a.i.name, Index: a.i.index, Master: a.master, MTU: mtu, Up: len(aCfg) == 0}
		peer := fastnl.End{Name: b.i.name, Index: b.i.index, MTU: mtu}
		if bh != ah {
			peer.NSFd = bh.ns.Fd()
		}
		steps := append([]step{{fastnl.AddVeth(pair, peer), fmt.Sprintf("add veth %s/%s", a.i.name, b.i.name)}}, aCfg...)
		var bCfg []step
		if b.master != 0 {
			bCfg = append(bCfg, step{fastnl.SetMaster(b.i.index, b.master), "enslave " + b.i.name})
		}
		bCfg = append(bCfg, b.config(false)...)
		if bh == ah {
			steps, bCfg = append(steps, bCfg...), nil
		}
		failed, err := ah.exec(steps)
		if failed == 0 {
			if errors.Is(err, unix.EBUSY) && try < maxIndexTries {
				continue // an index was taken; the counters moved on
			}
			return err // nothing was made
		}
		if err == nil && bCfg != nil {
			_, err = bh.exec(bCfg)
		}
		if err != nil {
			ah.fnl.Do(fastnl.DelLink(a.i.index)) // removes the peer too
		}
		return err
	}
}

// config returns the requests that configure an end after its creation:
// IPv6 link-local generation, addresses, up. For the pair's first end in the
// fabric with no addresses there are none: it is up in the creation message.
func (e vethEnd) config(first bool) []step {
	var out []step
	i, h := e.i, e.i.host
	v6 := false
	for _, p := range e.addrs {
		v6 = v6 || p.Addr().Is6()
	}
	switch {
	case !v6 && h.kind != "fabric":
		out = append(out, step{fastnl.SetAddrGenMode(i.index, nl.IN6_ADDR_GEN_MODE_NONE), "set addr_gen_mode of " + i.name})
	case v6 && h.kind == "fabric":
		out = append(out, step{fastnl.SetAddrGenMode(i.index, nl.IN6_ADDR_GEN_MODE_EUI64), "set addr_gen_mode of " + i.name})
	}
	i.noLL = !v6
	if first && len(out) == 0 && len(e.addrs) == 0 {
		return nil
	}
	for _, p := range e.addrs {
		var flags uint32
		if p.Addr().Is6() {
			flags = nodad
		}
		out = append(out, step{fastnl.AddAddr(i.index, p, flags), fmt.Sprintf("host %q: interface %s: add address %s", h.name, i.name, p)})
	}
	return append(out, step{fastnl.SetUp(i.index), fmt.Sprintf("set %s up in %q", i.name, h.name)})
}

// exec sends the steps as one batch. It returns the first failure and its
// position, or -1 and nil.
func (h *Host) exec(steps []step) (int, error) {
	reqs := make([]*fastnl.Request, len(steps))
	for k, s := range steps {
		reqs[k] = s.r
	}
	errs, err := h.fnl.Exec(reqs...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", steps[0].what, err)
	}
	for k, e := range errs {
		if e != nil {
			return k, fmt.Errorf("%s: %w", steps[k].what, e)
		}
	}
	return -1, nil
}

// enableLinkLocal turns IPv6 link-local address generation back on for an
// interface that was made without (see addVeth), before it gets an IPv6
// address. Writing the device's sysctl, unlike the netlink attribute, also
// makes the address at once if the interface is up.
func enableLinkLocal(h *Host, name string) error {
	err := h.do(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/addr_gen_mode", []byte("0"), 0)
	})
	if err != nil {
		return fmt.Errorf("turn on IPv6 link-local address: %w", err)
	}
	return nil
}
