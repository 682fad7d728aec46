// Package capture records the frames crossing a network interface, in pure
// Go: an AF_PACKET socket read through the runtime's poller, no libpcap, no
// cgo. Tests use it to wait for and count packets with Go predicates
// (Filter), to print them the way tcpdump does, and to save them as pcap
// files that tcpdump and Wireshark open.
//
// A capture belongs to the network namespace of the thread that opens it.
// Open it from inside the namespace (for example in nstest's Host.Do or
// internal/ns's NS.Do); after that it can be used from any goroutine.
//
//	c, err := capture.Open("eth0", capture.Limit(10000))
//	...
//	defer c.Close()
//	pkts, err := c.Wait(ctx, capture.ICMPEchoReply(), 3)
package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultSnapLen is the default number of bytes kept of each frame, as
// tcpdump's: enough for whole frames, including GSO super-frames on veth.
const DefaultSnapLen = 262144

// defaultBufferSize is the socket receive buffer asked for by default, so
// that a burst is not dropped while the reading goroutine is descheduled.
const defaultBufferSize = 4 << 20

// ErrClosed is wrapped by errors from Wait when the capture stops before
// enough packets matched.
var ErrClosed = errors.New("capture closed")

// Option configures Open and OpenAll.
type Option func(*config)

type config struct {
	snapLen    int
	maxPackets int
	maxBytes   int
	bufferSize int
	noPromisc  bool
	node       string
}

// NoPromiscuous leaves the interface out of promiscuous mode. By default a
// capture puts it in promiscuous mode while open, as tcpdump does: a bridge
// then shows the frames it forwards between its ports, not only those for
// itself.
func NoPromiscuous() Option { return func(c *config) { c.noPromisc = true } }

// SnapLen keeps at most n bytes of each frame (default DefaultSnapLen). The
// frame's length on the wire is still recorded in Packet.Length.
func SnapLen(n int) Option { return func(c *config) { c.snapLen = n } }

// Limit keeps only the n most recent packets; older ones are dropped as new
// ones arrive. Zero, the default, keeps everything.
func Limit(n int) Option { return func(c *config) { c.maxPackets = n } }

// LimitBytes keeps only the most recent packets whose captured bytes add up
// to at most n (the newest packet is always kept). Zero, the default, keeps
// everything.
func LimitBytes(n int) Option { return func(c *config) { c.maxBytes = n } }

// BufferSize sets the socket receive buffer in bytes (default 4 MiB). The
// kernel drops frames, counted in Stats.KernelDrops, when it is full.
func BufferSize(n int) Option { return func(c *config) { c.bufferSize = n } }

// Node names the node (host, router, namespace) that holds the captured
// interface. Its packets carry it in Packet.Node, and a pcapng file names
// the interface "node:iface", so that the eth0 of two hosts stay apart when
// several captures are merged (WritePcapng). nstest sets it to the host's name.
func Node(name string) Option { return func(c *config) { c.node = name } }

// Stats counts what a capture saw and lost.
type Stats struct {
	Captured    uint64 // frames read from the socket
	Evicted     uint64 // frames dropped by Limit or LimitBytes to make room
	KernelDrops uint64 // frames the kernel dropped because the socket buffer was full
	Unstamped   uint64 // frames the kernel gave no receive timestamp; their Time is the time of reading
}

// Capture records the frames crossing one interface. All methods are safe
// for concurrent use.
type Capture struct {
	iface    string
	ifindex  int
	linkType LinkType
	cfg      config
	f        *os.File
	rc       syscall.RawConn
	done     chan struct{} // closed when the reading goroutine has exited

	closeOnce sync.Once
	closing   atomic.Bool // set by Close before it stops the reader
	closedAt  time.Time   // when Close was called; written before closing is set

	mu      sync.Mutex
	pkts    []Packet // the kept packets are pkts[head:]
	head    int
	bytes   int
	stats   Stats
	waiters map[*waiter]struct{}
	err     error // why reading stopped, other than Close
}

type waiter struct {
	f    Filter
	want int
	got  []Packet
	done chan struct{} // closed once len(got) == want
}

