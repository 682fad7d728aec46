package capture_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nstest/harness/nstest/capture"
)

var (
	macA  = []byte{0x02, 0, 0, 0, 0, 0x0a}
	macB  = []byte{0x02, 0, 0, 0, 0, 0x0b}
	bcast = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

func eth(dst, src []byte, etherType uint16, payload []byte) []byte {
	b := append(append(append([]byte{}, dst...), src...), byte(etherType>>8), byte(etherType))
	return append(b, payload...)
}

func ipv4(src, dst string, proto uint8, payload []byte) []byte {
	h := make([]byte, 20)
	h[0], h[8], h[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(h[2:4], uint16(20+len(payload)))
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	return append(h, payload...)
}

func ipv6(src, dst string, next uint8, payload []byte) []byte {
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, next, 64
	binary.BigEndian.PutUint16(h[4:6], uint16(len(payload)))
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
	return append(h, payload...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h[0:2], sport)
	binary.BigEndian.PutUint16(h[2:4], dport)
	binary.BigEndian.PutUint16(h[4:6], uint16(8+len(payload)))
	return append(h, payload...)
}

func tcp(sport, dport uint16, seq, ack uint32, flags capture.TCPFlags, payload []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:2], sport)
	binary.BigEndian.PutUint16(h[2:4], dport)
	binary.BigEndian.PutUint32(h[4:8], seq)
	binary.BigEndian.PutUint32(h[8:12], ack)
	h[12], h[13] = 5<<4, byte(flags)
	binary.BigEndian.PutUint16(h[14:16], 64240)
	return append(h, payload...)
}

func icmp(typ, code uint8, rest uint32, payload []byte) []byte {
	h := make([]byte, 8)
	h[0], h[1] = typ, code
	binary.BigEndian.PutUint32(h[4:8], rest)
	return append(h, payload...)
}

func arp(op uint16, sha []byte, spa string, tha []byte, tpa string) []byte {
	b := []byte{0, 1, 8, 0, 6, 4, byte(op >> 8), byte(op)}
	s, t := netip.MustParseAddr(spa).As4(), netip.MustParseAddr(tpa).As4()
	b = append(append(b, sha...), s[:]...)
	return append(append(b, tha...), t[:]...)
}

