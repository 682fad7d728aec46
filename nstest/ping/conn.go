package ping

import (
	"context"
	"errors"
	"fmt"
	"github.com/nstest/harness/internal/inet"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Family is an IP version: IPv4 or IPv6.
type Family int

// The two families a Conn can ping.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyOf returns the family of a (IPv4 for an IPv4-mapped IPv6 address).
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// SocketKind chooses the kind of ICMP socket Open makes.
type SocketKind int

// Socket kinds.
const (
	Auto     SocketKind = iota // Raw where the caller holds CAP_NET_RAW, else Datagram
	Raw                        // SOCK_RAW: needs CAP_NET_RAW in the namespace's user namespace
	Datagram                   // SOCK_DGRAM ICMP: needs a group in net.ipv4.ping_group_range
)

// String returns "auto", "raw" or "datagram".
func (k SocketKind) String() string {
	switch k {
	case Auto:
		return "auto"
	case Raw:
		return "raw"
	case Datagram:
		return "datagram"
	}
	return "SocketKind(" + strconv.Itoa(int(k)) + ")"
}

// Conn is an ICMP or ICMPv6 socket. It stays in the network namespace it was
// opened in, whichever goroutine uses it. It runs one Ping at a time
// (concurrent calls wait for each other); open one Conn per concurrent run.
type Conn struct {
	mu     sync.Mutex
	f      *os.File
	rc     syscall.RawConn
	family Family
	kind   SocketKind

	// Socket state, as last set.
	bound netip.Addr
	ttl   int
	df    bool

	// Scratch space for runs, reused so that packets cost no allocation.
	out, in  []byte
	rsa      unix.RawSockaddrAny
	rsaLen   uint32
	oob      [64]byte // control messages: the reply's TTL or hop limit
	msg      unix.Msghdr
	iov      unix.Iovec
	n        int
	hops     int // TTL or hop limit of the last datagram, -1 if unknown
	rerr     error
	werr     error
	sa4      unix.SockaddrInet4
	sa6      unix.SockaddrInet6
	to       unix.Sockaddr
	recvFn   func(fd uintptr) bool
	tryFn    func(fd uintptr)
	sendFn   func(fd uintptr) bool
	pastTime time.Time
}

// Open opens an ICMP (IPv4) or ICMPv6 (IPv6) socket in the calling thread's
// network namespace. Call it on a thread locked inside the namespace; the
// Conn may then be used from any goroutine. With Auto it opens a raw socket
// where the caller holds CAP_NET_RAW (also in a user namespace owning the
// network namespace), else a datagram ICMP socket; when both are refused the
// error says how to allow one (wrapping the errno: errors.Is(err,
// os.ErrPermission) holds).
func Open(f Family, kind SocketKind) (*Conn, error) {
	if f != IPv4 && f != IPv6 {
		return nil, fmt.Errorf("ping: open: %v: not IPv4 or IPv6", f)
	}
	fd, raw, rawErr, err := inet.OpenICMP(f == IPv6, kind == Auto || kind == Raw, kind == Auto || kind == Datagram)
	switch {
	case fd < 0 && kind == Raw, fd < 0 && err == nil:
		return nil, fmt.Errorf("ping: open raw %v socket: %w (needs CAP_NET_RAW)", f, rawErr)
	case fd < 0:
		return nil, datagramRefused(f, rawErr, err)
	}
	got := Datagram
	if raw {
		got = Raw
	}
	file := os.NewFile(uintptr(fd), "icmp-"+got.String())
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("ping: %v %v socket: %w", got, f, err)
	}
	// Ask for each datagram's TTL (IPv4) or hop limit (IPv6) as a control
	// message; raw IPv4 sockets also read it from the IP header.
	level, opt := unix.SOL_IP, unix.IP_RECVTTL
	if f == IPv6 {
		level, opt = unix.SOL_IPV6, unix.IPV6_RECVHOPLIMIT
	}
	if err := unix.SetsockoptInt(fd, level, opt, 1); err != nil {
		file.Close()
		return nil, fmt.Errorf("ping: %v %v socket: ask for the TTL of replies: %w", got, f, err)
	}
	c := &Conn{f: file, rc: rc, family: f, kind: got, pastTime: time.Unix(1, 0)}
	c.recvFn = c.recv
	c.tryFn = func(fd uintptr) { c.recv(fd) }
	c.sendFn = c.send
	return c, nil
}

