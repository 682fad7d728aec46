package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nstest/harness/nstest/topofile"
)

// TestRunInputCaps gives nstest run input that has no end, is too big, has
// 10,000 errors or a huge name: each gets a short, clear error.
func TestRunInputCaps(t *testing.T) {
	t.Parallel()
	limit := fmt.Sprint(topofile.MaxFileSize)

	// /dev/zero never ends. Under a cap on memory, so that a nstest that
	// reads it whole fails quickly instead of filling the machine.
	args := []string{bin, "run", "/dev/zero"}
	if pl, err := exec.LookPath("prlimit"); err == nil {
		args = append([]string{pl, "--as=4294967296", "--"}, args...)
	}
	r := runCmd(t, exec.Command(args[0], args[1:]...))
	if want := "/dev/zero: more than " + limit + " bytes (8 MiB), the limit for a topology file\n"; r.code != 2 || r.stderr != want {
		t.Errorf("run /dev/zero: exit %d, stderr %.200q; want 2 and %q", r.code, r.stderr, want)
	}

	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte("name: big\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, topofile.MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, "run", big)
	if want := fmt.Sprintf("%s: file is %d bytes, over the limit of %s bytes (8 MiB) for a topology file\n", big, topofile.MaxFileSize+1, limit); r.code != 2 || r.stderr != want {
		t.Errorf("run an oversized file: exit %d, stderr %.200q; want 2 and %q", r.code, r.stderr, want)
	}

	// 10,001 hosts called h: 10,000 duplicates.
	var b strings.Builder
	b.WriteString("hosts:\n")
	for range 10001 {
		b.WriteString("  - {name: h}\n")
	}
	dup := write(t, "dup.yaml", b.String())
	r = runBin(t, "run", dup)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.code != 2 || len(lines) != topofile.MaxErrors+1 {
		t.Fatalf("run a file with 10000 duplicate hosts: exit %d, %d lines on stderr; want 2 and %d", r.code, len(lines), topofile.MaxErrors+1)
	}
	if want := fmt.Sprintf("%s: and %d more errors", dup, 10000-topofile.MaxErrors); lines[len(lines)-1] != want {
		t.Errorf("last line %q, want %q", lines[len(lines)-1], want)
	}
	if !strings.HasPrefix(lines[0], dup+`:3:12: host "h": name already used by host "h"`) {
		t.Errorf("first line %q: want the first duplicate", lines[0])
	}

	// A 1 MB name (the size cap allows no 10 MB one; topofile's tests try that).
	long := strings.Repeat("n", 1<<20)
	r = runBin(t, "run", write(t, "long.yaml", "name: "+long+"\nhosts: [{name: h1}]\n"))
	want := `topology name "` + strings.Repeat("n", 64) + `…" (1048576 bytes): want a letter`
	if r.code != 2 || !strings.Contains(r.stderr, want) || len(r.stderr) > 500 {
		t.Errorf("run a file with a 1 MB name: exit %d, %d bytes on stderr: %.300q; want 2 and %q", r.code, len(r.stderr), r.stderr, want)
	}
	// In this process: the test would log the whole command line.
	var out, errb bytes.Buffer
	code := run([]string{"run", "--topo", "single," + strings.Repeat("9", 100000)}, &out, &errb)
	if code != 2 || errb.Len() > 500 || !strings.Contains(errb.String(), "…\" (100007 bytes)") {
		t.Errorf("run --topo with a 100 kB argument: exit %d, %d bytes on stderr: %.300q; want 2 and the argument cut", code, errb.Len(), errb.String())
	}
}

// TestRunFileNameNotAName runs a file whose name is no topology name and
// that gives none: it gets one made from the file's name.
func TestRunFileNameNotAName(t *testing.T) {
	t.Parallel()
	seed, err := os.ReadFile("../../fixtures/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(seed), "name: seed\n", "", 1)
	if text == string(seed) {
		t.Fatal("fixtures/seed.yaml has no name: line")
	}
	f := write(t, "06-x.yaml", text)
	r := runBin(t, "run", f)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "topo-06-x ("+f+"): 2 hosts, 1 bridge") {
		t.Errorf("run 06-x.yaml: exit %d, stdout %.200q; want 0 and topology topo-06-x", r.code, r.stdout)
	}
}

// TestRunNeighbourLimit refuses a pingall whose neighbour entries would pass
// gc_thresh3, before building anything; here the limit is a file of the
// test's, so that nothing near the machine's limit runs.
func TestRunNeighbourLimit(t *testing.T) {
	old := gcThresh3
	t.Cleanup(func() { gcThresh3 = old })
	gcThresh3 = write(t, "gc_thresh3", "6\n")
	var out, errb bytes.Buffer
	code := run([]string{"run", "--topo", "single,4"}, &out, &errb)
	want := "nstest: --topo single,4: pingall between 4 hosts needs 12 IPv4 neighbour entries, over this machine's limit net.ipv4.neigh.default.gc_thresh3 = 6"
	if code != 2 || !strings.HasPrefix(errb.String(), want) || out.Len() != 0 || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("run --topo single,4 with gc_thresh3 6: exit %d, stdout %q, stderr %q; want 2, nothing on stdout and one line %q...", code, out.String(), errb.String(), want)
	}
	if !strings.Contains(errb.String(), "sysctl -w net.ipv4.neigh.default.gc_thresh3=") {
		t.Errorf("stderr %q does not say what to do", errb.String())
	}
	// 3 hosts need 6 entries: within the limit.
	f, err := topofile.Single(3)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkNeighbours(f, "--topo single,3"); err != nil {
		t.Errorf("single,3 with gc_thresh3 6: %v", err)
	}
}

// TestNeighbourLimitOfThisMachine checks against the machine's real
// gc_thresh3: the first preset past it is refused (without running it).
func TestNeighbourLimitOfThisMachine(t *testing.T) {
	b, err := os.ReadFile(gcThresh3)
	if err != nil {
		t.Skipf("%s not readable here (a network namespace of a user namespace?): %v", gcThresh3, err)
	}
	var limit int
	if _, err := fmt.Sscan(string(b), &limit); err != nil {
		t.Fatalf("%s: %q: %v", gcThresh3, b, err)
	}
	n := 2
	for n*(n-1) <= limit {
		n++
	}
	if n > topofile.MaxGeneratedHosts {
		t.Skipf("gc_thresh3 %d allows more than the %d hosts a preset makes", limit, topofile.MaxGeneratedHosts)
	}
	for _, c := range []struct {
		hosts int
		ok    bool
	}{{n - 1, true}, {n, false}} {
		f, err := topofile.Single(c.hosts)
		if err != nil {
			t.Fatal(err)
		}
		err = checkNeighbours(f, fmt.Sprintf("--topo single,%d", c.hosts))
		if (err == nil) != c.ok {
			t.Errorf("single,%d with gc_thresh3 %d: %v; want refused: %v", c.hosts, limit, err, !c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("net.ipv4.neigh.default.gc_thresh3 = %d", limit)) {
			t.Errorf("the error %q does not name the sysctl and its value", err)
		}
	}
}
