package ns

import (
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func requireAdmin(tb testing.TB) {
	tb.Helper()
	n, err := New()
	if err != nil {
		tb.Skipf("cannot create a network namespace (needs CAP_SYS_ADMIN; run as root or through nstest.Main): %v", err)
	}
	n.Close()
}

func TestDoRunsInsideAndRestores(t *testing.T) {
	requireAdmin(t)
	n, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var inside bool
	if err := n.Do(func() (err error) { inside, err = n.Current(); return err }); err != nil {
		t.Fatal(err)
	}
	if !inside {
		t.Fatal("fn did not run in the namespace")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if in, _ := n.Current(); in {
		t.Fatal("caller's thread is in the namespace after Do")
	}
}

func TestDoPanicPropagatesAndCallerUnchanged(t *testing.T) {
	requireAdmin(t)
	n, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := os.Open(ThreadPath())
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	got := func() (v any) {
		defer func() { v = recover() }()
		n.Do(func() error { panic("boom") })
		return nil
	}()
	p, ok := got.(*Panic)
	if !ok || p.Value() != "boom" {
		t.Fatalf("recovered %#v, want a *Panic of the value \"boom\"", got)
	}
	after, err := os.Open(ThreadPath())
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if same, _ := Same(before, after); !same {
		t.Fatal("the caller's thread changed namespace")
	}
}

func TestDoConcurrent(t *testing.T) {
	requireAdmin(t)
	var nss []*NS
	for range 8 {
		n, err := New()
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		nss = append(nss, n)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 400)
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nss[i%len(nss)]
			n.Do(func() error {
				if in, _ := n.Current(); !in {
					errs <- "call ran outside its namespace"
				}
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	// Every thread in the pool is back home: a check on a plain goroutine.
	o, _ := Origin()
	for range 50 {
		func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cur, err := os.Open(ThreadPath())
			if err != nil {
				t.Fatal(err)
			}
			defer cur.Close()
			if same, _ := Same(o, cur); !same {
				t.Fatal("a pool thread was left in another namespace")
			}
		}()
		runtime.Gosched()
	}
}

func BenchmarkDo(b *testing.B) {
	requireAdmin(b)
	n, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	b.ReportAllocs()
	for b.Loop() {
		n.Do(func() error { return nil })
	}
}

func BenchmarkBareSetns(b *testing.B) {
	requireAdmin(b)
	n, err := New()
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	o, _ := Origin()
	for b.Loop() {
		runtime.LockOSThread()
		unix.Setns(n.Fd(), unix.CLONE_NEWNET)
		unix.Setns(int(o.Fd()), unix.CLONE_NEWNET)
		runtime.UnlockOSThread()
	}
}
