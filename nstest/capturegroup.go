package nstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nstest/harness/nstest/capture"
)

// CaptureGroup records several interfaces, of any hosts, at once: one Wait,
// Count and Packets over all of them, packets merged in the order the kernel
// timestamped them, and one pcapng file with an interface per capture
// (named "host:iface") and each packet's direction. It follows a packet
// along its path: Path lists the interfaces a packet crossed, in order.
// All methods are safe for concurrent use.
type CaptureGroup struct {
	caps []*capture.Capture
}

// NewCaptureGroup groups captures opened elsewhere, for example with
// Host.Capture or Interface.Capture (which name each capture's host, see
// capture.Node). It panics if a capture is nil.
func NewCaptureGroup(caps ...*capture.Capture) *CaptureGroup {
	for i, c := range caps {
		if c == nil {
			panic(fmt.Sprintf("nstest: NewCaptureGroup: capture %d of %d is nil", i+1, len(caps)))
		}
	}
	return &CaptureGroup{caps: slices.Clone(caps)}
}

// CaptureAll starts recording every interface the topology has made so
// far: each host's and router's interfaces and the bridge ports in the
// fabric (not lo), as Host.Capture does for one, and fails the test if it
// cannot. The captures are closed when the topology is torn down; their
// packets stay readable.
func (t *Topology) CaptureAll(opts ...capture.Option) *CaptureGroup {
	t.tb.Helper()
	g, err := t.captureAll(opts)
	if err != nil {
		t.tb.Fatalf("%v", err)
	}
	return g
}

func (t *Topology) captureAll(opts []capture.Option) (*CaptureGroup, error) {
	g := &CaptureGroup{}
	for _, h := range t.allHosts() {
		ifaces := h.Interfaces()
		if len(ifaces) == 0 {
			continue
		}
		hostOpts := append([]capture.Option{capture.Node(h.name)}, opts...)
		// Do waits for pending links first, as Host.Capture does.
		err := h.Do(func() error {
			for _, i := range ifaces {
				c, err := capture.Open(i.name, hostOpts...)
				if err != nil {
					return err
				}
				g.caps = append(g.caps, c)
			}
			return nil
		})
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("nstest: CaptureAll: host %q: %w", h.name, err)
		}
	}
	// Teardown closes the group at once: one capture at a time, each
	// waiting for the kernel's grace period, would add ~10 ms per interface.
	if !t.atTeardown(func() { g.Close() }) {
		g.Close()
		return nil, fmt.Errorf("nstest: CaptureAll: topology %q: %w", t.name, ErrClosed)
	}
	return g, nil
}

// Captures returns the group's captures, in the order they were grouped.
func (g *CaptureGroup) Captures() []*capture.Capture { return slices.Clone(g.caps) }

// Capture returns the group's capture of the interface iface of the host
// (or router, or "fabric" for a bridge port) called node, or nil.
func (g *CaptureGroup) Capture(node, iface string) *capture.Capture {
	for _, c := range g.caps {
		if c.Node() == node && c.Interface() == iface {
			return c
		}
	}
	return nil
}

// Packets returns the kept packets of every capture that match every
// filter, oldest first by kernel timestamp. Packet.Node and
// Packet.Interface say where each was seen.
func (g *CaptureGroup) Packets(fs ...capture.Filter) []capture.Packet {
	var all []capture.Packet
	for _, c := range g.caps {
		all = append(all, c.Packets(fs...)...)
	}
	slices.SortStableFunc(all, func(a, b capture.Packet) int { return a.Time.Compare(b.Time) })
	return all
}

// Count returns how many kept packets of all captures match every filter.
func (g *CaptureGroup) Count(fs ...capture.Filter) int {
	n := 0
	for _, c := range g.caps {
		n += c.Count(fs...)
	}
	return n
}

// Path returns where the kept packets matching every filter were seen, in
// timestamp order, as "host:iface Out" (sent by that interface's host) or
// "host:iface In". With a filter that selects one packet (an echo request
// by ID and sequence number), it is the packet's path through the topology:
//
//	[ns1:eth0 Out fabric:ns1+eth0 In fabric:r1+eth0 Out r1:eth0 In r1:eth1 Out ...]
func (g *CaptureGroup) Path(fs ...capture.Filter) []string {
	var path []string
	for _, p := range g.Packets(fs...) {
		dir := "In"
		if p.Outgoing {
			dir = "Out"
		}
		path = append(path, hopName(p.Node, p.Interface)+" "+dir)
	}
	return path
}

