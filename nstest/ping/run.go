package ping

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/inet"
)

// ICMP types this package sends, expects and understands.
const (
	echoRequest4, echoReply4                       = 8, 0
	unreachable4, timeExceeded4, paramProblem4     = 3, 11, 12
	echoRequest6, echoReply6                       = 128, 129
	unreachable6, tooBig6, timeExceeded6, problem6 = 1, 2, 3, 4
	fragNeeded4                                    = 4 // code of unreachable4
)

// run is one Ping: the requests sent and what came back.
type run struct {
	c        *Conn
	cfg      *config
	dst      netip.Addr
	st       *Stats
	id       uint16
	token    [8]byte
	tokenLen int
	start    time.Time
	sendAt   []time.Duration // since start, per request
	answers  []answer        // per request
	nSettled int             // requests no longer pending
	mtu      int             // from the last local EMSGSIZE error, if known
}

const forever = time.Duration(math.MaxInt64)

func (r *run) loop(ctx context.Context) error {
	c, cfg := r.c, r.cfg
	r.id = uint16(rand.Uint32())
	binary.BigEndian.PutUint64(r.token[:], rand.Uint64())
	r.tokenLen = min(cfg.size, len(r.token))
	r.buildRequest()
	n := cfg.count
	if n == 0 || n > 4096 {
		n = 4096
	}
	r.sendAt, r.answers = make([]time.Duration, 0, n), make([]answer, 0, n)
	r.st.RTTs = make([]time.Duration, 0, n)
	r.st.TTLs = make([]int, 0, n)

	r.start = time.Now()
	end, ctxEnd := forever, false
	if cfg.timeout > 0 {
		end = cfg.timeout
	}
	if dl, ok := ctx.Deadline(); ok && dl.Sub(r.start) < end {
		end, ctxEnd = dl.Sub(r.start), true
	}
	var writeDeadline time.Time
	if end != forever {
		writeDeadline = r.start.Add(end)
	}
	c.f.SetWriteDeadline(writeDeadline)
	if ctx.Done() != nil {
		// Wake a blocked read or write at once. Setting a deadline in the
		// past also wins against the loop's own SetReadDeadline: the loop
		// checks ctx.Err() after setting it, and ctx.Err() is set before
		// this runs.
		stop := context.AfterFunc(ctx, func() { c.f.SetDeadline(c.pastTime) })
		defer stop()
	}
	var nextSend, lastSend time.Duration
	readDeadline := time.Duration(-1)
	for {
		now := time.Since(r.start)
		if now >= end {
			if ctxEnd { // ctx's deadline, maybe a moment before ctx reports it
				return fmt.Errorf("ping %v: %w", r.dst, context.DeadlineExceeded)
			}
			return nil // Timeout: the stats say what happened
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ping %v: %w", r.dst, err)
		}
		more := cfg.count == 0 || r.st.Sent < cfg.count
		if more && now >= nextSend {
			if err := r.send(now); err != nil {
				return err
			}
			lastSend = now
			nextSend += cfg.interval
			if nextSend < now {
				nextSend = now // late (a slow machine): keep the interval from now on
			}
			more = cfg.count == 0 || r.st.Sent < cfg.count
		}
		next := nextSend
		if !more {
			if r.nSettled == r.st.Sent { // every request has its reply or error, as iputils ends
				return nil
			}
			next = lastSend + cfg.wait
			if now >= next {
				return nil
			}
		}
		next = min(next, end)
		if next <= now {
			// Something is due already: look for a reply without waiting,
			// so that back-to-back requests (Interval 0) are read as they
			// come back rather than overflowing the receive buffer.
			if err := c.rc.Control(c.tryFn); err != nil {
				return fmt.Errorf("ping %v: read: %w", r.dst, err)
			}
			if c.rerr == unix.EAGAIN {
				continue
			}
		} else {
			if next != readDeadline {
				readDeadline = next
				c.f.SetReadDeadline(r.start.Add(next))
				if ctx.Err() != nil {
					continue
				}
			}
			if err := c.rc.Read(c.recvFn); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					readDeadline = -1 // also when ctx set it: set it again
					continue
				}
				return fmt.Errorf("ping %v: read: %w", r.dst, err)
			}
		}
		if c.rerr != nil {
			if err := r.readError(c.rerr); err != nil {
				return err
			}
			continue
		}
		r.handle(c.in[:c.n], c.from(), c.hops, time.Since(r.start))
	}
}

