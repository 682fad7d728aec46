package nsexec

import (
	"bufio"
	"errors"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The launcher of a host's command receives two descriptors before the
// user's ExtraFiles: the host init's pidfd and a memfd holding /etc/hosts.
const (
	fdInit  = 3
	fdHosts = 4
	ourFds  = 2
)

// resolvConf replaces /etc/resolv.conf for programs: no name server, so
// glibc and musl fall back to 127.0.0.1, the host's own loopback, which
// answers nothing. A name that is not in /etc/hosts fails at once instead of
// being looked up outside the topology.
const resolvConf = "# nstest: this topology has no name server; its node names are in /etc/hosts.\n"

// launchHost runs in the launcher of a host's command and never returns: it
// joins the init's namespaces, puts the topology's names in place, runs the
// program as its child and exits as the program does.
func launchHost(path string) {
	ignored := ignoredSignals()
	// Signals are caught from now on, and passed to the program once it
	// runs. Each one costs a round trip to the Go runtime's signal thread:
	// that happens while this thread sets the host up.
	sigs := make(chan os.Signal, 16)
	notified := make(chan struct{})
	go func() {
		if fwd := forwarded(ignored); len(fwd) > 0 {
			signal.Notify(sigs, fwd...)
		}
		close(notified)
	}()
	if unix.PidfdSendSignal(fdInit, 0, nil, 0) == unix.EBADF {
		die(127, "%s: the command's first ExtraFiles belong to nstest: append to cmd.ExtraFiles instead of replacing it", path)
	}
	// The memfd starts with the number of the user's ExtraFiles, written
	// as the command started.
	spec := readAll(fdHosts)
	n, hosts, _ := strings.Cut(string(spec), "\n")
	nUser, err := strconv.Atoi(n)
	if err != nil {
		die(127, "%s: malformed launcher descriptor", path)
	}
	ours := shiftFiles(fdInit, ourFds, nUser)
	initFd := ours[0]
	unix.Close(ours[1])
	cwd, _ := os.Getwd()

	if err := enter(initFd); err != nil {
		if errors.Is(err, unix.ESRCH) {
			die(127, "%s: the host's init is gone: the host is torn down", path)
		}
		die(127, "%s: enter the host: %v", path, err)
	}
	unix.Close(initFd)
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		die(127, "%s: unshare(CLONE_NEWNS): %v", path, err)
	}
	if err := mountEtc([]byte(hosts)); err != nil {
		die(127, "%s: /etc/hosts: %v", path, err)
	}
	if cwd == "" || unix.Chdir(cwd) != nil {
		unix.Chdir("/")
	}

	<-notified
	s := &forkSpec{dfl: resetSignals(ignored)}
	if s.path, err = syscall.BytePtrFromString(path); err != nil {
		die(127, "%s: %v", path, err)
	}
	if s.argv, err = syscall.SlicePtrFromStrings(os.Args[1:]); err != nil {
		die(127, "%s: %v", path, err)
	}
	if s.envv, err = syscall.SlicePtrFromStrings(os.Environ()); err != nil {
		die(127, "%s: %v", path, err)
	}
	self, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		die(127, "%s: pidfd_open: %v", path, err)
	}
	s.parent = int32(self)
	pid, pidfd, err := forkExec(s)
	if err != nil {
		die(127, "exec %s: %v", path, err)
	}
	go func() {
		for sig := range sigs {
			unix.PidfdSendSignal(pidfd, sig.(syscall.Signal), nil, 0)
		}
	}()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	mirror(ws)
}

// enter joins the network, PID (for children), mount and UTS namespaces of
// the init whose pidfd is fd. The caller's thread must be locked; it stops
// sharing its filesystem attributes with the other threads, as joining a
// mount namespace requires.
func enter(fd int) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return err
	}
	const all = unix.CLONE_NEWNET | unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS
	err := unix.Setns(fd, all)
	if err != unix.EINVAL {
		return err
	}
	// Before Linux 5.8 setns takes only namespace files: open those of the
	// init's pid, then check through the pidfd that the pid still names
	// the init (it cannot be reused while the init is unreaped).
	pid := pidOf(fd)
	if pid <= 0 {
		return unix.ESRCH
	}
	var files [4]int
	for i, n := range []string{"net", "pid", "uts", "mnt"} {
		f, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/"+n, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		files[i] = f
	}
	if err := unix.PidfdSendSignal(fd, 0, nil, 0); err != nil {
		return err
	}
	for i, t := range []int{unix.CLONE_NEWNET, unix.CLONE_NEWPID, unix.CLONE_NEWUTS, unix.CLONE_NEWNS} {
		if err := unix.Setns(files[i], t); err != nil {
			return err
		}
		unix.Close(files[i])
	}
	return nil
}

