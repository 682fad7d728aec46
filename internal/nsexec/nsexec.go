// Package nsexec runs programs inside the namespaces of a host, through
// re-executions of the current binary.
//
// Each host that runs programs gets an init: the current binary started with
// a marker in argv[0], in new PID, mount and UTS namespaces, which enters the
// host's network namespace, names itself after the host, mounts a /proc of
// its PID namespace and a /sys of its network namespace, and then only reaps
// orphans. Every program of the host runs in its PID namespace, so whatever
// a program starts, however it detaches (double forks, setsid, daemons), is
// re-parented to that init; and when an init dies the kernel kills every
// process of its PID namespace. The init dies when the test process does
// (it watches a pidfd of it) and when the host is torn down (Stop).
//
// exec.Cmd has no hook that runs between fork and exec, and Go cannot
// switch the namespaces of the thread that forks without risking the
// runtime. So a command made here runs the current binary first, as a
// launcher: its init function sees the marker before anything else runs,
// enters the init's namespaces through a pidfd received as a descriptor
// (cmd.ExtraFiles), puts the topology's /etc/hosts in place in a mount
// namespace of its own, forks the real program into the host, forwards
// signals to it and exits as it does. Any binary that links this package
// (every test binary that imports nstest) can therefore serve as the init
// and the launcher.
package nsexec

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Markers start argv[0] of the re-executed binary.
const (
	launchMarker = "nstest-nsenter" // "nstest-nsenter MODE PATH": a launcher
	initMarker   = "nstest-init"    // a host's init; argv[1] is the host name
)

func init() {
	if len(os.Args) == 0 {
		return
	}
	switch {
	case os.Args[0] == initMarker:
		runtime.LockOSThread()
		runInit()
	case strings.HasPrefix(os.Args[0], launchMarker+" "):
		runtime.LockOSThread()
		f := strings.SplitN(os.Args[0], " ", 3)
		if len(f) != 3 {
			die(127, "malformed launcher argument %q", os.Args[0])
		}
		switch mode, ppid, _ := strings.Cut(f[1], ":"); mode {
		case "host":
			launchHost(f[2])
		case "net":
			launchNet(ppid, f[2])
		}
		die(127, "malformed launcher argument %q", os.Args[0])
	}
}

// die reports a launcher's failure and exits. syscall.Exit, not os.Exit:
// under the race detector os.Exit waits a second before exiting.
func die(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, "nstest: "+format+"\n", a...)
	syscall.Exit(code)
}

var self = func() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "/proc/self/exe"
}()

// Command returns a command that runs name with args inside the network
// namespace open as descriptor nsFd in this process; it is meant for
// namespaces that have no init, such as a kept topology's. The descriptor
// is duplicated at once and handed to the launcher as a descriptor, so the
// command runs in that namespace however long it waits to start. The
// returned command behaves like exec.Command's: Args[1:] are name and its
// arguments (append to it freely), and Env, Dir, Stdin, Stdout, Stderr and
// SysProcAttr work as usual; append to ExtraFiles, whose first entry is the
// namespace. The program gets SIGKILL when the thread that started it
// exits; start it from an ordinary goroutine.
func Command(nsFd int, name string, arg ...string) *exec.Cmd {
	return netLauncher(exec.Command(self), nsFd, name, arg)
}

// CommandContext is Command with a context, like exec.CommandContext: the
// process is killed when ctx is done.
func CommandContext(ctx context.Context, nsFd int, name string, arg ...string) *exec.Cmd {
	return netLauncher(exec.CommandContext(ctx, self), nsFd, name, arg)
}

func netLauncher(cmd *exec.Cmd, nsFd int, name string, arg []string) *exec.Cmd {
	path := lookPath(cmd, name)
	cmd.Args = append([]string{fmt.Sprintf("%s net:%d %s", launchMarker, os.Getpid(), path), name}, arg...)
	fd, err := unix.FcntlInt(uintptr(nsFd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		cmd.Err = fmt.Errorf("network namespace descriptor %d: %w", nsFd, err)
		return cmd
	}
	cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(fd), "netns")}
	return cmd
}

// lookPath resolves name as exec.Command does, recording a failure in cmd.
func lookPath(cmd *exec.Cmd, name string) string {
	if strings.Contains(name, "/") && !strings.HasPrefix(name, "/") {
		return name // relative to cmd.Dir, which is not known yet
	}
	p, err := exec.LookPath(name)
	if err != nil {
		cmd.Err = err
	}
	return p
}

// launchNet runs in the launcher of Command: it enters the network
// namespace of descriptor 3 and executes the program. It never returns.
func launchNet(ppid, path string) {
	// Die with the test process, even when it is SIGKILLed.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		die(127, "start in namespace: prctl(PR_SET_PDEATHSIG): %v", err)
	}
	if strconv.Itoa(os.Getppid()) != ppid {
		syscall.Exit(137) // the parent is already gone
	}
	if _, err := unix.FcntlInt(3, unix.F_GETFD, 0); err != nil {
		die(127, "start in namespace: no namespace descriptor: append to the command's ExtraFiles instead of replacing them")
	}
	ns := shiftFiles(3, 1, -1)[0]
	if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
		die(127, "start in namespace: setns: %v", err)
	}
	unix.Close(ns)
	if unix.Unshare(unix.CLONE_NEWNS) == nil && unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, "") == nil {
		remountSys()
	}
	err := syscall.Exec(path, os.Args[1:], os.Environ())
	die(127, "exec %s: %v", path, err)
}

// remountSys gives the calling thread's mount namespace a /sys of its
// network namespace, as `ip netns exec` does: sysfs shows the network
// devices of the namespace that mounted it, so the inherited /sys would show
// the test process's interfaces. Inside a user namespace the inherited /sys
// is locked and cannot be unmounted; a new sysfs mounted on top of it serves
// as well. If any step is refused, the inherited /sys stays.
func remountSys() {
	unix.Unmount("/sys", unix.MNT_DETACH)
	unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// shiftFiles moves the descriptors the user appended to ExtraFiles, which
// the launcher receives after its own n descriptors starting at first, down
// to first, where the program expects them; nUser is their number, or -1 if
// unknown (then every inherited descriptor after ours counts). Ours become
// close-on-exec, above them. It returns the new numbers of ours.
func shiftFiles(first, n, nUser int) []int {
	last := first + n + nUser - 1 // the user's last descriptor
	if nUser < 0 {
		// Inherited descriptors are the ones without close-on-exec:
		// everything Go opens has it.
		last = first + n - 1
		if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
			for _, e := range ents {
				fd, err := strconv.Atoi(e.Name())
				if err != nil || fd < first+n {
					continue
				}
				if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && fl&unix.FD_CLOEXEC == 0 {
					last = max(last, fd)
				}
			}
		}
	}
	ours := make([]int, n)
	for i := range n {
		fd, err := unix.FcntlInt(uintptr(first+i), unix.F_DUPFD_CLOEXEC, last+1)
		if err != nil {
			die(127, "start in namespace: move descriptor %d: %v", first+i, err)
		}
		ours[i] = fd
		unix.Close(first + i)
	}
	// Lowest first: a target is below its source and above every source
	// already moved. An empty ExtraFiles entry stays closed.
	for src := first + n; src <= last; src++ {
		if _, err := unix.FcntlInt(uintptr(src), unix.F_GETFD, 0); err == nil {
			unix.Dup3(src, src-n, 0)
		} else {
			unix.Close(src - n)
		}
	}
	for src := max(first+n, last-n+1); src <= last; src++ {
		unix.Close(src)
	}
	return ours
}
