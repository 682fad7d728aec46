package nstest

import (
	"fmt"
	"time"

	"github.com/nstest/harness/internal/kconfig"
	"github.com/nstest/harness/internal/qdisc"
	"github.com/nstest/harness/nstest/firewall"
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
var ErrUnsupported = kconfig.ErrUnsupported

// Impair sets the impairment of packets leaving the interface, replacing any
// earlier one; the zero Impairment resets the link. Rate uses a tbf qdisc;
// delay, jitter and loss use netem. Where the kernel has no netem, loss falls
// back to an nf_tables rule at the other end of the veth pair that drops that
// share of the frames arriving there (ARP included, unseen by the sender, as
// netem's loss; towards an Open vSwitch userspace datapath, which reads its
// ports before that hook, the frames are dropped as they leave), and delay
// or jitter return an error wrapping ErrUnsupported that names
// CONFIG_NET_SCH_NETEM. Any other qdisc or nf_tables feature the kernel
// lacks (CONFIG_NET_SCH_TBF, CONFIG_NF_TABLES_NETDEV, ...) also returns an
// error wrapping ErrUnsupported that names it.
func (i *Interface) Impair(im Impairment) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	h := i.host
	err := h.use(func() error {
		drop, err := qdisc.Apply(h.nl, i.index, qdisc.Impairment(im), i.dropArriving, i.lossByDrop)
		i.lossByDrop = drop
		return err
	})
	if err != nil {
		return fmt.Errorf("nstest: interface %s: impair: %w", i, err)
	}
	i.impair = im
	return nil
}

// dropArriving drops percent of the frames arriving at the interface's peer:
// the loss fallback of Impair.
func (i *Interface) dropArriving(percent float64) error {
	p := i.peer
	if p == nil {
		return fmt.Errorf("interface %s has no veth peer to drop frames at", i)
	}
	if p.onUserspaceOVS() {
		// OVS's userspace datapath reads the port with a packet socket,
		// which sees frames before the ingress hook: drop them as they
		// leave instead, which the sender does not see either.
		return firewall.DropFramesLeaving(hostNS{i.host}, i.name, percent)
	}
	return firewall.DropFrames(hostNS{p.host}, p.name, percent)
}
