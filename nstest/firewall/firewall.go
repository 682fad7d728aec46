// Package firewall installs filter and NAT rules in a network namespace
// through nf_tables over netlink, without the nft binary.
//
// Every function takes the namespace as a Namespace, something that runs
// code inside it and refuses once it is gone (an *nstest.Host is one), and
// opens its own netlink socket there for the call. A raw descriptor number
// would not do: once closed, its number soon names another namespace, and
// the rules would land there. All rules live in one
// table the package owns, "nstest" of family inet (IPv4 and IPv6 together),
// created on first use; Flush removes it. Each call builds its whole change
// first and sends it as one nf_tables batch, which the kernel applies
// atomically: an invalid rule leaves the namespace as it was.
//
// Every rule counts the packets and bytes it matched; Dump lists them.
//
// Two kinds of rules live outside that table, in families the inet table
// cannot serve: DropFrames' random frame loss (netdev table FramesTable),
// and the cuts of a network partition, CutMACs (bridge family) and
// CutIngress (netdev family), each in a table the caller names and
// DeleteTable removes.
package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/kconfig"
)

// TableName is the name of the inet table that holds every rule this package
// installs.
const TableName = "nstest"

// Chain names the point in the packet path where a Rule applies.
type Chain int

// The chains a Rule may name. The zero Chain is invalid, so a forgotten
// Chain is an error rather than a rule in the wrong place.
const (
	Input   Chain = iota + 1 // packets addressed to the namespace itself
	Output                   // packets the namespace sends
	Forward                  // packets the namespace routes between interfaces
)

// String returns the chain's name as nft prints it: "input", "output" or
// "forward".
func (c Chain) String() string {
	switch c {
	case Input:
		return "input"
	case Output:
		return "output"
	case Forward:
		return "forward"
	}
	return "Chain(" + strconv.Itoa(int(c)) + ")"
}

// Action is what a Rule does with the packets it matches.
type Action int

// The actions a Rule may take. The zero Action is invalid.
const (
	// Accept lets the packet through; later rules in the chain are skipped.
	Accept Action = iota + 1
	// Drop discards the packet silently: the sender sees a timeout.
	Drop
	// Reject discards the packet and tells the sender: a TCP reset for TCP
	// (the dialer sees "connection refused"), an ICMP or ICMPv6
	// port-unreachable for UDP and for rules without Proto, and an
	// administratively-prohibited for ICMP.
	Reject
)

// String returns the action's name as nft prints it.
func (a Action) String() string {
	switch a {
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	case Reject:
		return "reject"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// Rule matches packets in one chain and applies an action to them. Empty
// fields match anything; the set fields must all match.
type Rule struct {
	Chain  Chain
	Action Action
	// Proto is "", "tcp", "udp", "icmp" or "icmpv6".
	Proto string
	// Src and Dst are an address or a CIDR, IPv4 or IPv6. A rule with an
	// address matches only packets of that address's family.
	Src, Dst string
	// SrcPort and DstPort need Proto "tcp" or "udp".
	SrcPort, DstPort uint16
	// InIface is not valid in Output, OutIface not in Input.
	InIface, OutIface string
	// ICMPType needs Proto "icmp" or "icmpv6": "echo-request", "echo-reply",
	// "destination-unreachable", "time-exceeded", and for path MTU
	// discovery "frag-needed" (ICMP type 3 code 4) or "packet-too-big"
	// (ICMPv6 type 2); either name works with either protocol.
	ICMPType string
	// Probability, in percent, applies the rule to that share of the
	// matching packets, chosen at random; 0 means every packet.
	Probability float64
	// State matches the packet's connection-tracking state: a
	// comma-separated list of "new" (the first packet of a connection: a
	// TCP SYN, the first datagram or echo request between two ends),
	// "established" (a later packet of a connection that has seen packets
	// both ways, replies included), "related" (a packet that belongs to a
	// known connection without being part of it, such as the ICMP error
	// it caused), "invalid" (a packet conntrack cannot place) and
	// "untracked", any of which matches. "established,related" with Accept
	// and a Drop policy (SetPolicy) make a stateful firewall. It needs
	// connection tracking (CONFIG_NF_CONNTRACK and CONFIG_NFT_CT); without
	// it Add fails with an error wrapping nstest.ErrUnsupported naming them.
	State string
}

// String describes the rule in nft-like words, for example
// "input tcp daddr 10.0.0.2 dport 80 reject" or
// "forward ct state established,related accept".
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Chain.String())
	word := func(s ...string) {
		for _, w := range s {
			b.WriteByte(' ')
			b.WriteString(w)
		}
	}
	if r.Proto != "" {
		word(r.Proto)
	}
	if r.ICMPType != "" {
		word("type", r.ICMPType)
	}
	if r.Src != "" {
		word("saddr", r.Src)
	}
	if r.Dst != "" {
		word("daddr", r.Dst)
	}
	if r.SrcPort != 0 {
		word("sport", strconv.Itoa(int(r.SrcPort)))
	}
	if r.DstPort != 0 {
		word("dport", strconv.Itoa(int(r.DstPort)))
	}
	if r.InIface != "" {
		word("iifname", r.InIface)
	}
	if r.OutIface != "" {
		word("oifname", r.OutIface)
	}
	if r.State != "" {
		states := r.State
		if _, names, err := parseState(r.State); err == nil {
			states = strings.Join(names, ",")
		}
		word("ct", "state", states)
	}
	if r.Probability != 0 {
		word("probability", strconv.FormatFloat(r.Probability, 'g', -1, 64)+"%")
	}
	word(r.Action.String())
	return b.String()
}

