package scenarios_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/rootless"
)

// TestSeedRootless runs the seed tutorial's test as the unprivileged user
// nobody: its TestMain (nstest.Main's logic) re-executes the test binary in
// a user namespace where it may build networks, and the test passes there
// instead of skipping.
func TestSeedRootless(t *testing.T) {
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
	dir, err := os.MkdirTemp("", "nstest-rootless-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "scenarios.test")
	copyFile(t, os.Args[0], bin)

	cmd := exec.Command(bin, "-test.run=^TestSeedTutorial$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestSeedTutorial")
	assert.NotContains(t, string(out), "SKIP")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}
