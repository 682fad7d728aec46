// Package nsexec starts programs inside a network namespace held by a file
// descriptor, through a re-execution of the current binary.
//
// exec.Cmd has no hook that runs between fork and exec, and Go cannot switch
// the namespace of the thread that forks without risking the runtime. So a
// command made here runs the current binary first (/proc/self/exe), with a
// marker in argv[0]. This package's init function sees the marker before
// anything else runs, asks the kernel to kill the process when its parent
// goes away, enters the namespace through /proc/<parent>/fd/<fd>, and
// executes the real program with the caller's arguments and environment.
// Any binary that links this package (every test binary that imports nstest)
// can therefore serve as the launcher.
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

// marker starts argv[0] of the launcher: "nstest-nsenter <ppid> <fd> <path>".
const marker = "nstest-nsenter"

func init() {
	if len(os.Args) > 0 && strings.HasPrefix(os.Args[0], marker+" ") {
		enter(os.Args[0])
	}
}

// enter runs in the launcher child and never returns.
func enter(spec string) {
	runtime.LockOSThread()
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "nstest: start in namespace: "+format+"\n", a...)
		os.Exit(127)
	}
	f := strings.SplitN(spec, " ", 4)
	if len(f) != 4 {
		fail("malformed launcher argument %q", spec)
	}
	ppid, err1 := strconv.Atoi(f[1])
	fd, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		fail("malformed launcher argument %q", spec)
	}
	// Die with the test process, even when it is SIGKILLed.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		fail("prctl(PR_SET_PDEATHSIG): %v", err)
	}
	if os.Getppid() != ppid {
		os.Exit(137) // the parent is already gone
	}
	nsfd, err := unix.Open("/proc/"+f[1]+"/fd/"+f[2], unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		fail("open namespace %d of process %d: %v", fd, ppid, err)
	}
	if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
		fail("setns: %v", err)
	}
	unix.Close(nsfd)
	remountSys()
	args := os.Args[1:]
	err = syscall.Exec(f[3], args, os.Environ())
	fail("exec %s: %v", f[3], err)
}

// remountSys gives the program a /sys of its namespace, as `ip netns exec`
// does: sysfs shows the network devices of the namespace that mounted it, so
// the inherited /sys would show the test process's interfaces. It works in a
// private mount namespace; if any step is refused, the program runs with the
// inherited /sys.
func remountSys() {
	if unix.Unshare(unix.CLONE_NEWNS) != nil {
		return
	}
	if unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, "") != nil {
		return
	}
	// Inside a user namespace the inherited /sys is locked and cannot be
	// unmounted; a new sysfs mounted on top of it serves as well.
	unix.Unmount("/sys", unix.MNT_DETACH)
	unix.Mount("sysfs", "/sys", "sysfs", 0, "")
}

var self = func() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "/proc/self/exe"
}()

// Command returns a command that runs name with args inside the network
// namespace open as descriptor nsFd in this process. The descriptor must
// stay open until the command has started. The returned command behaves like exec.Command's:
// Args[1:] are name and its arguments (append to it freely), and Env, Dir,
// Stdin, Stdout, Stderr and SysProcAttr work as usual. The child receives
// SIGKILL when the thread that started it exits; start it from an ordinary
// goroutine, not from a goroutine locked to a thread that is about to exit.
func Command(nsFd int, name string, arg ...string) *exec.Cmd {
	return launcher(exec.Command(self), nsFd, name, arg)
}

// CommandContext is Command with a context, like exec.CommandContext: the
// process is killed when ctx is done.
func CommandContext(ctx context.Context, nsFd int, name string, arg ...string) *exec.Cmd {
	return launcher(exec.CommandContext(ctx, self), nsFd, name, arg)
}

// launcher turns cmd, a command running this binary, into the launcher of
// name with arg in the namespace nsFd.
func launcher(cmd *exec.Cmd, nsFd int, name string, arg []string) *exec.Cmd {
	path := name
	if !strings.Contains(name, "/") {
		p, err := exec.LookPath(name)
		if err != nil {
			cmd.Err = err
		}
		path = p
	}
	cmd.Args = append([]string{fmt.Sprintf("%s %d %d %s", marker, os.Getpid(), nsFd, path), name}, arg...)
	return cmd
}

// Launching reports whether process pid is a launcher of this process that
// has not yet executed its program, and for which namespace descriptor.
// Teardown uses it to catch commands caught between start and setns.
func Launching(pid int) (fd int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return 0, false
	}
	arg0, _, _ := strings.Cut(string(b), "\x00")
	f := strings.SplitN(arg0, " ", 4)
	if len(f) != 4 || f[0] != marker || f[1] != strconv.Itoa(os.Getpid()) {
		return 0, false
	}
	fd, err = strconv.Atoi(f[2])
	return fd, err == nil
}