// Add installs rules at the end of their chains, in order, creating the
// table and the chains it needs on first use. Either every rule is installed
// or, on any error, none is. Errors name the rule by its 1-based position and
// the bad value: `firewall: rule 2: src "10.0.0.300": invalid address`.
func Add(n Namespace, rules ...Rule) error {
	type built struct {
		chain *chainSpec
		exprs [][]expr.Any
		text  string
	}
	var all []built
	for i, r := range rules {
		exprs, err := r.compile()
		if err != nil {
			return fmt.Errorf("firewall: rule %d: %w", i+1, err)
		}
		all = append(all, built{chains[r.Chain], exprs, r.String()})
	}
	if len(all) == 0 {
		return nil
	}
	return session(n, func(c *nftables.Conn) error {
		t := ensureTable(c)
		for _, b := range all {
			ch := b.chain.add(c, t)
			for i, e := range b.exprs {
				text := b.text
				if len(b.exprs) == 2 { // a Reject split by protocol
					text += [...]string{" (tcp reset)", " (icmp port-unreachable)"}[i]
				}
				c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: e, UserData: comment(text)})
			}
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("firewall: add %d rules: %w", len(rules), kconfig.Check(err, needs(rules)...))
		}
		return nil
	})
}

// ErrUnsupported is wrapped by errors for rules the running kernel cannot
// hold (nf_tables, or one of its families or expressions, not built); the
// error names the kernel options. It is nstest.ErrUnsupported.
var ErrUnsupported = kconfig.ErrUnsupported

// needs names the kernel options that rules need.
func needs(rules []Rule) []string {
	opts := []string{"CONFIG_NF_TABLES_INET"}
	var reject, random, state bool
	for _, r := range rules {
		reject = reject || r.Action == Reject
		random = random || r.Probability != 0
		state = state || r.State != ""
	}
	if state {
		opts = append(opts, conntrackOptions...)
	}
	if reject {
		opts = append(opts, "CONFIG_NFT_REJECT_INET")
	}
	if random {
		opts = append(opts, "CONFIG_NFT_NUMGEN")
	}
	return opts
}

// Flush removes the package's table with every rule, NAT mapping and random
// drop in it. Flushing a namespace without the table is not an error.
func Flush(n Namespace) error {
	return session(n, func(c *nftables.Conn) error {
		exists, err := tableExists(c)
		if err != nil || !exists {
			return err
		}
		c.DelTable(table())
		if err := c.Flush(); err != nil {
			return fmt.Errorf("firewall: delete table inet %s: %w", TableName, err)
		}
		return nil
	})
}

// Namespace is the network namespace a function of this package acts on. Do
// runs fn on a thread inside the namespace and returns what fn returns; once
// the namespace is gone it fails without running fn. *nstest.Host is a
// Namespace.
type Namespace interface {
	Do(fn func() error) error
}

