package nstest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/inet"
	"github.com/nstest/harness/nstest/ping"
)

// The assertions probe with their own small multi-destination pinger rather
// than one ping.Conn per pair: a source host opens ONE ICMP socket per IP
// family in its namespace, sends an echo request to every destination it
// must check, and matches replies (and the ICMP errors routers send back) to
// destinations by the identifier and by a token and destination index in the
// payload. Only destinations still without an answer get further requests,
// at growing intervals. Checking n hosts costs n namespace switches, not
// n*(n-1).

// A probeJob is one ordered pair to check.
type probeJob struct {
	from  *Host
	dst   netip.Addr
	reach bool          // expected reachable: stop at the first reply
	until time.Duration // how long to keep trying (reach) or to watch (!reach)
}

// A probeResult is what one pair saw.
type probeResult struct {
	sent      int              // echo requests sent
	replies   int              // echo replies received (probing stops at the first)
	replyFrom netip.Addr       // who sent the first reply
	icmpErrs  []ping.ICMPError // ICMP errors answering our requests, at most maxProbeErrs
	sendErr   error            // the last error sending a request, if any
	sendFails int              // requests that could not be sent
	took      time.Duration    // from the first request to the answer or the end
	openErr   error            // the socket could not be opened: nothing was sent
}

const (
	firstGap     = 20 * time.Millisecond  // wait before the first retransmission
	maxGap       = 200 * time.Millisecond // retransmissions never wait longer
	maxProbeErrs = 8
	probePayload = 16 // token (8 bytes), destination index (4), padding
	probePool    = 32 // sources probed at once
)

// probeAll checks every job, sources concurrently (at most probePool at
// once), and returns the results in the jobs' order.
func probeAll(jobs []probeJob) []probeResult {
	res := make([]probeResult, len(jobs))
	type key struct {
		h  *Host
		v6 bool
	}
	groups := map[key][]int{}
	var order []key
	for i, j := range jobs {
		k := key{j.from, j.dst.Unmap().Is6()}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	sem := make(chan struct{}, probePool)
	var wg sync.WaitGroup
	for _, k := range order {
		idx := groups[k]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := &prober{family: ping.IPv4}
			if k.v6 {
				p.family = ping.IPv6
			}
			for _, i := range idx {
				p.targets = append(p.targets, &probeTarget{idx: len(p.targets), job: jobs[i], res: &res[i]})
			}
			if err := p.open(k.h); err != nil {
				for _, t := range p.targets {
					t.res.openErr = err
				}
				return
			}
			defer p.conn.Close()
			p.run()
		})
	}
	wg.Wait()
	return res
}

type probeTarget struct {
	idx    int // in prober.targets, carried in the payload
	job    probeJob
	res    *probeResult
	active bool
	next   time.Duration // when to send the next request
	gap    time.Duration
}

// prober is one source host's socket for one family and its destinations.
type prober struct {
	family  ping.Family
	conn    net.PacketConn // *net.IPConn (raw) or *net.UDPConn (datagram ICMP)
	rc      syscall.RawConn
	raw     bool
	id      uint16
	token   [8]byte
	targets []*probeTarget
	start   time.Time
}

