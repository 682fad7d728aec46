// Package fastnl sends hand-built rtnetlink requests on a socket bound to one
// network namespace, several to a system call, and waits for their
// acknowledgements. It exists for the topology build path, where
// vishvananda/netlink's one request, one socket read, one lookup pattern costs
// several round trips per link; everything else uses vishvananda/netlink.
package fastnl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Conn is a NETLINK_ROUTE socket of the namespace it was opened in. Its
// methods are safe for concurrent use; requests are serialised.
type Conn struct {
	mu    sync.Mutex
	fd    int
	batch int // most requests sent before their acknowledgements are read
}

// bufs holds receive buffers, shared: a topology may hold a thousand Conns.
// 32 KiB fits the largest message a dump sends.
var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// The kernel handles every request of a send before the sender reads
// anything, and drops the acknowledgements that do not fit the socket's
// receive buffer (the reader then gets ENOBUFS). An acknowledgement costs
// about 768 bytes of that buffer (measured: 277 fit the default 208 KiB), a
// refusal with the kernel's message somewhat more, so a batch is held to
// one acknowledgement per ackCost bytes of the buffer, and to maxBatch.
const (
	ackCost  = 2048
	maxBatch = 64
)

// Open opens a rtnetlink socket in the calling thread's network namespace.
func Open() (*Conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	// The kernel's explanation of an error ("Invalid ifindex"), when it has one.
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	c := &Conn{fd: fd}
	c.sizeBatch()
	return c, nil
}

// sizeBatch bounds the batches by the socket's receive buffer.
func (c *Conn) sizeBatch() {
	c.batch = maxBatch
	if rcv, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
		c.batch = min(maxBatch, max(1, rcv/ackCost))
	}
}

// SetReadBuffer sets the socket's receive buffer (SO_RCVBUF) and bounds the
// batches by it. Tests use it to provoke lost acknowledgements.
func (c *Conn) SetReadBuffer(bytes int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return errClosed
	}
	if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bytes); err != nil {
		return fmt.Errorf("netlink SO_RCVBUF: %w", err)
	}
	c.sizeBatch()
	return nil
}

// SetBatch overrides how many requests Exec sends before reading their
// acknowledgements; n < 1 restores the bound derived from the receive
// buffer. Tests use it to send more than the buffer holds.
func (c *Conn) SetBatch(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n < 1 {
		c.sizeBatch()
		return
	}
	c.batch = n
}

// Close closes the socket.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return nil
	}
	err := unix.Close(c.fd)
	c.fd = -1
	return err
}

var errClosed = errors.New("netlink socket closed")

var seq atomic.Uint32

// A Request is one rtnetlink message under construction.
type Request struct {
	req *nl.NetlinkRequest
}

func newRequest(typ, flags int, msg nl.NetlinkRequestData) *Request {
	r := &Request{nl.NewNetlinkRequest(typ, flags|unix.NLM_F_ACK)}
	r.req.Seq = seq.Add(1)
	r.req.AddData(msg)
	return r
}

// Error is a request the kernel refused.
type Error struct {
	Errno syscall.Errno
	Msg   string // the kernel's extended acknowledgement, if any
}

func (e *Error) Error() string {
	if e.Msg != "" {
		return e.Errno.Error() + " (" + e.Msg + ")"
	}
	return e.Errno.Error()
}

// Unwrap returns the errno, so that errors.Is(err, unix.EEXIST) works.
func (e *Error) Unwrap() error { return e.Errno }

// ErrNotSent is the outcome of a request that Exec did not send, because an
// earlier request of its call failed.
var ErrNotSent = errors.New("not sent: an earlier request failed")

// ExchangeError is a failure of the exchange itself (a send or a receive),
// not a refusal by the kernel. At is the first request whose outcome is
// unknown: every request before it was acknowledged (with its result in
// Exec's errors); it and the ones after it of its batch may or may not have
// been carried out.
type ExchangeError struct {
	At  int
	Err error
}

func (e *ExchangeError) Error() string {
	return fmt.Sprintf("outcome unknown, no acknowledgement: %v", e.Err)
}

func (e *ExchangeError) Unwrap() error { return e.Err }

