package capture_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/nstest/harness/nstest/capture"
)

// FuzzDecode feeds arbitrary bytes to the frame decoder as an Ethernet frame
// (raw false) or a bare IP packet (raw true). The decoder must not panic,
// must not write to the frame, and what it keeps of the frame (MAC
// addresses, the quoted packet) must lie within it; the summary and every
// filter must work on the result. CI runs it briefly:
//
//	go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 30s ./nstest/capture
func FuzzDecode(f *testing.F) {
	for _, fr := range frames {
		f.Add(fr.frame, false)
		if len(fr.frame) > 14 {
			f.Add(fr.frame[14:], true)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		lt := capture.LinkTypeEthernet
		if raw {
			lt = capture.LinkTypeRaw
		}
		data = data[:len(data):len(data)] // any read past the end panics
		orig := bytes.Clone(data)
		p := capture.Decode(data, lt)
		if !bytes.Equal(data, orig) {
			t.Fatalf("decoding changed the frame")
		}
		for _, mac := range [][]byte{p.DstMAC, p.SrcMAC} {
			if mac != nil && (len(mac) != 6 || cap(mac) != 6) {
				t.Fatalf("a MAC address of %d bytes (capacity %d)", len(mac), cap(mac))
			}
		}
		if p.ARP != nil && (cap(p.ARP.SenderMAC) != 6 || cap(p.ARP.TargetMAC) != 6) {
			t.Fatalf("ARP MAC addresses of capacity %d and %d", cap(p.ARP.SenderMAC), cap(p.ARP.TargetMAC))
		}
		if q := p.Quoted; q != nil {
			if q.Quoted != nil {
				t.Fatalf("a quoted packet quotes another: %s", &p)
			}
			if !bytes.Contains(data, q.Data) {
				t.Fatalf("the quoted packet's %d bytes are not part of the frame", len(q.Data))
			}
			_ = q.String()
		}
		if p.PayloadLen < 0 {
			t.Fatalf("payload length %d", p.PayloadLen)
		}
		_ = p.String()
		any := netip.Addr{}
		for _, fl := range []capture.Filter{
			capture.ARP(), capture.ARPRequest(any), capture.ARPReply(any), capture.ICMPEcho(), capture.ICMPEchoReply(),
			capture.ICMPType(3), capture.Proto(capture.ProtoTCP), capture.Host(p.Src), capture.TCPPort(p.SrcPort),
			capture.UDPPort(p.DstPort), capture.TCPFlagsSet(capture.TCPSyn), capture.ICMPError(any),
			capture.ICMPUnreachable(p.Dst), capture.ICMPTooBig(any), capture.ICMPRedirect(any),
			capture.Quoted(capture.Dst(p.Src), capture.UDPPort(53)),
		} {
			fl(&p)
		}
	})
}

// FuzzReadPcapng feeds arbitrary bytes to the pcapng reader: an error or
// packets, never a panic, and never a packet longer than the input.
//
//	go test -run '^$' -fuzz '^FuzzReadPcapng$' -fuzztime 30s ./nstest/capture
func FuzzReadPcapng(f *testing.F) {
	var ifaces = []capture.PcapngInterface{
		{Name: "h1:eth0", Description: "interface eth0 of h1", Comment: "c", LinkType: capture.LinkTypeEthernet},
		{Name: "h2:eth0", LinkType: capture.LinkTypeEthernet, SnapLen: 40},
	}
	var pkts []capture.Packet
	for i, fr := range frames[:6] {
		pkts = append(pkts, capture.Packet{Node: []string{"h1", "h2"}[i%2], Interface: "eth0", Data: fr.frame, Length: len(fr.frame), Outgoing: i%3 == 0})
	}
	f.Add(pcapngOf(f, ifaces, pkts))
	f.Add(pcapngOf(f, ifaces[:1], nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkts, _ := capture.ReadPcapng(bytes.NewReader(data))
		for i := range pkts {
			if len(pkts[i].Data) > len(data) {
				t.Fatalf("packet %d has %d bytes, the input %d", i, len(pkts[i].Data), len(data))
			}
			_ = pkts[i].String()
		}
	})
}
