package scenarios_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nstest/harness/internal/asnobody"
)

// TestSeedRootless runs the seed tutorial's test as the unprivileged user
// nobody: its TestMain (nstest.Main's logic) re-executes the test binary in
// a user namespace where it may build networks, and the test passes there
// instead of skipping.
func TestSeedRootless(t *testing.T) {
	out := asnobody.Run(t, "^TestSeedTutorial$")
	assert.Contains(t, out, "--- PASS: TestSeedTutorial")
	assert.NotContains(t, out, "SKIP")
}