// session runs fn with an nf_tables socket opened inside n, on n's thread:
// the socket can belong to no other namespace, and it is closed afterwards.
func session(n Namespace, fn func(c *nftables.Conn) error) error {
	if n == nil {
		return errors.New("firewall: no namespace given")
	}
	return n.Do(func() error {
		// Lasting: one socket, opened here, for the whole session. A
		// non-lasting Conn would open one per call wherever it is made.
		c, err := nftables.New(nftables.AsLasting())
		if err != nil {
			return fmt.Errorf("firewall: open nf_tables netlink socket: %w", kconfig.Check(err, "CONFIG_NF_TABLES"))
		}
		defer c.CloseLasting()
		return fn(c)
	})
}

func table() *nftables.Table {
	return &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
}

// ensureTable queues the creation of the table; adding an existing table is
// a no-op.
func ensureTable(c *nftables.Conn) *nftables.Table { return c.AddTable(table()) }

func tableExists(c *nftables.Conn) (bool, error) {
	_, err := c.ListTableOfFamily(TableName, nftables.TableFamilyINet)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("firewall: look up table inet %s: %w", TableName, err)
	}
	return true, nil
}

// chainSpec describes one of the base chains the package creates on demand.
// Each kind of rule has its own chain so that the order between them is the
// hooks' priority, not the order of the calls.
type chainSpec struct {
	name     string
	typ      nftables.ChainType
	hook     *nftables.ChainHook
	priority nftables.ChainPriority
}

// chain returns the chain, without a policy: a new base chain's is accept,
// and adding an existing chain without one keeps the policy SetPolicy set.
func (s *chainSpec) chain() *nftables.Chain {
	p := s.priority
	return &nftables.Chain{Name: s.name, Table: table(), Type: s.typ, Hooknum: s.hook, Priority: &p}
}

// add queues the chain's creation; adding an existing chain leaves it as it
// is.
func (s *chainSpec) add(c *nftables.Conn, t *nftables.Table) *nftables.Chain {
	ch := s.chain()
	ch.Table = t
	return c.AddChain(ch)
}

var (
	inputChain   = &chainSpec{"input", nftables.ChainTypeFilter, nftables.ChainHookInput, 0}
	outputChain  = &chainSpec{"output", nftables.ChainTypeFilter, nftables.ChainHookOutput, 0}
	forwardChain = &chainSpec{"forward", nftables.ChainTypeFilter, nftables.ChainHookForward, 0}
	// Clamping runs before the filter chains so that a SYN is rewritten
	// even when a later rule accepts it.
	clampChain = &chainSpec{"mss-clamp", nftables.ChainTypeFilter, nftables.ChainHookForward, -150}
	dnatChain  = &chainSpec{"dnat", nftables.ChainTypeNAT, nftables.ChainHookPrerouting, -100}
	snatChain  = &chainSpec{"snat", nftables.ChainTypeNAT, nftables.ChainHookPostrouting, 100}
	// Random drops see packets as they enter (before conntrack and DNAT) and
	// as they leave (after SNAT), like an impairment on the wire.
	ingressDropChain = &chainSpec{"drop-ingress", nftables.ChainTypeFilter, nftables.ChainHookPrerouting, -300}
	egressDropChain  = &chainSpec{"drop-egress", nftables.ChainTypeFilter, nftables.ChainHookPostrouting, 300}

	chains = map[Chain]*chainSpec{Input: inputChain, Output: outputChain, Forward: forwardChain}
)

func comment(s string) []byte { return userdata.AppendString(nil, userdata.TypeComment, s) }

// parseAddr accepts an address or a CIDR; an address is a full-length prefix.
func parseAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("invalid CIDR")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errors.New("invalid address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func checkIface(s string) error {
	if len(s) > unix.IFNAMSIZ-1 {
		return fmt.Errorf("longer than %d bytes", unix.IFNAMSIZ-1)
	}
	if strings.ContainsAny(s, "/ \x00") {
		return errors.New("invalid interface name")
	}
	return nil
}

// chainExists reports whether the package's table has the named chain. The
// chains are listed rather than fetched because the library's GetRules hides
// the kernel's ENOENT.
func chainExists(c *nftables.Conn, name string) (bool, error) {
	all, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list chains: %w", err)
	}
	for _, ch := range all {
		if ch.Table.Name == TableName && ch.Name == name {
			return true, nil
		}
	}
	return false, nil
}