// Exec sends the requests and waits for every acknowledgement. They go in
// batches, each one system call, small enough for the socket's receive
// buffer to hold all the acknowledgements of a batch. The kernel handles the
// requests of a batch in order, whatever happens to the previous ones; Exec
// sends no further batch after one with a refused request.
//
// Exec returns one error per request: nil for success, the kernel's *Error,
// or ErrNotSent. If the exchange itself fails it also returns an
// *ExchangeError saying where; the errors before that point are still
// filled in.
func (c *Conn) Exec(reqs ...*Request) ([]error, error) {
	errs := make([]error, len(reqs))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		for k := range errs {
			errs[k] = ErrNotSent
		}
		return errs, &ExchangeError{At: 0, Err: errClosed}
	}
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	for start := 0; start < len(reqs); start += c.batch {
		end := min(start+c.batch, len(reqs))
		refused, err := c.exchange(reqs[start:end], errs[start:end], *bp)
		if err != nil {
			for k := end; k < len(reqs); k++ {
				errs[k] = ErrNotSent
			}
			err.At += start
			return errs, err
		}
		if refused {
			for k := end; k < len(reqs); k++ {
				errs[k] = ErrNotSent
			}
			break
		}
	}
	return errs, nil
}

// exchange sends one batch and reads its acknowledgements into errs. It
// reports whether the kernel refused a request.
func (c *Conn) exchange(reqs []*Request, errs []error, buf []byte) (bool, *ExchangeError) {
	var out []byte
	want := make(map[uint32]int, len(reqs))
	for i, r := range reqs {
		out = append(out, r.req.Serialize()...)
		want[r.req.Seq] = i
	}
	if err := unix.Sendto(c.fd, out, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, &ExchangeError{At: 0, Err: fmt.Errorf("netlink send: %w", err)}
	}
	refused := false
	for len(want) > 0 {
		msgs, err := c.receive(buf, 0)
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				// Some acknowledgements were dropped, the others are
				// queued: read those to learn how far the answers got.
				for {
					msgs, err := c.receive(buf, unix.MSG_DONTWAIT)
					if err != nil {
						break
					}
					refused = acks(msgs, want, errs) || refused
				}
			}
			first := len(reqs)
			for _, i := range want {
				first = min(first, i)
			}
			return refused, &ExchangeError{At: first, Err: err}
		}
		refused = acks(msgs, want, errs) || refused
	}
	return refused, nil
}

// acks records the acknowledgements among msgs in errs and removes them from
// want. It reports whether one was a refusal.
func acks(msgs []syscall.NetlinkMessage, want map[uint32]int, errs []error) bool {
	refused := false
	for _, m := range msgs {
		i, ok := want[m.Header.Seq]
		if !ok || m.Header.Type != unix.NLMSG_ERROR {
			continue
		}
		delete(want, m.Header.Seq)
		if errs[i] = ackError(m.Data); errs[i] != nil {
			refused = true
		}
	}
	return refused
}

