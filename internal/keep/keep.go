// Package keep keeps namespaces beyond the life of the process that made
// them, as bind mounts under /run/netns that `ip netns exec` enters, and
// removes them again. Every kept namespace is recorded under /run/nstest, and
// only recorded ones whose mount still refers to the recorded namespace are
// ever removed, so a namespace that merely has a similar name is left alone.
//
// Everything that changes the records (mounting, writing /etc/netns files,
// removing) holds one machine-wide lock, so that two processes keeping the
// same topology at once cannot both believe they own it. The records live in
// a directory only root can write, are written to a new file and renamed into
// place (never through a link planted there), and are read without following
// links.
package keep

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Dirs, variables for tests.
var (
	NetnsDir = "/run/netns"
	OwnerDir = "/run/nstest/netns" // the records; its parent holds the lock
	// EtcDir is where WriteEtc puts the per-namespace files that
	// `ip netns exec` bind-mounts over /etc: $NSTEST_ETC_NETNS, or /etc/netns.
	EtcDir = etcDir()
)

func etcDir() string {
	if d := os.Getenv("NSTEST_ETC_NETNS"); d != "" {
		return d
	}
	return "/etc/netns"
}

// Prefix starts the name of every namespace this package keeps.
const Prefix = "nstest-"

// ErrExists is returned by MountTopology when the topology is already kept.
var ErrExists = errors.New("already kept")

// Entry is a kept namespace.
type Entry struct {
	Name     string // name under /run/netns, for ip netns exec
	Topology string
	Node     string
}

// NS is a namespace to keep: the node it belongs to and its descriptor.
type NS struct {
	Node string
	File *os.File
}

// Name returns the /run/netns name for node of topology.
func Name(topology, node string) string { return Prefix + topology + "-" + node }

// checkName refuses a name that is not one file name of ours: it is used as
// a path under NetnsDir, OwnerDir and EtcDir.
func checkName(name string) error {
	if len(name) > 250 || !strings.HasPrefix(name, Prefix) || strings.ContainsAny(name, "/\x00\n") {
		return fmt.Errorf("namespace name %q: too long, or contains '/', a newline or NUL", clip(name))
	}
	return nil
}

// clip shortens a value shown in a message.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:64], len(s))
}

// Mount keeps the namespace open as f under /run/netns/nstest-<topology>-<node>
// and returns that name.
func Mount(topology, node string, f *os.File) (string, error) {
	release, err := lock()
	if err != nil {
		return "", err
	}
	defer release()
	return mount(topology, node, f)
}

// MountTopology keeps every namespace of topology, as Mount does, unless the
// topology is already kept (then the error wraps ErrExists). On any error
// it removes the namespaces it made, and only those: what another process
// keeps under the same names stays.
func MountTopology(topology string, nss []NS) ([]string, error) {
	release, err := lock()
	if err != nil {
		return nil, err
	}
	defer release()
	es, err := List()
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		if e.Topology == topology {
			return nil, fmt.Errorf("topology %q: %w (remove it first with: nstest down %s)", topology, ErrExists, topology)
		}
	}
	var names []string
	for _, n := range nss {
		name, err := mount(topology, n.Node, n.File)
		if err != nil {
			for _, m := range names {
				remove(m)
			}
			return nil, fmt.Errorf("keep %q: %w", n.Node, err)
		}
		names = append(names, name)
	}
	return names, nil
}

// mount does Mount's work; the caller holds the lock.
func mount(topology, node string, f *os.File) (string, error) {
	name := Name(topology, node)
	if err := checkName(name); err != nil {
		return "", err
	}
	noteDirs()
	if err := prepareDir(); err != nil {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", err
	}
	path := filepath.Join(NetnsDir, name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", path, err)
	}
	var file unix.Stat_t
	unix.Fstat(fd, &file)
	unix.Close(fd)
	src := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("bind-mount %s: %w", path, err)
	}
	rec := record{ns: nsID{st.Dev, st.Ino}, topology: topology, node: node}
	if err := writeRecord(name, rec); err != nil {
		unix.Unmount(path, unix.MNT_DETACH)
		os.Remove(path)
		return "", fmt.Errorf("record ownership of %s: %w", name, err)
	}
	remember(name, file, st)
	return name, nil
}

// prepareDir makes /run/netns a shared mount point, as iproute2 does, so that
// mounts made in it are seen from other mount namespaces.
func prepareDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return err
	}
	err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) {
		if err = unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			noteMountPoint()
			err = unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount point: %w", NetnsDir, err)
	}
	return nil
}

