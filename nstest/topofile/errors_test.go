package topofile

import (
	"errors"
	"strings"
	"testing"
)

// seedBase is the seed topology; each error case below is a small,
// readable change to it.
const seedBase = `name: seed
bridges:
  - name: br1
    addrs: [10.0.0.100/24]
hosts:
  - name: ns1
    connect:
      - {bridge: br1, addrs: [10.0.0.1/24]}
  - name: ns2
    connect:
      - {bridge: br1, addrs: [10.0.0.2/24]}
`

// withBridges is the seed with more bridges listed after br1.
func withBridges(yaml string) string {
	return strings.Replace(seedBase, "    addrs: [10.0.0.100/24]\n", "    addrs: [10.0.0.100/24]\n"+yaml, 1)
}

// TestErrors checks one example of every class of error, each with the
// file, line and column of the offending value and the value named.
func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string // one of the joined errors, exactly
	}{
		{"invalid CIDR", strings.Replace(seedBase, "10.0.0.1/24", "10.0.0.300/24", 1),
			`t.yaml:8:31: host "ns1": address "10.0.0.300/24": invalid CIDR`},
		{"missing prefix length", strings.Replace(seedBase, "10.0.0.1/24", "10.0.0.1", 1),
			`t.yaml:8:31: host "ns1": address "10.0.0.1": invalid CIDR: missing prefix length such as /24 or /64`},
		{"network address", strings.Replace(seedBase, "10.0.0.100/24", "10.0.0.0/24", 1),
			`t.yaml:4:13: bridge "br1": address "10.0.0.0/24": the network address of 10.0.0.0/24`},
		{"broadcast address", strings.Replace(seedBase, "10.0.0.2/24", "10.0.0.255/24", 1),
			`t.yaml:11:31: host "ns2": address "10.0.0.255/24": the broadcast address of 10.0.0.0/24`},
		{"address twice", strings.Replace(seedBase, "10.0.0.2/24", "10.0.0.1/25", 1),
			`t.yaml:11:31: host "ns2": address "10.0.0.1/25": 10.0.0.1 already given to host "ns1" (t.yaml:8:31)`},
		{"unknown key", strings.Replace(seedBase, "    connect:\n      - {bridge: br1, addrs: [10.0.0.2/24]}", "    conect: []", 1),
			`t.yaml:10:5: host "ns2": unknown key "conect" (want name, connect, routes)`},
		{"unknown key in connect", strings.Replace(seedBase, "{bridge: br1, addrs: [10.0.0.1/24]}", "{bridge: br1, adrs: [10.0.0.1/24]}", 1),
			`t.yaml:8:23: host "ns1": connect[0]: unknown key "adrs" (want bridge, addrs, mtu)`},
		{"key twice", strings.Replace(seedBase, "  - name: ns1\n", "  - name: ns1\n    name: ns3\n", 1),
			`t.yaml:7:5: host "ns1": key "name" given twice`},
		{"list where a string is due", strings.Replace(seedBase, "[10.0.0.100/24]", "10.0.0.100/24", 1),
			`t.yaml:4:12: bridge "br1": addrs: got string "10.0.0.100/24", want a list`},
		{"string where an integer is due", strings.Replace(seedBase, "addrs: [10.0.0.1/24]}", `addrs: [10.0.0.1/24], mtu: "1400"}`, 1),
			`t.yaml:8:50: host "ns1": connect[0]: mtu: got string "1400", want an integer`},
		{"integer where a name is due", strings.Replace(seedBase, "name: ns2", "name: 2", 1),
			`t.yaml:9:11: hosts[1]: name: got integer 2, want a string (quote it)`},
		{"mapping where a list is due", seedBase + "routers: {name: r1}\n",
			`t.yaml:12:10: routers: got a mapping, want a list`},
		{"missing name", seedBase + "routers:\n  - connect: []\n",
			`t.yaml:13:5: routers[0]: missing "name"`},
		{"duplicate name across kinds", strings.Replace(seedBase, "name: ns2", "name: br1", 1),
			`t.yaml:9:11: host "br1": name already used by bridge "br1" (t.yaml:3:11); bridges, hosts and routers share one set of names`},
		{"bridge name too long", strings.ReplaceAll(seedBase, "br1", "bridge-for-the-seed"),
			`t.yaml:3:11: bridge "bridge-for-the-seed": name is 19 bytes, over the 15-byte limit of Linux interface names`},
		{"host name too long", strings.ReplaceAll(seedBase, "ns1", strings.Repeat("n", 65)),
			`t.yaml:6:11: host "` + strings.Repeat("n", 65) + `": name is 65 bytes, over the limit of 64`},
		{"bad name", strings.Replace(seedBase, "name: ns2", "name: ns/2", 1),
			`t.yaml:9:11: host "ns/2": bad name: want a letter, then letters, digits, '.', '-' or '_'`},
		{"unknown bridge", strings.Replace(seedBase, "{bridge: br1, addrs: [10.0.0.2/24]}", "{bridge: br2, addrs: [10.0.0.2/24]}", 1),
			`t.yaml:11:18: host "ns2": connect: unknown bridge "br2"`},
		{"connect to a host", strings.Replace(seedBase, "{bridge: br1, addrs: [10.0.0.2/24]}", "{bridge: ns1, addrs: [10.0.0.2/24]}", 1),
			`t.yaml:11:18: host "ns2": connect: host "ns1" is not a bridge; put a direct link between nodes under links`},
		{"link to unknown host", seedBase + "links:\n  - {a: ns1, b: ns3}\n",
			`t.yaml:13:17: link ns1-ns3: unknown host, router or bridge "ns3"`},
		{"link from node to bridge", seedBase + "links:\n  - {a: ns1, b: br1}\n",
			`t.yaml:13:5: link ns1-br1: joins a node to a bridge; write it under the host's connect: {bridge: br1}`},
		{"link with both ends the same", seedBase + "links:\n  - {a: ns1, b: ns1}\n",
			`t.yaml:13:17: link ns1-ns1: both ends are host "ns1"`},
		{"addresses on a bridge link", withBridges("  - {name: br2}\n") + "links:\n  - {a: br1, b: br2, a_addrs: [10.9.0.1/24]}\n",
			`t.yaml:14:31: link br1-br2: a_addrs: a link between two bridges carries no addresses; give them to the bridges`},
		{"unknown bridge kind", withBridges("  - {name: s1, kind: openflow}\n"),
			`t.yaml:5:22: bridge "s1": kind "openflow": unknown; want linux (a Linux bridge, the default) or ovs (Open vSwitch)`},
		{"loop of bridges", withBridges("  - {name: s1}\n  - {name: s2}\n") + "links:\n  - {a: br1, b: s1}\n  - {a: s1, b: s2}\n  - {a: s2, b: br1}\n",
			`t.yaml:17:5: link s2-br1: closes a loop of bridges, which would flood broadcasts (the bridges run no STP)`},
		{"mtu out of range", strings.Replace(seedBase, "addrs: [10.0.0.1/24]}", "addrs: [10.0.0.1/24], mtu: 70000}", 1),
			`t.yaml:8:50: host "ns1": connect br1: mtu 70000: want 68 to 65535`},
		{"mtu too small for IPv6", strings.Replace(seedBase, "addrs: [10.0.0.1/24]}", `addrs: ["fd00::1/64"], mtu: 1200}`, 1),
			`t.yaml:8:51: host "ns1": connect br1: mtu 1200: IPv6 address "fd00::1/64" needs at least 1280`},
		{"gateway off every subnet", strings.Replace(seedBase, "  - name: ns2\n", "    routes: [{dst: default, via: 10.1.0.1}]\n  - name: ns2\n", 1),
			`t.yaml:9:34: host "ns1": route via "10.1.0.1": gateway is not on any of the host's subnets (10.0.0.0/24)`},
		{"gateway is the host itself", strings.Replace(seedBase, "  - name: ns2\n", "    routes: [{dst: default, via: 10.0.0.1}]\n  - name: ns2\n", 1),
			`t.yaml:9:34: host "ns1": route via "10.0.0.1": that is the host's own address`},
		{"gateway with a prefix length", strings.Replace(seedBase, "  - name: ns2\n", "    routes: [{dst: default, via: 10.0.0.2/24}]\n  - name: ns2\n", 1),
			`t.yaml:9:34: host "ns1": route via "10.0.0.2/24": want an address without a prefix length`},
		{"route destination with host bits", strings.Replace(seedBase, "  - name: ns2\n", "    routes: [{dst: 10.9.0.1/16, via: 10.0.0.2}]\n  - name: ns2\n", 1),
			`t.yaml:9:20: host "ns1": route dst "10.9.0.1/16": host bits set; did you mean 10.9.0.0/16?`},
		{"route destination not a CIDR", strings.Replace(seedBase, "  - name: ns2\n", "    routes: [{dst: everywhere, via: 10.0.0.2}]\n  - name: ns2\n", 1),
			`t.yaml:9:20: host "ns1": route dst "everywhere": want "default" or a CIDR`},
		{"route gateway of the other family", strings.Replace(seedBase, "  - name: ns2\n", "    routes: [{dst: \"fd00:9::/64\", via: 10.0.0.2}]\n  - name: ns2\n", 1),
			`t.yaml:9:40: host "ns1": route to fd00:9::/64 via "10.0.0.2": gateway of the other IP family`},
		{"route given twice", strings.Replace(seedBase, "  - name: ns2\n", "    routes: [{dst: default, via: 10.0.0.2}, {dst: default, via: 10.0.0.100}]\n  - name: ns2\n", 1),
			`t.yaml:9:51: host "ns1": route dst "default" given twice (t.yaml:9:20)`},
		{"expectation without arrow", seedBase + "expect:\n  reachable: [ns1 to ns2]\n",
			`t.yaml:13:15: expect.reachable: "ns1 to ns2": want "from -> to"`},
		{"expectation with two arrows", seedBase + "expect:\n  reachable: [ns1 -> ns2 -> br1]\n",
			`t.yaml:13:15: expect.reachable: "ns1 -> ns2 -> br1": more than one "->"`},
		{"expectation with an empty side", seedBase + "expect:\n  reachable: [\"ns1 -> \"]\n",
			`t.yaml:13:15: expect.reachable: "ns1 -> ": want "from -> to" with both sides named`},
		{"expectation naming an unknown host", seedBase + "expect:\n  reachable: [ns1 -> ns9]\n",
			`t.yaml:13:15: expect.reachable "ns1 -> ns9": unknown host, router or bridge "ns9"`},
		{"expectation from an address", seedBase + "expect:\n  unreachable: [10.0.0.1 -> ns2]\n",
			`t.yaml:13:17: expect.unreachable "10.0.0.1 -> ns2": source "10.0.0.1": want a host, router or bridge name, not an address`},
		{"expectation reaching an address nobody has", seedBase + "expect:\n  reachable: [ns1 -> 10.0.0.9]\n",
			`t.yaml:13:15: expect.reachable "ns1 -> 10.0.0.9": address 10.0.0.9 is not given to anything in this topology`},
		{"expectation with a prefix length", seedBase + "expect:\n  reachable: [ns1 -> 10.0.0.2/24]\n",
			`t.yaml:13:15: expect.reachable "ns1 -> 10.0.0.2/24": destination "10.0.0.2/24": want an address without a prefix length`},
		{"expectations contradicting", seedBase + "expect:\n  reachable: [ns1 -> ns2]\n  unreachable: [ns1->ns2]\n",
			`t.yaml:14:17: expect.unreachable "ns1 -> ns2": also expected reachable (t.yaml:13:15)`},
		{"tcp without a port", seedBase + "expect:\n  tcp: [ns1 -> ns2]\n",
			`t.yaml:13:9: expect.tcp "ns1 -> ns2": destination "ns2": want host:port, [IPv6]:port or name:port`},
		{"tcp with a bad port", seedBase + "expect:\n  tcp: [{from: ns1, to: \"ns2:99999\"}]\n",
			`t.yaml:13:9: expect.tcp "ns1 -> ns2:99999": port "99999": want 1 to 65535`},
		{"tcp to a bridge", seedBase + "expect:\n  tcp: [ns1 -> br1:80]\n",
			`t.yaml:13:9: expect.tcp "ns1 -> br1:80": bridge "br1" cannot listen; name a host or router`},
		{"unknown key in expect", seedBase + "expect:\n  ping_all: true\n",
			`t.yaml:13:3: expect: unknown key "ping_all" (want pingall, reachable, unreachable, tcp, tcp_unreachable, service)`},
		{"pingall not a boolean", seedBase + "expect:\n  pingall: always\n",
			`t.yaml:13:12: expect.pingall: got string "always", want true or false`},
		{"pingall with a host lacking an address", seedBase + "  - name: ns3\nexpect:\n  pingall: true\n",
			`t.yaml:14:12: expect.pingall: host "ns3" has no address to ping`},
		{"YAML alias", seedBase + "routers:\n  - &r {name: r1}\n  - *r\n",
			`t.yaml:13:5: router "r1": YAML anchors (&r) are not supported; write the value out`},
		{"YAML syntax", seedBase + "expect: [\n",
			`t.yaml:12: invalid YAML: did not find expected node content`},
		{"two documents", seedBase + "---\nname: other\n",
			`t.yaml:12:1: more than one YAML document in the file`},
		{"empty file", "# nothing\n",
			`t.yaml: empty file: want a mapping with hosts, bridges, ...`},
		{"not a mapping", "- ns1\n",
			`t.yaml:1:1: topology: got a list, want a mapping`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("t.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q", c.want)
			}
			if f != nil {
				t.Errorf("Parse returned a File along with the error")
			}
			if !hasError(err, c.want) {
				t.Errorf("errors:\n%v\nwant one to read:\n%s", err, c.want)
			}
		})
	}
}

