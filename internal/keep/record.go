package keep

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The lock file, in the parent of OwnerDir.
const lockName = "lock"

// maxRecord bounds what is read of a record; a real one is a few hundred bytes.
const maxRecord = 64 << 10

// nsID identifies a namespace (or a file): the device and inode of its nsfs
// file, as stat reports them.
type nsID struct{ dev, ino uint64 }

// record is what is kept about a kept namespace, one file per namespace in
// OwnerDir:
//
//	<dev> <ino>                  the namespace
//	<topology>
//	<node>
//	etc <madeDir> <madeRoot> <dir>   when WriteEtc wrote files (1 or 0)
//	file <dev> <ino> <name>      one per file written in dir
type record struct {
	ns             nsID
	topology, node string
	etc            etcRecord
}

// etcRecord is what WriteEtc made for one namespace, so that exactly that is
// removed again.
type etcRecord struct {
	dir               string // EtcDir/<name>; empty when nothing was written
	madeDir, madeRoot bool   // dir, and EtcDir, did not exist before
	files             []etcFile
}

type etcFile struct {
	name string
	id   nsID
}

func (r record) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %d\n%s\n%s\n", r.ns.dev, r.ns.ino, r.topology, r.node)
	if r.etc.dir != "" {
		fmt.Fprintf(&b, "etc %d %d %s\n", b2i(r.etc.madeDir), b2i(r.etc.madeRoot), r.etc.dir)
		for _, f := range r.etc.files {
			fmt.Fprintf(&b, "file %d %d %s\n", f.id.dev, f.id.ino, f.name)
		}
	}
	return b.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func parseRecord(s string) (record, error) {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	var r record
	if len(lines) < 3 {
		return r, errors.New("short record")
	}
	if _, err := fmt.Sscanf(lines[0], "%d %d", &r.ns.dev, &r.ns.ino); err != nil {
		return r, fmt.Errorf("bad record: %w", err)
	}
	r.topology, r.node = lines[1], lines[2]
	for _, l := range lines[3:] {
		f := strings.SplitN(l, " ", 4)
		if len(f) != 4 {
			return r, fmt.Errorf("bad record line %q", clip(l))
		}
		switch f[0] {
		case "etc":
			r.etc.madeDir, r.etc.madeRoot, r.etc.dir = f[1] == "1", f[2] == "1", f[3]
		case "file":
			dev, err1 := strconv.ParseUint(f[1], 10, 64)
			ino, err2 := strconv.ParseUint(f[2], 10, 64)
			if err1 != nil || err2 != nil || strings.Contains(f[3], "/") {
				return r, fmt.Errorf("bad record line %q", clip(l))
			}
			r.etc.files = append(r.etc.files, etcFile{f[3], nsID{dev, ino}})
		default:
			return r, fmt.Errorf("bad record line %q", clip(l))
		}
	}
	return r, nil
}

func stateDir() string { return filepath.Dir(OwnerDir) }

// checkDir makes sure dir is a directory (not a link to one) that only root
// can write, so that no one else can plant or change a record in it.
func checkDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return &fs.PathError{Op: "lstat", Path: dir, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%s: not a directory (a link?); nstest keeps its records only in a directory of root's: remove it", dir)
	case st.Uid != 0 || st.Mode&0o022 != 0:
		return fmt.Errorf("%s: owned by uid %d with mode %#o; nstest keeps its records only in a directory that only root can write: chown root %s; chmod go-w %s (or remove it)", dir, st.Uid, st.Mode&0o7777, dir, dir)
	}
	return nil
}

// ensureDirs makes the state and records directories, mode 0700, and checks
// them.
func ensureDirs() error {
	for _, d := range []string{stateDir(), OwnerDir} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := checkDir(d); err != nil {
			return err
		}
	}
	return nil
}

// lock takes the lock that every change of the records holds.
func lock() (release func(), err error) {
	if err := ensureDirs(); err != nil {
		return nil, err
	}
	path := filepath.Join(stateDir(), lockName)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	if err := ownFile(fd, path, 0); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { unix.Flock(fd, unix.LOCK_UN); unix.Close(fd) }, nil
}

// readRecord reads the record of name without following a link.
func readRecord(name string) (record, error) {
	path := filepath.Join(OwnerDir, name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return record{}, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if err := ownFile(fd, path, 0); err != nil {
		return record{}, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRecord+1))
	if err != nil {
		return record{}, err
	}
	if len(b) > maxRecord {
		return record{}, fmt.Errorf("%s: over %d bytes: not a record", path, maxRecord)
	}
	return parseRecord(string(b))
}

