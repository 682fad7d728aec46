package capture

import (
	"net/netip"
	"slices"
)

// Filter selects packets. A nil Filter matches every packet. Filters given
// to Wait run on the capture's reading goroutine, so they must be quick and
// must not block.
type Filter func(*Packet) bool

// match reports whether p passes every filter; nil filters match.
func match(p *Packet, fs []Filter) bool {
	for _, f := range fs {
		if f != nil && !f(p) {
			return false
		}
	}
	return true
}

// All matches every packet.
func All() Filter { return func(*Packet) bool { return true } }

// ARP matches ARP packets.
func ARP() Filter { return func(p *Packet) bool { return p.ARP != nil } }

// ARPRequest matches ARP requests asking for target ("who-has target"). An
// invalid (zero) target matches every ARP request.
func ARPRequest(target netip.Addr) Filter {
	return func(p *Packet) bool {
		return p.ARP != nil && p.ARP.Op == ARPRequestOp && (!target.IsValid() || p.ARP.TargetIP == target)
	}
}

// ARPReply matches ARP replies announcing sender ("sender is-at"). An
// invalid (zero) sender matches every ARP reply.
func ARPReply(sender netip.Addr) Filter {
	return func(p *Packet) bool {
		return p.ARP != nil && p.ARP.Op == ARPReplyOp && (!sender.IsValid() || p.ARP.SenderIP == sender)
	}
}

// ICMPEcho matches ICMP and ICMPv6 echo requests.
func ICMPEcho() Filter {
	return func(p *Packet) bool {
		return p.IsICMP() && (p.Proto == ProtoICMP && p.ICMPType == ICMPEchoRequestType ||
			p.Proto == ProtoICMPv6 && p.ICMPType == ICMPv6EchoRequestType)
	}
}

// ICMPEchoReply matches ICMP and ICMPv6 echo replies.
func ICMPEchoReply() Filter {
	return func(p *Packet) bool {
		return p.IsICMP() && (p.Proto == ProtoICMP && p.ICMPType == ICMPEchoReplyType ||
			p.Proto == ProtoICMPv6 && p.ICMPType == ICMPv6EchoReplyType)
	}
}

// ICMPType matches ICMP (for an IPv4 packet) or ICMPv6 (for an IPv6 packet)
// messages of type t.
func ICMPType(t uint8) Filter {
	return func(p *Packet) bool { return p.IsICMP() && p.ICMPType == t }
}

// Proto matches IPv4 and IPv6 packets carrying any of the given IP
// protocols (ProtoICMP, ProtoTCP, ProtoUDP, ProtoICMPv6, or any number).
func Proto(protos ...uint8) Filter {
	return func(p *Packet) bool { return p.Src.IsValid() && slices.Contains(protos, p.Proto) }
}

// EtherType matches frames of the given EtherType (EtherTypeARP, ...).
func EtherType(t uint16) Filter {
	return func(p *Packet) bool { return p.EtherType == t }
}

// Host matches IP packets from or to addr, and ARP packets whose sender or
// target is addr.
func Host(addr netip.Addr) Filter {
	addr = addr.Unmap()
	return func(p *Packet) bool {
		if p.ARP != nil {
			return p.ARP.SenderIP == addr || p.ARP.TargetIP == addr
		}
		return p.Src == addr || p.Dst == addr
	}
}

// Src matches IP packets from addr.
func Src(addr netip.Addr) Filter {
	addr = addr.Unmap()
	return func(p *Packet) bool { return p.Src == addr }
}

// Dst matches IP packets to addr.
func Dst(addr netip.Addr) Filter {
	addr = addr.Unmap()
	return func(p *Packet) bool { return p.Dst == addr }
}

// TCPPort matches TCP segments from or to port.
func TCPPort(port uint16) Filter {
	return func(p *Packet) bool { return p.IsTCP() && (p.SrcPort == port || p.DstPort == port) }
}

// UDPPort matches UDP datagrams from or to port.
func UDPPort(port uint16) Filter {
	return func(p *Packet) bool { return p.IsUDP() && (p.SrcPort == port || p.DstPort == port) }
}

// TCPFlagsSet matches TCP segments with all of the given flags set, for
// example TCPFlagsSet(TCPSyn) for SYN and SYN-ACK.
func TCPFlagsSet(flags TCPFlags) Filter {
	return func(p *Packet) bool { return p.IsTCP() && p.TCPFlags&flags == flags }
}

