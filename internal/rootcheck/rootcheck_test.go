package rootcheck_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/keep"
	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/internal/rootcheck"
	"github.com/nstest/harness/internal/rootless"
)

func TestMain(m *testing.M) {
	os.Exit(rootless.Run(m.Run))
}

func snapshot(t *testing.T) string {
	t.Helper()
	s, err := rootcheck.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOthersNamespacesAreNotChanges adds a named namespace, as any user of
// the machine may at any time, between two snapshots: it is not this
// process's doing, so there is no difference.
func TestOthersNamespacesAreNotChanges(t *testing.T) {
	if os.Geteuid() != 0 || rootless.InChild() {
		t.Skip("ip netns add needs root in the initial user namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (Debian package iproute2) not installed")
	}
	name := fmt.Sprintf("rootcheck-other-%d", os.Getpid())
	before := snapshot(t)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if d := rootcheck.Diff(before, snapshot(t)); d != "" {
		t.Errorf("another process's `ip netns add %s` shows as a change of this process:\n%s", name, d)
	}
}

// useDirs points package keep at fresh directories, so that the test sees
// exactly what it made there.
func useDirs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	oldNetns, oldOwner := keep.NetnsDir, keep.OwnerDir
	keep.NetnsDir, keep.OwnerDir = filepath.Join(dir, "netns"), filepath.Join(dir, "nstest", "netns")
	t.Cleanup(func() {
		keep.RestoreDirs()
		keep.NetnsDir, keep.OwnerDir = oldNetns, oldOwner
	})
	return dir
}

// mountOne keeps a fresh namespace as node h1 of topology topo.
func mountOne(t *testing.T, topo string) string {
	t.Helper()
	n, err := ns.New()
	if err != nil {
		t.Skipf("cannot make a network namespace: %v", err)
	}
	defer n.Close()
	name, err := keep.Mount(topo, "h1", n.File())
	if errors.Is(err, unix.EPERM) {
		t.Skipf("cannot bind-mount a namespace here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// TestOwnLeftoverIsAChange keeps a namespace and checks that the snapshot
// shows it, and its record, until it is removed.
func TestOwnLeftoverIsAChange(t *testing.T) {
	useDirs(t)
	before := snapshot(t)
	name := mountOne(t, "leak")
	t.Cleanup(func() { keep.Remove(name) })
	want := "+ kept netns " + name + "\n+ kept record " + name
	if d := rootcheck.Diff(before, snapshot(t)); d != want {
		t.Errorf("diff with a kept namespace left:\n%s\nwant:\n%s", d, want)
	}
	if _, err := keep.Remove(name); err != nil {
		t.Fatal(err)
	}
	if d := rootcheck.Diff(before, snapshot(t)); d != "" {
		t.Errorf("diff after removing it:\n%s", d)
	}
}

// TestSameNameMadeByOthers removes this process's kept namespace; another
// process then makes one of the same name (a mount point file and a record),
// which is not this process's leftover.
func TestSameNameMadeByOthers(t *testing.T) {
	useDirs(t)
	before := snapshot(t)
	name := mountOne(t, "reused")
	if _, err := keep.Remove(name); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keep.NetnsDir, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(keep.OwnerDir, name), []byte("1 2\nreused\nh1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := rootcheck.Diff(before, snapshot(t)); d != "" {
		t.Errorf("another process's namespace of the same name shows as a change of this process:\n%s", d)
	}
}

// TestRestoreDirsLeavesOthersMounts makes the kept-namespace directory a
// mount point, as keeping does on a machine where nobody did before; another
// process then mounts a namespace in it. Restoring must not unmount the
// directory (which would hide the other namespace); once the other is gone
// it does.
func TestRestoreDirsLeavesOthersMounts(t *testing.T) {
	useDirs(t)
	name := mountOne(t, "mine")
	if _, err := keep.Remove(name); err != nil {
		t.Fatal(err)
	}
	if !isMountPoint(keep.NetnsDir) {
		t.Skipf("%s did not become a mount point", keep.NetnsDir)
	}
	// Another process's namespace, mounted as `ip netns add` does.
	n, err := ns.New()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	other := filepath.Join(keep.NetnsDir, "other")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), n.Fd())
	if err := unix.Mount(src, other, "none", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount the other namespace: %v", err)
	}
	keep.RestoreDirs()
	if !isMountPoint(other) || !isMountPoint(keep.NetnsDir) {
		t.Fatalf("RestoreDirs unmounted what another process mounted")
	}
	if err := unix.Unmount(other, 0); err != nil {
		t.Fatal(err)
	}
	os.Remove(other)
	keep.RestoreDirs()
	if isMountPoint(keep.NetnsDir) {
		t.Errorf("%s is still the mount point this process made", keep.NetnsDir)
	}
	if _, err := os.Stat(keep.NetnsDir); !os.IsNotExist(err) {
		t.Errorf("%s, which this process created, is still there (%v)", keep.NetnsDir, err)
	}
}

func isMountPoint(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}