// frames are hand-built packets with the summary tcpdump -nn -S -t prints,
// which String must give (without the colon tcpdump adds before a hex dump).
var frames = []struct {
	name  string
	frame []byte
	want  string
}{
	{"arp request", eth(bcast, macA, capture.EtherTypeARP, arp(1, macA, "10.0.0.1", make([]byte, 6), "10.0.0.2")),
		"ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28"},
	{"arp reply", eth(macA, macB, capture.EtherTypeARP, arp(2, macB, "10.0.0.2", macA, "10.0.0.1")),
		"ARP, Reply 10.0.0.2 is-at 02:00:00:00:00:0b, length 28"},
	{"echo request", eth(macB, macA, capture.EtherTypeIPv4, ipv4("10.0.0.1", "10.0.0.2", 1, icmp(8, 0, 27346<<16|39, make([]byte, 56)))),
		"IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 27346, seq 39, length 64"},
	{"echo reply", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.2", "10.0.0.1", 1, icmp(0, 0, 27346<<16|39, make([]byte, 56)))),
		"IP 10.0.0.2 > 10.0.0.1: ICMP echo reply, id 27346, seq 39, length 64"},
	{"udp", eth(macB, macA, capture.EtherTypeIPv4, ipv4("10.0.0.1", "10.0.0.2", 17, udp(40000, 5001, []byte("hello")))),
		"IP 10.0.0.1.40000 > 10.0.0.2.5001: UDP, length 5"},
	{"tcp syn", eth(macB, macA, capture.EtherTypeIPv4, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(40001, 8080, 1000, 0, capture.TCPSyn, nil))),
		"IP 10.0.0.1.40001 > 10.0.0.2.8080: Flags [S], seq 1000, win 64240, length 0"},
	{"tcp syn-ack", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.2", "10.0.0.1", 6, tcp(8081, 40002, 5000, 1001, capture.TCPSyn|capture.TCPAck, nil))),
		"IP 10.0.0.2.8081 > 10.0.0.1.40002: Flags [S.], seq 5000, ack 1001, win 64240, length 0"},
	{"tcp data", eth(macB, macA, capture.EtherTypeIPv4, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(40003, 8082, 1001, 5001, capture.TCPPsh|capture.TCPAck, []byte("hello")))),
		"IP 10.0.0.1.40003 > 10.0.0.2.8082: Flags [P.], seq 1001:1006, ack 5001, win 64240, length 5"},
	{"tcp rst", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.2", "10.0.0.1", 6, tcp(8083, 40004, 0, 1001, capture.TCPRst|capture.TCPAck, nil))),
		"IP 10.0.0.2.8083 > 10.0.0.1.40004: Flags [R.], seq 0, ack 1001, win 64240, length 0"},
	{"port unreachable", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.2", "10.0.0.1", 1,
		icmp(3, 3, 0, ipv4("10.0.0.1", "10.0.0.2", 17, udp(40005, 5002, []byte("x")))))),
		"IP 10.0.0.2 > 10.0.0.1: ICMP 10.0.0.2 udp port 5002 unreachable, length 37"},
	{"host unreachable", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.254", "10.0.0.1", 1,
		icmp(3, 1, 0, ipv4("10.0.0.1", "10.0.1.9", 1, icmp(8, 0, 1, make([]byte, 56)))))),
		"IP 10.0.0.254 > 10.0.0.1: ICMP host 10.0.1.9 unreachable, length 92"},
	{"need to frag", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.254", "10.0.0.1", 1,
		icmp(3, 4, 1400, ipv4("10.0.0.1", "10.0.1.9", 6, tcp(40006, 80, 1, 1, capture.TCPAck, nil))))),
		"IP 10.0.0.254 > 10.0.0.1: ICMP 10.0.1.9 unreachable - need to frag (mtu 1400), length 48"},
	{"time exceeded", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.254", "10.0.0.1", 1,
		icmp(11, 0, 0, ipv4("10.0.0.1", "10.0.1.9", 17, udp(40007, 33434, nil))))),
		"IP 10.0.0.254 > 10.0.0.1: ICMP time exceeded in-transit, length 36"},
	{"echo6 request", eth(macB, macA, capture.EtherTypeIPv6, ipv6("fd00::1", "fd00::2", 58, icmp(128, 0, 7<<16|1, make([]byte, 56)))),
		"IP6 fd00::1 > fd00::2: ICMP6, echo request, id 7, seq 1, length 64"},
	{"echo6 reply", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fd00::2", "fd00::1", 58, icmp(129, 0, 7<<16|1, make([]byte, 56)))),
		"IP6 fd00::2 > fd00::1: ICMP6, echo reply, id 7, seq 1, length 64"},
	{"udp6", eth(macB, macA, capture.EtherTypeIPv6, ipv6("fd00::1", "fd00::2", 17, udp(40008, 5003, []byte("hi")))),
		"IP6 fd00::1.40008 > fd00::2.5003: UDP, length 2"},
	{"packet too big", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fd00::fe", "fd00::1", 58,
		icmp(2, 0, 1280, ipv6("fd00::1", "fd01::9", 6, tcp(40009, 80, 1, 1, capture.TCPAck, nil))))),
		"IP6 fd00::fe > fd00::1: ICMP6, packet too big, mtu 1280, length 68"},
	{"port6 unreachable", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fd00::2", "fd00::1", 58,
		icmp(1, 4, 0, ipv6("fd00::1", "fd00::2", 17, udp(40010, 5004, []byte("x")))))),
		"IP6 fd00::2 > fd00::1: ICMP6, destination unreachable, unreachable port, fd00::2 udp port 5004, length 57"},
	{"address6 unreachable", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fd00::2", "fd00::1", 58,
		icmp(1, 3, 0, ipv6("fd00::1", "fd00::9", 17, udp(40011, 5005, nil))))),
		"IP6 fd00::2 > fd00::1: ICMP6, destination unreachable, unreachable address fd00::9, length 56"},
	{"neighbor solicitation", eth(macB, macA, capture.EtherTypeIPv6, ipv6("fd00::1", "ff02::1:ff00:2", 58,
		append(icmp(135, 0, 0, netip.MustParseAddr("fd00::2").AsSlice()), 1, 1, 2, 0, 0, 0, 0, 0x0a))),
		"IP6 fd00::1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has fd00::2, length 32"},
	{"neighbor advertisement", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fd00::2", "fd00::1", 58,
		icmp(136, 0, 0x60000000, netip.MustParseAddr("fd00::2").AsSlice()))),
		"IP6 fd00::2 > fd00::1: ICMP6, neighbor advertisement, tgt is fd00::2, length 24"},
	{"router solicitation", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fe80::2", "ff02::2", 58, icmp(133, 0, 0, nil))),
		"IP6 fe80::2 > ff02::2: ICMP6, router solicitation, length 8"},
	{"mldv2 report", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fe80::2", "ff02::16", 58,
		icmp(143, 0, 1, append([]byte{4, 0, 0, 0}, netip.MustParseAddr("ff02::1:ff00:2").AsSlice()...)))),
		"IP6 fe80::2 > ff02::16: ICMP6, multicast listener report v2, 1 group record(s), length 28"},
	{"redirect host", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.254", "10.0.0.1", 1,
		icmp(5, 1, 0x0a0000fd, ipv4("10.0.0.1", "10.0.1.9", 1, icmp(8, 0, 7<<16|1, nil))))),
		"IP 10.0.0.254 > 10.0.0.1: ICMP redirect 10.0.1.9 to host 10.0.0.253, length 36"},
	{"redirect net", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.254", "10.0.0.1", 1,
		icmp(5, 0, 0x0a0000fd, ipv4("10.0.0.1", "10.0.1.9", 17, udp(40012, 53, nil))))),
		"IP 10.0.0.254 > 10.0.0.1: ICMP redirect 10.0.1.9 to net 10.0.0.253, length 36"},
	{"net unreachable", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.254", "10.0.0.1", 1,
		icmp(3, 0, 0, ipv4("10.0.0.1", "10.9.0.9", 17, udp(40013, 53, nil))))),
		"IP 10.0.0.254 > 10.0.0.1: ICMP net 10.9.0.9 unreachable, length 36"},
	{"protocol unreachable", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.2", "10.0.0.1", 1,
		icmp(3, 2, 0, ipv4("10.0.0.1", "10.0.0.2", 132, make([]byte, 8))))),
		"IP 10.0.0.2 > 10.0.0.1: ICMP 10.0.0.2 protocol 132 unreachable, length 36"},
	{"admin prohibited", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.2", "10.0.0.1", 1,
		icmp(3, 13, 0, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(40014, 22, 1, 0, capture.TCPSyn, nil))))),
		"IP 10.0.0.2 > 10.0.0.1: ICMP host 10.0.0.2 unreachable - admin prohibited filter, length 48"},
	{"host prohibited", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.2", "10.0.0.1", 1,
		icmp(3, 10, 0, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(40014, 22, 1, 0, capture.TCPSyn, nil))))),
		"IP 10.0.0.2 > 10.0.0.1: ICMP host 10.0.0.2 unreachable - admin prohibited, length 48"},
	{"net prohibited", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.2", "10.0.0.1", 1,
		icmp(3, 9, 0, ipv4("10.0.0.1", "10.0.0.2", 6, tcp(40014, 22, 1, 0, capture.TCPSyn, nil))))),
		"IP 10.0.0.2 > 10.0.0.1: ICMP net 10.0.0.2 unreachable - admin prohibited, length 48"},
	{"param problem", eth(macA, macB, capture.EtherTypeIPv4, ipv4("10.0.0.2", "10.0.0.1", 1,
		icmp(12, 0, 20<<24, ipv4("10.0.0.1", "10.0.0.2", 17, udp(40015, 53, nil))))),
		"IP 10.0.0.2 > 10.0.0.1: ICMP parameter problem - octet 20, length 36"},
	{"redirect6", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fe80::fe", "fd00::1", 58,
		icmp(137, 0, 0, cat(netip.MustParseAddr("fe80::fd").AsSlice(), netip.MustParseAddr("fd01::9").AsSlice(),
			[]byte{2, 1, 2, 0, 0, 0, 0, 0x0d},
			redirected(ipv6("fd00::1", "fd01::9", 58, icmp(128, 0, 7<<16|1, make([]byte, 8)))))))),
		"IP6 fe80::fe > fd00::1: ICMP6, redirect, fd01::9 to fe80::fd, length 112"},
	{"redirect6 bare", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fe80::fe", "fd00::1", 58,
		icmp(137, 0, 0, cat(netip.MustParseAddr("fe80::fd").AsSlice(), netip.MustParseAddr("fd01::9").AsSlice())))),
		"IP6 fe80::fe > fd00::1: ICMP6, redirect, fd01::9 to fe80::fd, length 40"},
	{"prohibited6", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fd00::2", "fd00::1", 58,
		icmp(1, 1, 0, ipv6("fd00::1", "fd00::2", 6, tcp(40016, 22, 1, 0, capture.TCPSyn, nil))))),
		"IP6 fd00::2 > fd00::1: ICMP6, destination unreachable,  unreachable prohibited fd00::2, length 68"},
	{"route6 unreachable", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fd00::fe", "fd00::1", 58,
		icmp(1, 0, 0, ipv6("fd00::1", "fd09::9", 17, udp(40017, 53, nil))))),
		"IP6 fd00::fe > fd00::1: ICMP6, destination unreachable, unreachable route fd09::9, length 56"},
	{"param problem6", eth(macA, macB, capture.EtherTypeIPv6, ipv6("fd00::2", "fd00::1", 58,
		icmp(4, 1, 40, ipv6("fd00::1", "fd00::2", 99, nil)))),
		"IP6 fd00::2 > fd00::1: ICMP6, parameter problem, next header - octet 40, length 48"},
	{"unknown ethertype", eth(bcast, macA, 0x88b5, make([]byte, 46)),
		"02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, ethertype Unknown (0x88b5), length 60:"},
}

