package firewall_test

import (
	"os"
	"testing"

	"github.com/nstest/harness/internal/rootcheck"
	"github.com/nstest/harness/internal/rootless"
)

// TestMain runs the tests rootless when needed, like nstest.Main, and fails
// the run if they changed the namespace they ran in.
func TestMain(m *testing.M) {
	os.Exit(rootless.Run(func() int { return rootcheck.Main(m.Run) }))
}
