package nstest

import (
	"fmt"

	"github.com/nstest/harness/nstest/firewall"
)

// SetFirewallPolicy sets what happens to the packets of chain (Input, Output
// or Forward) that no rule of Firewall accepted or dropped: firewall.Accept,
// the default, or firewall.Drop. With Drop, only what the rules accept
// passes; a rule with State "established,related" lets replies back in:
//
//	r.SetFirewallPolicy(firewall.Forward, firewall.Drop)
//	r.Firewall(
//		firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, State: "established,related"},
//		firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, InIface: "eth0"}, // LAN -> out
//	)
//
// FlushFirewall resets the policy with the rules. See firewall.SetPolicy.
func (h *Host) SetFirewallPolicy(chain firewall.Chain, policy firewall.Action) error {
	if err := firewall.SetPolicy(hostNS{h}, chain, policy); err != nil {
		return fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return nil
}

// FirewallCounters returns the packet and byte counters of every rule that
// Firewall, Masquerade, ForwardPort and ClampMSS installed in the host's
// namespace, in order: which rules matched, and how much.
func (h *Host) FirewallCounters() ([]firewall.Counter, error) {
	cs, err := firewall.Counters(hostNS{h})
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return cs, nil
}

// FirewallCount returns what the rule r, installed with Firewall, has
// matched: give r as it was given to Firewall, node names included. It
// fails, naming the rules there are, when r is not installed.
func (h *Host) FirewallCount(r firewall.Rule) (firewall.Counter, error) {
	var err error
	if r.Src, err = h.ruleAddr(r.Src); err == nil {
		r.Dst, err = h.ruleAddr(r.Dst)
	}
	var c firewall.Counter
	if err == nil {
		c, err = firewall.Count(hostNS{h}, r)
	}
	if err != nil {
		return c, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return c, nil
}