// Outgoing matches frames sent by the host the captured interface is in.
func Outgoing() Filter { return func(p *Packet) bool { return p.Outgoing } }

// Incoming matches frames received by the captured interface.
func Incoming() Filter { return func(p *Packet) bool { return !p.Outgoing } }

// And matches packets that every filter matches.
func And(fs ...Filter) Filter {
	return func(p *Packet) bool { return match(p, fs) }
}

// Or matches packets that at least one filter matches; nil filters match
// every packet.
func Or(fs ...Filter) Filter {
	return func(p *Packet) bool {
		for _, f := range fs {
			if f == nil || f(p) {
				return true
			}
		}
		return false
	}
}

// Not matches packets that f does not match.
func Not(f Filter) Filter {
	return func(p *Packet) bool { return f != nil && !f(p) }
}

// about returns the destination an ICMP error or redirect is about, or
// the zero address for other packets and errors that quote nothing.
func about(p *Packet) netip.Addr {
	switch {
	case !p.IsICMP() || !p.isError() && !(p.Proto == ProtoICMPv6 && p.ICMPType == ICMPv6RedirectType):
		return netip.Addr{}
	case p.RedirectDst.IsValid():
		return p.RedirectDst
	case p.Quoted != nil:
		return p.Quoted.Dst
	}
	return netip.Addr{}
}

// aboutDst reports whether p is an ICMP error or redirect about a packet to
// dst; an invalid dst matches every one.
func aboutDst(p *Packet, dst netip.Addr) bool {
	a := about(p)
	return a.IsValid() && (!dst.IsValid() || a == dst)
}

// ICMPError matches the ICMP and ICMPv6 messages about a packet sent to
// dst: destination unreachable (fragmentation needed included), packet too
// big, time exceeded, parameter problem, and redirects. An invalid (zero)
// dst matches every one whose quoted packet could be decoded. Packet.Quoted
// holds the start of the packet the message is about.
func ICMPError(dst netip.Addr) Filter {
	dst = dst.Unmap()
	return func(p *Packet) bool { return aboutDst(p, dst) }
}

// ICMPUnreachable matches ICMP destination unreachable messages (type 3,
// any code: net, host, protocol, port, fragmentation needed, prohibited)
// and ICMPv6 destination unreachable messages (type 1) about a packet sent
// to dst; an invalid dst matches all of them. Packet.ICMPCode says which.
func ICMPUnreachable(dst netip.Addr) Filter {
	dst = dst.Unmap()
	return func(p *Packet) bool {
		return aboutDst(p, dst) && (p.Proto == ProtoICMP && p.ICMPType == ICMPUnreachableType ||
			p.Proto == ProtoICMPv6 && p.ICMPType == ICMPv6UnreachableType)
	}
}

// ICMPTooBig matches the path MTU messages about a packet sent to dst: ICMP
// fragmentation needed (type 3, code 4) and ICMPv6 packet too big (type
// 2); an invalid dst matches all of them. Packet.MTU is the next hop's MTU.
func ICMPTooBig(dst netip.Addr) Filter {
	dst = dst.Unmap()
	return func(p *Packet) bool {
		return aboutDst(p, dst) && (p.Proto == ProtoICMP && p.ICMPType == ICMPUnreachableType && p.ICMPCode == ICMPFragNeededCode ||
			p.Proto == ProtoICMPv6 && p.ICMPType == ICMPv6PacketTooBigType)
	}
}

// ICMPRedirect matches ICMP redirects (type 5) and ICMPv6 redirects (type
// 137) for the destination dst; an invalid dst matches all of them.
// Packet.Gateway is the first hop the router advises instead of itself.
func ICMPRedirect(dst netip.Addr) Filter {
	dst = dst.Unmap()
	return func(p *Packet) bool {
		return aboutDst(p, dst) && (p.Proto == ProtoICMP && p.ICMPType == ICMPRedirectType ||
			p.Proto == ProtoICMPv6 && p.ICMPType == ICMPv6RedirectType)
	}
}

// Quoted matches ICMP and ICMPv6 errors and redirects whose quoted packet
// (Packet.Quoted) matches every filter: Quoted(Dst(a), UDPPort(53)) matches
// the errors about a DNS query to a.
func Quoted(fs ...Filter) Filter {
	return func(p *Packet) bool { return p.Quoted != nil && match(p.Quoted, fs) }
}