// writeRecord writes the record of name: a new file, renamed over the old
// one, so that a link planted under the name is replaced, never followed.
func writeRecord(name string, r record) error {
	if err := ensureDirs(); err != nil {
		return err
	}
	dfd, err := unix.Open(OwnerDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: OwnerDir, Err: err}
	}
	defer unix.Close(dfd)
	_, err = writeAt(dfd, name, []byte(r.String()), 0o600)
	return err
}

func unlinkRecord(name string) { os.Remove(filepath.Join(OwnerDir, name)) }

// writeAt writes data as the file name in the directory dfd, through a
// temporary file opened O_EXCL|O_NOFOLLOW and renamed into place, and
// returns the file's identity.
func writeAt(dfd int, name string, data []byte, mode uint32) (nsID, error) {
	tmp := "." + name + ".tmp"
	unix.Unlinkat(dfd, tmp, 0) // a leftover of a writer that died; the caller holds the lock
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return nsID{}, fmt.Errorf("create %s: %w", tmp, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	var st unix.Stat_t
	_, err = f.Write(data)
	if err == nil {
		err = unix.Fchmod(fd, mode) // whatever the umask
	}
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return nsID{}, fmt.Errorf("write %s: %w", name, err)
	}
	return nsID{st.Dev, st.Ino}, nil
}

// WriteEtc writes files (by name: "hosts", "hostname") into EtcDir/<name>,
// where `ip netns exec <name>` finds them and bind-mounts them over /etc, for
// the kept namespace name. It records what it made, so that removing the
// namespace removes exactly those files, and the directories if it made
// them. Files already there under those names are replaced.
func WriteEtc(name string, files map[string][]byte) error {
	release, err := lock()
	if err != nil {
		return err
	}
	defer release()
	rec, ok := check(name)
	if !ok {
		return fmt.Errorf("no kept namespace %q", clip(name))
	}
	if err := removeEtc(rec.etc); err != nil {
		return err
	}
	rec.etc = etcRecord{}
	e, err := writeEtc(name, files)
	if err == nil {
		rec.etc = e
		err = writeRecord(name, rec)
	}
	if err != nil {
		removeEtc(e)
		return err
	}
	return nil
}

func writeEtc(name string, files map[string][]byte) (etcRecord, error) {
	if strings.ContainsAny(EtcDir, "\n\x00") || !filepath.IsAbs(EtcDir) {
		return etcRecord{}, fmt.Errorf("NSTEST_ETC_NETNS %q: want an absolute path", clip(EtcDir))
	}
	e := etcRecord{dir: filepath.Join(EtcDir, name)}
	switch err := os.Mkdir(EtcDir, 0o755); {
	case err == nil:
		e.madeRoot = true
	case !errors.Is(err, fs.ErrExist):
		return e, err
	}
	switch err := os.Mkdir(e.dir, 0o755); {
	case err == nil:
		e.madeDir = true
	case !errors.Is(err, fs.ErrExist):
		return e, err
	}
	dfd, err := unix.Open(e.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return e, fmt.Errorf("open %s: %w (want a directory, not a link)", e.dir, err)
	}
	defer unix.Close(dfd)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, "/\n\x00 ") {
			return e, fmt.Errorf("file name %q: not one name", clip(n))
		}
		id, err := writeAt(dfd, n, files[n], 0o644)
		if err != nil {
			return e, fmt.Errorf("%s: %w", e.dir, err)
		}
		e.files = append(e.files, etcFile{n, id})
	}
	return e, nil
}

// removeEtc removes the files of e that are still the ones written, and the
// directories it made when they are empty.
func removeEtc(e etcRecord) error {
	if e.dir == "" {
		return nil
	}
	dfd, err := unix.Open(e.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", e.dir, err)
	}
	var errs []error
	for _, f := range e.files {
		var st unix.Stat_t
		if unix.Fstatat(dfd, f.name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || (nsID{st.Dev, st.Ino}) != f.id {
			continue // gone, or replaced by someone else's
		}
		if err := unix.Unlinkat(dfd, f.name, 0); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", filepath.Join(e.dir, f.name), err))
		}
	}
	unix.Close(dfd)
	if e.madeDir {
		os.Remove(e.dir) // only when empty: files someone else put there stay
	}
	return errors.Join(errs...)
}

// removeRoots removes the EtcDir that the records' WriteEtc made, if it is
// empty now that they are removed.
func removeRoots(recs []record) {
	for _, r := range recs {
		if r.etc.madeRoot {
			os.Remove(filepath.Dir(r.etc.dir))
		}
	}
}
