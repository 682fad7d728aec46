package scenarios_test

import (
	"os/exec"
	"testing"
)

// needProgram skips the test when a program it runs is absent, naming the
// Debian package that has it (.ci/run installs them all).
func needProgram(t *testing.T, prog, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		t.Skipf("%s is not installed (Debian package %s)", prog, pkg)
	}
}
