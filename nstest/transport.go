package nstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Payload sets the datagram a UDP check sends (default "nstest udp probe"),
// for responders that answer only a well-formed request.
func Payload(b []byte) CheckOption {
	return func(c *checkConfig) { c.payload = append([]byte(nil), b...) }
}

var defaultPayload = []byte("nstest udp probe")

// dial opens a socket in h's namespace, connected to ap.
func (h *Host) dialIn(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := h.nsDo(func() (err error) {
		d := net.Dialer{FallbackDelay: -1}
		c, err = d.DialContext(ctx, network, ap.String())
		return err
	})
	return c, err
}

// AssertTCPReachable checks that from can open a TCP connection to address,
// "host:port" where host may be a node name, retrying until the check's time
// is up (default 2s, see Within). A failure says whether the connection was
// refused (a reset: nothing listens, or a firewall rejects it), timed out
// (the SYNs went unanswered: dropped on the way), or had no route.
func AssertTCPReachable(tb testing.TB, from *Host, address string, opts ...CheckOption) (held bool) {
	tb.Helper()
	defer markUnless(&held, from, address, "tcp", true)
	c := checkOpts(opts)
	t := from.topo
	ap, err := t.resolveAddrPort(from, address, c)
	if err == nil {
		err = c.err()
	}
	if err != nil {
		tb.Errorf("nstest: %s -> tcp %s: want a connection, but %v", from.name, address, err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.within)
	defer cancel()
	attempts := 0
	var why error // what the attempts met; an answer (refused, no route) outranks the check's end cutting one short
	for wait := firstGap; ; wait = min(2*wait, maxGap) {
		attempts++
		conn, err := from.dialIn(ctx, "tcp", ap)
		if err == nil {
			conn.Close()
			return true
		}
		if why == nil || ctx.Err() == nil || !isTimeout(err) && !errors.Is(err, context.DeadlineExceeded) {
			why = err
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			continue
		}
		tb.Errorf("nstest: %s -> tcp %s: want a connection, got %s (%s in %v)", from.name, t.endpoint(address, ap),
			tcpFailure(why, ap, c.within), plural(attempts, "attempt"), c.within)
		return false
	}
}

// AssertTCPUnreachable checks that from cannot open a TCP connection to
// address within the check's window (default 1s, see Within and Window):
// the connection is refused, times out, or has no route. A failure names
// the connection that was accepted.
func AssertTCPUnreachable(tb testing.TB, from *Host, address string, opts ...CheckOption) (held bool) {
	tb.Helper()
	defer markUnless(&held, from, address, "tcp", false)
	c := checkOpts(opts)
	t := from.topo
	ap, err := t.resolveAddrPort(from, address, c)
	if err == nil {
		err = c.err()
	}
	if err != nil {
		tb.Errorf("nstest: %s -> tcp %s: want no connection, but %v", from.name, address, err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.window)
	defer cancel()
	conn, err := from.dialIn(ctx, "tcp", ap)
	if err != nil {
		return true
	}
	defer conn.Close()
	tb.Errorf("nstest: %s -> tcp %s: want no connection, got one: %s accepted it (from %s)", from.name, t.endpoint(address, ap),
		conn.RemoteAddr(), conn.LocalAddr())
	return false
}

// tcpFailure says in words why a TCP dial failed.
func tcpFailure(err error, ap netip.AddrPort, d time.Duration) string {
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return fmt.Sprintf("refused (a TCP reset: nothing listens on port %d there, or a firewall rejects it)", ap.Port())
	case errors.Is(err, unix.ENETUNREACH):
		return "no route (network is unreachable)"
	case errors.Is(err, unix.EHOSTUNREACH):
		return "no route (host unreachable: no neighbour answered, or an ICMP error came back from a router or firewall)"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Sprintf("timed out after %v (no answer to the SYNs: dropped on the way, or by a firewall)", d)
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// AssertUDPReachable checks that from, sending datagrams to address
// ("host:port", host may be a node name) from a connected UDP socket, gets a
// datagram back from it. UDP has no handshake, so "reachable" needs a
// responder that answers: start one with ServeUDPEcho, or point at a service
// that answers the probe (see Payload). The check retransmits at growing
// intervals until the first answer or until its time is up (default 2s, see
// Within). A failure says whether the probe was refused (an ICMP port
// unreachable came back: nothing listens, or a firewall rejects it), got no
// answer (dropped, or the listener does not answer), or had no route.
func AssertUDPReachable(tb testing.TB, from *Host, address string, opts ...CheckOption) bool {
	tb.Helper()
	return checkUDP(tb, from, address, true, opts)
}

// AssertUDPUnreachable checks that from, sending datagrams to address, gets
// no datagram back during the check's window (default 1s, see Within and
// Window). It holds early when the probe is refused (ICMP port unreachable)
// or has no route. A failure names who answered.
func AssertUDPUnreachable(tb testing.TB, from *Host, address string, opts ...CheckOption) bool {
	tb.Helper()
	return checkUDP(tb, from, address, false, opts)
}

func checkUDP(tb testing.TB, from *Host, address string, reach bool, opts []CheckOption) (held bool) {
	tb.Helper()
	defer markUnless(&held, from, address, "udp", reach)
	c := checkOpts(opts)
	want, d := "an answer", c.within
	if !reach {
		want, d = "no answer", c.window
	}
	payload := c.payload
	if payload == nil {
		payload = defaultPayload
	}
	t := from.topo
	ap, err := t.resolveAddrPort(from, address, c)
	if err == nil {
		err = c.err()
	}
	if err != nil {
		tb.Errorf("nstest: %s -> udp %s: want %s, but %v", from.name, address, want, err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	conn, err := from.dialIn(ctx, "udp", ap)
	if err != nil {
		if !reach && isNoRoute(err) {
			return true
		}
		tb.Errorf("nstest: %s -> udp %s: want %s, got %s", from.name, t.endpoint(address, ap), want, udpFailure(err, ap, 0, d))
		return false
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	buf := make([]byte, 64<<10)
	sent := 0
	var last error
	for wait := firstGap; ; wait = min(2*wait, maxGap) {
		if _, err := conn.Write(payload); err != nil {
			last = err
		} else {
			sent++
		}
		rd := time.Now().Add(wait)
		if rd.After(deadline) {
			rd = deadline
		}
		conn.SetReadDeadline(rd)
		n, err := conn.Read(buf)
		if err == nil {
			if reach {
				return true
			}
			tb.Errorf("nstest: %s -> udp %s: want no answer, got an answer of %d bytes from %s", from.name, t.endpoint(address, ap), n, conn.RemoteAddr())
			return false
		}
		if !isTimeout(err) {
			last = err
			if !reach && (errors.Is(err, unix.ECONNREFUSED) || isNoRoute(err)) {
				return true
			}
		}
		if !time.Now().Before(deadline) {
			break
		}
		if !isTimeout(err) {
			// An immediate error would repeat at once: pace it.
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
	if !reach {
		return true
	}
	tb.Errorf("nstest: %s -> udp %s: want an answer, got %s", from.name, t.endpoint(address, ap), udpFailure(last, ap, sent, d))
	return false
}

// udpFailure says in words why a UDP probe got no answer.
func udpFailure(err error, ap netip.AddrPort, sent int, d time.Duration) string {
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return fmt.Sprintf("refused (an ICMP port unreachable came back: nothing listens on udp port %d there, or a firewall rejects it; %s sent in %v)", ap.Port(), plural(sent, "datagram"), d)
	case errors.Is(err, unix.ENETUNREACH):
		return "no route (network is unreachable)"
	case errors.Is(err, unix.EHOSTUNREACH):
		return "no route (host unreachable: no neighbour answered, or an ICMP error came back from a router or firewall)"
	case err != nil:
		return err.Error()
	}
	return fmt.Sprintf("no answer to %s in %v (timed out: dropped on the way, or nothing there sends an answer; see ServeUDPEcho)", plural(sent, "datagram"), d)
}

// ServeUDPEcho starts a UDP echo responder in h, listening on address
// (":7", "ns2:5353", ...), that sends every datagram back to its sender,
// and returns the address it listens on. It runs until the topology is torn
// down; a failure to listen fails tb at once.
func ServeUDPEcho(tb testing.TB, h *Host, address string) string {
	tb.Helper()
	pc, err := h.ListenPacket("udp", address)
	if err != nil {
		tb.Fatalf("nstest: udp echo responder in %s: %v", h.name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	// Teardown closes pc before its undo steps; waiting there for the
	// responder leaves no goroutine behind.
	if !h.topo.atTeardown(func() { <-done }) {
		pc.Close()
		<-done
	}
	return pc.LocalAddr().String()
}
