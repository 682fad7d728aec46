package firewall

import (
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"

	"github.com/nstest/harness/internal/kconfig"
)

// ctStates are the conntrack state bits of the words Rule.State accepts.
var ctStates = map[string]uint32{
	"invalid":     expr.CtStateBitINVALID,
	"established": expr.CtStateBitESTABLISHED,
	"related":     expr.CtStateBitRELATED,
	"new":         expr.CtStateBitNEW,
	"untracked":   expr.CtStateBitUNTRACKED,
}

// parseState parses Rule.State into the states' bit mask and their names.
func parseState(s string) (uint32, []string, error) {
	var mask uint32
	var names []string
	for _, w := range strings.Split(s, ",") {
		w = strings.ToLower(strings.TrimSpace(w))
		bit, ok := ctStates[w]
		if !ok {
			return 0, nil, fmt.Errorf("state %q: %q is not new, established, related, invalid or untracked", s, w)
		}
		if mask&bit == 0 {
			names = append(names, w)
		}
		mask |= bit
	}
	return mask, names, nil
}

// matchState matches packets whose conntrack state is one of mask's, as
// nft's `ct state established,related` does.
func matchState(mask uint32) []expr.Any {
	zero := make([]byte, 4)
	return []expr.Any{
		&expr.Ct{Register: reg, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: zero},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: zero},
	}
}

// conntrackOptions are the kernel options State needs.
var conntrackOptions = []string{"CONFIG_NF_CONNTRACK", "CONFIG_NFT_CT"}

// SetPolicy sets what happens to packets of chain (Input, Output or Forward)
// that no rule accepted or dropped: Accept (the default) or Drop. With Drop
// the chain lets through only what its rules accept, so a rule with State
// "established,related" and Action Accept is what lets replies back in.
// Creates the table and the chain if needed; Flush removes them, policy
// included. A Drop policy on Input or Output also stops IPv6 neighbour
// discovery (which ARP, for IPv4, is not subject to): accept ICMPv6
// neighbor-solicitation and neighbor-advertisement where IPv6 is used.
func SetPolicy(n Namespace, chain Chain, policy Action) error {
	what := fmt.Sprintf("firewall: set policy of chain %s to %s", chain, policy)
	spec := chains[chain]
	if spec == nil {
		return fmt.Errorf("%s: chain %d: not Input, Output or Forward", what, int(chain))
	}
	var p nftables.ChainPolicy
	switch policy {
	case Accept:
		p = nftables.ChainPolicyAccept
	case Drop:
		p = nftables.ChainPolicyDrop
	default:
		return fmt.Errorf("%s: policy %s: a chain's policy is Accept or Drop", what, policy)
	}
	return session(n, func(c *nftables.Conn) error {
		ch := spec.chain()
		ch.Table = ensureTable(c)
		ch.Policy = &p
		c.AddChain(ch)
		if err := c.Flush(); err != nil {
			return fmt.Errorf("%s: %w", what, kconfig.Check(err, "CONFIG_NF_TABLES_INET"))
		}
		return nil
	})
}

// Counter is what one rule of the package's table has matched since it was
// installed.
type Counter struct {
	// Chain is the rule's chain in the table: "input", "output",
	// "forward", or "snat", "dnat", "mss-clamp", "drop-ingress",
	// "drop-egress" for the rules of Masquerade, ForwardPort, ClampMSS and
	// RandomDrop.
	Chain string
	// Rule describes the rule: Rule.String for the rules of Add, with
	// " (tcp reset)" or " (icmp port-unreachable)" for the two halves of a
	// Reject without Proto.
	Rule string
	// Packets and Bytes are what the rule matched.
	Packets, Bytes uint64
}

// String returns "forward ct state established,related accept: 3 packets,
// 180 bytes".
func (c Counter) String() string {
	return fmt.Sprintf("%s: %d packets, %d bytes", c.Rule, c.Packets, c.Bytes)
}

// Counters returns the counters of every rule in the package's table, chain
// by chain in the order the chains were made, rules in their order; none
// when the table does not exist.
func Counters(n Namespace) ([]Counter, error) {
	var out []Counter
	err := session(n, func(c *nftables.Conn) error {
		exists, err := tableExists(c)
		if err != nil || !exists {
			return err
		}
		chs, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
		if err != nil {
			return fmt.Errorf("firewall: counters: list chains: %w", err)
		}
		for _, ch := range chs {
			if ch.Table.Name != TableName {
				continue
			}
			rules, err := c.GetRules(table(), ch)
			if err != nil {
				return fmt.Errorf("firewall: counters: list chain %s: %w", ch.Name, err)
			}
			for _, r := range rules {
				k := Counter{Chain: ch.Name}
				k.Rule, _ = userdata.GetString(r.UserData, userdata.TypeComment)
				for _, e := range r.Exprs {
					if x, ok := e.(*expr.Counter); ok {
						k.Packets, k.Bytes = x.Packets, x.Bytes
					}
				}
				out = append(out, k)
			}
		}
		return nil
	})
	return out, err
}

// Count returns what the rules Add installed for r have matched, summed
// when r was added more than once or is a Reject without Proto (two kernel
// rules). It fails, naming the rule and the rules there are, when no such
// rule is installed. Rules are told apart by their description
// (Rule.String), so give r exactly as it was given to Add.
func Count(n Namespace, r Rule) (Counter, error) {
	want := r.String()
	all, err := Counters(n)
	if err != nil {
		return Counter{}, err
	}
	sum := Counter{Chain: r.Chain.String(), Rule: want}
	found := false
	var there []string
	for _, c := range all {
		there = append(there, c.Rule)
		if c.Chain == sum.Chain && (c.Rule == want || strings.HasPrefix(c.Rule, want+" (")) {
			found = true
			sum.Packets += c.Packets
			sum.Bytes += c.Bytes
		}
	}
	if !found {
		if len(there) == 0 {
			there = []string{"none"}
		}
		return Counter{}, fmt.Errorf("firewall: count rule %q: not installed (rules: %s)", want, strings.Join(there, "; "))
	}
	return sum, nil
}