// List returns the kept namespaces that are still there, sorted by name.
func List() ([]Entry, error) {
	if err := checkDir(OwnerDir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	recs, err := os.ReadDir(OwnerDir)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, r := range recs {
		if rec, ok := check(r.Name()); ok {
			out = append(out, Entry{Name: r.Name(), Topology: rec.topology, Node: rec.node})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// check reads the ownership record of name and reports whether the mount
// still holds the recorded namespace.
func check(name string) (record, bool) {
	if checkName(name) != nil {
		return record{}, false
	}
	rec, err := readRecord(name)
	if err != nil {
		return record{}, false
	}
	var st unix.Stat_t
	if unix.Stat(filepath.Join(NetnsDir, name), &st) != nil || (nsID{st.Dev, st.Ino}) != rec.ns {
		return record{}, false
	}
	return rec, true
}

// remove stops the processes in the kept namespace name, removes its /etc
// files, unmounts and deletes it, if it is one of ours; the caller holds the
// lock.
func remove(name string) (int, error) {
	rec, ok := check(name)
	if !ok {
		unlinkRecord(name) // a stale record
		return 0, fmt.Errorf("namespace %q: not kept by nstest", clip(name))
	}
	stopped, err := stopProcesses(map[nsID]bool{rec.ns: true})
	if err != nil {
		return stopped, fmt.Errorf("%s: %w", name, err)
	}
	return stopped, unmount(name, rec)
}

// unmount removes the kept namespace name and what WriteEtc wrote for it.
// It leaves EtcDir, even if WriteEtc made it; removeRoots removes it once
// the batch is done.
func unmount(name string, rec record) error {
	if err := removeEtc(rec.etc); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	path := filepath.Join(NetnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	forget(name)
	os.Remove(path)
	unlinkRecord(name)
	return nil
}

// Remove removes the kept namespaces called names (as Mount and
// MountTopology return them), stopping every process in them, and returns
// how many processes it stopped.
func Remove(names ...string) (stopped int, err error) {
	release, err := lock()
	if err != nil {
		return 0, err
	}
	defer release()
	var errs []error
	var recs []record
	for _, n := range names {
		rec, _ := check(n)
		s, err := remove(n)
		stopped += s
		errs = append(errs, err)
		recs = append(recs, rec)
	}
	removeRoots(recs)
	return stopped, errors.Join(errs...)
}

// RemoveTopology removes every kept namespace of topology, stopping every
// process that runs in them, and returns their names and how many processes
// it stopped.
func RemoveTopology(topology string) (names []string, stopped int, err error) {
	return removeIf(func(e Entry) bool { return e.Topology == topology })
}

// Clean removes every kept namespace, as RemoveTopology does.
func Clean() (names []string, stopped int, err error) {
	return removeIf(func(Entry) bool { return true })
}

func removeIf(match func(Entry) bool) ([]string, int, error) {
	release, err := lock()
	if err != nil {
		return nil, 0, err
	}
	defer release()
	es, err := List()
	if err != nil {
		return nil, 0, err
	}
	if recs, err := os.ReadDir(OwnerDir); err == nil {
		// Records whose mount is gone or replaced are dropped, and
		// leftovers of a writer that died.
		for _, r := range recs {
			if _, ok := check(r.Name()); !ok {
				unlinkRecord(r.Name())
			}
		}
	}
	recs := map[string]record{}
	ids := map[nsID]bool{}
	for _, e := range es {
		if !match(e) {
			continue
		}
		if rec, ok := check(e.Name); ok {
			recs[e.Name] = rec
			ids[rec.ns] = true
		}
	}
	if len(recs) == 0 {
		return nil, 0, nil
	}
	// One scan for all the namespaces: a process may hop between them.
	stopped, err := stopProcesses(ids)
	if err != nil {
		return nil, stopped, err
	}
	var names []string
	var errs []error
	var done []record
	for _, e := range es {
		rec, ok := recs[e.Name]
		if !ok {
			continue
		}
		if err := unmount(e.Name, rec); err != nil {
			errs = append(errs, err)
			continue
		}
		names = append(names, e.Name)
		done = append(done, rec)
	}
	removeRoots(done)
	return names, stopped, errors.Join(errs...)
}

// Open opens the kept namespace of node in topology.
func Open(topology, node string) (*os.File, error) {
	name := Name(topology, node)
	if err := checkName(name); err != nil {
		return nil, err
	}
	rec, ok := check(name)
	if !ok {
		return nil, fmt.Errorf("no kept namespace %q (topology %q, node %q)", name, topology, node)
	}
	f, err := os.OpenFile(filepath.Join(NetnsDir, name), os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	// The mount may have changed since it was checked.
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || (nsID{st.Dev, st.Ino}) != rec.ns {
		f.Close()
		return nil, fmt.Errorf("no kept namespace %q: the mount changed while it was opened", name)
	}
	return f, nil
}

// Exclusive takes a machine-wide lock that serialises the tests which create
// and remove kept namespaces (in several test binaries that go test runs at
// once), so that one's clean-up does not remove another's namespaces. It
// returns the function that releases it. The lock file, in the temporary
// directory, is opened without following links and must be a plain file of
// this user's that only it can write.
func Exclusive() (release func(), err error) {
	path := filepath.Join(os.TempDir(), "nstest-keep.lock")
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	if err := ownFile(fd, path, uint32(os.Geteuid())); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return func() { unix.Flock(fd, unix.LOCK_UN); unix.Close(fd) }, nil
}

// ownFile checks that fd is a plain file of uid with one name that no one
// else may write.
func ownFile(fd int, path string, uid uint32) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != uid || st.Nlink != 1 || st.Mode&0o022 != 0 {
		return fmt.Errorf("%s: want a plain file of uid %d that only it may write, found one of uid %d with mode %#o and %d links; remove it", path, uid, st.Uid, st.Mode, st.Nlink)
	}
	return nil
}
