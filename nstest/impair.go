package nstest

import (
	"fmt"
	"time"

	"github.com/nstest/harness/internal/qdisc"
)

// Impairment describes what a link does to the packets it sends: delay with
// jitter, random loss and a rate limit. The zero value is a perfect link.
type Impairment struct {
	Delay, Jitter time.Duration
	Loss          float64 // percent
	Rate          uint64  // bits per second
}

// ErrUnsupported is wrapped by errors for features the running kernel lacks;
// the error names the missing kernel option.
var ErrUnsupported = qdisc.ErrUnsupported

// Impair sets the impairment of packets leaving the interface, replacing any
// earlier one; the zero Impairment resets the link. Rate uses a tbf qdisc;
// delay, jitter and loss use netem. Where the kernel has no netem, loss falls
// back to an nf_tables rule dropping that share of packets, and delay or
// jitter return an error wrapping ErrUnsupported that names
// CONFIG_NET_SCH_NETEM.
func (i *Interface) Impair(im Impairment) error {
	if err := qdisc.Apply(i.host.nl, i.index, qdisc.Impairment(im), i.host.ns.Fd()); err != nil {
		return fmt.Errorf("nstest: interface %s: impair: %w", i, err)
	}
	return nil
}
