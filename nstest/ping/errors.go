package ping

import (
	"fmt"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ICMPError is an ICMP or ICMPv6 error that answered one of a run's echo
// requests instead of a reply: it says who answered and why.
type ICMPError struct {
	From       netip.Addr // the router or host that sent it (the pinging host itself for local failures)
	Family     Family     // IPv4: Type and Code are ICMP ones; IPv6: ICMPv6 ones
	Seq        int        // the sequence number of the request it answers, from 1 (iputils' icmp_seq)
	Type, Code int
	MTU        int // the next-hop MTU for "fragmentation needed" and "packet too big", else 0
}

// Error describes e, for example "from 10.0.0.254 icmp_seq=1: destination
// unreachable (host unreachable)".
func (e ICMPError) Error() string {
	var what string
	if e.Family == IPv6 {
		what = ipv6.ICMPType(e.Type).String()
		if c, ok := codes6[[2]int{e.Type, e.Code}]; ok {
			what += " (" + c + ")"
		}
	} else {
		what = ipv4.ICMPType(e.Type).String()
		if c, ok := codes4[[2]int{e.Type, e.Code}]; ok {
			what += " (" + c + ")"
		}
	}
	if what == "<nil>" {
		what = fmt.Sprintf("type %d code %d", e.Type, e.Code)
	}
	if e.MTU > 0 {
		what += fmt.Sprintf(", MTU %d", e.MTU)
	}
	return fmt.Sprintf("from %v icmp_seq=%d: %s", e.From, e.Seq, what)
}

// Unreachable reports whether e says the destination cannot be reached
// (ICMP destination unreachable), rather than, say, that the TTL ran out.
func (e ICMPError) Unreachable() bool {
	if e.Family == IPv6 {
		return e.Type == unreachable6
	}
	return e.Type == unreachable4
}

// TimeExceeded reports whether e says the request's TTL (hop limit) ran out
// on the way, as traceroute provokes.
func (e ICMPError) TimeExceeded() bool {
	if e.Family == IPv6 {
		return e.Type == timeExceeded6
	}
	return e.Type == timeExceeded4
}

var codes4 = map[[2]int]string{
	{3, 0}: "net unreachable", {3, 1}: "host unreachable", {3, 2}: "protocol unreachable",
	{3, 3}: "port unreachable", {3, 4}: "fragmentation needed", {3, 5}: "source route failed",
	{3, 6}: "destination net unknown", {3, 7}: "destination host unknown",
	{3, 9}: "net prohibited", {3, 10}: "host prohibited", {3, 13}: "communication prohibited by filter",
	{11, 0}: "TTL exceeded in transit", {11, 1}: "fragment reassembly time exceeded",
}

var codes6 = map[[2]int]string{
	{1, 0}: "no route", {1, 1}: "administratively prohibited", {1, 2}: "beyond scope of source",
	{1, 3}: "address unreachable", {1, 4}: "port unreachable", {1, 5}: "source address failed policy",
	{1, 6}: "reject route",
	{3, 0}: "hop limit exceeded in transit", {3, 1}: "fragment reassembly time exceeded",
}
