package firewall_test

import (
	"strings"
	"testing"

	"github.com/nstest/harness/internal/exampletest"
)

// TestExamples runs the package's example, which makes a namespace and so
// has no "Output:" comment: go test would run it where the machine cannot and
// fail it, where this test skips.
func TestExamples(t *testing.T) {
	newNode(t) // skips where the machine cannot build namespaces
	out := exampletest.Output(t, Example)
	for _, want := range []string{
		"table inet nstest\n",
		"forward tcp dport 23 reject  [packets 0 bytes 0]",
		"input icmp type echo-request probability 10% drop  [packets 0 bytes 0]",
		"postrouting oifname wan0 saddr 192.168.1.0/24 masquerade  [packets 0 bytes 0]",
		"prerouting iifname wan0 tcp dport 8080 dnat to 192.168.1.10:80  [packets 0 bytes 0]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Example's listing lacks %q:\n%s", want, out)
		}
	}
}