// buildRequest writes the echo request into c.out: header, then the token,
// then iputils' pattern of incrementing bytes.
func (r *run) buildRequest() {
	b := r.c.out
	clear(b[:8])
	b[0] = echoRequest4
	if r.c.family == IPv6 {
		b[0] = echoRequest6
	}
	binary.BigEndian.PutUint16(b[4:], r.id) // the kernel replaces it on datagram sockets
	p := b[8:]
	copy(p, r.token[:r.tokenLen])
	for i := r.tokenLen; i < len(p); i++ {
		p[i] = byte(i)
	}
}

// send sends request number Sent (sequence number Sent+1, as iputils).
func (r *run) send(now time.Duration) error {
	c, i := r.c, r.st.Sent
	b := c.out
	binary.BigEndian.PutUint16(b[6:], uint16(i+1))
	if c.family == IPv4 { // the kernel computes ICMPv6 checksums, and on datagram sockets ICMP ones
		b[2], b[3] = 0, 0
		binary.BigEndian.PutUint16(b[2:], inet.Checksum(b))
	}
	r.sendAt = append(r.sendAt, now)
	r.answers = append(r.answers, pending)
	err := r.write()
	// On a datagram socket an ICMP error that an earlier request met (time
	// exceeded, unreachable) is also left pending on the socket, and the
	// next send returns it, as if this request had failed, when it arrives
	// before the reader has seen it (a slow machine: the kernel lane's
	// emulated CPUs). It is on the error queue: record it there, and send
	// again; the send consumed the pending error. (EMSGSIZE is left to the
	// MTU report below, which reads the queue itself.)
	if err != nil && c.kind == Datagram && !errors.Is(err, unix.EMSGSIZE) && r.queuedICMPError() {
		err = r.write()
	}
	if err == nil {
		r.st.Sent++
		return nil
	}
	r.sendAt, r.answers = r.sendAt[:i], r.answers[:i]
	switch {
	case errors.Is(err, unix.EMSGSIZE):
		mtu := r.localMTU()
		total := len(b) + 20
		if c.family == IPv6 {
			total = len(b) + 40
		}
		msg := "MTU unknown"
		if mtu > 0 {
			msg = fmt.Sprintf("MTU %d", mtu)
		}
		what := "does not fit"
		if r.cfg.dontFragment {
			what = "does not fit with DontFragment"
		}
		return fmt.Errorf("ping %v: request %d: %d-byte payload (%d-byte packet) %s (%s): %w",
			r.dst, i+1, r.cfg.size, total, what, msg, err)
	case errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.EHOSTUNREACH):
		return fmt.Errorf("ping %v: request %d: no route from this namespace: %w", r.dst, i+1, err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("ping %v: request %d: refused locally (an output firewall rule?): %w", r.dst, i+1, err)
	case errors.Is(err, unix.EACCES):
		return fmt.Errorf("ping %v: request %d: refused locally (a broadcast address?): %w", r.dst, i+1, err)
	}
	return fmt.Errorf("ping %v: request %d: send: %w", r.dst, i+1, err)
}

