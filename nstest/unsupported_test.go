package nstest_test

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

// TestUnsupportedFeatureSkips asks for a bridge feature through the public
// builder: where the kernel lacks it (bridge VLAN filtering, on this
// project's CI machine), the test is skipped naming the kernel option, not
// failed; where the kernel has it, the bridge is made.
func TestUnsupportedFeatureSkips(t *testing.T) {
	nstest.New(t) // skips where the machine cannot build namespaces
	lacks := errors.Is(probeVLANFiltering(), unix.EOPNOTSUPP)
	err := testrun.Run("TestVLAN", io.Discard, func(tb testing.TB) {
		nstest.New(tb).AddBridge("br1", nstest.VLANFiltering())
	})
	if !lacks {
		require.NoError(t, err, "this kernel filters VLANs on bridges")
		return
	}
	require.ErrorIs(t, err, testrun.ErrSkipped, "a missing kernel feature failed the test")
	assert.Contains(t, err.Error(), "CONFIG_BRIDGE_VLAN_FILTERING")
	assert.Contains(t, err.Error(), `bridge "br1"`)
}
