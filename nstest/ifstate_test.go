package nstest_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/ping"
)

// ipLink runs `ip -j link show ARGS` in h, for cross-checks; nil without ip.
func ipLink(t *testing.T, h *nstest.Host, args ...string) []map[string]any {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Log("no cross-check with ip link: install the Debian package iproute2")
		return nil
	}
	out, err := h.Command("ip", append([]string{"-j", "link", "show"}, args...)...).Output()
	require.NoError(t, err)
	var ls []map[string]any
	require.NoError(t, json.Unmarshal(out, &ls), "%s", out)
	return ls
}

func TestHardwareAddr(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := seed(t)
	eth0 := ns1.Interface("eth0")
	mac, err := eth0.HardwareAddr()
	require.NoError(t, err)
	require.Len(t, mac, 6)

	require.NoError(t, eth0.SetHardwareAddr("02:00:00:00:00:01"))
	mac, err = eth0.HardwareAddr()
	require.NoError(t, err)
	assert.Equal(t, "02:00:00:00:00:01", mac.String())
	if ls := ipLink(t, ns1, "dev", "eth0"); ls != nil {
		assert.Equal(t, "02:00:00:00:00:01", ls[0]["address"])
	}
	// ns2 resolves ns1 to the new address.
	nstest.RequireReachable(t, ns2, "ns1")
	if _, err := exec.LookPath("ip"); err == nil {
		out, err := ns2.Command("ip", "neigh", "show", "10.0.0.1").CombinedOutput()
		require.NoError(t, err)
		assert.Contains(t, string(out), "lladdr 02:00:00:00:00:01")
	}
}

func TestSetHardwareAddrBadValues(t *testing.T) {
	t.Parallel()
	_, ns1, _, _ := seed(t)
	eth0 := ns1.Interface("eth0")
	before, err := eth0.HardwareAddr()
	require.NoError(t, err)
	for mac, want := range map[string]string{
		"zz:00:00:00:00:01":       `nstest: interface ns1:eth0: MAC "zz:00:00:00:00:01": invalid: want six bytes such as 02:00:00:00:00:01`,
		"02:00:00:00:00:00:00:01": `nstest: interface ns1:eth0: MAC "02:00:00:00:00:00:00:01": invalid: want six bytes`,
		"01:00:5e:00:00:01":       `nstest: interface ns1:eth0: MAC "01:00:5e:00:00:01": a multicast address (lowest bit of the first byte set): an interface needs a unicast one`,
		"ff:ff:ff:ff:ff:ff":       `MAC "ff:ff:ff:ff:ff:ff": a multicast address`,
		"00:00:00:00:00:00":       `MAC "00:00:00:00:00:00": all zeros`,
	} {
		err := eth0.SetHardwareAddr(mac)
		if assert.Error(t, err, mac) {
			assert.Contains(t, err.Error(), want)
		}
	}
	after, err := eth0.HardwareAddr()
	require.NoError(t, err)
	assert.Equal(t, before, after, "a refused MAC changed the interface")
}

func TestLinkStateFollowsPeer(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	a, b := topo.AddHost("a"), topo.AddHost("b")
	ea, eb := topo.Link(a, b, "10.0.0.1/24", "10.0.0.2/24")
	nstest.RequireReachable(t, a, "b") // waits until the link is up
	st, err := ea.State()
	require.NoError(t, err)
	assert.Equal(t, nstest.LinkState{AdminUp: true, Carrier: true, OperState: "up"}, st)

	// The peer goes down: this end keeps its admin state, loses carrier at
	// once, and its operational state follows when the kernel handles
	// the event.
	require.NoError(t, eb.SetDown())
	st, err = ea.State()
	require.NoError(t, err)
	assert.True(t, st.AdminUp)
	assert.False(t, st.Carrier)
	// Linux 6.18 says "down", 6.1 "lowerlayerdown": both mean the link
	// under it is down.
	got := waitState(t, ea, "down", "lowerlayerdown")
	st, err = eb.State()
	require.NoError(t, err)
	assert.Equal(t, nstest.LinkState{OperState: "down"}, st)
	if ls := ipLink(t, a, "dev", "eth0"); ls != nil {
		assert.Equal(t, strings.ToUpper(got), ls[0]["operstate"])
	}

	require.NoError(t, eb.SetUp())
	nstest.RequireReachable(t, a, "b")
	st, err = ea.State()
	require.NoError(t, err)
	assert.Equal(t, nstest.LinkState{AdminUp: true, Carrier: true, OperState: "up"}, st)
}

// waitState waits for i's operational state to be one of want, and returns
// it. The kernel announces the change only after its link-watch work runs;
// the 10s bound is for a broken link, not a speed check.
func waitState(t *testing.T, i *nstest.Interface, want ...string) string {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		st, err := i.State()
		require.NoError(t, err)
		if slices.Contains(want, st.OperState) {
			return st.OperState
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("interface %s: operational state %q after 10s, want one of %q", i, st.OperState, want)
		}
	}
}

func TestLinkStats(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	a, b := topo.AddHost("a"), topo.AddHost("b")
	ea, _ := topo.Link(a, b, "10.0.0.1/24", "10.0.0.2/24")
	nstest.RequireReachable(t, a, "b")
	before, err := ea.Stats()
	require.NoError(t, err)
	st, err := a.Ping(context.Background(), "b", ping.Count(5), ping.Interval(time.Millisecond), ping.Size(1000))
	require.NoError(t, err)
	require.Equal(t, 5, st.Received)
	after, err := ea.Stats()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, after.TxPackets-before.TxPackets, uint64(5))
	assert.GreaterOrEqual(t, after.RxPackets-before.RxPackets, uint64(5))
	assert.GreaterOrEqual(t, after.TxBytes-before.TxBytes, uint64(5*1028))
	assert.GreaterOrEqual(t, after.RxBytes-before.RxBytes, uint64(5*1028))
	assert.Zero(t, after.TxDropped)

	// (No check of TxDropped with the peer down: whether the veth or the
	// queueing layer drops those packets, and so which counter moves,
	// depends on when the kernel's link-watch work handles the carrier
	// loss.)
}

func TestDeviceGroup(t *testing.T) {
	t.Parallel()
	_, ns1, _, _ := seed(t)
	eth0 := ns1.Interface("eth0")
	g, err := eth0.Group()
	require.NoError(t, err)
	assert.Zero(t, g)
	require.NoError(t, eth0.SetGroup(7))
	g, err = eth0.Group()
	require.NoError(t, err)
	assert.Equal(t, 7, g)
	if ls := ipLink(t, ns1, "group", "7"); ls != nil {
		var names []any
		for _, l := range ls {
			if l["ifname"] != nil {
				names = append(names, l["ifname"])
			}
		}
		assert.Equal(t, []any{"eth0"}, names)
	}
	err = eth0.SetGroup(-1)
	require.Error(t, err)
	assert.Equal(t, "nstest: interface ns1:eth0: group -1: out of range 0..4294967295", err.Error())
	err = eth0.SetGroup(1 << 32)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "group 4294967296: out of range")
}
