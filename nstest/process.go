package nstest

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/nsexec"
)

// killProcesses kills every process living in one of the hosts' namespaces
// (those started with Command, and anything they started), and reaps the
// ones that are this process's children. It looks only at hosts on which
// Command was used.
func killProcesses(hosts []*Host) {
	type key struct{ dev, ino uint64 }
	want := map[key]bool{}
	wantFd := map[int]bool{}
	for _, h := range hosts {
		if !h.started.Load() {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(h.ns.Fd(), &st) == nil {
			want[key{st.Dev, st.Ino}] = true
			wantFd[h.ns.Fd()] = true
		}
	}
	if len(want) == 0 {
		return
	}
	d, err := os.Open("/proc")
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	self := os.Getpid()
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self {
			continue
		}
		ours := func() bool {
			var st unix.Stat_t
			if unix.Stat("/proc/"+name+"/ns/net", &st) == nil && want[key{st.Dev, st.Ino}] {
				return true
			}
			// A command still on its way into the namespace.
			fd, ok := nsexec.Launching(pid)
			return ok && wantFd[fd]
		}
		if !ours() {
			continue
		}
		// A pidfd pins the process: once it is open, the pid cannot be
		// reused under us. Check again that it is the process we looked at.
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		if ours() {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			// Reap it if it is our child; for others this fails at once
			// with ECHILD and init reaps them.
			var info unix.Siginfo
			for unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED, nil) == unix.EINTR {
			}
		}
		unix.Close(fd)
	}
}
