package ping

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// AllGroups is the net.ipv4.ping_group_range value that AllowDatagram writes
// first: every group may open datagram ICMP sockets (IPv4 and IPv6 alike).
const AllGroups = "0 2147483647"

const rangePath = "/proc/sys/net/ipv4/ping_group_range"

// AllowDatagram lets this process open datagram ICMP sockets (SocketKind
// Datagram) in the calling thread's network namespace, by writing
// net.ipv4.ping_group_range there. Call it on a thread locked inside a
// namespace you own, never in the real root namespace. It writes AllGroups;
// where the user namespace maps fewer groups (a rootless user namespace maps
// one) the kernel refuses that, and it writes the process's own group
// instead, "G G".
func AllowDatagram() error {
	err := writeRange(AllGroups)
	if errors.Is(err, unix.EINVAL) {
		g := strconv.Itoa(os.Getegid())
		err = writeRange(g + " " + g)
	}
	return err
}

func writeRange(v string) error {
	// Opened here, on the caller's thread: /proc/sys/net belongs to the
	// namespace of the thread that opens it.
	f, err := os.OpenFile(rangePath, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("ping: allow datagram ICMP sockets: %w", err)
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("ping: allow datagram ICMP sockets: write %q to %s: %w", v, rangePath, err)
	}
	return nil
}
