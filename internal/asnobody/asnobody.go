// Package asnobody runs tests of the current test binary again as the
// unprivileged user nobody, to prove they pass rootless (nstest.Main
// re-executes the binary in a user namespace) instead of skipping.
package asnobody

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nstest/harness/internal/rootless"
)

// Run runs the tests of this test binary that match the -test.run pattern
// run as user nobody, with -test.v and the extra arguments, and returns
// their combined output. It fails t if the binary fails, and skips t where
// switching to nobody cannot show anything: in a run that is rootless
// already, without root, or where the machine forbids unprivileged user
// namespaces (naming the sysctl).
func Run(t *testing.T, run string, args ...string) string {
	t.Helper()
	if rootless.InChild() {
		t.Skip("already running rootless")
	}
	if os.Geteuid() != 0 {
		t.Skip("this whole run is rootless already; switching to user nobody needs root")
	}
	for _, c := range []struct{ sysctl, off string }{
		{"kernel/unprivileged_userns_clone", "0"},
		{"user/max_user_namespaces", "0"},
		{"kernel/apparmor_restrict_unprivileged_userns", "1"},
	} {
		if b, err := os.ReadFile("/proc/sys/" + c.sysctl); err == nil && strings.TrimSpace(string(b)) == c.off {
			t.Skipf("unprivileged user namespaces are off on this machine (%s = %s)", strings.ReplaceAll(c.sysctl, "/", "."), c.off)
		}
	}
	// nobody must be able to read and run the binary: a copy in a
	// directory of its own, not the go tool's private build directory.
	dir, err := os.MkdirTemp("", "nstest-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(os.Args[0]))
	src, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"-test.run=" + run, "-test.v", "-test.count=1"}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s as nobody: %v\n%s", filepath.Base(os.Args[0]), err, out)
	}
	return string(out)
}
