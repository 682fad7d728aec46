package nsexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrStopped is returned once an Init is stopped.
var ErrStopped = errors.New("the host's processes are stopped")

// Init is the first process of a host's PID namespace, a child of this
// process. Its methods are safe for concurrent use.
type Init struct {
	pid   int
	pidfd int
	netNS int    // the network and PID namespaces, for threads of this
	pidNS int    // process where setns takes no pidfd (Enter)
	nsIno uint64 // inode of the PID namespace

	mu      sync.RWMutex // held for reading while the descriptors are used
	stopped bool
}

// The init's descriptors.
const (
	initNetns  = 3 // the host's network namespace
	initParent = 4 // pidfd of this process: the init exits when it does
	initReady  = 5 // "ok\n" or why the init could not start, then EOF
)

var parent struct {
	once sync.Once
	f    *os.File
	err  error
}

// parentPidfd returns a pidfd of this process, which every init watches.
//
// It also makes this process a child subreaper. When a launcher is killed
// (cmd.Process.Kill), its program dies too, and its zombie goes to the
// nearest subreaper among the launcher's ancestors, by default the machine's
// PID 1. The init's exit at teardown waits until that zombie is reaped, and
// some PID 1s reap late or never (a container whose PID 1 is "go test" or
// "tail -f /dev/null"). As a subreaper, this process gets those zombies and
// Stop reaps them. Orphans of programs started outside hosts come here too,
// and stay zombies until this process exits.
func parentPidfd() (*os.File, error) {
	parent.once.Do(func() {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			parent.err = fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
			return
		}
		fd, err := unix.PidfdOpen(os.Getpid(), 0)
		if err != nil {
			parent.err = fmt.Errorf("pidfd_open: %w (Linux 5.3 or later is needed)", err)
			return
		}
		parent.f = os.NewFile(uintptr(fd), "nstest-parent")
	})
	return parent.f, parent.err
}

// StartInit starts the init of a host whose network namespace is netns, and
// returns once the init has set the host up: hostname, /proc, /sys.
func StartInit(netns *os.File, hostname string) (*Init, error) {
	pf, err := parentPidfd()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		w.Close()
		return nil, err
	}
	pidfd := -1
	p, err := os.StartProcess(self, []string{initMarker, hostname}, &os.ProcAttr{
		Dir:   "/",
		Env:   append(os.Environ(), "GOMAXPROCS=1"),
		Files: []*os.File{null, null, null, netns, pf, w},
		Sys: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
			PidFD:      &pidfd,
		},
	})
	w.Close()
	null.Close()
	if err != nil {
		return nil, fmt.Errorf("start the host's init in new PID, mount and UTS namespaces: %w", err)
	}
	i := &Init{pid: p.Pid, pidfd: pidfd, netNS: -1, pidNS: -1}
	p.Release() // i reaps it, through its pidfd
	msg, _ := io.ReadAll(r)
	if string(msg) != "ok\n" {
		i.kill()
		if len(msg) == 0 {
			msg = []byte("it exited")
		}
		return nil, fmt.Errorf("the host's init: %s", strings.TrimSpace(string(msg)))
	}
	// The pid cannot be reused while the init is our unreaped child.
	dir := "/proc/" + strconv.Itoa(i.pid) + "/ns/"
	for _, ns := range []struct {
		fd   *int
		name string
	}{{&i.netNS, "net"}, {&i.pidNS, "pid"}} {
		if *ns.fd, err = unix.Open(dir+ns.name, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			break
		}
	}
	var st unix.Stat_t
	if err == nil {
		err = unix.Fstat(i.pidNS, &st)
	}
	if err != nil {
		i.kill()
		return nil, fmt.Errorf("the host's init: %w", err)
	}
	i.nsIno = st.Ino
	return i, nil
}

// kill kills and reaps an init that never served, and releases it.
func (i *Init) kill() {
	unix.PidfdSendSignal(i.pidfd, unix.SIGKILL, nil, 0)
	waitPidfd(i.pidfd, 0)
	i.release()
}

func (i *Init) release() {
	for _, fd := range []int{i.pidfd, i.netNS, i.pidNS} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	i.pidfd, i.netNS, i.pidNS = -1, -1, -1
}

// waitPidfd waits for the child whose pidfd is fd to exit and reaps it, or
// with unix.WNOHANG only reaps it if it has exited. It reports whether the
// child is reaped, by this call or by another waiter before.
func waitPidfd(fd, flags int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|flags, nil)
		switch err {
		case unix.EINTR:
			continue
		case nil:
			return info.Signo == int32(unix.SIGCHLD)
		}
		return err == unix.ECHILD
	}
}

// Enter moves the calling thread into the host's network namespace and
// makes it start its children in the host's PID namespace, in one setns.
// The thread must be locked, and must leave both namespaces before it is
// unlocked (package ns does it). It leaves the thread's UTS namespace alone:
// each setns costs about 2.5 us here, a third of an InNS.
func (i *Init) Enter() error {
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.stopped {
		return ErrStopped
	}
	err := unix.Setns(i.pidfd, unix.CLONE_NEWNET|unix.CLONE_NEWPID)
	if err == unix.EINVAL { // before Linux 5.8: one namespace file at a time
		if err = unix.Setns(i.netNS, unix.CLONE_NEWNET); err == nil {
			err = unix.Setns(i.pidNS, unix.CLONE_NEWPID)
		}
	}
	if err != nil {
		return fmt.Errorf("setns: %w", err)
	}
	return nil
}

