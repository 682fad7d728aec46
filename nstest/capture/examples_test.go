package capture_test

import (
	"testing"

	"github.com/nstest/harness/internal/exampletest"
	"github.com/nstest/harness/nstest"
)

// tb stands, in the examples, for the *testing.T of the test their body
// would be in a user's code; TestExamples sets it to the test running them.
// (The examples used to wrap their body in nstest.Run, which left the
// public package to become internal/testrun.)
var tb testing.TB

// TestExamples runs the package's example, which builds namespaces and so has
// no "Output:" comment: go test would run it where the machine cannot and
// fail it, where this test skips.
func TestExamples(t *testing.T) {
	nstest.New(t) // skips where the machine cannot build namespaces
	want := "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28\n1\n"
	tb = t
	if out := exampletest.Output(t, Example); out != want {
		t.Errorf("Example printed %q, want %q", out, want)
	}
}