// Do sends the requests as Exec does and returns the first error.
func (c *Conn) Do(reqs ...*Request) error {
	errs, err := c.Exec(reqs...)
	if err != nil {
		return err
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// receive reads one datagram into buf and parses it; the messages point
// into buf.
func (c *Conn) receive(buf []byte, flags int) ([]syscall.NetlinkMessage, error) {
	for {
		n, _, err := unix.Recvfrom(c.fd, buf, flags)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		return msgs, nil
	}
}

// ackError decodes an NLMSG_ERROR payload: nil for an acknowledgement.
func ackError(b []byte) error {
	if len(b) < 4 {
		return &Error{Errno: unix.EINVAL, Msg: "short netlink error message"}
	}
	code := int32(binary.NativeEndian.Uint32(b))
	if code == 0 {
		return nil
	}
	e := &Error{Errno: syscall.Errno(-code)}
	// With NETLINK_CAP_ACK the original header follows (16 bytes, no
	// payload), then the extended-ack attributes.
	if len(b) >= 4+unix.SizeofNlMsghdr {
		if attrs, err := nl.ParseRouteAttr(b[4+unix.SizeofNlMsghdr:]); err == nil {
			for _, a := range attrs {
				if a.Attr.Type == unix.NLMSGERR_ATTR_MSG {
					e.Msg = string(trimNUL(a.Value))
				}
			}
		}
	}
	return e
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// LinkState is what readiness needs to know about a link.
type LinkState struct {
	Index     int
	Name      string
	Up        bool  // administratively up (IFF_UP)
	OperState uint8 // IF_OPER_*; 6 is up
	PortState uint8 // of a bridge port: BR_STATE_* (PortListening, ...); 0 otherwise
}

// OperUp is the IF_OPER_UP operational state.
const OperUp = 6

// Link returns the state of the link with the given index.
func (c *Conn) Link(index int) (LinkState, error) {
	ls, err := c.links(index)
	if err != nil {
		return LinkState{}, err
	}
	if len(ls) != 1 {
		return LinkState{}, fmt.Errorf("link %d: no such link", index)
	}
	return ls[0], nil
}

// Links returns the state of every link of the namespace.
func (c *Conn) Links() ([]LinkState, error) { return c.links(0) }

func (c *Conn) links(index int) ([]LinkState, error) {
	var out []LinkState
	err := c.getLink(index, func(b []byte) bool {
		if ls, ok := ParseLink(b); ok {
			out = append(out, ls)
		}
		return index != 0
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// getLink asks for the link with the given index (0: every link of the
// namespace) and calls each with the payload of every RTM_NEWLINK answer,
// until the answers end or each returns true. A link that does not exist
// is an error wrapping ENODEV.
func (c *Conn) getLink(index int, each func(payload []byte) (stop bool)) error {
	flags := 0
	if index == 0 {
		flags = unix.NLM_F_DUMP
	}
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	r := nl.NewNetlinkRequest(unix.RTM_GETLINK, flags)
	r.Seq = seq.Add(1)
	r.AddData(msg)
	// Skip the statistics and the rest: only flags and operstate matter.
	r.AddData(nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(0)))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return errClosed
	}
	if err := unix.Sendto(c.fd, r.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	for {
		msgs, err := c.receive(*bp, 0)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != r.Seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if err := ackError(m.Data); err != nil {
					return fmt.Errorf("get link %d: %w", index, err)
				}
				return nil
			case unix.RTM_NEWLINK:
				if each(m.Data) {
					return nil
				}
			}
		}
	}
}

// ParseLink decodes the payload of an RTM_NEWLINK message.
func ParseLink(b []byte) (LinkState, bool) {
	if len(b) < unix.SizeofIfInfomsg {
		return LinkState{}, false
	}
	m := nl.DeserializeIfInfomsg(b)
	ls := LinkState{Index: int(m.Index), Up: m.Flags&unix.IFF_UP != 0}
	attrs, err := nl.ParseRouteAttr(b[unix.SizeofIfInfomsg:])
	if err != nil {
		return ls, false
	}
	for _, a := range attrs {
		switch a.Attr.Type & nl.NLA_TYPE_MASK {
		case unix.IFLA_OPERSTATE:
			if len(a.Value) > 0 {
				ls.OperState = a.Value[0]
			}
		case unix.IFLA_IFNAME:
			ls.Name = string(trimNUL(a.Value))
		case unix.IFLA_LINKINFO: // a bridge port's state, in a dump
			ls.PortState = portState(a.Value, true)
		case unix.IFLA_PROTINFO: // the same, in a bridge's AF_BRIDGE notification
			ls.PortState = portState(a.Value, false)
		}
	}
	return ls, true
}

// End describes one end of a new veth pair.
type End struct {
	Name   string
	Index  int  // 0: the kernel chooses
	NSFd   int  // namespace to create the end in; 0: the socket's
	Master int  // bridge to enslave the end to; 0: none
	MTU    int  // 0: the default
	Up     bool // set it up at once; for the peer, the kernel refuses that (ENOTCONN)
}

func (e End) info() (*nl.IfInfomsg, []*nl.RtAttr) {
	m := nl.NewIfInfomsg(unix.AF_UNSPEC)
	m.Index = int32(e.Index)
	if e.Up {
		m.Flags = unix.IFF_UP
		m.Change = unix.IFF_UP
	}
	attrs := []*nl.RtAttr{nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(e.Name))}
	if e.NSFd != 0 {
		attrs = append(attrs, nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(e.NSFd))))
	}
	if e.Master != 0 {
		attrs = append(attrs, nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(e.Master))))
	}
	if e.MTU != 0 {
		attrs = append(attrs, nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(e.MTU))))
	}
	return m, attrs
}

func addrGenMode(mode uint8) *nl.RtAttr {
	spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
	spec.AddRtAttr(unix.AF_INET6, nil).AddRtAttr(unix.IFLA_INET6_ADDR_GEN_MODE, []byte{mode})
	return spec
}

