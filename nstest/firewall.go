package nstest

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nstest/harness/nstest/firewall"
)

// Firewall installs filter rules in the host's namespace through nf_tables,
// after the rules already there (see package firewall). Either every rule is
// installed or none is. Src and Dst may also name a node of the topology,
// standing for the address Ping would use for it (its first IPv4 address,
// else its first IPv6 address).
//
//	h.Firewall(firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp", Src: "ns1"})
func (h *Host) Firewall(rules ...firewall.Rule) error {
	rs := make([]firewall.Rule, len(rules))
	for n, r := range rules {
		var err error
		if r.Src, err = h.ruleAddr(r.Src); err == nil {
			r.Dst, err = h.ruleAddr(r.Dst)
		}
		if err != nil {
			return fmt.Errorf("nstest: host %q: firewall: rule %d: %w", h.name, n+1, err)
		}
		rs[n] = r
	}
	if err := firewall.Add(hostNS{h}, rs...); err != nil {
		return fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return nil
}

// ruleAddr replaces a node name (or "localhost") by its address, by
// Topology.Resolve's rule; "" and CIDRs are left for package firewall to
// judge.
func (h *Host) ruleAddr(s string) (string, error) {
	if s == "" || strings.Contains(s, "/") {
		return s, nil
	}
	a, err := h.topo.resolve(h, s, 0)
	if err != nil {
		return "", err
	}
	if a.String() == s {
		return s, nil
	}
	return a.String(), nil
}

// FlushFirewall removes every rule, NAT mapping and MSS clamp that Firewall,
// Masquerade, ForwardPort and ClampMSS installed in the host's namespace.
// Impairments stay: reset them with Impair(Impairment{}).
func (h *Host) FlushFirewall() error {
	if err := firewall.Flush(hostNS{h}); err != nil {
		return fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return nil
}

// Masquerade rewrites the source address of packets leaving the host by
// outIface to outIface's own address, as a home router does; replies are
// translated back. With src set (an address, a CIDR or the name of a node),
// only packets from there are rewritten. The host must forward packets to
// masquerade anything but its own traffic: make it with AddRouter.
func (h *Host) Masquerade(outIface, src string) error {
	s, err := h.ruleAddr(src)
	if err == nil {
		err = firewall.Masquerade(hostNS{h}, outIface, s)
	}
	if err != nil {
		return fmt.Errorf("nstest: host %q: masquerade on %s: %w", h.name, outIface, err)
	}
	return nil
}

// ForwardPort sends proto ("tcp" or "udp") packets that arrive for port on
// inIface ("" for any interface) to to, rewriting their destination (DNAT),
// as a router's port forwarding does. to is "address:port" or "node:port",
// where node names a host of the topology ("srv:80"), or an address or node
// without a port to keep the original port.
func (h *Host) ForwardPort(proto string, port uint16, to, inIface string) error {
	ap, err := h.forwardTarget(to)
	if err == nil {
		err = firewall.ForwardPort(hostNS{h}, proto, port, ap, inIface)
	}
	if err != nil {
		return fmt.Errorf("nstest: host %q: forward %s port %d to %s: %w", h.name, proto, port, to, err)
	}
	return nil
}

func (h *Host) forwardTarget(to string) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(to)
	if err != nil {
		host, portStr = to, "" // no port: keep the original one
	}
	var port uint16
	if portStr != "" {
		p, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("port %q: want a number 0..65535", portStr)
		}
		port = uint16(p)
	}
	a, err := h.topo.resolve(h, host, 0)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, port), nil
}

// ClampMSS lowers the maximum segment size announced in TCP handshakes the
// host forwards out of outIface ("" for any interface) to what the route's
// MTU allows: the usual fix for a path-MTU black hole.
func (h *Host) ClampMSS(outIface string) error {
	if err := firewall.ClampMSS(hostNS{h}, outIface); err != nil {
		return fmt.Errorf("nstest: host %q: clamp MSS on %q: %w", h.name, outIface, err)
	}
	return nil
}

// FirewallRules lists the nf_tables ruleset of the host's namespace, every
// table, with each rule's packet and byte counters, in nft-like text meant
// for people.
func (h *Host) FirewallRules() (string, error) {
	s, err := firewall.Dump(hostNS{h})
	if err != nil {
		return "", fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return s, nil
}

// hostNS is the host's namespace as package firewall takes it: Do without
// waiting for links to come up, failing with ErrClosed after teardown.
// (Users pass the *Host itself.)
type hostNS struct{ h *Host }

func (n hostNS) Do(fn func() error) error { return n.h.do(fn) }
