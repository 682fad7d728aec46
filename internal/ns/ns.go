// Package ns creates anonymous network namespaces and runs code inside them
// safely from Go.
//
// A network namespace belongs to an OS thread, not to a goroutine. Go moves
// goroutines between threads, so switching namespace is only safe on a
// goroutine locked to its thread, and the thread may go back to the runtime's
// pool only once it is back in the namespace it started in. Every function
// here follows that rule: code runs on a fresh goroutine locked to its thread;
// if switching back fails the goroutine exits still locked and the runtime
// discards the thread.
package ns

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// NS is an anonymous network namespace held open by a file descriptor. The
// kernel destroys the namespace once the last descriptor, socket or process
// referring to it is gone, so a process that dies, even by SIGKILL, leaves
// nothing behind.
type NS struct {
	f  *os.File
	fd int // f's descriptor, read without touching f

	mu     sync.RWMutex // held for reading while a thread enters the namespace
	closed bool
}

// ErrClosed is returned by Do once the namespace's descriptor is closed.
var ErrClosed = errors.New("network namespace already released")

var (
	originOnce sync.Once
	origin     *os.File
	originErr  error
)

// Origin returns the namespace the process's threads live in, captured the
// first time it is needed. Threads leave it only inside Do.
func Origin() (*os.File, error) {
	originOnce.Do(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		origin, originErr = os.Open(ThreadPath())
	})
	return origin, originErr
}

// ThreadPath is the /proc path of the calling thread's network namespace.
// /proc/self/ns/net names the main thread's namespace, which is not
// necessarily the caller's.
func ThreadPath() string {
	return "/proc/" + strconv.Itoa(os.Getpid()) + "/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
}

// New creates an anonymous network namespace. Its loopback is down, as the
// kernel makes it.
func New() (*NS, error) {
	if _, err := Origin(); err != nil {
		return nil, fmt.Errorf("open current network namespace: %w", err)
	}
	var n *NS
	err := run(false, func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
		}
		f, err := os.Open(ThreadPath())
		if err != nil {
			return fmt.Errorf("open new network namespace: %w", err)
		}
		n = FromFile(f)
		return nil
	})
	if err != nil {
		if n != nil {
			n.Close()
		}
		return nil, err
	}
	return n, nil
}

// FromFile wraps an open namespace file (for example a bind mount under
// /run/netns). The NS takes ownership of f.
func FromFile(f *os.File) *NS { return &NS{f: f, fd: int(f.Fd())} }

// Fd returns the namespace's file descriptor, valid until Close.
func (n *NS) Fd() int { return n.fd }

// File returns the open namespace file, valid until Close.
func (n *NS) File() *os.File { return n.f }

// Close releases the descriptor. The kernel tears the namespace down
// asynchronously once nothing else refers to it; Close does not wait.
func (n *NS) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	return n.f.Close()
}

// Do runs fn with the calling goroutine's view of the network replaced by the
// namespace n: fn runs on a fresh goroutine locked to an OS thread that has
// switched to n. Goroutines that fn starts run on other threads, in the
// process's namespace. A panic in fn is re-raised in the caller as a
// *Panic carrying the original stack, and runtime.Goexit (t.FailNow) in fn
// is repeated in the caller.
func (n *NS) Do(fn func() error) error {
	return run(false, func() error {
		if err := n.enter(); err != nil {
			return err
		}
		return fn()
	})
}

// DoWith is Do with more of a host than its network: instead of entering n
// itself, the thread calls enter, which must move it into n and may make it
// start its children in another PID namespace, in one setns through a pidfd.
// The thread goes back to the process's network and PID namespaces before it
// is reused, or is discarded.
func (n *NS) DoWith(enter func() error, fn func() error) error {
	if _, err := originPID(); err != nil {
		return err
	}
	return run(true, func() error {
		n.mu.RLock()
		closed := n.closed
		n.mu.RUnlock()
		if closed {
			return ErrClosed
		}
		if err := enter(); err != nil {
			return err
		}
		return fn()
	})
}

// enter switches the calling thread to n.
func (n *NS) enter() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return ErrClosed
	}
	if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns: %w", err)
	}
	return nil
}

var originExtra struct {
	once sync.Once
	pid  *os.File
	err  error
}

// originPID returns the PID namespace of the process's threads, captured
// the first time it is needed.
func originPID() (*os.File, error) {
	originExtra.once.Do(func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		originExtra.pid, originExtra.err = os.Open("/proc/" + strconv.Itoa(os.Getpid()) + "/task/" + strconv.Itoa(unix.Gettid()) + "/ns/pid")
	})
	return originExtra.pid, originExtra.err
}

// errGoexit marks fn having called runtime.Goexit.
var errGoexit = errors.New("goexit")

// Panic is the value Do re-raises in the caller when fn panics: the value fn
// panicked with and the stack of the goroutine it panicked on. A plain
// re-raise would lose that stack, and the trace would show only this
// package. Error shows both, so an unrecovered panic prints the line that
// panicked; Value returns the original value, and Unwrap it if it is an
// error.
type Panic struct {
	value any
	stack []byte
}

// Value returns the value fn panicked with.
func (p *Panic) Value() any { return p.value }

// Stack returns the stack of the goroutine where fn panicked.
func (p *Panic) Stack() []byte { return p.stack }

// Error returns the panic value followed by the stack where it was raised.
func (p *Panic) Error() string {
	return fmt.Sprintf("%v\n\n[the panic was raised inside a network namespace, on this goroutine:]\n%s", p.value, p.stack)
}

// Unwrap returns the panic value if it is an error.
func (p *Panic) Unwrap() error {
	err, _ := p.value.(error)
	return err
}

// run executes fn on a fresh goroutine locked to its thread and switches the
// thread back to the origin namespace afterwards, and with extra to the
// origin PID namespace too. Whatever fn does to the thread's
// namespaces is undone, or the thread is discarded.
func run(extra bool, fn func() error) error {
	origin, err := Origin()
	if err != nil {
		return err
	}
	type result struct {
		err error
		p   *Panic
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var res result
		finished := false
		defer func() {
			if !finished {
				if r := recover(); r != nil {
					// Nested Do: the innermost stack is the one that
					// names the user's line.
					if p, ok := r.(*Panic); ok {
						res.p = p
					} else {
						res.p = &Panic{r, debug.Stack()}
					}
				} else {
					res.err = errGoexit
				}
			}
			if restore(origin, extra) == nil {
				runtime.UnlockOSThread()
			} // else: exit locked, and the runtime throws the thread away.
			done <- res
		}()
		res.err = fn()
		finished = true
	}()
	res := <-done
	if res.p != nil {
		panic(res.p)
	}
	if res.err == errGoexit {
		runtime.Goexit()
	}
	return res.err
}

// restore switches the calling thread back to the origin namespaces.
func restore(origin *os.File, extra bool) error {
	if extra {
		pid, _ := originPID()
		if err := unix.Setns(int(pid.Fd()), unix.CLONE_NEWPID); err != nil {
			return err
		}
	}
	return unix.Setns(int(origin.Fd()), unix.CLONE_NEWNET)
}

// Current reports whether the calling thread is in namespace n. It is meant
// for tests and assertions about the plumbing itself.
func (n *NS) Current() (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(n.Fd(), &a); err != nil {
		return false, err
	}
	if err := unix.Stat(ThreadPath(), &b); err != nil {
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// Same reports whether two namespace files refer to the same namespace.
func Same(a, b *os.File) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Fstat(int(a.Fd()), &sa); err != nil {
		return false, err
	}
	if err := unix.Fstat(int(b.Fd()), &sb); err != nil {
		return false, err
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}