// Open starts capturing every frame sent or received on the interface
// named iface in the calling thread's network namespace. Reading happens on
// a goroutine of its own until Close.
func Open(iface string, opts ...Option) (*Capture, error) {
	cfg := config{snapLen: DefaultSnapLen, bufferSize: defaultBufferSize}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.snapLen <= 0 {
		return nil, fmt.Errorf("capture %s: snap length %d: must be positive", iface, cfg.snapLen)
	}
	if cfg.maxPackets < 0 || cfg.maxBytes < 0 {
		return nil, fmt.Errorf("capture %s: limit %d packets, %d bytes: must not be negative", iface, cfg.maxPackets, cfg.maxBytes)
	}
	// Protocol 0 at creation: the socket receives nothing until bind names
	// both the protocol and the interface, so no frame from another
	// interface slips in first.
	// Receive timestamps are on (and stay on) before the socket can see a
	// frame; where that cannot be confirmed, Stats.Unstamped counts the
	// frames that came without one.
	_ = stampingOn()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("capture %s: socket(AF_PACKET): %w", iface, err)
	}
	c := &Capture{iface: iface, cfg: cfg, done: make(chan struct{}), waiters: map[*waiter]struct{}{}}
	if err := c.setup(fd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("capture %s: %w", iface, err)
	}
	c.f = os.NewFile(uintptr(fd), "packet:"+iface)
	if c.rc, err = c.f.SyscallConn(); err != nil {
		c.f.Close()
		return nil, fmt.Errorf("capture %s: %w", iface, err)
	}
	go c.read()
	return c, nil
}

