// Package qdisc impairs links (delay, jitter, loss, rate) with queueing
// disciplines set through netlink: netem for delay, jitter and loss, tbf for a
// rate alone. Where the kernel lacks netem, loss falls back to a drop the
// caller places (nstest drops frames at the far end of the veth pair); delay
// and jitter have no fallback and fail with ErrUnsupported.
package qdisc

import (
	"fmt"
	"math"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nstest/harness/internal/kconfig"
)

// Impairment describes how a link misbehaves on egress. The zero value is a
// healthy link.
type Impairment struct {
	Delay, Jitter time.Duration // Jitter needs Delay
	Loss          float64       // percent of packets dropped, 0..100
	Rate          uint64        // bits per second; 0 is unlimited
}

// ErrUnsupported is wrapped by errors for impairments this kernel cannot
// apply; the message names the missing kernel option.
var ErrUnsupported = kconfig.ErrUnsupported

// MinRate is the lowest Rate accepted, in bits per second.
const MinRate = 8000

// Kinds of root qdisc that Apply installs and therefore may replace or
// remove. Any other root qdisc belongs to someone else.
const (
	kindNetem = "netem"
	kindTbf   = "tbf"
)

// qdiscOption names the kernel option each kind of qdisc needs.
var qdiscOption = map[string]string{kindNetem: "CONFIG_NET_SCH_NETEM", kindTbf: "CONFIG_NET_SCH_TBF"}

// Apply sets the impairment of the link's egress, replacing any previous one;
// the zero Impairment restores the link's default qdisc. h must be bound to
// the namespace where the link lives. Without netem in the kernel, Loss is
// handed to drop, which must make that share of the link's packets vanish
// (or, given 0, stop), and Delay fails with an error wrapping
// ErrUnsupported. dropSet says whether an earlier call left a drop in place;
// the result says whether one is in place now. With no drop to set or clear,
// drop is not called, so impairments without loss need no nf_tables.
func Apply(h *netlink.Handle, linkIndex int, im Impairment, drop func(percent float64) error, dropSet bool) (dropInstalled bool, err error) {
	err = apply(h, linkIndex, im, drop, dropSet, &dropInstalled)
	return dropInstalled, err
}

func apply(h *netlink.Handle, linkIndex int, im Impairment, setDrop func(float64) error, clearDrop bool, dropInstalled *bool) error {
	link, err := h.LinkByIndex(linkIndex)
	if err != nil {
		return fmt.Errorf("impairment on link %d: %w", linkIndex, err)
	}
	name := link.Attrs().Name
	if err := im.check(); err != nil {
		return fmt.Errorf("impairment on %q: %w", name, err)
	}

	netem := false
	if im.Delay > 0 || im.Loss > 0 {
		if netem, err = NetemSupported(); err != nil {
			return fmt.Errorf("impairment on %q: %w", name, err)
		}
	}
	if im.Delay > 0 && !netem {
		return fmt.Errorf("delay %v on %q: netem qdisc unavailable (kernel built without CONFIG_NET_SCH_NETEM): %w", im.Delay, name, ErrUnsupported)
	}

	var q netlink.Qdisc
	attrs := netlink.QdiscAttrs{LinkIndex: linkIndex, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
	switch {
	case netem:
		q = netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
			Latency: uint32(im.Delay / time.Microsecond),
			Jitter:  uint32(im.Jitter / time.Microsecond),
			Loss:    float32(im.Loss),
			Rate64:  im.Rate / 8,
		})
	case im.Rate > 0:
		q = tbf(attrs, im.Rate, link.Attrs().MTU)
	}
	if err := setRoot(h, linkIndex, q); err != nil {
		return fmt.Errorf("impairment on %q: %w", name, err)
	}

	drop := 0.0
	if !netem {
		drop = im.Loss
	}
	*dropInstalled = clearDrop // until known otherwise
	if drop > 0 || clearDrop {
		if err := setDrop(drop); err != nil {
			return fmt.Errorf("impairment on %q: loss without netem: %w", name, err)
		}
	}
	*dropInstalled = drop > 0
	return nil
}

// check validates the impairment on its own.
func (im Impairment) check() error {
	switch {
	case im.Delay < 0:
		return fmt.Errorf("delay %v: negative", im.Delay)
	case im.Jitter < 0:
		return fmt.Errorf("jitter %v: negative", im.Jitter)
	case im.Jitter > 0 && im.Delay == 0:
		return fmt.Errorf("jitter %v without delay: jitter varies the delay, set Delay too", im.Jitter)
	case im.Jitter > im.Delay:
		return fmt.Errorf("jitter %v larger than delay %v", im.Jitter, im.Delay)
	case im.Delay+im.Jitter > maxDelay():
		return fmt.Errorf("delay %v with jitter %v: above netem's maximum of %v", im.Delay, im.Jitter, maxDelay())
	case math.IsNaN(im.Loss) || im.Loss < 0 || im.Loss > 100:
		return fmt.Errorf("loss %g%%: not a percentage between 0 and 100", im.Loss)
	case im.Rate > 0 && im.Rate < MinRate:
		return fmt.Errorf("rate %d bit/s: below the minimum of %d bit/s", im.Rate, MinRate)
	}
	return nil
}

// maxDelay is the longest delay netem's 32-bit tick field holds.
func maxDelay() time.Duration {
	return time.Duration(float64(math.MaxUint32)/netlink.TickInUsec()) * time.Microsecond
}

// tbf shapes to rate bits per second. The bucket holds 10 ms of traffic and
// at least two full frames, so that a frame always fits; the queue holds
// 50 ms more on top of the bucket, like `tc ... tbf latency 50ms`.
func tbf(attrs netlink.QdiscAttrs, rate uint64, mtu int) *netlink.Tbf {
	bytes := rate / 8
	burst := max(bytes/100, uint64(2*(mtu+14)))
	limit := min(bytes/20+burst, math.MaxUint32)
	return &netlink.Tbf{
		QdiscAttrs: attrs,
		Rate:       bytes,
		Buffer:     netlink.Xmittime(bytes, uint32(min(burst, math.MaxUint32))),
		Limit:      uint32(limit),
	}
}

// setRoot makes q the link's root qdisc, or with q nil removes the root qdisc
// Apply installed, which brings back the kernel's default. A qdisc of another
// kind is removed first: the kernel only changes a qdisc's parameters in
// place, never its kind.
func setRoot(h *netlink.Handle, linkIndex int, q netlink.Qdisc) error {
	link := &netlink.GenericLink{LinkAttrs: netlink.LinkAttrs{Index: linkIndex}}
	qs, err := h.QdiscList(link)
	if err != nil {
		return fmt.Errorf("list qdiscs: %w", err)
	}
	for _, old := range qs {
		kind := old.Type()
		if old.Attrs().Parent != netlink.HANDLE_ROOT || (kind != kindNetem && kind != kindTbf) {
			continue
		}
		if q != nil && q.Type() == kind {
			break // replaced in place below
		}
		if err := h.QdiscDel(old); err != nil {
			return fmt.Errorf("remove %s qdisc: %w", kind, err)
		}
	}
	if q == nil {
		return nil
	}
	if err := h.QdiscReplace(q); err != nil {
		return fmt.Errorf("set %s qdisc: %w", q.Type(), kconfig.Check(err, qdiscOption[q.Type()]))
	}
	return nil
}