func TestString(t *testing.T) {
	var pkts []capture.Packet
	base := time.Unix(1700000000, 0)
	for i, f := range frames {
		pkts = append(pkts, capture.Packet{Time: base.Add(time.Duration(i) * time.Millisecond), Length: len(f.frame), Data: f.frame})
	}
	var buf bytes.Buffer
	if err := capture.WritePackets(&buf, 0, capture.LinkTypeEthernet, pkts); err != nil {
		t.Fatal(err)
	}
	back, _, err := capture.ReadPcap(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(frames) {
		t.Fatalf("read back %d packets, wrote %d", len(back), len(frames))
	}
	for i, f := range frames {
		if got := back[i].String(); got != strings.TrimSuffix(f.want, ":") {
			t.Errorf("%s:\n got  %s\n want %s", f.name, got, f.want)
		}
	}

	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skipf("tcpdump not installed, summaries not cross-checked: %v", err)
	}
	path := filepath.Join(t.TempDir(), "frames.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tcpdump", "-r", path, "-nn", "-S", "-t").Output()
	if ee, ok := err.(*exec.ExitError); ok {
		skipIfTcpdumpCannotRun(t, ee.Stderr)
	}
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v", path, err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "\t") { // hex dump of an unknown protocol
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) != len(frames) {
		t.Fatalf("tcpdump printed %d lines for %d frames:\n%s", len(lines), len(frames), out)
	}
	for i, f := range frames {
		if lines[i] != f.want {
			t.Errorf("%s: tcpdump says\n %s\nwant\n %s", f.name, lines[i], f.want)
		}
	}
}

