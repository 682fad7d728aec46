package nstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Flap makes the interface lose its carrier for down, then have it back for
// up, over and over, as a loose cable or a flapping switch port does, until
// ctx is done, stop is called or the topology is torn down. Flap returns once
// the carrier is gone for the first time.
//
// Flap sets the other end of the veth pair administratively down and up, so
// the interface itself stays up and keeps its addresses and routes, marked
// linkdown while the carrier is gone, as on a real machine. For a host's
// interface made by Connect, the other end is the bridge port in the fabric.
// When the other end is in a host or router (Link), its IPv6 addresses are
// kept across the flap and the routes it loses while down are put back.
//
// stop ends the flapping, leaves the link up and returns once it is, with the
// first error the flapping met, if any. It may be called more than once.
// Traffic sent through the topology afterwards waits until the link is
// operationally up again.
//
// It is a builder: on bad input or a failure it fails the test (tb.Fatalf)
// with a message naming the object and the value
// (a duration that is not positive, an interface without another end, a
// torn-down topology).
func (i *Interface) Flap(ctx context.Context, down, up time.Duration) (stop func() error) {
	t := i.host.topo
	t.tb.Helper()
	if down <= 0 || up <= 0 {
		t.tb.Fatalf("nstest: interface %s: flap %v down, %v up: both durations must be positive", i, down, up)
	}
	if i.peer == nil {
		t.tb.Fatalf("nstest: interface %s: flap: the interface has no other end to set down", i)
	}
	if t.isClosed() {
		t.tb.Fatalf("nstest: interface %s: flap: %v", i, ErrClosed)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	lost, ferr := i.loseCarrier()
	go func() {
		defer close(done)
		err := i.flap(ctx, down, up, lost)
		if ferr == nil {
			ferr = err
		}
	}()
	var once sync.Once
	stop = func() error {
		once.Do(func() {
			cancel()
			<-done
		})
		return ferr
	}
	if !t.atTeardown(func() { stop() }) {
		stop()
		t.tb.Fatalf("nstest: interface %s: flap: the topology is already torn down", i)
	}
	return stop
}

// flap runs the down/up cycle, starting down with lost the routes to put
// back, until ctx is done, and leaves the link up.
func (i *Interface) flap(ctx context.Context, down, up time.Duration, lost []netlink.Route) error {
	var first error
	note := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	tm := time.NewTimer(down)
	defer tm.Stop()
	for {
		select {
		case <-ctx.Done():
			note(i.regainCarrier(lost, true))
			return first
		case <-tm.C:
		}
		note(i.regainCarrier(lost, false))
		tm.Reset(up)
		select {
		case <-ctx.Done():
			i.host.topo.pend(i, i.peer)
			return first
		case <-tm.C:
		}
		var err error
		lost, err = i.loseCarrier()
		note(err)
		tm.Reset(down)
	}
}

// loseCarrier sets the peer down and returns the routes through it that the
// kernel is about to flush, to put back with regainCarrier.
func (i *Interface) loseCarrier() ([]netlink.Route, error) {
	p := i.peer
	var keep []netlink.Route
	if p.host.kind != kindFabric {
		// Without this, IPv6 addresses vanish with the link.
		p.host.SetSysctl("net.ipv6.conf."+p.name+".keep_addr_on_down", "1")
		var rs []netlink.Route
		err := p.host.use(func() (err error) {
			rs, err = p.host.nl.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{LinkIndex: p.index}, netlink.RT_FILTER_OIF)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("nstest: interface %s: flap: list routes of %s: %w", i, p, err)
		}
		for _, r := range rs {
			if r.Protocol != unix.RTPROT_KERNEL && r.Table == unix.RT_TABLE_MAIN {
				keep = append(keep, r)
			}
		}
	}
	if err := p.SetDown(); err != nil {
		return keep, fmt.Errorf("nstest: interface %s: flap: %w", i, err)
	}
	return keep, nil
}

// regainCarrier sets the peer up and restores the routes it lost. While
// flapping, traffic does not wait for the link to come up (it would hide the
// flap); after the last time (final), it does, as after SetUp.
func (i *Interface) regainCarrier(lost []netlink.Route, final bool) error {
	p := i.peer
	if err := p.host.use(func() error { return p.host.nl.LinkSetUp(p.link()) }); err != nil {
		return fmt.Errorf("nstest: interface %s: flap: set %s up: %w", i, p, err)
	}
	if final {
		i.host.topo.pend(i, p)
	}
	var errs []error
	waited := false
	for _, r := range lost {
		replace := func() error { return p.host.use(func() error { return p.host.nl.RouteReplace(&r) }) }
		if err := replace(); err != nil {
			if !waited {
				waited = true
				// IPv6 takes its routes back only once the link is
				// operationally up, which happens a moment later.
				p.host.waitUp([]int{p.index})
				if err = replace(); err == nil {
					continue
				}
			}
			errs = append(errs, fmt.Errorf("nstest: interface %s: flap: restore route %s on %s: %w", i, r, p, err))
		}
	}
	return errors.Join(errs...)
}

// atTeardown registers fn to run when the topology is torn down, before the
// namespaces are closed. It reports false if the topology is already gone.
func (t *Topology) atTeardown(fn func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.undo = append(t.undo, fn)
	return true
}