func (c *Capture) setup(fd int) error {
	ifr, err := unix.NewIfreq(c.iface)
	if err != nil {
		return fmt.Errorf("interface name: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return fmt.Errorf("no such interface: %w", err)
	}
	c.ifindex = int(ifr.Uint32())
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return fmt.Errorf("hardware type: %w", err)
	}
	hwType := ifr.Uint16() // sa_family of ifr_hwaddr
	switch hwType {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		c.linkType = LinkTypeEthernet
	case unix.ARPHRD_NONE, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT, unix.ARPHRD_IPGRE:
		c.linkType = LinkTypeRaw
	default:
		return fmt.Errorf("hardware type %d not supported", hwType)
	}
	// SO_TIMESTAMPING, not SO_TIMESTAMPNS: for a frame the kernel did not
	// stamp on arrival, SO_TIMESTAMPNS hands out the time of reading as if
	// it were one (see stamp.go).
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, tsFlags); err != nil {
		return fmt.Errorf("SO_TIMESTAMPING: %w", err)
	}
	if c.cfg.bufferSize > 0 {
		// SO_RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN; SO_RCVBUF is capped.
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, c.cfg.bufferSize) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, c.cfg.bufferSize)
		}
	}
	sll := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: c.ifindex}
	if err := unix.Bind(fd, sll); err != nil {
		return fmt.Errorf("bind to interface index %d: %w", c.ifindex, err)
	}
	if !c.cfg.noPromisc {
		// Membership ends with the socket: nothing to undo at Close.
		mr := &unix.PacketMreq{Ifindex: int32(c.ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mr); err != nil {
			return fmt.Errorf("promiscuous mode: %w", err)
		}
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenAll opens a capture on every interface of the calling thread's network
// namespace, loopback included. On error it closes what it opened.
func OpenAll(opts ...Option) ([]*Capture, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("capture: list interfaces: %w", err)
	}
	var cs []*Capture
	for _, ifc := range ifs {
		c, err := Open(ifc.Name, opts...)
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// read runs on its own goroutine until Close, blocking in the runtime's
// poller between frames. Close stops it with a read deadline; it then drains
// the frames the kernel queued before Close was called, and exits.
func (c *Capture) read() {
	defer close(c.done)
	r := receiver{
		c:   c,
		buf: make([]byte, c.cfg.snapLen),
		oob: make([]byte, unix.CmsgSpace(3*int(unsafe.Sizeof(unix.Timespec{})))),
	}
	for {
		var rerr error
		err := c.rc.Read(func(fd uintptr) bool {
			rerr = r.recv(int(fd), time.Time{})
			return rerr != unix.EAGAIN
		})
		if err != nil {
			if c.closing.Load() {
				r.drain()
			} else {
				c.fail(err)
			}
			return
		}
		if rerr != nil {
			c.fail(fmt.Errorf("recvmsg: %w", rerr))
			return
		}
	}
}

// receiver reads frames from the socket into its capture.
type receiver struct {
	c        *Capture
	buf, oob []byte
}

// recv reads one frame and adds it to the capture unless it arrived after
// until (when until is set). It returns EAGAIN when nothing is queued, and
// nil after frames it skipped: EINTR, and the ENETDOWN the kernel reports
// once when the interface goes down (the socket keeps its binding and sees
// frames again when the interface comes back up).
func (r *receiver) recv(fd int, until time.Time) error {
	// MSG_TRUNC makes recvmsg return the frame's full length.
	n, oobn, _, from, err := unix.Recvmsg(fd, r.buf, r.oob, unix.MSG_TRUNC)
	switch err {
	case nil:
	case unix.EINTR, unix.ENETDOWN:
		return nil
	default:
		return err
	}
	t, stamped := packetTime(r.oob[:oobn])
	if !stamped {
		r.c.mu.Lock()
		r.c.stats.Unstamped++
		r.c.mu.Unlock()
	}
	p := Packet{
		Time:      t,
		Interface: r.c.iface,
		Length:    n,
	}
	// Only a kernel timestamp says when a frame arrived: one stamped with the
	// time of reading is read after Close by definition, yet was queued before.
	if !until.IsZero() && stamped && p.Time.After(until) {
		return errLate
	}
	p.Data = bytes.Clone(r.buf[:min(n, len(r.buf))])
	if sll, ok := from.(*unix.SockaddrLinklayer); ok {
		p.Outgoing = sll.Pkttype == unix.PACKET_OUTGOING
	}
	p.decode(r.c.linkType)
	r.c.add(p)
	return nil
}

var errLate = errors.New("frame arrived after Close")

// drain reads what the kernel queued before Close was called, without
// blocking, so that Close does not lose the last frames of a test.
func (r *receiver) drain() {
	_ = r.c.rc.Control(func(fd uintptr) {
		for {
			if err := r.recv(int(fd), r.c.closedAt); err != nil {
				if err != unix.EAGAIN && err != errLate {
					r.c.fail(fmt.Errorf("recvmsg: %w", err))
				}
				return
			}
		}
	})
}

func (c *Capture) fail(err error) {
	c.mu.Lock()
	c.err = fmt.Errorf("capture %s: %w", c.iface, err)
	c.mu.Unlock()
}

// packetTime returns the kernel's receive timestamp from the control
// message and true, or now and false when there is none or it is not
// wall-clock time (a departure time set by the fq qdisc on an outgoing
// frame).
func packetTime(oob []byte) (time.Time, bool) {
	now := time.Now()
	if t, ok := kernelTime(oob); ok {
		if d := now.Sub(t); d >= 0 && d < time.Minute {
			return t, true
		}
	}
	return now, false
}

func (c *Capture) add(p Packet) {
	p.Node = c.cfg.node
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Captured++
	for w := range c.waiters {
		if w.f == nil || w.f(&p) {
			w.got = append(w.got, p)
			if len(w.got) == w.want {
				close(w.done)
				delete(c.waiters, w)
			}
		}
	}
	c.pkts = append(c.pkts, p)
	c.bytes += len(p.Data)
	for len(c.pkts)-c.head > 1 &&
		(c.cfg.maxPackets > 0 && len(c.pkts)-c.head > c.cfg.maxPackets ||
			c.cfg.maxBytes > 0 && c.bytes > c.cfg.maxBytes) {
		c.bytes -= len(c.pkts[c.head].Data)
		c.pkts[c.head] = Packet{}
		c.head++
		c.stats.Evicted++
	}
	// Compact once the dropped prefix outweighs the kept packets, so the
	// ring costs O(1) amortized per packet.
	if c.head > 64 && c.head > len(c.pkts)-c.head {
		n := copy(c.pkts, c.pkts[c.head:])
		clear(c.pkts[n:])
		c.pkts = c.pkts[:n]
		c.head = 0
	}
}

// Interface returns the name of the captured interface.
func (c *Capture) Interface() string { return c.iface }

// Node returns the name given with the Node option, or "".
func (c *Capture) Node() string { return c.cfg.node }

// LinkType returns the pcap link type of the captured frames.
func (c *Capture) LinkType() LinkType { return c.linkType }

// Packets returns the kept packets that match every filter, oldest first.
func (c *Capture) Packets(fs ...Filter) []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Packet
	for i := c.head; i < len(c.pkts); i++ {
		if match(&c.pkts[i], fs) {
			out = append(out, c.pkts[i])
		}
	}
	return out
}

// Count returns how many kept packets match every filter.
func (c *Capture) Count(fs ...Filter) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for i := c.head; i < len(c.pkts); i++ {
		if match(&c.pkts[i], fs) {
			n++
		}
	}
	return n
}

// Clear forgets the kept packets, so that Wait and Count see only what
// arrives afterwards.
func (c *Capture) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.pkts)
	c.pkts, c.head, c.bytes = c.pkts[:0], 0, 0
}

