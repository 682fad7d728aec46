package nstest_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/keep"
	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

// initialRoot reports whether this process is root in the machine's initial
// user namespace, which bind-mounting under /run/netns needs.
func initialRoot() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	return err == nil && strings.Join(strings.Fields(string(b)), " ") == "0 0 4294967295" && os.Geteuid() == 0
}

// restoreRunNetns undoes, at the end of the test, what keeping namespaces
// did to the machine beyond the namespaces themselves (/run/netns made a
// mount point, as `ip netns add` also does), as far as this process did it
// and nobody else uses it: other processes add namespaces there at any time.
func restoreRunNetns(t *testing.T) {
	release, err := keep.Exclusive()
	require.NoError(t, err)
	t.Cleanup(release) // registered first: released last
	t.Cleanup(keep.RestoreDirs)
}

func TestKeepFailedTest(t *testing.T) {
	nstest.New(t)
	if !initialRoot() {
		t.Skip("keeping namespaces under /run/netns needs root in the initial user namespace")
	}
	restoreRunNetns(t)
	t.Setenv("NSTEST_KEEP", "1")
	var log strings.Builder
	topo := fmt.Sprintf("keep-me-%d", os.Getpid()) // other test binaries keep namespaces too
	err := testrun.Run(topo, &log, func(tb testing.TB) {
		topo := nstest.New(tb)
		br := topo.AddBridge("br1")
		topo.Connect(topo.AddHost("h1"), br, "10.9.0.1/24")
		tb.Errorf("deliberate failure")
	})
	require.Error(t, err)
	t.Cleanup(func() { keep.RemoveTopology(topo) })
	assert.Contains(t, log.String(), "ip netns exec nstest-"+topo+"-h1")

	// The kept namespace is the host's: it still has eth0 with its address.
	f, err := keep.Open(topo, "h1")
	require.NoError(t, err)
	kept := ns.FromFile(f)
	defer kept.Close()
	var addrs []string
	require.NoError(t, kept.Do(func() error {
		i, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		as, err := i.Addrs()
		for _, a := range as {
			addrs = append(addrs, a.String())
		}
		return err
	}))
	assert.Contains(t, addrs, "10.9.0.1/24")

	names, stopped, err := keep.RemoveTopology(topo)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"nstest-" + topo + "-h1", "nstest-" + topo + "-fabric"}, names)
	assert.Zero(t, stopped, "processes stopped in namespaces no one ran anything in")
	_, err = os.Stat("/run/netns/nstest-" + topo + "-h1")
	assert.True(t, os.IsNotExist(err))
}

func TestKeepNothingWhenPassing(t *testing.T) {
	nstest.New(t)
	t.Setenv("NSTEST_KEEP", "1")
	require.NoError(t, testrun.Run("keep-not", io.Discard, func(tb testing.TB) {
		topo := nstest.New(tb)
		topo.AddHost("h1")
	}))
	_, err := os.Stat("/run/netns/nstest-keep-not-h1")
	assert.True(t, os.IsNotExist(err), "a passing test kept its namespaces")
}
