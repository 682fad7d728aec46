package nstest

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/nstest/harness/internal/keep"
)

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// KeepNamespaces bind-mounts every namespace of the topology (hosts, routers
// and the fabric) under /run/netns as nstest-<topology>-<node>, so that they
// outlive the process: `ip netns exec nstest-<topology>-<node> CMD` enters
// one, and `nstest down <topology>` removes them. It needs root in the
// machine's initial user namespace. It returns the names made, in the order
// of Hosts, then the fabric's. It fails when a topology of the same name is
// already kept, and then, as on any error, keeps nothing.
func (t *Topology) KeepNamespaces() ([]string, error) {
	if t.isClosed() {
		return nil, fmt.Errorf("nstest: keep topology %q: %w", t.name, ErrClosed)
	}
	t.ready()
	t.mu.Lock()
	hosts := append([]*Host(nil), t.hosts...)
	if t.fabric != nil {
		hosts = append(hosts, t.fabric)
	}
	t.mu.Unlock()
	// Duplicates of the namespace descriptors, taken through the hosts'
	// gates: after teardown they fail with ErrClosed instead of naming
	// whatever reused the numbers.
	nss := make([]keep.NS, 0, len(hosts))
	defer func() {
		for _, n := range nss {
			n.File.Close()
		}
	}()
	for _, h := range hosts {
		f, err := h.NSFile()
		if err != nil {
			return nil, fmt.Errorf("nstest: keep topology %q: %w", t.name, err)
		}
		nss = append(nss, keep.NS{Node: h.name, File: f})
	}
	names, err := keep.MountTopology(keepName(t.name), nss)
	if err != nil {
		return nil, fmt.Errorf("nstest: keep topology %q: %w", t.name, err)
	}
	return names, nil
}

// keepName makes a topology's name a valid name (see ValidName) for its
// kept namespaces: a test's name has '/' between subtests.
func keepName(s string) string {
	s = strings.TrimLeft(unsafeChars.ReplaceAllString(s, "-"), "-_.")
	if s == "" || !unicode.IsLetter(rune(s[0])) {
		s = "topo-" + s // a name starts with a letter (see ValidName)
	}
	if len(s) > maxNameLen {
		s = s[:maxNameLen]
	}
	return strings.TrimRight(s, "-")
}

// keep bind-mounts the namespaces of a failed test under /run/netns so that a
// person can enter them after the test process is gone.
func (t *Topology) keep(hosts []*Host) {
	topo := keepName(t.name)
	var lines []string
	for _, h := range hosts {
		var name string
		err := h.use(func() (err error) { name, err = keep.Mount(topo, h.name, h.ns.File()); return err })
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