// hasError reports whether err, or one of the errors joined in it, reads
// exactly want.
func hasError(err error, want string) bool {
	if err.Error() == want {
		return true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if hasError(e, want) {
				return true
			}
		}
	}
	return false
}

func TestErrorsAreCollectedInOrder(t *testing.T) {
	src := strings.NewReplacer(
		"10.0.0.100/24", "10.0.0.100/33",
		"10.0.0.2/24", "10.0.0.1/24",
		"bridge: br1, addrs: [10.0.0.1", "bridge: br7, addrs: [10.0.0.1",
	).Replace(seedBase)
	_, err := Parse("t.yaml", []byte(src))
	if err == nil {
		t.Fatal("Parse succeeded on a file with three errors")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		`t.yaml:4:13: bridge "br1": address "10.0.0.100/33": invalid CIDR`,
		`t.yaml:8:18: host "ns1": connect: unknown bridge "br7"`,
		`t.yaml:11:31: host "ns2": address "10.0.0.1/24": 10.0.0.1 already given to host "ns1" (t.yaml:8:31)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	var e *Error
	if !errors.As(err, &e) || e.Pos != (Pos{4, 13}) || e.File != "t.yaml" {
		t.Errorf("errors.As(*Error) = %+v, want the first error at t.yaml:4:13", e)
	}
}

func TestTypeErrorsStopBeforeValidation(t *testing.T) {
	// mtu is mistyped and ns2's address is wrong: only the first stage's
	// error is reported, since later checks would see a half-read file.
	src := strings.NewReplacer(
		"addrs: [10.0.0.1/24]}", `addrs: [10.0.0.1/24], mtu: big}`,
		"10.0.0.2/24", "10.0.0.2/99",
	).Replace(seedBase)
	_, err := Parse("t.yaml", []byte(src))
	if err == nil || strings.Contains(err.Error(), "10.0.0.2/99") || !strings.Contains(err.Error(), `mtu: got string "big"`) {
		t.Errorf("Parse error = %v, want only the mtu type error", err)
	}
}

func TestValidateGeneratedFileHasNoPositions(t *testing.T) {
	f, err := Single(2)
	if err != nil {
		t.Fatal(err)
	}
	f.Hosts[1].Connect[0].Addrs = []string{"10.0.0.1/8"}
	err = f.Validate()
	want := `host "h2": address "10.0.0.1/8": 10.0.0.1 already given to host "h1"`
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
}