func datagramRefused(f Family, rawErr, err error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ping: cannot open an %v ICMP socket in this network namespace: ", f)
	if rawErr != nil {
		fmt.Fprintf(&b, "raw socket: %v (needs CAP_NET_RAW); ", rawErr)
	}
	if errors.Is(err, unix.EACCES) {
		rng := "unknown"
		if data, rerr := os.ReadFile(rangePath); rerr == nil {
			rng = strings.Join(strings.Fields(string(data)), " ")
		}
		fmt.Fprintf(&b, "datagram socket: no group of this process (egid %d) is in net.ipv4.ping_group_range %q; "+
			"grant CAP_NET_RAW, or allow it inside the namespace: sysctl -w net.ipv4.ping_group_range=%q (ping.AllowDatagram does this)",
			os.Getegid(), rng, AllGroups)
	} else {
		b.WriteString("datagram socket")
	}
	return fmt.Errorf("%s: %w", b.String(), err)
}

// Kind reports whether c is a Raw or a Datagram socket.
func (c *Conn) Kind() SocketKind { return c.kind }

// Family reports whether c pings IPv4 or IPv6 addresses.
func (c *Conn) Family() Family { return c.family }

// Close closes the socket; a run in progress ends with an error.
func (c *Conn) Close() error { return c.f.Close() }

// Ping sends echo requests to dst from c's namespace; see the package
// Ping for what it returns. dst must be of c's family; an IPv6 link-local dst
// needs a numeric zone (an interface index).
func (c *Conn) Ping(ctx context.Context, dst netip.Addr, opts ...Option) (*Stats, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	dst = dst.Unmap()
	if !dst.IsValid() {
		return nil, errors.New("ping: no destination address")
	}
	if FamilyOf(dst) != c.family {
		return nil, fmt.Errorf("ping %v: an %v address on an %v socket", dst, FamilyOf(dst), c.family)
	}
	if err := cfg.check(dst); err != nil {
		return nil, fmt.Errorf("ping %v: %w", dst, err)
	}
	if cfg.count == 0 && cfg.timeout == 0 && ctx.Done() == nil {
		return nil, fmt.Errorf("ping %v: Count(0) runs until Timeout or ctx ends; give one of them", dst)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.setup(dst, &cfg); err != nil {
		return nil, fmt.Errorf("ping %v: %w", dst, err)
	}
	r := &run{c: c, cfg: &cfg, dst: dst, st: &Stats{Dst: dst}}
	err := r.loop(ctx)
	r.st.summarise()
	return r.st, err
}

// setup brings the socket options and scratch buffers in line with cfg.
func (c *Conn) setup(dst netip.Addr, cfg *config) error {
	if cfg.source.IsValid() && cfg.source != c.bound {
		if c.bound.IsValid() {
			return fmt.Errorf("Source(%v): socket already bound to %v", cfg.source, c.bound)
		}
		var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: cfg.source.As4()}
		if c.family == IPv6 {
			zone, err := zoneIndex(cfg.source)
			if err != nil {
				return fmt.Errorf("Source(%v): %w", cfg.source, err)
			}
			sa = &unix.SockaddrInet6{Addr: cfg.source.As16(), ZoneId: zone}
		}
		if err := c.control(func(fd int) error { return unix.Bind(fd, sa) }); err != nil {
			return fmt.Errorf("Source(%v): bind: %w", cfg.source, err)
		}
		c.bound = cfg.source
	}
	if cfg.ttl != c.ttl {
		v := cfg.ttl
		if v == 0 {
			v = -1 // the namespace's default
		}
		level, opt := unix.SOL_IP, unix.IP_TTL
		if c.family == IPv6 {
			level, opt = unix.SOL_IPV6, unix.IPV6_UNICAST_HOPS
		}
		if err := c.control(func(fd int) error { return unix.SetsockoptInt(fd, level, opt, v) }); err != nil {
			return fmt.Errorf("TTL(%d): %w", cfg.ttl, err)
		}
		c.ttl = cfg.ttl
	}
	if cfg.dontFragment != c.df {
		err := c.control(func(fd int) error {
			if c.family == IPv4 {
				v := unix.IP_PMTUDISC_WANT
				if cfg.dontFragment {
					v = unix.IP_PMTUDISC_DO
				}
				return unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_MTU_DISCOVER, v)
			}
			v, df := unix.IPV6_PMTUDISC_WANT, 0
			if cfg.dontFragment {
				v, df = unix.IPV6_PMTUDISC_DO, 1
			}
			if err := unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_MTU_DISCOVER, v); err != nil {
				return err
			}
			return unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_DONTFRAG, df)
		})
		if err != nil {
			return fmt.Errorf("DontFragment: %w", err)
		}
		c.df = cfg.dontFragment
	}
	if dst.Is4() {
		c.sa4.Addr = dst.As4()
		c.to = &c.sa4
	} else {
		zone, err := zoneIndex(dst)
		if err != nil {
			return err
		}
		c.sa6.Addr, c.sa6.ZoneId = dst.As16(), zone
		c.to = &c.sa6
	}
	if n := 8 + cfg.size; cap(c.out) < n {
		c.out = make([]byte, n)
	}
	c.out = c.out[:8+cfg.size]
	// Replies carry at most a 60-byte IPv4 header more than the request;
	// ICMP errors are at most 576 (IPv4) or 1280 (IPv6) bytes.
	if n := max(8+cfg.size+60, 1500); len(c.in) < n {
		c.in = make([]byte, n)
	}
	return nil
}