// Wait returns as soon as n packets matching f (nil matches all) have been
// captured, counting the kept packets first, then new arrivals. When ctx
// ends or the capture is closed first, it returns the packets that did match
// and an error saying how many of how many, wrapping ctx.Err() or ErrClosed.
func (c *Capture) Wait(ctx context.Context, f Filter, n int) ([]Packet, error) {
	if n <= 0 {
		return nil, nil
	}
	w := &waiter{f: f, want: n, done: make(chan struct{})}
	c.mu.Lock()
	for i := c.head; i < len(c.pkts) && len(w.got) < n; i++ {
		if f == nil || f(&c.pkts[i]) {
			w.got = append(w.got, c.pkts[i])
		}
	}
	if len(w.got) == n {
		c.mu.Unlock()
		return w.got, nil
	}
	c.waiters[w] = struct{}{}
	c.mu.Unlock()

	var cause error
	select {
	case <-w.done:
		return w.got, nil
	case <-ctx.Done():
		cause = ctx.Err()
	case <-c.done:
		cause = ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-w.done: // completed while we were giving up
		return w.got, nil
	default:
	}
	delete(c.waiters, w)
	got := w.got
	return got, fmt.Errorf("capture %s: %d of %d wanted packets matched (%s): %w",
		c.iface, len(got), n, c.recentLocked(3), cause)
}

// recentLocked describes the last few captured packets for error messages.
func (c *Capture) recentLocked(k int) string {
	kept := len(c.pkts) - c.head
	if kept == 0 {
		return fmt.Sprintf("%d packets captured, none kept", c.stats.Captured)
	}
	s := fmt.Sprintf("%d packets captured, last:", c.stats.Captured)
	for i := max(c.head, len(c.pkts)-k); i < len(c.pkts); i++ {
		s += " [" + c.pkts[i].String() + "]"
	}
	return s
}

// Stats returns the capture's counters. KernelDrops is brought up to date
// while the capture is open and frozen by Close.
func (c *Capture) Stats() Stats {
	c.updateKernelStats()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *Capture) updateKernelStats() {
	var st *unix.TpacketStats
	// Reading PACKET_STATISTICS resets the kernel's counters, so they are
	// accumulated here. Control fails once the socket is closed.
	_ = c.rc.Control(func(fd uintptr) {
		st, _ = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if st != nil {
		c.mu.Lock()
		c.stats.KernelDrops += uint64(st.Drops)
		c.mu.Unlock()
	}
}

// Close stops capturing and returns once the reading goroutine has exited,
// after reading the frames the kernel had already queued. The packets stay
// available. It returns the error that stopped reading
// early, if any.
func (c *Capture) Close() error {
	c.closeOnce.Do(func() {
		c.closedAt = time.Now()
		c.closing.Store(true)
		// The deadline wakes the reader, which drains the queue and exits;
		// only then is the socket closed.
		if err := c.f.SetReadDeadline(c.closedAt); err != nil {
			c.f.Close()
		}
		<-c.done
		c.updateKernelStats()
		c.f.Close()
	})
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// WritePcap writes the kept packets to w as a classic pcap stream with
// nanosecond timestamps (see Writer).
func (c *Capture) WritePcap(w io.Writer) error {
	if err := WritePackets(w, c.cfg.snapLen, c.linkType, c.Packets()); err != nil {
		return fmt.Errorf("capture %s: %w", c.iface, err)
	}
	return nil
}

// WriteFile writes the kept packets to a pcap file at path, replacing it.
func (c *Capture) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("capture %s: %w", c.iface, err)
	}
	if err := c.WritePcap(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("capture %s: %w", c.iface, err)
	}
	return nil
}

// WriteText writes one line per kept packet, as `tcpdump -i any -nn` does:
// time, interface, direction, summary.
//
//	12:04:05.123456 eth0 Out IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 1, length 64
func (c *Capture) WriteText(w io.Writer) error {
	var b bytes.Buffer
	for _, p := range c.Packets() {
		dir := "In "
		if p.Outgoing {
			dir = "Out"
		}
		fmt.Fprintf(&b, "%s %s %s %s\n", p.Time.Format("15:04:05.000000"), p.Interface, dir, p.String())
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("capture %s: write text: %w", c.iface, err)
	}
	return nil
}
