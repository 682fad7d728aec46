package nstest

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