func zoneIndex(a netip.Addr) (uint32, error) {
	if a.Zone() == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(a.Zone(), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("zone %q: Conn.Ping needs an interface index (ping.Ping resolves names)", a.Zone())
	}
	return uint32(n), nil
}

// control runs fn on the socket's descriptor.
func (c *Conn) control(fn func(fd int) error) error {
	var ferr error
	if err := c.rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// recv reads one datagram into c.in, with its TTL or hop limit, without
// allocating; it reports false (wait) when there is none.
func (c *Conn) recv(fd uintptr) bool {
	c.iov.Base = &c.in[0]
	c.iov.SetLen(len(c.in))
	c.msg.Name = (*byte)(unsafe.Pointer(&c.rsa))
	c.msg.Namelen = unix.SizeofSockaddrAny
	c.msg.Iov = &c.iov
	c.msg.Iovlen = 1
	c.msg.Control = &c.oob[0]
	c.msg.SetControllen(len(c.oob))
	n, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.msg)), 0)
	c.n, c.rerr, c.hops = int(n), nil, -1
	if e != 0 {
		c.n, c.rerr = 0, e
		return e != unix.EAGAIN && e != unix.EINTR
	}
	c.hops = hopsFromControl(c.oob[:c.msg.Controllen])
	return true
}

// hopsFromControl returns the TTL (IP_TTL) or hop limit (IPV6_HOPLIMIT)
// carried by the control messages b, or -1.
func hopsFromControl(b []byte) int {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(b) {
			return -1
		}
		data := b[unix.CmsgLen(0):h.Len]
		if (h.Level == unix.SOL_IP && h.Type == unix.IP_TTL || h.Level == unix.SOL_IPV6 && h.Type == unix.IPV6_HOPLIMIT) && len(data) >= 4 {
			return int(*(*int32)(unsafe.Pointer(&data[0])))
		}
		b = b[min(unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)), len(b)):]
	}
	return -1
}

// send sends c.out to c.to; it reports false (wait) when the buffer is full.
func (c *Conn) send(fd uintptr) bool {
	c.werr = unix.Sendto(int(fd), c.out, 0, c.to)
	return c.werr != unix.EAGAIN && c.werr != unix.EINTR
}

// from returns the source address of the last datagram recv read.
func (c *Conn) from() netip.Addr {
	switch c.rsa.Addr.Family {
	case unix.AF_INET:
		return netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(&c.rsa)).Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(&c.rsa)).Addr)
	}
	return netip.Addr{}
}