// Command returns a command that runs name with args in the host: in its
// network, PID and UTS namespaces, with the /proc and /sys of the host, and
// with an /etc/hosts holding what hosts returns when the command starts.
// ctx is the command's context, as for exec.CommandContext; when it is done
// before Start, Start returns its cause. The command behaves like
// exec.Command's: Args[1:] are name and its arguments, and Env, Dir, Stdin,
// Stdout, Stderr work as usual; append to ExtraFiles (its first entries are
// the launcher's). cmd.Process is the launcher, which forwards signals to the
// program and exits as it does; the program dies with it.
func (i *Init) Command(ctx context.Context, hosts func() []byte, name string, arg ...string) *exec.Cmd {
	sc := &startCtx{Context: ctx}
	cmd := exec.CommandContext(sc, self)
	path := lookPath(cmd, name)
	cmd.Args = append([]string{launchMarker + " host " + path, name}, arg...)
	if cmd.Err != nil {
		return cmd
	}
	i.mu.RLock()
	defer i.mu.RUnlock()
	if i.stopped {
		cmd.Err = ErrStopped
		return cmd
	}
	pidfd, err := unix.FcntlInt(uintptr(i.pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		cmd.Err = fmt.Errorf("duplicate the init's pidfd: %w", err)
		return cmd
	}
	mfd, err := unix.MemfdCreate("nstest-hosts", unix.MFD_CLOEXEC)
	if err != nil {
		unix.Close(pidfd)
		cmd.Err = fmt.Errorf("memfd_create: %w", err)
		return cmd
	}
	hf := os.NewFile(uintptr(mfd), "nstest-hosts")
	cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(pidfd), "nstest-init"), hf}
	// The memfd holds the number of the user's ExtraFiles and /etc/hosts.
	// Start calls Done first, right before it forks: the names are those
	// of that moment, and ExtraFiles is final. What is written now serves
	// if Done is not called (-1: the launcher counts inherited descriptors).
	write := func(nUser int) {
		b := append([]byte(strconv.Itoa(nUser)+"\n"), hosts()...)
		hf.Truncate(0)
		hf.WriteAt(b, 0)
	}
	write(-1)
	sc.hook = func() { write(len(cmd.ExtraFiles) - ourFds) }
	return cmd
}

// startCtx is the context of a command: its Done method, which
// exec.Cmd.Start calls before it forks, runs hook once; and its Err reports
// the cause of its cancellation, so that Start says why it refused.
type startCtx struct {
	context.Context
	once sync.Once
	hook func()
}

func (c *startCtx) Done() <-chan struct{} {
	c.once.Do(func() {
		if c.hook != nil {
			c.hook()
		}
	})
	return c.Context.Done()
}

func (c *startCtx) Err() error {
	if c.Context.Err() == nil {
		return nil
	}
	return context.Cause(c.Context)
}

// runInit runs in the init process and never returns.
func runInit() {
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.NewFile(initReady, "ready"), format, a...)
		syscall.Exit(1)
	}
	for fd := initNetns; fd <= initReady; fd++ {
		unix.CloseOnExec(fd)
	}
	if err := unix.Setns(initNetns, unix.CLONE_NEWNET); err != nil {
		fail("setns(CLONE_NEWNET): %v", err)
	}
	unix.Close(initNetns)
	// Mounts made here must not propagate back to the machine.
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		fail("make the mount namespace a slave: %v", err)
	}
	// A /proc of the host's PID namespace, so that ps, pidof and
	// /proc/self work there; where it is refused (a restricted /proc in a
	// container), programs see the machine's.
	unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	remountSys()
	if len(os.Args) > 1 {
		if err := unix.Sethostname([]byte(os.Args[1])); err != nil {
			fail("sethostname %q: %v", os.Args[1], err)
		}
	}
	// As PID 1 the init gets only the signals it handles: ignore the
	// usual ones, so a `kill 1` inside the host does not end it.
	signal.Ignore(unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
		unix.SIGPIPE, unix.SIGALRM, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGXCPU, unix.SIGXFSZ,
		unix.SIGVTALRM, unix.SIGPROF, unix.SIGIO, unix.SIGPWR)
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	go func() {
		// The test process died: end the PID namespace, and with it
		// everything the host runs.
		fds := []unix.PollFd{{Fd: initParent, Events: unix.POLLIN}}
		for {
			if n, err := unix.Poll(fds, -1); n > 0 || (err != nil && err != unix.EINTR) {
				syscall.Exit(0)
			}
		}
	}()
	unix.Write(initReady, []byte("ok\n"))
	unix.Close(initReady)
	for {
		for {
			if pid, _ := unix.Wait4(-1, nil, unix.WNOHANG, nil); pid <= 0 {
				break
			}
		}
		<-chld
	}
}
