package nstest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// The errors a kernel gives when it cannot make a link of some kind are
// mapped to ErrUnsupported (so the test skips); others are not. This runs
// everywhere, while the skip itself is seen only on a kernel without the
// module, and the success only in the kernel lane (ci/kernels.sh).
func TestUnsupportedLinkErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{unix.EOPNOTSUPP, true},
		{unix.ENOTSUP, true},
		{fmt.Errorf("add link: %w", unix.ENOENT), true},
		{errors.New("Unknown device type"), true},
		{unix.EEXIST, false},
		{unix.EPERM, false},
		{unix.EINVAL, false},
	} {
		assert.Equal(t, c.want, unsupported(c.err), "%v", c.err)
	}
}