// open makes the socket inside h's namespace (after the topology's links
// are up): raw where the process may, else a datagram ICMP socket, which
// the namespace is first told to allow. IP_RECVERR makes sends report what
// raw sockets otherwise hide (ENOBUFS when the neighbour table is full), and
// datagram sockets queue the ICMP errors that answer them.
func (p *prober) open(h *Host) error {
	v6 := p.family == ping.IPv6
	fd := -1
	err := h.nsDo(func() error {
		var rawErr, err error
		fd, p.raw, rawErr, _ = inet.OpenICMP(v6, true, false)
		if fd >= 0 {
			return nil
		}
		if !errors.Is(rawErr, os.ErrPermission) {
			return fmt.Errorf("raw socket: %w", rawErr)
		}
		if err = ping.AllowDatagram(); err == nil {
			fd, _, _, err = inet.OpenICMP(v6, false, true)
		}
		if err != nil {
			return fmt.Errorf("raw socket: %w; datagram socket: %w", rawErr, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot open an %v ICMP socket in %s: %w", p.family, h.name, err)
	}
	inet.SetRecvErr(fd, v6) // raw sockets too: then sends report ENOBUFS
	f := os.NewFile(uintptr(fd), "icmp")
	c, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("ICMP socket in %s: %w", h.name, err)
	}
	p.conn = c
	if p.rc, err = c.(syscall.Conn).SyscallConn(); err != nil {
		c.Close()
		return fmt.Errorf("ICMP socket in %s: %w", h.name, err)
	}
	p.id = uint16(rand.Uint32())
	binary.BigEndian.PutUint64(p.token[:], rand.Uint64())
	return nil
}

// run sends, retransmits and reads until every target has its answer or its
// time is up.
func (p *prober) run() {
	p.start = time.Now()
	for _, t := range p.targets {
		t.active, t.gap = true, firstGap
	}
	buf := make([]byte, 1500)
	lastDeadline := time.Duration(-1)
	for {
		now := time.Since(p.start)
		wake, any := time.Duration(1<<62), false
		for _, t := range p.targets {
			if !t.active {
				continue
			}
			if now >= t.job.until {
				t.finish(t.job.until)
				continue
			}
			if now >= t.next {
				p.send(t, now)
				if !t.active {
					continue
				}
			}
			any = true
			wake = min(wake, t.next, t.job.until)
		}
		if !any {
			return
		}
		if wake != lastDeadline {
			p.conn.SetReadDeadline(p.start.Add(wake))
			lastDeadline = wake
		}
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			// A datagram socket may report an error queued by the kernel;
			// anything else ends the probe as it stands.
			if isSocketError(err) {
				p.drainErrors()
				continue
			}
			for _, t := range p.targets {
				if t.active {
					t.res.sendErr = err
					t.finish(time.Since(p.start))
				}
			}
			return
		}
		p.handle(buf[:n], addrOf(from), time.Since(p.start))
	}
}

func (t *probeTarget) finish(at time.Duration) {
	t.active = false
	t.res.took = at
}

// send sends the next echo request to t and schedules the one after.
func (p *prober) send(t *probeTarget, now time.Duration) {
	seq := t.res.sent + 1
	b := make([]byte, 8+probePayload)
	b[0] = byte(ipv4.ICMPTypeEcho)
	if p.family == ping.IPv6 {
		b[0] = byte(ipv6.ICMPTypeEchoRequest)
	}
	binary.BigEndian.PutUint16(b[4:], p.id)
	binary.BigEndian.PutUint16(b[6:], uint16(seq))
	copy(b[8:], p.token[:])
	binary.BigEndian.PutUint32(b[16:], uint32(t.idx))
	if p.family == ping.IPv4 { // the kernel computes ICMPv6 checksums
		binary.BigEndian.PutUint16(b[2:], inet.Checksum(b))
	}
	dst := t.job.dst.Unmap()
	var to net.Addr = &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	if !p.raw {
		to = &net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	t.next = now + t.gap
	t.gap = min(2*t.gap, maxGap)
	if _, err := p.conn.WriteTo(b, to); err != nil {
		t.res.sendErr = err
		t.res.sendFails++
		// No route is a definite "unreachable"; when a reply is expected,
		// keep trying (a route may be on its way).
		if !t.job.reach && isNoRoute(err) {
			t.finish(now)
		}
		return
	}
	t.res.sent++
}

// handle matches one ICMP message to a target: an echo reply, or (raw
// sockets) an error quoting one of our requests.
func (p *prober) handle(b []byte, from netip.Addr, now time.Duration) {
	if len(b) < 8 {
		return
	}
	typ, code := b[0], b[1]
	v6 := p.family == ping.IPv6
	if (!v6 && typ == byte(ipv4.ICMPTypeEchoReply)) || (v6 && typ == byte(ipv6.ICMPTypeEchoReply)) {
		t := p.match(b, true)
		if t == nil {
			return
		}
		t.res.replies++
		if t.active {
			t.res.replyFrom = from
			t.finish(now)
		}
		return
	}
	if !p.raw {
		return
	}
	// An error quotes the request's IP header and (Linux) all of our small
	// request.
	q := b[8:]
	if !v6 {
		if len(q) < 20 || q[9] != unix.IPPROTO_ICMP {
			return
		}
		q = q[int(q[0]&0x0f)*4:]
	} else {
		if len(q) < 40 || q[6] != unix.IPPROTO_ICMPV6 {
			return
		}
		q = q[40:]
	}
	t := p.match(q, false)
	if t == nil || !t.active {
		return
	}
	e := ping.ICMPError{From: from, Family: p.family, Seq: int(binary.BigEndian.Uint16(q[6:8])), Type: int(typ), Code: int(code)}
	switch {
	case !v6 && typ == byte(ipv4.ICMPTypeDestinationUnreachable) && code == 4:
		e.MTU = int(binary.BigEndian.Uint16(b[6:8]))
	case v6 && typ == byte(ipv6.ICMPTypePacketTooBig):
		e.MTU = int(binary.BigEndian.Uint32(b[4:8]))
	}
	p.icmpError(t, e, now)
}

// icmpError records an ICMP error answering a request to t.
func (p *prober) icmpError(t *probeTarget, e ping.ICMPError, now time.Duration) {
	if len(t.res.icmpErrs) < maxProbeErrs {
		t.res.icmpErrs = append(t.res.icmpErrs, e)
	}
	// "Destination unreachable" settles an unreachable check at once.
	if !t.job.reach && e.Unreachable() {
		t.finish(now)
	}
}

// match returns the target an echo reply answers, or the one a quoted echo
// request (reply false) was sent to, or nil.
func (p *prober) match(m []byte, reply bool) *probeTarget {
	if len(m) < 8+12 {
		return nil
	}
	if !reply {
		want := byte(ipv4.ICMPTypeEcho)
		if p.family == ping.IPv6 {
			want = byte(ipv6.ICMPTypeEchoRequest)
		}
		if m[0] != want {
			return nil
		}
	}
	// Datagram sockets get only their own replies, with the kernel's
	// identifier; raw ones see every reply of the namespace.
	if p.raw && binary.BigEndian.Uint16(m[4:6]) != p.id {
		return nil
	}
	if string(m[8:16]) != string(p.token[:]) {
		return nil
	}
	i := int(binary.BigEndian.Uint32(m[16:20]))
	if i < 0 || i >= len(p.targets) {
		return nil
	}
	return p.targets[i]
}

// drainErrors empties the socket's error queue. Raw sockets read ICMP
// errors as packets too, so only datagram sockets record them from here.
func (p *prober) drainErrors() {
	buf, oob := make([]byte, 1500), make([]byte, 512)
	now := time.Since(p.start)
	p.rc.Control(func(fd uintptr) {
		inet.DrainErrQueue(int(fd), buf, oob, func(e *inet.QueuedError) {
			if p.raw || !e.IsICMPErr {
				return
			}
			if t := p.match(e.Payload, false); t != nil && t.active {
				p.icmpError(t, ping.ICMPError{From: e.Offender, Family: p.family, Seq: int(binary.BigEndian.Uint16(e.Payload[6:8])),
					Type: int(e.Type), Code: int(e.Code), MTU: e.MTU()}, now)
			}
		})
	})
}

func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.IPAddr:
		ip = a.IP
	case *net.UDPAddr:
		ip = a.IP
	}
	r, _ := netip.AddrFromSlice(ip)
	return r.Unmap()
}

func isNoRoute(err error) bool {
	return errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH)
}

func isSocketError(err error) bool {
	for _, e := range []error{unix.ENETUNREACH, unix.EHOSTUNREACH, unix.ECONNREFUSED, unix.EMSGSIZE, unix.EPROTO, unix.EACCES, unix.ETIMEDOUT, unix.EHOSTDOWN, unix.ENONET, unix.ENOPROTOOPT, unix.EOPNOTSUPP} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
