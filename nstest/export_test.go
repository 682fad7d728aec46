package nstest

import "io"

// SetBuildBuffer sets the receive buffer and the batch size of the build
// path's netlink socket of h, so that a test can make the kernel drop
// acknowledgements (n < 1 keeps the batch bound derived from the buffer).
func SetBuildBuffer(h *Host, bytes, batch int) error {
	if err := h.fnl.SetReadBuffer(bytes); err != nil {
		return err
	}
	h.fnl.SetBatch(batch)
	return nil
}

// OnHostMade sets a function to run between making a host's namespace and
// recording the host in its topology; nil removes it.
func OnHostMade(fn func(*Host)) { testHookHostMade = fn }

// TearDown tears the topology down as its cleanup does.
func TearDown(t *Topology) { t.close() }

// Tracked returns how many sockets h keeps to close at teardown.
func Tracked(h *Host) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.closers)
}

// OnTrack sets a function to run when a host's socket or capture is about
// to be recorded for teardown; nil removes it.
func OnTrack(fn func(*Host, io.Closer)) { testHookTrack = fn }
