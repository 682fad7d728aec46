package nstest

import (
	"fmt"

	"github.com/nstest/harness/nstest/capture"
)

// Capture starts recording the frames crossing the host's interface called
// iface, as tcpdump -i iface would. Like CaptureAll, and like every call that
// starts something the topology then owns until teardown, it is a builder:
// it fails the test (tb.Fatalf) if it cannot, with a message naming the host
// and the interface. The capture is closed when the topology is torn down;
// its packets stay readable. Wait and Count on the capture let a test assert
// what crossed the link; WriteFile saves it as a pcap file for tcpdump or
// Wireshark. The capture's packets name the host (capture.Node), so that
// captures of several hosts can be merged (NewCaptureGroup,
// capture.WritePcapng).
//
// iface may be any interface of the host's namespace, lo included. To watch
// a bridge, capture on its ports: they are the Peer of each interface made
// by Connect, in the fabric (topo.Fabric().Capture(i.Peer().Name()), or
// i.Peer().Capture()). The bridge device itself only sees frames addressed
// to the fabric.
func (h *Host) Capture(iface string, opts ...capture.Option) *capture.Capture {
	h.topo.tb.Helper()
	c, err := h.capture(iface, opts)
	if err != nil {
		h.topo.tb.Fatalf("%v", err)
	}
	return c
}

func (h *Host) capture(iface string, opts []capture.Option) (*capture.Capture, error) {
	var c *capture.Capture
	opts = append([]capture.Option{capture.Node(h.name)}, opts...)
	// Do waits for pending links first, so the capture starts on a link
	// that carries traffic and sees all of the test's packets.
	err := h.nsDo(func() (err error) {
		c, err = capture.Open(iface, opts...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	if err := h.track(c); err != nil {
		return nil, fmt.Errorf("nstest: %w", err)
	}
	return c, nil
}

// Capture starts recording the frames crossing the interface: it is
// Host.Capture on the interface's host, a builder that fails the test if it
// cannot. The capture is closed when the topology is torn down.
func (i *Interface) Capture(opts ...capture.Option) *capture.Capture {
	i.host.topo.tb.Helper()
	return i.host.Capture(i.name, opts...)
}
