package firewall_test

import (
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nstest/harness/nstest/firewall"
)

// TestNftBinaryAgrees cross-checks the generated rules with the nft tool's
// own reading of them, where nft is installed.
func TestNftBinaryAgrees(t *testing.T) {
	t.Parallel()
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed; it is only used to cross-check")
	}
	a, _ := pair(t)
	fd := a.ns
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(firewall.Add(fd,
		firewall.Rule{Chain: firewall.Input, Action: firewall.Reject, Proto: "tcp", Src: "10.0.0.0/23", DstPort: 80, InIface: "a-eth"},
		firewall.Rule{Chain: firewall.Forward, Action: firewall.Drop, Proto: "icmp", ICMPType: "frag-needed", Probability: 30},
		firewall.Rule{Chain: firewall.Output, Action: firewall.Accept, Proto: "udp", Dst: "fd00::/63", SrcPort: 53, OutIface: "a-eth"},
		firewall.Rule{Chain: firewall.Input, Action: firewall.Reject},
	))
	must(firewall.Masquerade(fd, "a-eth", ""))
	must(firewall.ForwardPort(fd, "udp", 53, netip.MustParseAddrPort("[fd00::2]:5353"), ""))
	must(firewall.ClampMSS(fd, "a-eth"))
	must(firewall.RandomDrop(fd, "a-eth", 12.5, firewall.Ingress))

	out, err := exec.Command("nsenter", "--net=/proc/"+strconv.Itoa(os.Getpid())+"/fd/"+strconv.Itoa(fd.Fd()), nft, "list", "table", "inet", "nstest").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	t.Logf("nft list table inet nstest:\n%s", out)
	// Counters vary with the neighbour discovery traffic of the fresh link.
	got := regexp.MustCompile(`counter packets \d+ bytes \d+`).ReplaceAllString(strings.Join(strings.Fields(string(out)), " "), "counter")
	for _, want := range []string{
		`iifname "a-eth" ip saddr 10.0.0.0/23 tcp dport 80 counter reject with tcp reset`,
		`icmp type destination-unreachable icmp code frag-needed numgen random mod 10000 < 3000 counter drop`,
		`oifname "a-eth" ip6 daddr fd00::/63 udp sport 53 counter accept`,
		`meta l4proto tcp counter reject with tcp reset`,
		`counter reject`,
		`oifname "a-eth" counter masquerade`,
		`udp dport 53 counter dnat ip6 to [fd00::2]:5353`,
		`oifname "a-eth" tcp flags syn counter tcp option maxseg size set rt mtu`,
		`iifname "a-eth" numgen random mod 10000 < 1250 counter drop`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("nft does not read back %q", want)
		}
	}
}
