package nstest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/nstest/harness/nstest/capture"
)

// With NSTEST_ARTIFACTS=DIR set when a topology is made, every interface the
// topology makes is captured from birth into a small ring of its most recent
// packets, and a failing test leaves DIR/<test>/ with state.txt (WriteState),
// one pcap file per interface, all.pcapng holding every interface's packets
// in time order (interfaces named host:iface, with directions), and the picture of the topology (Graph) as
// topology.mmd and topology.dot, the pairs that failed drawn in red. A passing test writes nothing, and without
// the variable nothing is captured.

// artifactsEnv is the environment variable naming the directory where failing
// tests leave their state dump and packet captures.
const artifactsEnv = "NSTEST_ARTIFACTS"

// Each interface's ring keeps its last artifactPackets frames, at most
// artifactBytes in all, each cut to artifactSnapLen bytes: enough for a
// test's recent traffic, and cheap enough to arm on every interface.
const (
	artifactPackets = 1000
	artifactBytes   = 4 << 20
	artifactSnapLen = 65535 // whole frames but GSO super-frames
)

// artifacts holds the captures armed for one topology.
type artifacts struct {
	dir string

	mu     sync.Mutex
	armed  []armedCapture
	closed bool // closeAll ran: captures armed later are closed at once
}

type armedCapture struct {
	iface *Interface
	c     *capture.Capture
}

// closeAll closes the armed captures, all at once: closing a packet socket
// waits for an RCU grace period (synchronize_net, about 10 ms here), and one
// at a time they would add tens of milliseconds to every teardown. Teardown
// runs it beside its other steps and waits for it.
func (a *artifacts) closeAll() {
	a.mu.Lock()
	armed := a.armed
	a.closed = true
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, ac := range armed {
		wg.Go(func() { ac.c.Close() })
	}
	wg.Wait()
}

// newArtifacts returns nil unless NSTEST_ARTIFACTS is set.
func newArtifacts() *artifacts {
	dir := os.Getenv(artifactsEnv)
	if dir == "" {
		return nil
	}
	return &artifacts{dir: dir}
}

// arm starts a ring capture on each new interface when failure artifacts are
// wanted. Builders call it once an interface exists in its namespace. A
// capture that cannot start is logged, never fatal: it is evidence, not the
// test.
func (t *Topology) arm(is ...*Interface) {
	if t.art == nil {
		return
	}
	for _, i := range is {
		var c *capture.Capture
		err := i.host.do(func() (err error) {
			c, err = capture.Open(i.name, capture.Node(i.host.name), capture.Limit(artifactPackets), capture.LimitBytes(artifactBytes), capture.BufferSize(1<<20), capture.SnapLen(artifactSnapLen))
			return err
		})
		if err != nil {
			t.tb.Logf("nstest: %s: no capture on %s: %v", artifactsEnv, i, err)
			continue
		}
		t.art.mu.Lock()
		late := t.art.closed
		if !late {
			t.art.armed = append(t.art.armed, armedCapture{i, c})
		}
		t.art.mu.Unlock()
		if late { // teardown has begun
			c.Close()
		}
	}
}

// allPcapng is the artifact file that merges every interface's ring.
const allPcapng = "all.pcapng"

var unsafePathChars = regexp.MustCompile(`[^A-Za-z0-9_.=+-]+`)

// artifactName turns a test or node name into one path element:
// "TestX/case 1" becomes "TestX_case_1".
func artifactName(s string) string {
	s = strings.Trim(unsafePathChars.ReplaceAllString(s, "_"), "_.")
	if s == "" {
		return "test"
	}
	return s
}

// artifactDir is the directory a failing test's evidence goes to, or "" when
// NSTEST_ARTIFACTS is not set.
func (t *Topology) artifactDir() string {
	if t.art == nil {
		return ""
	}
	dir := filepath.Join(t.art.dir, artifactName(t.tb.Name()))
	if t.name != t.tb.Name() {
		dir = filepath.Join(dir, artifactName(t.name))
	}
	return dir
}

// writeArtifacts leaves the failed test's evidence in DIR/<test>/ (or
// DIR/<test>/<topology> for a topology named apart from its test).
func (t *Topology) writeArtifacts(hosts []*Host) {
	dir := t.artifactDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.tb.Logf("nstest: %s: %v", artifactsEnv, err)
		return
	}
	t.art.closeAll() // drains what the kernel queued; the packets stay
	t.art.mu.Lock()
	armed := t.art.armed
	t.art.mu.Unlock()

	var index bytes.Buffer
	var errs []string
	for _, a := range armed {
		name := artifactName(a.iface.host.name+"-"+a.iface.name) + ".pcap"
		if err := a.c.WriteFile(filepath.Join(dir, name)); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		st := a.c.Stats()
		fmt.Fprintf(&index, "    %-28s %s, %d packets kept of %d captured\n", name, a.iface, a.c.Count(), st.Captured)
	}

	caps := make([]*capture.Capture, len(armed))
	for k, a := range armed {
		caps[k] = a.c
	}
	if len(caps) > 0 {
		if err := capture.WritePcapngFile(filepath.Join(dir, allPcapng), caps...); err != nil {
			errs = append(errs, err.Error())
		} else {
			fmt.Fprintf(&index, "    %-28s all of the above in one file, in time order, with directions (tshark -r)\n", allPcapng)
		}
	}

	var state bytes.Buffer
	if index.Len() > 0 {
		fmt.Fprintf(&state, "captures (the last %d packets of each interface):\n%s\n", artifactPackets, index.String())
	}
	t.writeState(&state, hosts)
	if err := os.WriteFile(filepath.Join(dir, "state.txt"), state.Bytes(), 0o644); err != nil {
		errs = append(errs, err.Error())
	}
	if err := t.writeGraphs(dir); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		t.tb.Logf("nstest: %s: writing artifacts: %s", artifactsEnv, strings.Join(errs, "; "))
	}
	t.tb.Logf("nstest: %s: the failed test's network state and packet captures are in %s", artifactsEnv, dir)
}
