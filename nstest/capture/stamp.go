package capture

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/ns"
)

// Timestamps. The kernel stamps a frame as it arrives only while some socket
// of the machine asks for timestamps, and it turns stamping on lazily: the
// first socket to ask schedules the change on a work queue and returns. A
// socket that asks with SO_TIMESTAMP(NS) is then handed the time of reading
// for the frames that arrived unstamped meanwhile, which looks like a
// receive time and is not: four captures opened just before traffic came
// out grouped by capture when sorted by time.
//
// So captures ask with SO_TIMESTAMPING, software receive stamps only, for
// which the kernel adds no timestamp to an unstamped frame; and before the
// first capture binds, this process asks once for good and waits until
// frames are really stamped, proven by a datagram over the loopback of a
// namespace of its own. From then on the process keeps stamping on, whatever
// other sockets of the machine do.

const tsFlags = unix.SOF_TIMESTAMPING_RX_SOFTWARE | unix.SOF_TIMESTAMPING_SOFTWARE

var stamping struct {
	once   sync.Once
	keeper int   // the socket that keeps stamping on; never closed
	err    error // why stamping could not be confirmed, if so
}

// stampingOn makes sure the kernel stamps frames as they arrive. The error
// says why it could not be confirmed; stamping is asked for anyway.
func stampingOn() error {
	stamping.once.Do(func() { stamping.err = confirmStamping() })
	return stamping.err
}

// stampWait bounds the wait for the kernel's work queue; it usually takes
// microseconds.
const stampWait = 5 * time.Second

func confirmStamping() error {
	n, err := ns.New()
	if err != nil {
		return keepStamping(fmt.Errorf("make a namespace to confirm timestamping: %w", err))
	}
	defer n.Close() // the keeper socket holds the namespace from now on
	return n.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return keepStamping(fmt.Errorf("timestamping probe: %w", err))
		}
		if err := loUp(fd); err != nil {
			unix.Close(fd)
			return keepStamping(err)
		}
		stamping.keeper = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, tsFlags); err != nil {
			return fmt.Errorf("SO_TIMESTAMPING: %w", err)
		}
		self := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
		if err := unix.Bind(fd, self); err != nil {
			return fmt.Errorf("timestamping probe: bind: %w", err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return fmt.Errorf("timestamping probe: %w", err)
		}
		buf := make([]byte, 1)
		oob := make([]byte, unix.CmsgSpace(3*int(unsafe.Sizeof(unix.Timespec{}))))
		deadline := time.Now().Add(stampWait)
		for time.Now().Before(deadline) {
			if err := unix.Sendto(fd, buf, 0, sa); err != nil {
				return fmt.Errorf("timestamping probe: send: %w", err)
			}
			_, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
			if err != nil {
				return fmt.Errorf("timestamping probe: receive: %w", err)
			}
			if _, ok := kernelTime(oob[:oobn]); ok {
				return nil
			}
		}
		return fmt.Errorf("the kernel did not turn receive timestamps on within %v", stampWait)
	})
}

// keepStamping asks for timestamps for the rest of the process with a
// socket of the calling thread's namespace, where no probe can run, and
// returns err.
func keepStamping(err error) error {
	fd, serr := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if serr == nil {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPING, tsFlags) == nil {
			stamping.keeper = fd
		} else {
			unix.Close(fd)
		}
	}
	return err
}

// loUp sets the loopback of the socket's namespace up.
func loUp(fd int) error {
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("timestamping probe: lo flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("timestamping probe: set lo up: %w", err)
	}
	return nil
}

// kernelTime returns the software receive timestamp of an SCM_TIMESTAMPING
// control message, and whether there was one.
func kernelTime(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPING && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := *(*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			if ts.Sec != 0 || ts.Nsec != 0 {
				return time.Unix(ts.Unix()), true
			}
		}
	}
	return time.Time{}, false
}
