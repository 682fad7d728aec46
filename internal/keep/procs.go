package keep

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

const procDir = "/proc"

const (
	// maxPasses bounds the scans: each pass kills what it finds, and a
	// killed process cannot fork again, so only processes forked during a
	// pass by ones not yet killed are found by the next.
	maxPasses = 50
	// exitTimeout bounds the wait for a process to die after SIGKILL; only a
	// process stuck in the kernel (uninterruptible sleep) takes long.
	exitTimeout = 10 * time.Second
)

// stopProcesses kills every process whose network namespace is one of ids,
// whatever started it (nstest exec, ip netns exec, a daemon that detached)
// and waits until each has exited; it returns how many it killed.
//
// Kept topologies have no owner process: they outlive nstest up, and their
// processes were started by anyone, at any time, so nothing holds them as
// children or in a PID namespace. A scan of /proc is the right tool here.
// It is made safe against pid reuse with pidfds: a pid found is opened as a
// pidfd, its namespace checked again through /proc, and the signal sent
// through the pidfd, which can only reach the process it was opened for.
// If that process is still alive when signalled, it was the one checked.
func stopProcesses(ids map[nsID]bool) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	self := os.Getpid()
	killed := 0
	for pass := 0; pass < maxPasses; pass++ {
		pids, err := scan(ids, self)
		if err != nil {
			return killed, err
		}
		if len(pids) == 0 {
			return killed, nil
		}
		var fds []int
		for _, pid := range pids {
			fd, ok, err := signal(pid, ids)
			if err != nil {
				closeAll(fds)
				return killed, err
			}
			if ok {
				fds = append(fds, fd)
			}
		}
		killed += len(fds)
		err = waitExit(fds)
		closeAll(fds)
		if err != nil {
			return killed, err
		}
	}
	return killed, fmt.Errorf("processes kept appearing in the namespaces after %d passes that killed %d; run nstest again", maxPasses, killed)
}

// scan returns the processes in one of the namespaces ids, but not self.
func scan(ids map[nsID]bool, self int) ([]int, error) {
	d, err := os.Open(procDir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid == self {
			continue
		}
		if inNS(pid, ids) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func inNS(pid int, ids map[nsID]bool) bool {
	var st unix.Stat_t
	if unix.Stat(procDir+"/"+strconv.Itoa(pid)+"/ns/net", &st) != nil {
		return false // gone, or a zombie: it holds no namespace
	}
	return ids[nsID{st.Dev, st.Ino}]
}

// signal sends SIGKILL to pid if it is still in one of the namespaces ids,
// and returns its pidfd to wait on. ok is false when the process is gone or
// is no longer one of them.
func signal(pid int, ids map[nsID]bool) (fd int, ok bool, err error) {
	fd, err = unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return -1, false, nil
	}
	if err != nil {
		return -1, false, fmt.Errorf("pidfd_open(%d): %w (stopping the processes of kept namespaces needs Linux 5.3 or later)", pid, err)
	}
	// The pidfd names one process for good. Checked again now, the pid is
	// that process's as long as it lives, and the signal goes through the
	// pidfd: a process that took a reused pid cannot be hit.
	if !inNS(pid, ids) {
		unix.Close(fd)
		return -1, false, nil
	}
	switch err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); {
	case errors.Is(err, unix.ESRCH):
		unix.Close(fd)
		return -1, false, nil
	case err != nil:
		unix.Close(fd)
		return -1, false, fmt.Errorf("kill process %d: %w", pid, err)
	}
	return fd, true, nil
}

// waitExit waits until every process of fds has exited: a pidfd becomes
// readable then.
func waitExit(fds []int) error {
	deadline := time.Now().Add(exitTimeout)
	for _, fd := range fds {
		for {
			ms := int(time.Until(deadline).Milliseconds())
			if ms < 0 {
				ms = 0
			}
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pfd, ms)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return fmt.Errorf("wait for a killed process: %w", err)
			}
			if n == 0 {
				return fmt.Errorf("a killed process did not exit within %v (stuck in the kernel?)", exitTimeout)
			}
			break
		}
	}
	return nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
