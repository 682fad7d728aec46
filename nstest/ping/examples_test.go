package ping_test

import (
	"strings"
	"testing"

	"github.com/nstest/harness/internal/exampletest"
	"github.com/nstest/harness/nstest"
)

// tb stands, in the examples, for the *testing.T of the test their body
// would be in a user's code; TestExamples sets it to the test running them.
// (The examples used to wrap their body in nstest.Run, which left the
// public package to become internal/testrun.)
var tb testing.TB

// TestExamples runs the package's example, which builds a namespace and so
// has no "Output:" comment: go test would run it where the machine cannot and
// fail it, where this test skips.
func TestExamples(t *testing.T) {
	nstest.New(t) // skips where the machine cannot build namespaces
	tb = t
	out := exampletest.Output(t, ExampleOpen)
	if want := "3 packets transmitted, 3 received, 0% packet loss; rtt min/avg/max/mdev = "; !strings.HasPrefix(out, want) {
		t.Errorf("ExampleOpen printed %q, want it to start with %q", out, want)
	}
}
