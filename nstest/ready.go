package nstest

import (
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
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
	for _, h := range order {
		h.waitUp(byHost[h])
	}
}

// waitUp waits until the links with the given indexes are operationally up,
// or down administratively, or readyTimeout has passed.
func (h *Host) waitUp(indexes []int) {
	want := map[int]bool{}
	for _, i := range indexes {
		want[i] = true
	}
	var s *nl.NetlinkSocket
	err := h.ns.Do(func() (err error) {
		s, err = nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
		return err
	})
	if err != nil {
		return
	}
	defer s.Close()
	check := func(l netlink.Link) {
		a := l.Attrs()
		if a.OperState == netlink.OperUp || a.Flags&unix.IFF_UP == 0 {
			delete(want, a.Index)
		}
	}
	// Subscribed first, then listed: no change can fall between the two.
	links, err := h.nl.LinkList()
	if err != nil {
		return
	}
	for _, l := range links {
		check(l)
	}
	deadline := time.Now().Add(readyTimeout)
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
			hdr := unix.NlMsghdr{Len: m.Header.Len, Type: m.Header.Type, Flags: m.Header.Flags, Seq: m.Header.Seq, Pid: m.Header.Pid}
			if l, err := netlink.LinkDeserialize(&hdr, m.Data); err == nil {
				check(l)
			}
		}
	}
}
