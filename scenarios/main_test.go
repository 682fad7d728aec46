// Package scenarios holds end-to-end tests that read as documentation: the
// seed tutorial replayed step by step, and reproductions of real network
// bugs, each showing the failure first and then the fix.
package scenarios_test

import (
	"os"
	"testing"

	"github.com/nstest/harness/internal/rootcheck"
	"github.com/nstest/harness/internal/rootless"
)

// TestMain runs the scenarios rootless when needed, like nstest.Main, and
// fails the run if they left anything in the namespace they ran in.
func TestMain(m *testing.M) {
	os.Exit(rootless.Run(func() int { return rootcheck.Main(m.Run) }))
}
