// Package keep keeps namespaces beyond the life of the process that made
// them, as bind mounts under /run/netns that `ip netns exec` enters, and
// removes them again. Every kept namespace is recorded under /run/nstest, and
// only recorded ones whose mount still refers to the recorded namespace are
// ever removed, so a namespace that merely has a similar name is left alone.
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
	OwnerDir = "/run/nstest/netns"
)

// Prefix starts the name of every namespace this package keeps.
const Prefix = "nstest-"

// Entry is a kept namespace.
type Entry struct {
	Name     string // name under /run/netns, for ip netns exec
	Topology string
	Node     string
}

// Name returns the /run/netns name for node of topology.
func Name(topology, node string) string { return Prefix + topology + "-" + node }

// Mount keeps the namespace open as f under /run/netns/nstest-<topology>-<node>
// and returns that name.
func Mount(topology, node string, f *os.File) (string, error) {
	name := Name(topology, node)
	if len(name) > 250 || strings.ContainsAny(name, "/\x00") {
		return "", fmt.Errorf("namespace name %q: too long or contains '/'", name)
	}
	noteDirs()
	if err := prepareDir(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(OwnerDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(NetnsDir, name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0)
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
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", err
	}
	rec := fmt.Sprintf("%d %d\n%s\n%s\n", st.Dev, st.Ino, topology, node)
	if err := os.WriteFile(filepath.Join(OwnerDir, name), []byte(rec), 0o644); err != nil {
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
	recs, err := os.ReadDir(OwnerDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, r := range recs {
		e, ok := check(r.Name())
		if ok {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// check reads the ownership record of name and reports whether the mount
// still holds the recorded namespace.
func check(name string) (Entry, bool) {
	b, err := os.ReadFile(filepath.Join(OwnerDir, name))
	if err != nil {
		return Entry{}, false
	}
	lines := strings.SplitN(string(b), "\n", 4)
	if len(lines) < 3 {
		return Entry{}, false
	}
	var dev, ino uint64
	if _, err := fmt.Sscanf(lines[0], "%d %d", &dev, &ino); err != nil {
		return Entry{}, false
	}
	var st unix.Stat_t
	if unix.Stat(filepath.Join(NetnsDir, name), &st) != nil || st.Dev != dev || st.Ino != ino {
		return Entry{}, false
	}
	return Entry{Name: name, Topology: lines[1], Node: lines[2]}, true
}

// Remove unmounts and deletes the kept namespace name, if it is one of ours.
func Remove(name string) error {
	if _, ok := check(name); !ok {
		os.Remove(filepath.Join(OwnerDir, name)) // a stale record
		return fmt.Errorf("namespace %q: not kept by nstest", name)
	}
	path := filepath.Join(NetnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	forget(name)
	os.Remove(path)
	os.Remove(filepath.Join(OwnerDir, name))
	return nil
}

// RemoveTopology removes every kept namespace of topology and returns their
// names.
func RemoveTopology(topology string) ([]string, error) {
	return removeIf(func(e Entry) bool { return e.Topology == topology })
}

// Clean removes every kept namespace and returns their names.
func Clean() ([]string, error) {
	// Records whose mount is gone or replaced are dropped too.
	recs, _ := os.ReadDir(OwnerDir)
	for _, r := range recs {
		if _, ok := check(r.Name()); !ok {
			os.Remove(filepath.Join(OwnerDir, r.Name()))
		}
	}
	return removeIf(func(Entry) bool { return true })
}

func removeIf(match func(Entry) bool) ([]string, error) {
	es, err := List()
	if err != nil {
		return nil, err
	}
	var names []string
	var errs []error
	for _, e := range es {
		if !match(e) {
			continue
		}
		if err := Remove(e.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		names = append(names, e.Name)
	}
	return names, errors.Join(errs...)
}

// Open opens the kept namespace of node in topology.
func Open(topology, node string) (*os.File, error) {
	name := Name(topology, node)
	if _, ok := check(name); !ok {
		return nil, fmt.Errorf("no kept namespace %q (topology %q, node %q)", name, topology, node)
	}
	return os.Open(filepath.Join(NetnsDir, name))
}

// Exclusive takes a machine-wide lock that serialises the tests which create
// and remove kept namespaces (in several test binaries that go test runs at
// once), so that one's clean-up does not remove another's namespaces. It
// returns the function that releases it.
func Exclusive() (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "nstest-keep.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}