// AddVeth makes a veth pair, a in the socket's namespace (or a.NSFd) and
// peer wherever peer.NSFd says, configured in the same message: names,
// indexes, master, MTU, up. (The kernel refuses IFLA_AF_SPEC in a creation
// message, so the IPv6 address generation mode is set by a later message or
// inherited from the namespace's net.ipv6.conf.default.addr_gen_mode.)
func AddVeth(a, peer End) *Request {
	m, attrs := a.info()
	r := newRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, m)
	for _, at := range attrs {
		r.req.AddData(at)
	}
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	pm, pattrs := peer.info()
	p := data.AddRtAttr(nl.VETH_INFO_PEER, pm.Serialize())
	for _, at := range pattrs {
		p.AddChild(at)
	}
	r.req.AddData(info)
	return r
}

// Bridge describes a new Linux bridge.
type Bridge struct {
	Name          string
	Index         int
	Up            bool
	VLANFiltering bool
	NoSnooping    bool         // multicast snooping off
	Data          []*nl.RtAttr // further IFLA_BR_* attributes, applied in the kernel's order
}

// AddBridge makes a Linux bridge.
func AddBridge(b Bridge) *Request {
	m, attrs := End{Name: b.Name, Index: b.Index, Up: b.Up}.info()
	r := newRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, m)
	for _, at := range attrs {
		r.req.AddData(at)
	}
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	if b.VLANFiltering {
		data.AddRtAttr(nl.IFLA_BR_VLAN_FILTERING, []byte{1})
	}
	if b.NoSnooping {
		data.AddRtAttr(nl.IFLA_BR_MCAST_SNOOPING, []byte{0})
	}
	for _, at := range b.Data {
		data.AddChild(at)
	}
	r.req.AddData(info)
	return r
}

// SetUp sets the link with the given index up.
func SetUp(index int) *Request {
	m := nl.NewIfInfomsg(unix.AF_UNSPEC)
	m.Index = int32(index)
	m.Flags = unix.IFF_UP
	m.Change = unix.IFF_UP
	return newRequest(unix.RTM_NEWLINK, 0, m)
}

// SetAddrGenMode sets how the link makes its IPv6 link-local address
// (nl.IN6_ADDR_GEN_MODE_*). It does not add or remove one.
func SetAddrGenMode(index int, mode uint8) *Request {
	m := nl.NewIfInfomsg(unix.AF_UNSPEC)
	m.Index = int32(index)
	r := newRequest(unix.RTM_NEWLINK, 0, m)
	r.req.AddData(addrGenMode(mode))
	return r
}

// AddAddr adds an address to the link with the given index, as
// vishvananda/netlink's AddrAdd does: for IPv4 with the subnet's broadcast
// address, with the IFA_F_* flags given.
func AddAddr(index int, p netip.Prefix, flags uint32) *Request {
	fam := unix.AF_INET
	if p.Addr().Is6() {
		fam = unix.AF_INET6
	}
	m := nl.NewIfAddrmsg(fam)
	m.Index = uint32(index)
	m.Prefixlen = uint8(p.Bits())
	r := newRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, m)
	ip := p.Addr().AsSlice()
	r.req.AddData(nl.NewRtAttr(unix.IFA_LOCAL, ip))
	r.req.AddData(nl.NewRtAttr(unix.IFA_ADDRESS, ip))
	if flags <= 0xff {
		m.Flags = uint8(flags)
	} else {
		r.req.AddData(nl.NewRtAttr(unix.IFA_FLAGS, nl.Uint32Attr(flags)))
	}
	if p.Addr().Is4() && p.Bits() < 31 {
		b := p.Addr().As4()
		v := binary.BigEndian.Uint32(b[:]) | (1<<(32-p.Bits()) - 1)
		binary.BigEndian.PutUint32(b[:], v)
		r.req.AddData(nl.NewRtAttr(unix.IFA_BROADCAST, b[:]))
	}
	return r
}

// SetMaster enslaves the link with the given index to the bridge master.
func SetMaster(index, master int) *Request {
	m := nl.NewIfInfomsg(unix.AF_UNSPEC)
	m.Index = int32(index)
	r := newRequest(unix.RTM_NEWLINK, 0, m)
	r.req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(master))))
	return r
}

// DelLink deletes the link with the given index (both ends of a veth pair).
func DelLink(index int) *Request {
	m := nl.NewIfInfomsg(unix.AF_UNSPEC)
	m.Index = int32(index)
	return newRequest(unix.RTM_DELLINK, 0, m)
}
