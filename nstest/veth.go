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
	name   func(index, try int) string // if set, names the end from its index
}

// maxIndexTries bounds the retries when a chosen interface index is taken.
const maxIndexTries = 16

// addVeth makes the veth pair a-b with both ends configured and up. On
// failure nothing is left: no link, no claimed address. what says what is
// being built ("connect \"h1\" to bridge \"br1\""); the error returned is
// complete, prefixed "nstest: ".
func (t *Topology) addVeth(what string, a, b vethEnd, mtu int) error {
	if err := t.claimAll(a, b); err != nil {
		return fmt.Errorf("nstest: %s: %w", what, err)
	}
	err := t.makeVeth(what, a, b, mtu)
	if err != nil {
		for _, e := range []vethEnd{a, b} {
			for _, p := range e.addrs {
				t.releaseAddr(p, e.i)
			}
		}
		return fmt.Errorf("nstest: %w", err)
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

// step is a request with what to say if it fails: the object and the action,
// as in `host "h1": add address "10.0.0.7/24" to eth0`.
type step struct {
	r    *fastnl.Request
	what string
}

// makeVeth makes the pair while both hosts' handles stay open: the peer's
// namespace is named by its descriptor number, which after teardown could
// name another namespace.
func (t *Topology) makeVeth(what string, a, b vethEnd, mtu int) error {
	return useBoth(a.i.host, b.i.host, func() error { return t.makeVethHeld(what, a, b, mtu) })
}

func (t *Topology) makeVethHeld(what string, a, b vethEnd, mtu int) error {
	ah, bh := a.i.host, b.i.host
	for try := 0; ; try++ {
		a.i.index, b.i.index = ah.allocIndex(), bh.allocIndex()
		named := false
		for _, e := range []vethEnd{a, b} {
			if e.name != nil {
				e.i.name, named = e.name(e.i.index, try), true
			}
		}
		aCfg := a.config(true)
		pair := fastnl.End{Name: a.i.name, Index: a.i.index, Master: a.master, MTU: mtu, Up: len(aCfg) == 0}
		peer := fastnl.End{Name: b.i.name, Index: b.i.index, MTU: mtu}
		if bh != ah {
			peer.NSFd = bh.ns.Fd()
		}
		create := fmt.Sprintf("%s: create veth pair %s in %q, %s in %q", what, a.i.name, ah.name, b.i.name, bh.name)
		steps := append([]step{{fastnl.AddVeth(pair, peer), create}}, aCfg...)
		var bCfg []step
		if b.master != 0 {
			bCfg = append(bCfg, step{fastnl.SetMaster(b.i.index, b.master), fmt.Sprintf("%s: enslave %s to its bridge", what, b.i.name)})
		}
		bCfg = append(bCfg, b.config(false)...)
		if bh == ah {
			steps, bCfg = append(steps, bCfg...), nil
		}
		failed, err := ah.exec(steps)
		var xerr *fastnl.ExchangeError
		if failed == 0 && !errors.As(err, &xerr) {
			// The kernel refused the pair itself: nothing was made.
			if errors.Is(err, unix.EBUSY) && try < maxIndexTries {
				continue // an index was taken; the counters moved on
			}
			if named && errors.Is(err, unix.EEXIST) && try < maxIndexTries {
				continue // a name we chose was taken: the next is made from the index
			}
			return err
		}
		if err == nil && bCfg != nil {
			_, err = bh.exec(bCfg)
		}
		if err != nil {
			// Whatever failed, and even if the kernel's answers were lost,
			// the pair has a.i.index if it exists at all: delete it there
			// (the peer goes with it).
			if cerr := ah.delVeth(a.i.index, a.i.name); cerr != nil {
				err = errors.Join(err, fmt.Errorf("%s: clean up: %w", what, cerr))
			}
		}
		return err
	}
}

// delVeth deletes the link with the given index if it has the given name:
// the index was chosen before the pair was made, and a link that has it
// under another name is not ours.
func (h *Host) delVeth(index int, name string) error {
	ls, err := h.fnl.Link(index)
	if errors.Is(err, unix.ENODEV) {
		return nil // never made
	}
	if err != nil {
		return fmt.Errorf("find link %d (%s): %w", index, name, err)
	}
	if ls.Name != name {
		return nil
	}
	if err := h.fnl.Do(fastnl.DelLink(index)); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
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
	case !v6 && h.kind != kindFabric:
		out = append(out, step{fastnl.SetAddrGenMode(i.index, nl.IN6_ADDR_GEN_MODE_NONE), fmt.Sprintf("host %q: set IPv6 addr_gen_mode of %s to none", h.name, i.name)})
	case v6 && h.kind == kindFabric:
		out = append(out, step{fastnl.SetAddrGenMode(i.index, nl.IN6_ADDR_GEN_MODE_EUI64), fmt.Sprintf("host %q: set IPv6 addr_gen_mode of %s to eui64", h.name, i.name)})
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
		out = append(out, step{fastnl.AddAddr(i.index, p, flags), fmt.Sprintf("host %q: add address %q to %s", h.name, p.String(), i.name)})
	}
	return append(out, step{fastnl.SetUp(i.index), fmt.Sprintf("host %q: set %s up", h.name, i.name)})
}

// exec sends the steps, in as many batches as the socket's receive buffer
// needs. It returns the position of the step that failed and its error, or
// -1 and nil. A failed exchange is blamed on the first step whose outcome
// is unknown; the error is then a *fastnl.ExchangeError.
func (h *Host) exec(steps []step) (int, error) {
	reqs := make([]*fastnl.Request, len(steps))
	for k, s := range steps {
		reqs[k] = s.r
	}
	errs, err := h.fnl.Exec(reqs...)
	known := len(errs)
	var xerr *fastnl.ExchangeError
	if errors.As(err, &xerr) {
		known = xerr.At
	}
	for k, e := range errs[:known] {
		if e != nil && e != fastnl.ErrNotSent {
			return k, fmt.Errorf("%s: %w", steps[k].what, e)
		}
	}
	if xerr != nil {
		return xerr.At, fmt.Errorf("%s: %w", steps[xerr.At].what, err)
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
