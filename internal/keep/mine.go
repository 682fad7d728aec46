package keep

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// mine records what this process made under NetnsDir and OwnerDir, by
// inode, so that a check for leftovers, and the undoing of what keeping did
// to the machine, look only at this process's own objects: other processes
// (`ip netns add`, another test binary keeping its namespaces) use the same
// directories at the same time.
var mine struct {
	sync.Mutex
	names      map[string]made
	madeDir    bool // this process created NetnsDir
	madeMount  bool // this process made NetnsDir a mount point
	madeOwners bool // this process created OwnerDir's parent
}

// made identifies one kept namespace this process mounted: the empty file it
// created as the mount point, and the namespace it mounted there.
type made struct {
	file, ns unix.Stat_t
}

func same(a, b *unix.Stat_t) bool { return a.Dev == b.Dev && a.Ino == b.Ino }

// remember records that this process mounted name.
func remember(name string, file, ns unix.Stat_t) {
	mine.Lock()
	defer mine.Unlock()
	if mine.names == nil {
		mine.names = map[string]made{}
	}
	mine.names[name] = made{file, ns}
}

// forget records that this process removed name: whatever has that name
// from now on is someone else's. (Inode numbers of files and namespaces are
// reused, so they alone cannot tell a new namespace from the removed one.)
func forget(name string) {
	mine.Lock()
	delete(mine.names, name)
	mine.Unlock()
}

// Leftovers lists what this process kept and did not remove that is still
// there: a mount point under NetnsDir that still holds the namespace it
// mounted, or still is the file it created, and an ownership record of that
// namespace. Names that others made, even with the same name after this
// process removed its own, are not listed.
func Leftovers() []string {
	mine.Lock()
	defer mine.Unlock()
	var out []string
	for name, m := range mine.names {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(NetnsDir, name), &st) == nil && (same(&st, &m.ns) || same(&st, &m.file)) {
			out = append(out, "netns "+name)
		}
		b, err := os.ReadFile(filepath.Join(OwnerDir, name))
		first, _, _ := strings.Cut(string(b), "\n")
		if err == nil && first == fmt.Sprintf("%d %d", m.ns.Dev, m.ns.Ino) {
			out = append(out, "record "+name)
		}
	}
	sort.Strings(out)
	return out
}

// RestoreDirs undoes what keeping namespaces did to the machine beyond the
// namespaces themselves, as far as this process did it and nobody else uses
// it: it unmounts NetnsDir if this process made it a mount point (without
// MNT_DETACH, so that the kernel refuses while another namespace is mounted
// in it), and removes the directories this process created if they are
// empty.
func RestoreDirs() {
	mine.Lock()
	defer mine.Unlock()
	if mine.madeMount && unix.Unmount(NetnsDir, 0) == nil {
		mine.madeMount = false
	}
	if mine.madeOwners {
		os.Remove(OwnerDir)
		if os.Remove(filepath.Dir(OwnerDir)) == nil {
			mine.madeOwners = false
		}
	}
	if mine.madeDir && !mine.madeMount && os.Remove(NetnsDir) == nil {
		mine.madeDir = false
	}
}

// noteDirs records which of the directories keeping needs are missing, before
// Mount makes them.
func noteDirs() {
	mine.Lock()
	defer mine.Unlock()
	if _, err := os.Stat(NetnsDir); os.IsNotExist(err) {
		mine.madeDir = true
	}
	if _, err := os.Stat(filepath.Dir(OwnerDir)); os.IsNotExist(err) {
		mine.madeOwners = true
	}
}

// noteMountPoint records that this process made NetnsDir a mount point.
func noteMountPoint() {
	mine.Lock()
	mine.madeMount = true
	mine.Unlock()
}
