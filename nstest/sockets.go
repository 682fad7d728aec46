package nstest

import (
	"context"
	"fmt"
	"io"
	"net"
	"syscall"
)

// track keeps c to close it at teardown. What the user closed meanwhile is
// forgotten: the list is pruned whenever it has doubled since the last
// pruning, so a dial loop's memory stays flat at a cost of O(1) per call.
// A socket made while the teardown ran (its namespace was still open) comes
// after closeSockets: track closes it and returns ErrClosed, or it would
// hold the namespace for as long as the process lives.
func (h *Host) track(c io.Closer) error {
	if testHookTrack != nil {
		testHookTrack(h, c)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.socketsClosed {
		c.Close()
		return h.closedErr()
	}
	h.closers = append(h.closers, c)
	if len(h.closers) < 2*h.pruned+16 {
		return nil
	}
	open := h.closers[:0]
	for _, c := range h.closers {
		if !isClosed(c) {
			open = append(open, c)
		}
	}
	clear(h.closers[len(open):]) // let the closed ones be collected
	h.closers, h.pruned = open, len(open)
	return nil
}

// testHookTrack, if set, runs as track starts: tests tear the topology down
// there.
var testHookTrack func(*Host, io.Closer)

// isClosed reports whether the socket c was closed already: its descriptor
// refuses any use then.
func isClosed(c io.Closer) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	return err != nil || rc.Control(func(uintptr) {}) != nil
}

func (h *Host) closeSockets() {
	h.mu.Lock()
	cs := h.closers
	h.closers = nil
	h.socketsClosed = true
	h.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].Close()
	}
}

// Dial connects to address from inside the host's namespace, like
// net.Dial. The host part of address may be the name of a node of the
// topology ("ns2:8080"). The connection stays in the host's namespace and can
// be used from any goroutine; it is closed at teardown if still open.
func (h *Host) Dial(network, address string) (net.Conn, error) {
	return h.DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	h.topo.ready()
	addr, err := h.topo.resolveHostPort(h, network, address)
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: dial %s %s: %w", h.name, network, address, err)
	}
	var c net.Conn
	err = h.do(func() (err error) {
		// No Happy Eyeballs: its fallback dials from another goroutine,
		// which would run outside the namespace.
		d := net.Dialer{FallbackDelay: -1}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	if err := h.track(c); err != nil {
		return nil, fmt.Errorf("nstest: %w", err)
	}
	return c, nil
}

// Listen listens on address inside the host's namespace, like net.Listen.
// The listener is closed at teardown if still open.
func (h *Host) Listen(network, address string) (net.Listener, error) {
	h.topo.ready()
	addr, err := h.topo.resolveHostPort(h, network, address)
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: listen %s %s: %w", h.name, network, address, err)
	}
	var l net.Listener
	err = h.do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	if err := h.track(l); err != nil {
		return nil, fmt.Errorf("nstest: %w", err)
	}
	return l, nil
}

// ListenPacket listens on address inside the host's namespace, like
// net.ListenPacket. The connection is closed at teardown if still open.
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	h.topo.ready()
	addr, err := h.topo.resolveHostPort(h, network, address)
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: listen %s %s: %w", h.name, network, address, err)
	}
	var c net.PacketConn
	err = h.do(func() (err error) {
		c, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	if err := h.track(c); err != nil {
		return nil, fmt.Errorf("nstest: %w", err)
	}
	return c, nil
}
