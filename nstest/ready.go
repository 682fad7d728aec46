package nstest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/fastnl"
)

// A veth end that was just set up carries traffic only once the kernel's
// link-watch work has marked it operationally up, activated its queue and,
// for a bridge port, put the port into forwarding state. That happens
// asynchronously, a little after the netlink call returns; a packet sent
// before is silently dropped, and a lost first ARP or neighbour solicitation
// costs a second. So interfaces brought up are recorded as pending, and
// everything that sends traffic first waits, on netlink link events, until
// every pending interface of the topology is up.

// readyTimeout bounds the wait for one namespace's interfaces.
const readyTimeout = 2 * time.Second

// pend records interfaces that were set up and should come up.
func (t *Topology) pend(is ...*Interface) {
	t.mu.Lock()
	t.pending = append(t.pending, is...)
	t.mu.Unlock()
}

// ready waits until every pending interface is operationally up.
func (t *Topology) ready() {
	t.readyMu.Lock()
	defer t.readyMu.Unlock()
	t.mu.Lock()
	p := t.pending
	t.pending = nil
	t.mu.Unlock()
	if len(p) == 0 {
		return
	}
	byHost := map[*Host][]int{}
	var order []*Host
	for _, i := range p {
		if _, ok := byHost[i.host]; !ok {
			order = append(order, i.host)
		}
		byHost[i.host] = append(byHost[i.host], i.index)
	}
	// The hosts' sockets are bound already: no thread switches namespace
	// to ask, so a few workers can ask at once.
	work := make(chan *Host)
	var wg sync.WaitGroup
	for range min(readyWorkers, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range work {
				h.waitUp(byHost[h])
			}
		}()
	}
	for _, h := range order {
		work <- h
	}
	close(work)
	wg.Wait()
	waitSolicitedNodes(p)
}

// waitSolicitedNodes waits until every IPv6 address of the interfaces has
// joined its solicited-node multicast group. The kernel joins it in
// addrconf's work queue a little after the link comes up; a neighbour
// solicitation arriving before is dropped, and the sender asks again only a
// second later. Interfaces without IPv6 addresses cost nothing here.
func waitSolicitedNodes(is []*Interface) {
	byHost := map[*Host]map[string]bool{}
	for _, i := range is {
		for _, p := range i.Addrs() {
			if !p.Addr().Is6() || p.Addr().IsLinkLocalUnicast() {
				continue
			}
			if byHost[i.host] == nil {
				byHost[i.host] = map[string]bool{}
			}
			a := p.Addr().As16()
			byHost[i.host][fmt.Sprintf("%d ff0200000000000000000001ff%02x%02x%02x", i.index, a[13], a[14], a[15])] = true
		}
	}
	deadline := time.Now().Add(readyTimeout)
	for h, want := range byHost {
		h.do(func() error {
			for len(want) > 0 && time.Now().Before(deadline) {
				b, err := os.ReadFile("/proc/thread-self/net/igmp6")
				if err != nil {
					return err
				}
				for _, l := range strings.Split(string(b), "\n") {
					if f := strings.Fields(l); len(f) >= 3 {
						delete(want, f[0]+" "+f[2])
					}
				}
				if len(want) > 0 {
					time.Sleep(100 * time.Microsecond) // the join is a work item away
				}
			}
			return nil
		})
	}
}

// readyWorkers is how many namespaces ready looks at concurrently.
const readyWorkers = 4

// waitUp waits until the links with the given indexes are operationally up,
// or down administratively, or gone, or readyTimeout has passed. Usually
// they are up by now and one look is enough; only then does it subscribe to
// link events, and look again, so that no change falls in between.
func (h *Host) waitUp(indexes []int) {
	want := map[int]bool{}
	for _, i := range indexes {
		want[i] = true
	}
	// A port of an STP bridge forwards only after listening and learning
	// (see STP): wait for that too, or for the port to block.
	done := func(ls fastnl.LinkState) bool { return ls.OperState == fastnl.OperUp && !ls.Settling() || !ls.Up }
	look := func() error {
		if len(want) > lookOneByOne {
			var ls []fastnl.LinkState
			err := h.use(func() (err error) { ls, err = h.fnl.Links(); return err })
			if err != nil {
				return err
			}
			for _, l := range ls {
				if done(l) {
					delete(want, l.Index)
				}
			}
			return nil
		}
		for i := range want {
			var l fastnl.LinkState
			err := h.use(func() (err error) { l, err = h.fnl.Link(i); return err })
			if errors.Is(err, unix.ENODEV) || err == nil && done(l) {
				delete(want, i)
			} else if err != nil {
				return err
			}
		}
		return nil
	}
	if look() != nil || len(want) == 0 {
		return
	}
	var s *nl.NetlinkSocket
	err := h.do(func() (err error) {
		s, err = nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
		return err
	})
	if err != nil {
		return
	}
	defer s.Close()
	if look() != nil {
		return
	}
	deadline := time.Now().Add(readyTimeout + h.settleTime())
	for len(want) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		s.SetReceiveTimeout(&tv)
		msgs, _, err := s.Receive()
		if err != nil {
			return
		}
		for _, m := range msgs {
			if m.Header.Type != unix.RTM_NEWLINK {
				continue
			}
			if l, ok := fastnl.ParseLink(m.Data); ok && done(l) {
				delete(want, l.Index)
			}
		}
	}
}

// lookOneByOne is how many links waitUp asks about one by one; for more it
// lists them all in one dump.
const lookOneByOne = 4