func hopName(node, iface string) string {
	if node == "" {
		return iface
	}
	return node + ":" + iface
}

// Wait returns as soon as n packets matching f (nil matches all) have been
// captured on the group's interfaces together, counting the kept packets
// first, then new arrivals. It returns the first n of them in timestamp
// order. When ctx ends, or every capture is closed, first, it returns the
// packets that did match and an error saying how many of how many and
// where, wrapping ctx.Err() or capture.ErrClosed.
func (g *CaptureGroup) Wait(ctx context.Context, f capture.Filter, n int) ([]capture.Packet, error) {
	if n <= 0 {
		return nil, nil
	}
	if len(g.caps) == 0 {
		return nil, fmt.Errorf("nstest: capture group: 0 of %d wanted packets matched: no captures: %w", n, capture.ErrClosed)
	}
	// Each capture's Wait counts into one total through its filter, which
	// runs on that capture's reading goroutine: reaching n stops them all.
	var (
		total   atomic.Int64
		reached = make(chan struct{})
		once    sync.Once
	)
	count := func(p *capture.Packet) bool {
		if f != nil && !f(p) {
			return false
		}
		if total.Add(1) >= int64(n) {
			once.Do(func() { close(reached) })
		}
		return true
	}
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		pkts []capture.Packet
		err  error
	}
	results := make([]result, len(g.caps))
	var wg sync.WaitGroup
	for i, c := range g.caps {
		wg.Go(func() {
			pkts, err := c.Wait(inner, count, n)
			results[i] = result{pkts, err}
		})
	}
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	select {
	case <-reached:
	case <-ctx.Done():
	case <-ended:
	}
	cancel()
	<-ended

	var got []capture.Packet
	for _, r := range results {
		got = append(got, r.pkts...)
	}
	slices.SortStableFunc(got, func(a, b capture.Packet) int { return a.Time.Compare(b.Time) })
	if len(got) >= n {
		return got[:n], nil
	}
	cause := ctx.Err()
	if cause == nil { // every capture was closed
		cause = capture.ErrClosed
	}
	return got, fmt.Errorf("nstest: capture group: %d of %d wanted packets matched on %s: %w", len(got), n, g.describe(), cause)
}

// describe names the group's interfaces with their packet counts, for
// error messages.
func (g *CaptureGroup) describe() string {
	var b strings.Builder
	for i, c := range g.caps {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%d packets)", hopName(c.Node(), c.Interface()), c.Count())
	}
	return b.String()
}

// Clear forgets the kept packets of every capture, so that Wait, Count and
// Path see only what arrives afterwards.
func (g *CaptureGroup) Clear() {
	for _, c := range g.caps {
		c.Clear()
	}
}

// WritePcapng writes the kept packets of every capture to w as one pcapng
// stream, as capture.WritePcapng does: an interface per capture named
// "host:iface", packets in timestamp order with their direction.
func (g *CaptureGroup) WritePcapng(w io.Writer) error {
	if err := capture.WritePcapng(w, g.caps...); err != nil {
		return fmt.Errorf("nstest: capture group: %w", err)
	}
	return nil
}

// WriteFile writes the kept packets of every capture to one pcapng file at
// path, replacing it. tshark -r PATH shows each packet's interface;
// tcpdump -r PATH reads it too.
func (g *CaptureGroup) WriteFile(path string) error {
	if err := capture.WritePcapngFile(path, g.caps...); err != nil {
		return fmt.Errorf("nstest: capture group: %w", err)
	}
	return nil
}

// Close stops every capture, all at once, and returns once they have
// stopped; the packets stay readable. It returns the errors that stopped
// captures early, if any.
func (g *CaptureGroup) Close() error {
	errs := make([]error, len(g.caps))
	var wg sync.WaitGroup
	for i, c := range g.caps {
		wg.Go(func() { errs[i] = c.Close() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
