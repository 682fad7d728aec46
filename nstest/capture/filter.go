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
