package nstest_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

// pingDF runs the system ping from h with the Don't Fragment bit set and a
// payload of size bytes, and reports whether a reply came, with ping's output.
func pingDF(t *testing.T, h *nstest.Host, dst string, size int) (bool, string) {
	t.Helper()
	out, err := h.Command("ping", "-n", "-c", "1", "-W", "1", "-M", "do", "-s", fmt.Sprint(size), dst).CombinedOutput()
	return err == nil, string(out)
}

func TestOverlayJoinsTwoSites(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	ov := topo.AddOverlay("underlay", 42)
	vm1 := ov.AddSite("vm1", "192.168.100.1/24")
	vm2 := ov.AddSite("vm2", "192.168.100.2/24")
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	vm1.Connect(h1, "10.10.0.1/24")
	vm2.Connect(h2, "10.10.0.2/24")

	var c *capture.Capture
	require.NoError(t, vm1.Machine().Do(func() (err error) {
		c, err = capture.Open(vm1.Uplink().Name())
		return err
	}))
	defer c.Close()

	nstest.AssertReachable(t, h1, "h2")
	nstest.AssertReachable(t, h2, "h1")
	// The overlay's packets crossed the underlay inside UDP to port 4789,
	// between the two sites' addresses.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := c.Wait(ctx, capture.And(capture.UDPPort(nstest.VXLANPort), capture.Src(vm1.Addr()), capture.Dst(vm2.Addr())), 1)
	assert.NoError(t, err)
	_, err = c.Wait(ctx, capture.And(capture.UDPPort(nstest.VXLANPort), capture.Src(vm2.Addr()), capture.Dst(vm1.Addr())), 1)
	assert.NoError(t, err)
	// The hosts' own addresses never appear on the underlay in the clear.
	assert.Zero(t, c.Count(capture.Host(netip.MustParseAddr("10.10.0.2")), capture.Not(capture.UDPPort(nstest.VXLANPort))))

	mtu, err := vm1.MTU()
	require.NoError(t, err)
	assert.Equal(t, 1500-nstest.VXLANOverhead, mtu)
}

// Every site floods to every other: three sites, all reachable.
func TestOverlayThreeSites(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	ov := topo.AddOverlay("wan", 7)
	var hosts []*nstest.Host
	for k := 1; k <= 3; k++ {
		s := ov.AddSite(fmt.Sprintf("dc%d", k), fmt.Sprintf("172.16.0.%d/24", k))
		h := topo.AddHost(fmt.Sprintf("h%d", k))
		s.Connect(h, fmt.Sprintf("10.20.0.%d/24", k))
		hosts = append(hosts, h)
	}
	assert.Len(t, ov.Sites(), 3)
	nstest.AssertConnectivity(t, hosts...)
}

// The 50 bytes of encapsulation: with the hosts at the usual 1500-byte MTU,
// a full-size ping with Don't Fragment set never arrives (the site's bridge
// drops it silently); one that fits in 1450 bytes does. At the overlay's MTU,
// the host itself refuses the full-size packet.
func TestOverlayMTUOverhead(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	ov := topo.AddOverlay("underlay", 42)
	vm1 := ov.AddSite("vm1", "192.168.100.1/24")
	vm2 := ov.AddSite("vm2", "192.168.100.2/24")
	h1, h2 := topo.AddHost("h1"), topo.AddHost("h2")
	e1 := vm1.Connect(h1, "10.10.0.1/24")
	vm2.Connect(h2, "10.10.0.2/24")
	nstest.RequireReachable(t, h1, "h2")

	ok, out := pingDF(t, h1, "10.10.0.2", 1500-28)
	assert.False(t, ok, "a 1500-byte packet crossed the overlay:\n%s", out)
	assert.Contains(t, out, "0 received")
	ok, out = pingDF(t, h1, "10.10.0.2", 1500-nstest.VXLANOverhead-28)
	assert.True(t, ok, "a 1450-byte packet did not cross the overlay:\n%s", out)

	require.NoError(t, e1.SetMTU(1500-nstest.VXLANOverhead))
	ok, out = pingDF(t, h1, "10.10.0.2", 1500-28)
	assert.False(t, ok)
	assert.Contains(t, out, "message too long", "the host now knows the packet is too big")
}

func TestOverlayErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, want string
		fn         func(topo *nstest.Topology)
	}{
		{"vni", `nstest: overlay "ov": VNI 16777216: out of range 1..16777215`, func(topo *nstest.Topology) {
			topo.AddOverlay("ov", 1<<24)
		}},
		{"addr", `nstest: overlay "ov": site "s1": underlay address "10.0.0.1": missing prefix length`, func(topo *nstest.Topology) {
			topo.AddOverlay("ov", 1).AddSite("s1", "10.0.0.1")
		}},
		{"v6", `nstest: overlay "ov": site "s1": underlay address "fd00::1/64": only IPv4 underlays are supported`, func(topo *nstest.Topology) {
			topo.AddOverlay("ov", 1).AddSite("s1", "fd00::1/64")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := testrun.Run(c.name, nil, func(tb testing.TB) { c.fn(nstest.New(tb)) })
			require.Error(t, err)
			if errorsIsSkip(err) {
				t.Skip(err)
			}
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func errorsIsSkip(err error) bool {
	return err != nil && strings.Contains(err.Error(), testrun.ErrSkipped.Error())
}
