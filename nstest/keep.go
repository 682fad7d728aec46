package nstest

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/nstest/harness/internal/keep"
)

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// keep bind-mounts the namespaces of a failed test under /run/netns so that a
// person can enter them after the test process is gone.
func (t *Topology) keep(hosts []*Host) {
	topo := strings.Trim(unsafeChars.ReplaceAllString(t.name, "-"), "-")
	var lines []string
	for _, h := range hosts {
		name, err := keep.Mount(topo, h.name, h.ns.File())
		if err != nil {
			t.tb.Logf("nstest: NSTEST_KEEP: cannot keep %q: %v", h.name, err)
			continue
		}
		lines = append(lines, fmt.Sprintf("  ip netns exec %s bash    # %s %s", name, h.kind, h.name))
	}
	if len(lines) > 0 {
		t.tb.Logf("nstest: NSTEST_KEEP=1: kept the namespaces of the failed test; enter them with\n%s\nand remove them with: go run github.com/nstest/harness/cmd/nstest down %s (or ip netns del NAME)", strings.Join(lines, "\n"), topo)
	}
}
