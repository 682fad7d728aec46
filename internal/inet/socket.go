package inet

import (
	"errors"
	"math"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ICMP socket plumbing shared by package ping and the assertions' prober.

// OpenICMP opens a non-blocking ICMP (v6: ICMPv6) socket in the calling
// thread's network namespace: raw when allowRaw and the caller holds
// CAP_NET_RAW, else, when allowDatagram, a datagram ICMP socket. It returns
// the descriptor, whether it is raw, and the errors of the two attempts (the
// raw one is kept when the datagram socket is tried after it). A raw socket
// receives only echo replies and the ICMP errors that may answer a request;
// a datagram socket queues ICMP errors on its error queue.
func OpenICMP(v6, allowRaw, allowDatagram bool) (fd int, raw bool, rawErr, dgramErr error) {
	domain, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if v6 {
		domain, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	const flags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	fd = -1
	if allowRaw {
		fd, rawErr = unix.Socket(domain, unix.SOCK_RAW|flags, proto)
		if rawErr == nil {
			raw = true
		} else if !allowDatagram || !errors.Is(rawErr, os.ErrPermission) {
			return -1, false, rawErr, nil
		}
	}
	if fd < 0 {
		if fd, dgramErr = unix.Socket(domain, unix.SOCK_DGRAM|flags, proto); dgramErr != nil {
			return -1, false, rawErr, dgramErr
		}
	}
	// Best effort: a bigger buffer keeps replies when many sockets share the
	// namespace (raw sockets each see every reply). The kernel caps it.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	var err error
	switch {
	case raw && !v6:
		pass := uint32(1<<0 | 1<<3 | 1<<11 | 1<<12) // echo reply, unreachable, time exceeded, parameter problem
		err = unix.SetsockoptInt(fd, unix.SOL_RAW, unix.ICMP_FILTER, int(int32(^pass)))
	case raw:
		var filt unix.ICMPv6Filter
		for i := range filt.Data {
			filt.Data[i] = math.MaxUint32
		}
		for _, t := range []int{129, 1, 2, 3, 4} { // echo reply, unreachable, too big, time exceeded, parameter problem
			filt.Data[t>>5] &^= 1 << (t & 31)
		}
		err = unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &filt)
	default:
		err = SetRecvErr(fd, v6)
	}
	if err != nil {
		unix.Close(fd)
		if raw {
			return -1, false, err, nil
		}
		return -1, false, rawErr, err
	}
	return fd, raw, rawErr, nil
}

// SetRecvErr turns on IP_RECVERR (v6: IPV6_RECVERR): errors of sends are
// reported, and ICMP errors queued on the error queue.
func SetRecvErr(fd int, v6 bool) error {
	if v6 {
		return unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_RECVERR, 1)
	}
	return unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_RECVERR, 1)
}

// QueuedError is one entry of a socket's error queue.
type QueuedError struct {
	Payload   []byte // the quoted packet (for an ICMP socket, our request's ICMP message); valid during the callback
	Origin    uint8  // unix.SO_EE_ORIGIN_*
	Errno     uint32
	Type      uint8 // ICMP type, for ICMP origins
	Code      uint8
	Info      uint32     // the MTU, for "fragmentation needed" and "packet too big" and local EMSGSIZE
	Offender  netip.Addr // who sent the ICMP error
	IsICMPErr bool       // Origin is ICMP or ICMPv6
}

// MTU returns the next-hop MTU a "fragmentation needed" (ICMP) or "packet
// too big" (ICMPv6) error carries, or 0.
func (e *QueuedError) MTU() int {
	if (e.Origin == unix.SO_EE_ORIGIN_ICMP && e.Type == 3 && e.Code == 4) || (e.Origin == unix.SO_EE_ORIGIN_ICMP6 && e.Type == 2) {
		return int(e.Info)
	}
	return 0
}

const sizeofExtendedErr = int(unsafe.Sizeof(unix.SockExtendedErr{}))

// DrainErrQueue reads fd's error queue until it is empty, calling fn for
// each entry. buf and oob are scratch buffers (1500 and 512 bytes do).
func DrainErrQueue(fd int, buf, oob []byte, fn func(*QueuedError)) {
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err != nil {
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			isErr := (m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR) ||
				(m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR)
			if !isErr || len(m.Data) < sizeofExtendedErr {
				continue
			}
			ee := (*unix.SockExtendedErr)(unsafe.Pointer(&m.Data[0]))
			fn(&QueuedError{
				Payload: buf[:n], Origin: ee.Origin, Errno: ee.Errno, Type: ee.Type, Code: ee.Code, Info: ee.Info,
				Offender:  offender(m.Data[sizeofExtendedErr:]),
				IsICMPErr: ee.Origin == unix.SO_EE_ORIGIN_ICMP || ee.Origin == unix.SO_EE_ORIGIN_ICMP6,
			})
		}
	}
}

// offender parses the sockaddr the kernel appends to a sock_extended_err.
func offender(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch family := *(*uint16)(unsafe.Pointer(&b[0])); {
	case family == unix.AF_INET && len(b) >= unix.SizeofSockaddrInet4:
		return netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(&b[0])).Addr)
	case family == unix.AF_INET6 && len(b) >= unix.SizeofSockaddrInet6:
		return netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(&b[0])).Addr).Unmap()
	}
	return netip.Addr{}
}
