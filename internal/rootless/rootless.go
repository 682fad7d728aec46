// Package rootless probes whether this process may build network namespaces
// and, when it may not, re-executes it inside a new user and network namespace
// where it may.
package rootless

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/ns"
)

// EnvChild marks the re-executed child so that it does not re-execute again.
const EnvChild = "NSTEST_ROOTLESS_CHILD"

var (
	probeOnce sync.Once
	probeErr  error
)

// Probe reports, once per process, whether this process can create a network
// namespace and configure it through netlink. It performs real operations,
// since some systems (Ubuntu 24.04's AppArmor) let an unprivileged process
// create namespaces and then deny it the capabilities to use them.
func Probe() error {
	probeOnce.Do(func() { probeErr = probe() })
	return probeErr
}

func probe() error {
	n, err := ns.New()
	if err != nil {
		return err
	}
	defer n.Close()
	return n.Do(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink socket: %w", err)
		}
		defer h.Close()
		lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo", Index: 1}}
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}}
		if err := h.LinkAdd(br); err != nil {
			return fmt.Errorf("add a bridge: %w", err)
		}
		return nil
	})
}

// InChild reports whether this process is the re-executed rootless child.
func InChild() bool { return os.Getenv(EnvChild) != "" }

// ErrNotAttempted is returned by Reexec when re-execution makes no sense:
// the process is already the child.
var ErrNotAttempted = errors.New("already inside the rootless namespace")

// Reexec runs the current binary again, with the same arguments, in a new user
// namespace (the caller's uid and gid mapped to root) with new network and
// mount namespaces, waits for it and returns its exit code. SIGINT and
// SIGTERM are passed on; the child is killed if this process dies.
func Reexec() (int, error) {
	if InChild() {
		return 0, ErrNotAttempted
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), EnvChild+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | syscall.CLONE_NEWNS,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start in a new user namespace: %w", err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	// No goroutine outlives Reexec: stop the forwarding and wait for it.
	signal.Stop(sigs)
	close(sigs)
	<-forwarded
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

// Run runs the tests through run, re-executing the binary in a user
// namespace first when this process cannot build network namespaces, and
// returns the exit code. It is the body of nstest.Main.
func Run(run func() int) int {
	if InChild() || Probe() == nil {
		return run()
	}
	code, err := Reexec()
	if err != nil {
		fmt.Fprintf(os.Stderr, "nstest: cannot re-run the tests in a user namespace (%v); tests that build networks will be skipped\n", err)
		return run()
	}
	return code
}