// localMTU finds the MTU the kernel reported with the last EMSGSIZE. The
// kernel queues it on the error queue only with IP_RECVERR, which datagram
// sockets have on; a raw socket turns it on, sends again, and off again
// (which empties the queue).
func (r *run) localMTU() int {
	c := r.c
	r.mtu = 0
	if c.kind == Datagram {
		c.control(func(fd int) error { r.drainErrQueue(fd); return nil })
		return r.mtu
	}
	level, opt := unix.SOL_IP, unix.IP_RECVERR
	if c.family == IPv6 {
		level, opt = unix.SOL_IPV6, unix.IPV6_RECVERR
	}
	c.control(func(fd int) error {
		if unix.SetsockoptInt(fd, level, opt, 1) != nil {
			return nil
		}
		if unix.Sendto(fd, c.out, 0, c.to) == unix.EMSGSIZE {
			r.drainErrQueue(fd)
		}
		unix.SetsockoptInt(fd, level, opt, 0)
		return nil
	})
	return r.mtu
}

// readError handles an error a read returned. Sockets report ICMP errors
// and local ones through such errors; the details are on the error queue.
func (r *run) readError(err error) error {
	switch {
	case errors.Is(err, unix.EHOSTUNREACH), errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.ECONNREFUSED),
		errors.Is(err, unix.EMSGSIZE), errors.Is(err, unix.EPROTO), errors.Is(err, unix.ETIMEDOUT),
		errors.Is(err, unix.EHOSTDOWN), errors.Is(err, unix.ENONET), errors.Is(err, unix.EACCES),
		errors.Is(err, unix.ENOPROTOOPT), errors.Is(err, unix.EOPNOTSUPP):
		if r.c.kind == Datagram {
			r.c.control(func(fd int) error { r.drainErrQueue(fd); return nil })
		}
		return nil
	}
	return fmt.Errorf("ping %v: read: %w", r.dst, err)
}

// write sends c.out once.
func (r *run) write() error {
	err := r.c.rc.Write(r.c.sendFn)
	if err == nil {
		err = r.c.werr
	}
	return err
}

// queuedICMPError drains the error queue and reports whether it held an
// ICMP error about one of our requests.
func (r *run) queuedICMPError() bool {
	var icmp bool
	r.c.control(func(fd int) error { icmp = r.drainErrQueue(fd); return nil })
	return icmp
}

// drainErrQueue reads the socket's error queue (rare: it allocates), records
// ICMP errors answering this run's requests, and the MTU of local EMSGSIZE
// errors.
func (r *run) drainErrQueue(fd int) (icmp bool) {
	inet.DrainErrQueue(fd, make([]byte, 1500), make([]byte, 512), func(e *inet.QueuedError) {
		switch {
		case e.Origin == unix.SO_EE_ORIGIN_LOCAL:
			if e.Errno == uint32(unix.EMSGSIZE) {
				r.mtu = int(e.Info)
			}
		case e.IsICMPErr:
			// The payload is our request's ICMP message, as quoted.
			if idx := r.match(e.Payload, false); idx >= 0 {
				r.settle(idx, failed)
				r.addError(ICMPError{From: e.Offender, Seq: idx + 1, Type: int(e.Type), Code: int(e.Code), MTU: e.MTU()})
				icmp = true
			}
		}
	})
	return icmp
}

func (r *run) addError(e ICMPError) {
	if e.From.Is4In6() {
		e.From = e.From.Unmap()
	}
	if e.Family = r.c.family; len(r.st.ICMPErrors) < maxErrors {
		r.st.ICMPErrors = append(r.st.ICMPErrors, e)
	}
}

// maxErrors bounds Stats.ICMPErrors: a long run towards a dead host should
// not grow without end.
const maxErrors = 1000