func TestDecodeFields(t *testing.T) {
	f := frames[9].frame // port unreachable
	pkts, _, err := capture.ReadPcap(bytes.NewReader(pcapOf(f)))
	if err != nil {
		t.Fatal(err)
	}
	p := pkts[0]
	q := p.Quoted
	if !p.IsICMP() || p.ICMPType != capture.ICMPUnreachableType || p.ICMPCode != 3 || q == nil ||
		q.Src != addrA || q.Dst != addrB || !q.IsUDP() || q.DstPort != 5002 {
		t.Errorf("port unreachable decoded as type %d code %d quoting %v", p.ICMPType, p.ICMPCode, q)
	}
	if !capture.Host(addrB)(&p) || capture.UDPPort(5002)(&p) || !capture.Proto(capture.ProtoICMP)(&p) {
		t.Errorf("filters on %s: Host(10.0.0.2) %v, UDPPort(5002) %v, Proto(ICMP) %v; want true false true",
			&p, capture.Host(addrB)(&p), capture.UDPPort(5002)(&p), capture.Proto(capture.ProtoICMP)(&p))
	}
	for _, cut := range []int{0, 5, 13, 14, 20, 33, 34, 41} {
		pkts, _, err := capture.ReadPcap(bytes.NewReader(pcapOf(f[:cut])))
		if err != nil {
			t.Fatal(err)
		}
		_ = pkts[0].String() // truncated frames must not panic
	}
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// redirected wraps pkt in an ICMPv6 redirected header option, padded to a
// multiple of 8 bytes.
func redirected(pkt []byte) []byte {
	n := (8 + len(pkt) + 7) / 8
	opt := make([]byte, n*8)
	opt[0], opt[1] = 4, byte(n)
	copy(opt[8:], pkt)
	return opt
}

func pcapOf(frame []byte) []byte {
	var b bytes.Buffer
	w := capture.NewWriter(&b, 65535, capture.LinkTypeEthernet)
	w.WritePacket(time.Unix(1, 0), frame, len(frame))
	return b.Bytes()
}

// frame returns the decoded frame of the table entry called name.
func frame(t *testing.T, name string) *capture.Packet {
	t.Helper()
	for _, f := range frames {
		if f.name == name {
			pkts, _, err := capture.ReadPcap(bytes.NewReader(pcapOf(f.frame)))
			if err != nil {
				t.Fatal(err)
			}
			return &pkts[0]
		}
	}
	t.Fatalf("no frame %q", name)
	return nil
}

func TestDecodeICMPErrorsAndRedirects(t *testing.T) {
	a := netip.MustParseAddr
	type want struct {
		gateway, redirectDst, quotedDst netip.Addr
		mtu                             uint32
		error, unreachable, tooBig      bool
		redirect                        bool
	}
	for _, c := range []struct {
		name string
		want want
	}{
		{"redirect host", want{gateway: a("10.0.0.253"), redirectDst: a("10.0.1.9"), quotedDst: a("10.0.1.9"), error: true, redirect: true}},
		{"redirect net", want{gateway: a("10.0.0.253"), redirectDst: a("10.0.1.9"), quotedDst: a("10.0.1.9"), error: true, redirect: true}},
		{"redirect6", want{gateway: a("fe80::fd"), redirectDst: a("fd01::9"), quotedDst: a("fd01::9"), error: true, redirect: true}},
		{"redirect6 bare", want{gateway: a("fe80::fd"), redirectDst: a("fd01::9"), error: true, redirect: true}},
		{"need to frag", want{quotedDst: a("10.0.1.9"), mtu: 1400, error: true, unreachable: true, tooBig: true}},
		{"packet too big", want{quotedDst: a("fd01::9"), mtu: 1280, error: true, tooBig: true}},
		{"port unreachable", want{quotedDst: a("10.0.0.2"), error: true, unreachable: true}},
		{"admin prohibited", want{quotedDst: a("10.0.0.2"), error: true, unreachable: true}},
		{"port6 unreachable", want{quotedDst: a("fd00::2"), error: true, unreachable: true}},
		{"route6 unreachable", want{quotedDst: a("fd09::9"), error: true, unreachable: true}},
		{"time exceeded", want{quotedDst: a("10.0.1.9"), error: true}},
		{"param problem6", want{quotedDst: a("fd00::2"), error: true}},
		{"echo request", want{}},
		{"neighbor advertisement", want{}},
	} {
		p := frame(t, c.name)
		var got want
		got.gateway, got.redirectDst, got.mtu = p.Gateway, p.RedirectDst, p.MTU
		if p.Quoted != nil {
			got.quotedDst = p.Quoted.Dst
		}
		dst := c.want.redirectDst
		if !dst.IsValid() {
			dst = c.want.quotedDst
		}
		if !dst.IsValid() {
			dst = a("10.0.0.2")
		}
		got.error = capture.ICMPError(dst)(p)
		got.unreachable = capture.ICMPUnreachable(dst)(p)
		got.tooBig = capture.ICMPTooBig(dst)(p)
		got.redirect = capture.ICMPRedirect(dst)(p)
		if got != c.want {
			t.Errorf("%s (%s):\n got  %+v\n want %+v", c.name, p, got, c.want)
		}
		// Any destination (the zero address) matches as dst does; another does not.
		other := a("192.0.2.99")
		if dst.Is6() {
			other = a("2001:db8::99")
		}
		for _, f := range []struct {
			name string
			mk   func(netip.Addr) capture.Filter
			want bool
		}{{"ICMPError", capture.ICMPError, c.want.error}, {"ICMPRedirect", capture.ICMPRedirect, c.want.redirect}} {
			if g := f.mk(netip.Addr{})(p); g != f.want {
				t.Errorf("%s: %s(any) = %v, want %v", c.name, f.name, g, f.want)
			}
			if f.mk(other)(p) {
				t.Errorf("%s: %s(%s) matched", c.name, f.name, other)
			}
		}
	}

	// Quoted reaches into the quoted packet.
	p := frame(t, "port unreachable")
	if !capture.Quoted(capture.Dst(a("10.0.0.2")), capture.UDPPort(5002))(p) {
		t.Errorf("Quoted(Dst 10.0.0.2, UDPPort 5002) does not match %s", p)
	}
	if capture.Quoted(capture.UDPPort(5003))(p) || capture.Quoted()(frame(t, "echo request")) {
		t.Error("Quoted matched a packet it is not about")
	}
	// The redirected header's packet is decoded: the echo request the
	// redirect is about.
	q := frame(t, "redirect6").Quoted
	if q == nil || q.Src != a("fd00::1") || q.ICMPType != capture.ICMPv6EchoRequestType || q.ICMPID != 7 {
		t.Errorf("redirect6 quotes %v, want the echo request fd00::1 > fd01::9 id 7", q)
	}
}
