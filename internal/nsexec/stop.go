package nsexec

import (
	"os"
	"os/signal"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Stop ends the hosts of the inits and everything that runs in them, and
// returns when all of it is dead. New commands and Enter fail from the start.
//
// Killing an init makes the kernel disable the creation of processes in its
// PID namespace and SIGKILL every process in it; the init's exit completes
// only once each of them has been reaped by its parent. The processes that
// this process started inside a host (os/exec in a thread that entered it)
// are this process's children: Stop reaps them, so their exit statuses are
// lost to whoever waits for them. A launcher (cmd.Process) reaps its own
// program and exits as it did, killed; Stop waits for the launchers that
// entered the hosts, which hold their network namespaces while they live,
// and leaves them to their Wait.
func Stop(inits []*Init) {
	if len(inits) == 0 {
		return
	}
	// Every child of this process that dies, in a host or not, wakes the
	// loop below, which looks again: a process forked into a host just
	// before its creation was disabled is killed like the others, and its
	// death is the signal to reap it.
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	defer signal.Stop(chld)
	dead := map[uint64]bool{}
	pending := map[*Init]bool{}
	for _, i := range inits {
		i.mu.Lock()
		i.stopped = true
		i.mu.Unlock()
		unix.PidfdSendSignal(i.pidfd, unix.SIGKILL, nil, 0)
		dead[i.nsIno] = true
		pending[i] = true
	}
	for {
		reapChildrenIn(dead, pending)
		for i := range pending {
			if waitPidfd(i.pidfd, unix.WNOHANG) {
				delete(pending, i)
			}
		}
		if len(pending) == 0 {
			break
		}
		<-chld
	}
	// No process can enter the hosts any more: wait for the launchers
	// that did.
	waitLaunchers(dead)
	for _, i := range inits {
		i.release()
	}
}

// reapChildrenIn kills and reaps the children of this process whose PID
// namespace is one of dead, but the inits; and wakes the launchers whose
// children are born there: a stopped launcher would not reap its killed
// program, and the init's exit waits for that.
func reapChildrenIn(dead map[uint64]bool, inits map[*Init]bool) {
	skip := map[int]bool{}
	for i := range inits {
		skip[i.pid] = true
	}
	for _, pid := range children() {
		if skip[pid] {
			continue
		}
		in, launcher := dead[nsIno(pid, "pid")], dead[nsIno(pid, "pid_for_children")]
		if !in && !launcher {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		// The pidfd pins the process; the pid may have been reused by
		// then, by a process that is then in no dead namespace.
		switch {
		case dead[nsIno(pid, "pid")]:
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			waitPidfd(fd, 0)
		case dead[nsIno(pid, "pid_for_children")]:
			unix.PidfdSendSignal(fd, unix.SIGCONT, nil, 0)
		}
		unix.Close(fd)
	}
}

// waitLaunchers waits until the children of this process whose children
// would be born in one of the dead PID namespaces have exited.
func waitLaunchers(dead map[uint64]bool) {
	var fds []unix.PollFd
	for _, pid := range children() {
		if !dead[nsIno(pid, "pid_for_children")] {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		if dead[nsIno(pid, "pid_for_children")] {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		} else {
			unix.Close(fd)
		}
	}
	for len(fds) > 0 {
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			break
		}
		live := fds[:0]
		for _, f := range fds {
			if f.Revents != 0 {
				unix.Close(int(f.Fd))
				continue
			}
			live = append(live, f)
		}
		fds = live
	}
	for _, f := range fds {
		unix.Close(int(f.Fd))
	}
}

// nsIno returns the inode of namespace kind of process pid, or 0.
func nsIno(pid int, kind string) uint64 {
	var st unix.Stat_t
	if unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/"+kind, &st) != nil {
		return 0
	}
	return st.Ino
}

// children lists the children of this process, from the children files of
// its threads, or where the kernel has none (CONFIG_PROC_CHILDREN unset),
// from the parent field of every process.
func children() []int {
	self := strconv.Itoa(os.Getpid())
	if out, ok := threadChildren(); ok {
		return out
	}
	var out []int
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		b, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == self {
				if pid, err := strconv.Atoi(p.Name()); err == nil {
					out = append(out, pid)
				}
			}
		}
	}
	return out
}

// threadChildren reads the children files of this process's threads, and
// reports whether the kernel has them.
func threadChildren() ([]int, bool) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, false
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if os.IsNotExist(err) && t.Name() == strconv.Itoa(os.Getpid()) {
			return nil, false // CONFIG_PROC_CHILDREN is unset
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out, true
}
