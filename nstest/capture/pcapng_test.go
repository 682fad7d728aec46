package capture_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nstest/harness/nstest/capture"
)

// pcapngOf writes pkts with a PcapngWriter: interfaces "h1:eth0" and
// "h2:eth0" (an Ethernet pair) and "h3:tun0" (raw IP), each packet on the
// interface its Node and Interface name.
func pcapngOf(t testing.TB, ifaces []capture.PcapngInterface, pkts []capture.Packet) []byte {
	t.Helper()
	var b bytes.Buffer
	w := capture.NewPcapngWriter(&b)
	ids := map[string]int{}
	for _, ifc := range ifaces {
		id, err := w.AddInterface(ifc)
		if err != nil {
			t.Fatal(err)
		}
		ids[ifc.Name] = id
	}
	for i := range pkts {
		if err := w.WritePacket(ids[pkts[i].Node+":"+pkts[i].Interface], &pkts[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestPcapngRoundTrip(t *testing.T) {
	base := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	echo := frames[2].frame
	ifaces := []capture.PcapngInterface{
		{Name: "h1:eth0", Description: "interface eth0 of h1", LinkType: capture.LinkTypeEthernet},
		{Name: "h2:eth0", LinkType: capture.LinkTypeEthernet, SnapLen: 40, Comment: "cut to 40 bytes"},
	}
	pkts := []capture.Packet{
		{Node: "h1", Interface: "eth0", Time: base, Data: echo, Length: len(echo)},
		{Node: "h2", Interface: "eth0", Time: base.Add(1), Outgoing: true, Data: echo, Length: len(echo)}, // 1 ns later
		{Node: "h1", Interface: "eth0", Time: base.Add(7), Data: echo[:3], Length: len(echo)},             // odd length: padding
	}
	file := pcapngOf(t, ifaces, pkts)
	if len(file)%4 != 0 {
		t.Fatalf("file of %d bytes: pcapng blocks are 32-bit aligned", len(file))
	}
	back, err := capture.ReadPcapng(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(pkts) {
		t.Fatalf("read back %d packets, wrote %d", len(back), len(pkts))
	}
	for i, p := range back {
		w := pkts[i]
		wantLen := len(w.Data)
		if i == 1 {
			wantLen = 40 // h2's snap length
		}
		if !p.Time.Equal(w.Time) || p.Node != w.Node || p.Interface != w.Interface || p.Outgoing != w.Outgoing ||
			p.Length != w.Length || len(p.Data) != wantLen || !bytes.Equal(p.Data, w.Data[:wantLen]) {
			t.Errorf("packet %d read back as %s %s:%s out=%v length %d, %d bytes; wrote %s %s:%s out=%v length %d, %d bytes",
				i, p.Time.Format(time.RFC3339Nano), p.Node, p.Interface, p.Outgoing, p.Length, len(p.Data),
				w.Time.Format(time.RFC3339Nano), w.Node, w.Interface, w.Outgoing, w.Length, wantLen)
		}
	}
	if got, want := back[0].String(), strings.TrimSuffix(frames[2].want, ":"); got != want {
		t.Errorf("decoded as %q, want %q", got, want)
	}

	// ReadFile tells pcapng from pcap by its first bytes.
	path := filepath.Join(t.TempDir(), "two.pcapng")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile, lt, err := capture.ReadFile(path)
	if err != nil || len(fromFile) != len(pkts) || lt != capture.LinkTypeEthernet || fromFile[1].Node != "h2" {
		t.Errorf("ReadFile(pcapng) = %d packets, link type %d, %v", len(fromFile), lt, err)
	}

	t.Run("tshark", func(t *testing.T) {
		if _, err := exec.LookPath("tshark"); err != nil {
			t.Skip("tshark not installed (Debian package tshark)")
		}
		out, err := exec.Command("tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=|",
			"-e", "frame.interface_name", "-e", "frame.interface_description", "-e", "frame.packet_flags_direction",
			"-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len").Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v\n%s", path, err, stderr(err))
		}
		want := []string{
			"h1:eth0|interface eth0 of h1|0x00000001|1740830400.123456789|98|98", // inbound
			"h2:eth0||0x00000002|1740830400.123456790|98|40",                     // outbound
			"h1:eth0|interface eth0 of h1|0x00000001|1740830400.123456796|98|3",
		}
		if got := strings.Split(strings.TrimSpace(string(out)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("tshark says\n%s\nwant\n%s", out, strings.Join(want, "\n"))
		}
	})
	t.Run("tcpdump", func(t *testing.T) {
		if _, err := exec.LookPath("tcpdump"); err != nil {
			t.Skip("tcpdump not installed (Debian package tcpdump)")
		}
		// libpcap wants one link type and one snap length in a file.
		ifaces[1].SnapLen = 0
		path := filepath.Join(t.TempDir(), "tcpdump.pcapng")
		if err := os.WriteFile(path, pcapngOf(t, ifaces, pkts), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("tcpdump", "-r", path, "-nn", "-e", "-tt", "--nano").CombinedOutput()
		if err != nil {
			skipIfTcpdumpCannotRun(t, out)
			t.Fatalf("tcpdump -r %s: %v\n%s", path, err, out)
		}
		for _, want := range []string{
			"1740830400.123456789 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 98: 10.0.0.1 > 10.0.0.2: ICMP echo request",
			"1740830400.123456790 02:00:00:00:00:0a > 02:00:00:00:00:0b, ethertype IPv4 (0x0800), length 98: 10.0.0.1 > 10.0.0.2: ICMP echo request",
		} {
			if !strings.Contains(string(out), want) {
				t.Errorf("tcpdump -r %s -nn -e says\n%s\nwant a line with %q", path, out, want)
			}
		}
	})
}

// stderr returns what a command that failed wrote to its standard error.
func stderr(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

// Two namespaces' captures merged into one pcapng file: each datagram leaves
// A (outbound on A:ns1_in) before it reaches B (inbound on B:ns1_out), with
// kernel timestamps in nanoseconds, and tcpdump and tshark read the file.
func TestWritePcapngMergesNamespaces(t *testing.T) {
	tb := newTube(t, true)
	ca := open(t, tb.a, "ns1_in", capture.Node("A"))
	cb := open(t, tb.b, "ns1_out", capture.Node("B"), capture.SnapLen(100)) // snap lengths differ
	conn := udpConn(t, tb.a)
	for i := range 3 {
		if _, err := conn.WriteToUDP([]byte{byte(i)}, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 7001}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := testContext(t)
	for _, c := range []*capture.Capture{ca, cb} {
		if _, err := c.Wait(ctx, capture.UDPPort(7001), 3); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "all.pcapng")
	if err := capture.WritePcapngFile(path, ca, cb); err != nil {
		t.Fatal(err)
	}
	all, lt, err := capture.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lt != capture.LinkTypeEthernet || len(all) != ca.Count()+cb.Count() {
		t.Fatalf("read %d packets of link type %d, want %d + %d Ethernet", len(all), lt, ca.Count(), cb.Count())
	}
	var path7001 []string
	for i, p := range all {
		if i > 0 && p.Time.Before(all[i-1].Time) {
			t.Errorf("packet %d (%s) is older than the one before it", i, &p)
		}
		if p.IsUDP() && p.DstPort == 7001 {
			dir := "in"
			if p.Outgoing {
				dir = "out"
			}
			path7001 = append(path7001, p.Node+":"+p.Interface+" "+dir)
		}
	}
	want := strings.Repeat("A:ns1_in out,B:ns1_out in,", 3)
	if got := strings.Join(path7001, ",") + ","; got != want {
		t.Errorf("the datagrams to port 7001 crossed\n %s\nwant\n %s", got, want)
	}
	// The kernel's timestamps survive to the nanosecond.
	if a := ca.Packets(capture.UDPPort(7001))[0]; !all[slices.IndexFunc(all, func(p capture.Packet) bool { return p.Node == "A" && p.IsUDP() })].Time.Equal(a.Time) {
		t.Errorf("A's first datagram was captured at %s, the file says otherwise", a.Time.Format(time.RFC3339Nano))
	}

	t.Run("tshark", func(t *testing.T) {
		if _, err := exec.LookPath("tshark"); err != nil {
			t.Skip("tshark not installed (Debian package tshark)")
		}
		out, err := exec.Command("tshark", "-n", "-r", path, "-Y", "udp.dstport == 7001 && !icmp", "-T", "fields", "-E", "separator=|",
			"-e", "frame.interface_name", "-e", "frame.packet_flags_direction").Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v\n%s", path, err, stderr(err))
		}
		want := strings.Repeat("A:ns1_in|0x00000002\nB:ns1_out|0x00000001\n", 3)
		if string(out) != want {
			t.Errorf("tshark says\n%s\nwant\n%s", out, want)
		}
		if _, err := exec.LookPath("capinfos"); err == nil {
			out, err := exec.Command("capinfos", "-I", path).Output()
			if err != nil {
				t.Fatalf("capinfos -I %s: %v\n%s", path, err, stderr(err))
			}
			for _, w := range []string{"Interface #0 info", "Name = A:ns1_in", "Name = B:ns1_out", "Time precision = nanoseconds"} {
				if !strings.Contains(string(out), w) {
					t.Errorf("capinfos -I lacks %q:\n%s", w, out)
				}
			}
		}
	})
	t.Run("tcpdump", func(t *testing.T) {
		if _, err := exec.LookPath("tcpdump"); err != nil {
			t.Skip("tcpdump not installed (Debian package tcpdump)")
		}
		out, err := exec.Command("tcpdump", "-r", path, "-nn", "udp port 7001").CombinedOutput()
		if err != nil {
			skipIfTcpdumpCannotRun(t, out)
			t.Fatalf("tcpdump -r %s: %v\n%s", path, err, out)
		}
		if n := strings.Count(string(out), "IP 10.0.0.1."); n != 6 {
			t.Errorf("tcpdump shows %d datagrams to port 7001, want 6 (3 on each interface):\n%s", n, out)
		}
	})
}

// beBlock builds a big-endian pcapng block.
func beBlock(typ uint32, body ...[]byte) []byte {
	var b []byte
	for _, x := range body {
		b = append(b, x...)
	}
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	n := uint32(len(b) + 12)
	out := binary.BigEndian.AppendUint32(nil, typ)
	out = binary.BigEndian.AppendUint32(out, n)
	return binary.BigEndian.AppendUint32(append(out, b...), n)
}

func beOpt(code uint16, v []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, code)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Files other writers make: big-endian, microsecond and binary timestamp
// resolutions, a second section restarting interface IDs, a block the
// reader does not know.
func TestReadPcapngForeign(t *testing.T) {
	be := binary.BigEndian
	shb := beBlock(0x0a0d0d0a, be.AppendUint32(nil, 0x1a2b3c4d), []byte{0, 1, 0, 0}, be.AppendUint64(nil, ^uint64(0)))
	idb := func(name string, tsresol byte) []byte {
		return beBlock(1, []byte{0, 1, 0, 0}, be.AppendUint32(nil, 65535), beOpt(2, []byte(name)), beOpt(9, []byte{tsresol}), beOpt(0, nil))
	}
	epb := func(id uint32, ts uint64, flags uint32, data []byte) []byte {
		h := be.AppendUint32(nil, id)
		h = be.AppendUint32(h, uint32(ts>>32))
		h = be.AppendUint32(h, uint32(ts))
		h = be.AppendUint32(h, uint32(len(data)))
		h = be.AppendUint32(h, uint32(len(data)))
		d := append([]byte{}, data...)
		for len(d)%4 != 0 {
			d = append(d, 0)
		}
		return beBlock(6, h, d, beOpt(2, be.AppendUint32(nil, flags)), beOpt(0, nil))
	}
	echo := frames[2].frame
	file := cat(shb,
		idb("r1:eth0", 6),    // microseconds
		idb("eth1", 0x80|10), // 2^-10 s, no node
		beBlock(0x0bad, []byte("custom block, skipped")),
		epb(0, 1_700_000_000_123_456, 2, echo),
		epb(1, 1_700_000_000<<10|512, 1, echo), // and a half
		shb, idb("r2:eth0", 9),
		epb(0, 1_700_000_001_000_000_007, 0, echo))
	pkts, err := capture.ReadPcapng(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		node, iface string
		t           time.Time
		out         bool
	}{
		{"r1", "eth0", time.Unix(1_700_000_000, 123_456_000), true},
		{"", "eth1", time.Unix(1_700_000_000, 500_000_000), false},
		{"r2", "eth0", time.Unix(1_700_000_001, 7), false},
	}
	if len(pkts) != len(want) {
		t.Fatalf("read %d packets, want %d", len(pkts), len(want))
	}
	for i, w := range want {
		p := pkts[i]
		if p.Node != w.node || p.Interface != w.iface || !p.Time.Equal(w.t) || p.Outgoing != w.out || !p.IsICMP() {
			t.Errorf("packet %d: %q:%q at %s out=%v (%s), want %q:%q at %s out=%v", i, p.Node, p.Interface,
				p.Time.Format(time.RFC3339Nano), p.Outgoing, &p, w.node, w.iface, w.t.Format(time.RFC3339Nano), w.out)
		}
	}

	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"pcap", pcapOf(echo), "not a pcapng file"},
		{"packet before interface", cat(shb, epb(0, 0, 0, echo)), "packet on interface 0: 0 interfaces described"},
		{"trailing length", func() []byte { b := cat(shb, idb("x", 9)); b[len(b)-1] ^= 4; return b }(), "trailing length"},
		{"huge block", cat(shb, []byte{0, 0, 0, 6, 0x7f, 0xff, 0xff, 0xfc}), "block length"},
		{"truncated", func() []byte { b := cat(shb, idb("x", 9), epb(0, 0, 0, echo)); return b[:len(b)-3] }(), "unexpected EOF"},
	} {
		_, err := capture.ReadPcapng(bytes.NewReader(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

// A corrupt block length must not make the reader allocate what the length
// claims before the bytes are there: a few bytes of input, a few bytes of
// memory. (Found by FuzzReadPcapng, which stalled on 64 MiB allocations.)
func TestReadCorruptLengthAllocatesLittle(t *testing.T) {
	shb := cat(beBlock(0x0a0d0d0a, binary.BigEndian.AppendUint32(nil, 0x1a2b3c4d), []byte{0, 1, 0, 0}, binary.BigEndian.AppendUint64(nil, ^uint64(0))))
	pcapng := cat(shb, []byte{0, 0, 0, 1, 0x03, 0xff, 0xff, 0xfc}, make([]byte, 32)) // an IDB claiming 64 MiB - 4
	pcap := pcapOf(frames[0].frame)
	binary.LittleEndian.PutUint32(pcap[24+8:], 1<<26) // a record claiming 64 MiB
	for _, c := range []struct {
		name string
		read func() error
	}{
		{"pcapng", func() error { _, err := capture.ReadPcapng(bytes.NewReader(pcapng)); return err }},
		{"pcap", func() error { _, _, err := capture.ReadPcap(bytes.NewReader(pcap)); return err }},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := c.read()
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: no error reading a truncated block", c.name)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("%s: reading %d bytes allocated %d bytes", c.name, len(pcapng), n)
		}
	}
}
