// Package exampletest runs a package's examples from its tests.
//
// Examples that build namespaces have no "Output:" comment: go test would run
// them on machines that cannot build namespaces (an AppArmor-restricted
// runner, a container without CAP_NET_ADMIN) and fail them, since an example
// cannot skip. Their package's tests call them instead, after skipping where
// the machine cannot, and check what they printed.
package exampletest

import (
	"bytes"
	"io"
	"os"
	"sync"
	"testing"
)

var mu sync.Mutex // one redirection of os.Stdout at a time

// Output runs example with standard output redirected, as go test does for
// examples, and returns what it printed. The caller must not run in parallel
// with code that prints to standard output.
func Output(t testing.TB, example func()) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, r)
		r.Close()
		close(copied)
	}()
	stdout := os.Stdout
	os.Stdout = w
	func() {
		defer func() { // also when example ends the test
			os.Stdout = stdout
			w.Close()
			<-copied
		}()
		example()
	}()
	return out.String()
}
