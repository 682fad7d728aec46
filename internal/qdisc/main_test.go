package qdisc_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/nstest/harness/internal/rootcheck"
)

// TestMain runs the tests rootless when needed, like nstest.Main, and fails
// the run if they changed the namespace they ran in or left a goroutine
// running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(rootcheck.Tests(m.Run))
}