// handle looks at one datagram: a reply to one of our requests, an ICMP
// error quoting one (raw sockets only), or someone else's.
func (r *run) handle(b []byte, from netip.Addr, hops int, now time.Duration) {
	raw4 := r.c.kind == Raw && r.c.family == IPv4
	if raw4 { // raw IPv4 sockets read the IP header too
		if len(b) < 20 {
			return
		}
		hops = int(b[8])
		b = b[int(b[0]&0x0f)*4:]
	}
	if len(b) < 8 {
		return
	}
	typ := b[0]
	if typ == echoReply4 && r.c.family == IPv4 || typ == echoReply6 && r.c.family == IPv6 {
		// Raw sockets see every reply in the namespace; datagram sockets
		// only theirs, with the identifier the kernel chose.
		idx := r.match(b, true)
		if idx < 0 {
			return
		}
		if r.answers[idx] == replied {
			r.st.Duplicates++
			return
		}
		r.settle(idx, replied)
		r.st.Received++
		r.st.RTTs = append(r.st.RTTs, now-r.sendAt[idx])
		r.st.TTLs = append(r.st.TTLs, hops)
		return
	}
	if r.c.kind != Raw {
		return
	}
	// An ICMP error quotes the request's IP header and at least the first 8
	// bytes of its ICMP message (Linux quotes more).
	q := b[8:]
	if r.c.family == IPv4 {
		if typ != unreachable4 && typ != timeExceeded4 && typ != paramProblem4 {
			return
		}
		if len(q) < 20 || q[9] != unix.IPPROTO_ICMP || netip.AddrFrom4([4]byte(q[16:20])) != r.dst {
			return
		}
		q = q[int(q[0]&0x0f)*4:]
	} else {
		if typ != unreachable6 && typ != tooBig6 && typ != timeExceeded6 && typ != problem6 {
			return
		}
		if len(q) < 40 || q[6] != unix.IPPROTO_ICMPV6 || netip.AddrFrom16([16]byte(q[24:40])) != r.dst.WithZone("") {
			return
		}
		q = q[40:]
	}
	idx := r.match(q, false)
	if idx < 0 {
		return
	}
	e := ICMPError{From: from, Seq: idx + 1, Type: int(typ), Code: int(b[1])}
	switch {
	case r.c.family == IPv4 && typ == unreachable4 && b[1] == fragNeeded4:
		e.MTU = int(binary.BigEndian.Uint16(b[6:8]))
	case r.c.family == IPv6 && typ == tooBig6:
		e.MTU = int(binary.BigEndian.Uint32(b[4:8]))
	}
	r.settle(idx, failed)
	r.addError(e)
}

// answer is what came back for a request.
type answer uint8

const (
	pending answer = iota // nothing yet
	failed                // an ICMP error
	replied               // an echo reply, whether or not an error came too
)

// settle records answer a for request idx; a reply outranks an error.
func (r *run) settle(idx int, a answer) {
	if r.answers[idx] == pending {
		r.nSettled++
	}
	r.answers[idx] = max(r.answers[idx], a)
}

// match returns the index of the request that the ICMP message m is (a
// quoted request, reply false) or answers (reply true), or -1. Datagram
// sockets carry the kernel's identifier, raw ones ours. Quoted requests may
// be cut short; what is there of the token must match.
func (r *run) match(m []byte, reply bool) int {
	if len(m) < 8 {
		return -1
	}
	if !reply {
		want := byte(echoRequest4)
		if r.c.family == IPv6 {
			want = echoRequest6
		}
		if m[0] != want {
			return -1
		}
	}
	if r.c.kind == Raw && binary.BigEndian.Uint16(m[4:6]) != r.id {
		return -1
	}
	p := m[8:]
	if reply && len(p) < r.tokenLen {
		return -1
	}
	k := min(len(p), r.tokenLen)
	if string(p[:k]) != string(r.token[:k]) {
		return -1
	}
	// Sequence numbers are 16 bits: take the latest request that has it.
	sent := len(r.sendAt)
	if sent == 0 {
		return -1
	}
	back := int(uint16(uint16(sent) - binary.BigEndian.Uint16(m[6:8])))
	idx := sent - 1 - back
	if idx < 0 {
		return -1
	}
	return idx
}
