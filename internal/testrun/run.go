// Package testrun runs a function as a test outside go test: the nstest
// command builds topologies with it, and tests use it to check what a
// builder does to the test it fails. It was nstest.Run until v0.1.0; users'
// tests get their testing.TB from go test and never need it.
package testrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
)

// ErrSkipped is returned by Run when fn skipped, typically because the
// machine cannot build network namespaces; the error wraps it with the reason.
var ErrSkipped = errors.New("skipped")

// Run runs fn as a test outside `go test`, for programs and examples: fn gets
// a testing.TB whose failures are recorded, whose Fatal and Skip end fn, and
// whose cleanups (among them every topology's teardown) run when fn ends. Log
// output goes to w (nil discards it). Run returns nil if fn passed, an error
// wrapping ErrSkipped if it skipped, and otherwise an error holding every
// failure message.
//
// As under go test, every cleanup runs, last registered first, even when fn
// or another cleanup calls FailNow or panics; a panic fails the run, and its
// value and stack are among the failure messages.
func Run(name string, w io.Writer, fn func(tb testing.TB)) error {
	if w == nil {
		w = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb := &runTB{name: name, w: w, ctx: ctx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer tb.runCleanups()
		defer cancel() // as testing does: Context ends before the cleanups run
		defer tb.recoverPanic()
		fn(tb)
	}()
	<-done
	tb.mu.Lock()
	defer tb.mu.Unlock()
	switch {
	case tb.failed:
		if len(tb.errs) == 0 {
			return fmt.Errorf("%s: failed", name)
		}
		return fmt.Errorf("%s: %s", name, strings.Join(tb.errs, "\n"))
	case tb.skipped:
		return fmt.Errorf("%s: %w: %s", name, ErrSkipped, tb.skipMsg)
	}
	return nil
}

// runTB implements testing.TB for Run. The embedded interface is nil: it only
// supplies the unexported method; every method is defined here.
type runTB struct {
	testing.TB
	name string
	w    io.Writer
	ctx  context.Context

	mu       sync.Mutex
	failed   bool
	skipped  bool
	skipMsg  string
	errs     []string
	cleanups []func()
	tmp      []string
}

// recoverPanic, deferred, turns a panic into a failure with its stack.
func (r *runTB) recoverPanic() {
	if p := recover(); p != nil {
		r.record(fmt.Sprintf("panic: %v\n\n%s", p, debug.Stack()))
	}
}

// runCleanups runs the cleanups, last registered first, each on a goroutine
// of its own: FailNow (runtime.Goexit) or a panic in one ends only that one,
// and the next still runs.
func (r *runTB) runCleanups() {
	for {
		r.mu.Lock()
		n := len(r.cleanups)
		if n == 0 {
			r.mu.Unlock()
			break
		}
		f := r.cleanups[n-1]
		r.cleanups = r.cleanups[:n-1]
		r.mu.Unlock()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer r.recoverPanic()
			f()
		}()
		<-done
	}
	for _, d := range r.tmp {
		os.RemoveAll(d)
	}
}

func (r *runTB) ArtifactDir() string { return r.TempDir() }
func (r *runTB) Attr(key, value string) {
	r.Logf("=== ATTR %s %s", key, value)
}
func (r *runTB) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}
func (r *runTB) Error(args ...any) { r.record(fmt.Sprintln(args...)) }
func (r *runTB) Errorf(format string, args ...any) {
	r.record(fmt.Sprintf(format, args...))
}
func (r *runTB) record(msg string) {
	msg = strings.TrimSuffix(msg, "\n")
	r.mu.Lock()
	r.failed = true
	r.errs = append(r.errs, msg)
	r.mu.Unlock()
	fmt.Fprintln(r.w, msg)
}
func (r *runTB) Fail() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
}
func (r *runTB) FailNow() { r.Fail(); runtime.Goexit() }
func (r *runTB) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}
func (r *runTB) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }
func (r *runTB) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *runTB) Helper()                           {}
func (r *runTB) Log(args ...any)                   { fmt.Fprint(r.w, fmt.Sprintln(args...)) }
func (r *runTB) Logf(format string, args ...any) {
	fmt.Fprintln(r.w, strings.TrimSuffix(fmt.Sprintf(format, args...), "\n"))
}
func (r *runTB) Name() string { return r.name }
func (r *runTB) Setenv(key, value string) {
	old, had := os.LookupEnv(key)
	os.Setenv(key, value)
	r.Cleanup(func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	})
}
func (r *runTB) Chdir(dir string) {
	old, err := os.Getwd()
	if err != nil {
		r.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		r.Fatal(err)
	}
	r.Cleanup(func() { os.Chdir(old) })
}
func (r *runTB) Skip(args ...any) { r.skip(fmt.Sprintln(args...)) }
func (r *runTB) SkipNow()         { r.skip("") }
func (r *runTB) Skipf(format string, args ...any) {
	r.skip(fmt.Sprintf(format, args...))
}
func (r *runTB) skip(msg string) {
	r.mu.Lock()
	r.skipped = true
	r.skipMsg = strings.TrimSuffix(msg, "\n")
	r.mu.Unlock()
	runtime.Goexit()
}
func (r *runTB) Skipped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped
}
func (r *runTB) TempDir() string {
	d, err := os.MkdirTemp("", "nstest-")
	if err != nil {
		r.Fatal(err)
	}
	r.mu.Lock()
	r.tmp = append(r.tmp, d)
	r.mu.Unlock()
	return d
}
func (r *runTB) Context() context.Context { return r.ctx }
func (r *runTB) Output() io.Writer        { return r.w }
