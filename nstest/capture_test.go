package nstest_test

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

func TestCaptureSeesPingOnHostAndBridgePort(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := seed(t)
	onHost := ns1.Capture("eth0")
	onPort := ns2.Interface("eth0").Peer().Capture() // ns2's port of br1, in the fabric
	assert.Equal(t, "eth0", onHost.Interface())
	assert.Equal(t, "ns2+eth0", onPort.Interface())

	st, err := ns1.Ping(context.Background(), "ns2")
	require.NoError(t, err)
	require.Equal(t, 1, st.Received)

	a1, a2 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	echo := capture.And(capture.ICMPEcho(), capture.Src(a1), capture.Dst(a2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range []*capture.Capture{onHost, onPort} {
		pkts, err := c.Wait(ctx, echo, 1)
		require.NoError(t, err, "capture on %s", c.Interface())
		assert.Equal(t, capture.ProtoICMP, pkts[0].Proto)
	}
	// The reply passes both points too.
	reply := capture.And(capture.ICMPEchoReply(), capture.Src(a2), capture.Dst(a1))
	_, err = onHost.Wait(ctx, reply, 1)
	require.NoError(t, err)
	_, err = onPort.Wait(ctx, reply, 1)
	require.NoError(t, err)
	assert.True(t, onHost.Packets(echo)[0].Outgoing, "ns1 sent the echo request")

	// Saved as pcap, the echo request reads back.
	path := filepath.Join(t.TempDir(), "ns1-eth0.pcap")
	require.NoError(t, onHost.WriteFile(path))
	pkts, lt, err := capture.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, capture.LinkTypeEthernet, lt)
	var found bool
	for i := range pkts {
		found = found || echo(&pkts[i])
	}
	assert.True(t, found, "no echo request 10.0.0.1 > 10.0.0.2 in %s (%d packets)", path, len(pkts))

	t.Run("tcpdump reads the file", func(t *testing.T) {
		if _, err := exec.LookPath("tcpdump"); err != nil {
			t.Skip("tcpdump is not installed")
		}
		out, err := exec.Command("tcpdump", "-nn", "-r", path).CombinedOutput()
		if err != nil && strings.Contains(string(out), "Couldn't change to") {
			// Running as root, tcpdump switches to its own user, which a
			// user namespace (the rootless mode) does not map.
			t.Skipf("tcpdump cannot drop privileges here (rootless user namespace?): %s", out)
		}
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "IP 10.0.0.1 > 10.0.0.2: ICMP echo request")
		assert.Contains(t, string(out), "IP 10.0.0.2 > 10.0.0.1: ICMP echo reply")
	})
}

func TestCaptureOnMissingInterfaceNamesHostAndInterface(t *testing.T) {
	t.Parallel()
	nstest.New(t) // skips where namespaces cannot be built
	returned := false
	err := testrun.Run(t.Name(), nil, func(tb testing.TB) {
		topo := nstest.New(tb)
		topo.AddHost("ns1").Capture("nope0")
		returned = true
	})
	require.Error(t, err, "Capture on a missing interface did not fail the test")
	assert.False(t, returned, "Capture on a missing interface returned instead of ending the test")
	assert.Contains(t, err.Error(), `host "ns1"`)
	assert.Contains(t, err.Error(), "nope0")
}

func TestCaptureClosedAtTeardown(t *testing.T) {
	t.Parallel()
	var c *capture.Capture
	t.Run("inner", func(t *testing.T) {
		_, ns1, _, _ := seed(t)
		c = ns1.Capture("eth0")
	})
	// Wait on a closed capture with nothing matching ends at once with
	// ErrClosed instead of waiting for the context.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Wait(ctx, capture.TCPPort(9), 1)
	require.ErrorIs(t, err, capture.ErrClosed)
}