// pidOf returns the pid of the process whose pidfd is fd, or -1.
func pidOf(fd int) int {
	f, err := os.Open("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pid:"); ok {
			pid, _ := strconv.Atoi(strings.TrimSpace(v))
			return pid
		}
	}
	return -1
}

// mountEtc puts /etc/hosts, /etc/resolv.conf and /etc/hostname of the host
// in place in the calling thread's mount namespace, which must be private
// to this launcher. The files live in a small tmpfs mounted on /proc just
// long enough to write them and bind them, so that no directory of the
// machine is needed, and nothing of the machine's /etc is written. Then the
// host's /proc goes back on top: a clone of it is attached over the tmpfs,
// because unmounting the tmpfs would wait for an RCU grace period (about
// 1.7 ms here, more than the rest of the launcher's work).
func mountEtc(hosts []byte) error {
	var u unix.Utsname
	unix.Uname(&u)
	hostname := unix.ByteSliceToString(u.Nodename[:])
	const scratch = "/proc"
	proc, err := unix.OpenTree(unix.AT_FDCWD, scratch, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		proc = -1 // before Linux 5.2: unmount the tmpfs instead
	}
	if err := unix.Mount("nstest-etc", scratch, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return err
	}
	defer func() {
		if proc < 0 || unix.MoveMount(proc, "", unix.AT_FDCWD, scratch, unix.MOVE_MOUNT_F_EMPTY_PATH) != nil {
			unix.Unmount(scratch, unix.MNT_DETACH)
		}
		if proc >= 0 {
			unix.Close(proc)
		}
	}()
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"hosts", hosts},
		{"resolv.conf", []byte(resolvConf)},
		{"hostname", []byte(hostname + "\n")},
	} {
		src := scratch + "/" + f.name
		if err := os.WriteFile(src, f.data, 0o644); err != nil {
			return err
		}
		// A missing file (or a dangling resolv.conf link) stays missing:
		// nothing is created in the machine's /etc.
		if err := unix.Mount(src, "/etc/"+f.name, "", unix.MS_BIND, ""); err != nil && err != unix.ENOENT {
			return err
		}
	}
	return nil
}

func readAll(fd int) []byte {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return nil
	}
	b := make([]byte, st.Size)
	n, _ := unix.Pread(fd, b, 0)
	return b[:max(n, 0)]
}

// ignoredSignals returns the signals this process ignores, which the program
// inherits ignored (as nohup arranges for SIGHUP).
func ignoredSignals() map[syscall.Signal]bool {
	ign := map[syscall.Signal]bool{}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ign
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			mask, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			for s := 1; s <= 64; s++ {
				if mask&(1<<(s-1)) != 0 {
					ign[syscall.Signal(s)] = true
				}
			}
		}
	}
	return ign
}

// forwarded lists the signals the launcher passes on to the program, but
// those ignored.
func forwarded(ignored map[syscall.Signal]bool) []os.Signal {
	var out []os.Signal
	// Each costs a round trip to the Go runtime's signal thread at start:
	// the list is what programs are sent in practice.
	for _, s := range []syscall.Signal{
		unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
		unix.SIGALRM, unix.SIGWINCH,
	} {
		if !ignored[s] {
			out = append(out, s)
		}
	}
	return out
}

// resetSignals lists the signals whose handlers the child resets to the
// default before exec: all but the ignored ones, which stay ignored.
func resetSignals(ignored map[syscall.Signal]bool) []int32 {
	var out []int32
	for s := syscall.Signal(1); s <= 64; s++ {
		if s != unix.SIGKILL && s != unix.SIGSTOP && !ignored[s] {
			out = append(out, int32(s))
		}
	}
	return out
}

// mirror ends the launcher as the program ended: with its exit code, or
// killed by the same signal, so that exec.Cmd.Wait and ProcessState report
// what the program did.
func mirror(ws syscall.WaitStatus) {
	if !ws.Signaled() {
		syscall.Exit(ws.ExitStatus())
	}
	sig := ws.Signal()
	// No core file of the launcher; the program made its own.
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	signal.Reset()
	var dfl [8]uint64
	syscall.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, sigsetSize(), 0, 0)
	set := [2]uint64{1 << (uint(sig) - 1)}
	syscall.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&set)), 0, sigsetSize(), 0, 0)
	unix.Kill(os.Getpid(), sig)
	syscall.Exit(128 + int(sig))
}
