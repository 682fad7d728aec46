package keep

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// useDirs points the package at directories of the test.
func useDirs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the records must be root's: run as root")
	}
	dir := t.TempDir()
	oldOwner, oldNetns, oldEtc := OwnerDir, NetnsDir, EtcDir
	t.Cleanup(func() { OwnerDir, NetnsDir, EtcDir = oldOwner, oldNetns, oldEtc })
	OwnerDir = filepath.Join(dir, "state", "netns")
	NetnsDir = filepath.Join(dir, "netns")
	EtcDir = filepath.Join(dir, "etc-netns")
	if err := os.Mkdir(NetnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRecordNotThroughLink plants a link where a record is written: the
// record replaces the link, and the file it pointed to is untouched.
func TestRecordNotThroughLink(t *testing.T) {
	dir := useDirs(t)
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ensureDirs(); err != nil {
		t.Fatal(err)
	}
	name := Name("t", "h1")
	if err := os.Symlink(target, filepath.Join(OwnerDir, name)); err != nil {
		t.Fatal(err)
	}
	rec := record{ns: nsID{1, 2}, topology: "t", node: "h1", etc: etcRecord{dir: "/x y/z", madeDir: true, files: []etcFile{{"hosts", nsID{3, 4}}}}}
	if err := writeRecord(name, rec); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("the record was written through the link: the target holds %q", b)
	}
	st, err := os.Lstat(filepath.Join(OwnerDir, name))
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Errorf("the record: %v, %v; want a regular file of mode 0600", st.Mode(), err)
	}
	for _, d := range []string{OwnerDir, filepath.Dir(OwnerDir)} {
		if st, err := os.Stat(d); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want mode 0700", d, st.Mode(), err)
		}
	}
	got, err := readRecord(name)
	if err != nil || got.String() != rec.String() {
		t.Errorf("read back %+v, %v; want %+v", got, err, rec)
	}

	// A record that is a link is not read.
	other := Name("t", "h2")
	if err := os.Symlink(filepath.Join(OwnerDir, name), filepath.Join(OwnerDir, other)); err != nil {
		t.Fatal(err)
	}
	if _, err := readRecord(other); !errors.Is(err, unix.ELOOP) {
		t.Errorf("reading a record that is a link: %v, want ELOOP", err)
	}
}

// TestRecordsDirRootOnly refuses records kept where others may write.
func TestRecordsDirRootOnly(t *testing.T) {
	dir := useDirs(t)
	if err := ensureDirs(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(OwnerDir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := lock(); err == nil || !strings.Contains(err.Error(), OwnerDir+": owned by uid 0 with mode 0777") {
		t.Errorf("lock with a world-writable records directory: %v", err)
	}
	if _, err := List(); err == nil {
		t.Errorf("List trusted a world-writable records directory")
	}
	// A link to a directory is not one.
	os.RemoveAll(filepath.Dir(OwnerDir))
	if err := os.Mkdir(filepath.Join(dir, "elsewhere"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Dir(OwnerDir)); err != nil {
		t.Fatal(err)
	}
	if _, err := lock(); err == nil || !strings.Contains(err.Error(), "not a directory (a link?)") {
		t.Errorf("lock with the state directory a link: %v", err)
	}
}

// TestExclusiveNotThroughLink plants a link where the tests' lock file is
// made: it is not followed, and the file made has mode 0600.
func TestExclusiveNotThroughLink(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	target := filepath.Join(dir, "made-through-link")
	lockPath := filepath.Join(dir, "nstest-keep.lock")
	if err := os.Symlink(target, lockPath); err != nil {
		t.Fatal(err)
	}
	if release, err := Exclusive(); err == nil {
		release()
		t.Errorf("Exclusive followed a link planted at %s", lockPath)
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("a file was made through the link: %v", err)
	}
	os.Remove(lockPath)
	release, err := Exclusive()
	if err != nil {
		t.Fatal(err)
	}
	release()
	if st, err := os.Lstat(lockPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v, %v; want mode 0600", st.Mode(), err)
	}
}

// TestStopProcesses starts a shell in a namespace of its own that leaves two
// children behind, one in a session of its own: all three are stopped.
func TestStopProcesses(t *testing.T) {
	sh := exec.Command("unshare", "-rn", "sh", "-c", "(sleep 3600 &); (setsid sleep 3600 </dev/null >/dev/null 2>&1 &); echo ready; exec sleep 3600")
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Skipf("unshare -rn (util-linux): %v", err)
	}
	t.Cleanup(func() { sh.Process.Kill(); sh.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Skipf("unshare -rn: %q: this machine allows no user namespaces", line)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(sh.Process.Pid)+"/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	id := nsID{st.Dev, st.Ino}
	n, err := stopProcesses(map[nsID]bool{id: true})
	if err != nil || n != 3 {
		t.Errorf("stopProcesses: %d, %v; want 3 stopped", n, err)
	}
	err = sh.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the shell: %v, want killed", err)
	}
	if pids, _ := scan(map[nsID]bool{id: true}, os.Getpid()); len(pids) != 0 {
		t.Errorf("still in the namespace: %v", pids)
	}
	if n, err := stopProcesses(map[nsID]bool{id: true}); n != 0 || err != nil {
		t.Errorf("stopProcesses again: %d, %v; want 0", n, err)
	}
}

// TestWriteEtc writes the /etc files of a namespace and removes exactly
// them: a file replaced by someone else stays, so does a directory that was
// there before.
func TestWriteEtc(t *testing.T) {
	useDirs(t)
	name := Name("t", "h1")
	// A stand-in for the mount: check compares the record with what stat
	// says of NetnsDir/name.
	mnt := filepath.Join(NetnsDir, name)
	if err := os.WriteFile(mnt, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if err := writeRecord(name, record{ns: nsID{st.Dev, st.Ino}, topology: "t", node: "h1"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteEtc(name, map[string][]byte{"hosts": []byte("10.0.0.1\th1\n"), "hostname": []byte("h1\n")}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(EtcDir, name)
	if b, _ := os.ReadFile(filepath.Join(dir, "hostname")); string(b) != "h1\n" {
		t.Errorf("hostname: %q", b)
	}
	if st, err := os.Stat(filepath.Join(dir, "hosts")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("hosts: %v, %v; want mode 0644, for every program", st.Mode(), err)
	}
	rec, ok := check(name)
	if !ok || !rec.etc.madeDir || !rec.etc.madeRoot || len(rec.etc.files) != 2 {
		t.Fatalf("record %+v: want both directories made and two files", rec.etc)
	}
	// Someone replaces hostname; it is not ours to remove any more.
	os.Remove(filepath.Join(dir, "hostname"))
	if err := os.WriteFile(filepath.Join(dir, "hostname"), []byte("theirs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeEtc(rec.etc); err != nil {
		t.Fatal(err)
	}
	removeRoots([]record{rec})
	left, _ := filepath.Glob(filepath.Join(EtcDir, "*", "*"))
	if len(left) != 1 || !strings.HasSuffix(left[0], "/hostname") {
		t.Errorf("left %q; want only the hostname someone else wrote", left)
	}
	os.Remove(filepath.Join(dir, "hostname"))
	// Now dir is empty but was made by WriteEtc: a second removal (as by
	// a retried down) finds nothing to do and removes the directories.
	if err := removeEtc(rec.etc); err != nil {
		t.Fatal(err)
	}
	removeRoots([]record{rec})
	if _, err := os.Stat(EtcDir); !os.IsNotExist(err) {
		t.Errorf("%s left: %v", EtcDir, err)
	}
}
