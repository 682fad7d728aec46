package nstest

import (
	"encoding/binary"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// EtherTypeExperimental is EtherType 0x88b5, which IEEE 802 sets aside for
// local experiments: no host's network stack acts on a frame of that type,
// so it suits frames made up to test a switch.
const EtherTypeExperimental uint16 = 0x88b5

// ethMinFrame is the shortest Ethernet frame without its checksum; a network
// card pads shorter ones with zeros.
const ethMinFrame = 60

// EthernetFrame returns an Ethernet II frame from src to dst carrying payload
// as the given EtherType, padded with zeros to the 60 bytes of a minimal
// frame (without the checksum, which the device adds or omits), ready for
// SendFrame. The MAC addresses need not be any interface's: a made-up source
// address is how a test teaches a bridge where a host is.
func EthernetFrame(dst, src net.HardwareAddr, etherType uint16, payload []byte) ([]byte, error) {
	switch {
	case len(dst) != 6:
		return nil, fmt.Errorf("nstest: Ethernet frame: destination MAC %q: %d bytes, want 6", dst, len(dst))
	case len(src) != 6:
		return nil, fmt.Errorf("nstest: Ethernet frame: source MAC %q: %d bytes, want 6", src, len(src))
	case etherType < 0x0600:
		return nil, fmt.Errorf("nstest: Ethernet frame: EtherType %#04x: below 0x0600, where the field is an 802.3 length", etherType)
	}
	f := make([]byte, max(14+len(payload), ethMinFrame))
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:14], etherType)
	copy(f[14:], payload)
	return f, nil
}

// SendFrame sends raw Ethernet frames out of the interface, each as given
// from its destination MAC address on (EthernetFrame makes one), in order,
// from a packet socket in the interface's namespace. The kernel sends a frame
// as it is, whatever its source address, and does not pad it. SendFrame
// first waits, like Ping, until the topology's links carry traffic (for a
// port of an STP bridge, until it forwards).
//
// The frames are sent from one CPU, so the kernel handles them, and bridges
// forward them, in that order: a frame that is flooded to every port, sent
// last, arrives at a port after every earlier frame that was sent there.
// That is how a test shows that a frame did not reach a host (see the
// example).
func (i *Interface) SendFrame(frames ...[]byte) error {
	for k, f := range frames {
		if len(f) < 14 {
			return fmt.Errorf("nstest: interface %s: frame %d: %d bytes, shorter than an Ethernet header (14)", i, k, len(f))
		}
	}
	err := i.host.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // protocol 0: receives nothing
		if err != nil {
			return fmt.Errorf("socket(AF_PACKET): %w", err)
		}
		defer unix.Close(fd)
		// A sent frame goes through the receiving side's backlog of the CPU
		// that sent it. Two frames sent from two CPUs (the thread may move
		// between the calls) can be handled out of order when the kernel
		// defers that work; one CPU keeps them in order.
		var was unix.CPUSet
		if unix.SchedGetaffinity(0, &was) == nil {
			for cpu := 0; cpu < len(was)*64; cpu++ {
				if was.IsSet(cpu) {
					var one unix.CPUSet
					one.Set(cpu)
					if unix.SchedSetaffinity(0, &one) == nil {
						defer unix.SchedSetaffinity(0, &was)
					}
					break
				}
			}
		}
		for k, f := range frames {
			proto := binary.BigEndian.Uint16(f[12:14])
			if proto < 0x0600 {
				proto = unix.ETH_P_802_3
			}
			sa := &unix.SockaddrLinklayer{Ifindex: i.index, Protocol: proto<<8 | proto>>8, Halen: 6} // network byte order
			copy(sa.Addr[:], f[:6])
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				return fmt.Errorf("send frame %d (%d bytes): %w", k, len(f), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("nstest: interface %s: %w", i, err)
	}
	return nil
}
