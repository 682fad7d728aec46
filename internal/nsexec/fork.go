package nsexec

import (
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The launcher starts the program in the host's PID namespace, so the
// program's parent (the launcher) is outside its namespace and getppid()
// returns 0 there. os/exec's Pdeathsig compares getppid() with the parent's
// pid after setting the death signal, to catch a parent that died first, and
// so kills every such child at once. forkExec below is a plain fork and exec
// that sets the death signal and checks the parent through a pidfd instead.
//
// The child runs only the nosplit function child, which makes raw system
// calls and touches nothing of the Go runtime: the fork copies the address
// space (no CLONE_VM), signals are blocked across it, and a nosplit function
// never grows its stack. This is what syscall.forkAndExecInChild does after
// clone, without the runtime hooks that package can call.

// forkSpec holds everything the child needs, prepared before the fork so the
// child allocates nothing.
type forkSpec struct {
	path       *byte
	argv, envv []*byte
	dfl        []int32 // signals to reset to their default action
	parent     int32   // pidfd of the launcher: the child checks it is alive
	errw       int32   // write end of a close-on-exec pipe: errno if exec fails
	oldMask    [2]uint64
	zeroAct    [8]uint64 // a struct sigaction that reads SIG_DFL on every architecture
	pidfd      int32     // set by clone: pidfd of the child
	sigsetSize uintptr
	errno      int32
}

// forkExec starts the program described by s as a child of the calling
// thread, which must be locked and must outlive the child: the child gets
// SIGKILL when it exits. It returns the child's pid and a pidfd for it. If
// exec fails, the error is returned and the child is reaped.
func forkExec(s *forkSpec) (pid int, pidfd int, err error) {
	s.sigsetSize = sigsetSize()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return 0, -1, err
	}
	defer unix.Close(p[0])
	s.errw = int32(p[1])
	s.pidfd = -1

	all := [2]uint64{^uint64(0), ^uint64(0)}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&s.oldMask)), s.sigsetSize, 0, 0)
	r, errno := rawFork(s)
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&s.oldMask)), 0, s.sigsetSize, 0, 0)
	runtime.KeepAlive(s)
	unix.Close(p[1])
	if errno != 0 {
		return 0, -1, errno
	}
	pid, pidfd = int(r), int(s.pidfd)
	// The pipe closes on exec; otherwise the child wrote why exec failed.
	var b [4]byte
	n, _ := readFull(p[0], b[:])
	if n == 4 {
		var info unix.Siginfo
		for unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED, nil) == unix.EINTR {
		}
		unix.Close(pidfd)
		return 0, -1, syscall.Errno(*(*int32)(unsafe.Pointer(&b[0])))
	}
	return pid, pidfd, nil
}

// sigsetSize is the size of the kernel's sigset_t, which rt_sigaction and
// rt_sigprocmask take.
func sigsetSize() uintptr {
	switch runtime.GOARCH {
	case "mips", "mipsle", "mips64", "mips64le":
		return 16
	}
	return 8
}

func readFull(fd int, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Read(fd, b[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || m == 0 {
			return n, err
		}
		n += m
	}
	return n, nil
}

// rawFork forks; in the child it runs child and never returns.
//
//go:norace
//go:nosplit
//go:nocheckptr
func rawFork(s *forkSpec) (uintptr, syscall.Errno) {
	flags := uintptr(unix.SIGCHLD) | unix.CLONE_PIDFD
	var r uintptr
	var e syscall.Errno
	if runtime.GOARCH == "s390x" {
		r, _, e = syscall.RawSyscall6(unix.SYS_CLONE, 0, flags, uintptr(unsafe.Pointer(&s.pidfd)), 0, 0, 0)
	} else {
		r, _, e = syscall.RawSyscall6(unix.SYS_CLONE, flags, 0, uintptr(unsafe.Pointer(&s.pidfd)), 0, 0, 0)
	}
	if e != 0 || r != 0 {
		return r, e // the parent
	}
	child(s)
	return 0, 0 // not reached
}

// child runs in the forked child: die with the launcher, restore signal
// dispositions and mask, exec.
//
//go:norace
//go:nosplit
//go:nocheckptr
func child(s *forkSpec) {
	var e syscall.Errno
	if _, _, e = syscall.RawSyscall6(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0, 0); e != 0 {
		goto fail
	}
	{
		// The launcher may have died before the death signal was set:
		// its pidfd is readable then.
		var zero [2]int64
		pfd := unix.PollFd{Fd: s.parent, Events: unix.POLLIN}
		if n, _, _ := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&zero)), 0, 0, 0); n != 0 {
			syscall.RawSyscall(unix.SYS_EXIT_GROUP, 137, 0, 0)
		}
	}
	for i := 0; i < len(s.dfl); i++ {
		syscall.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(s.dfl[i]), uintptr(unsafe.Pointer(&s.zeroAct)), 0, s.sigsetSize, 0, 0)
	}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&s.oldMask)), 0, s.sigsetSize, 0, 0)
	_, _, e = syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(s.path)), uintptr(unsafe.Pointer(&s.argv[0])), uintptr(unsafe.Pointer(&s.envv[0])))
fail:
	s.errno = int32(e)
	syscall.RawSyscall(unix.SYS_WRITE, uintptr(s.errw), uintptr(unsafe.Pointer(&s.errno)), 4)
	syscall.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
}
