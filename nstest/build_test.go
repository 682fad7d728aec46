package nstest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

// linkLocals returns the IPv6 link-local addresses of the interface called
// name in h, as the kernel reports them.
func linkLocals(t *testing.T, h *nstest.Host, name string) []string {
	t.Helper()
	var out []string
	err := h.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		as, err := netlink.AddrList(l, netlink.FAMILY_V6)
		for _, a := range as {
			if a.IP.IsLinkLocalUnicast() {
				out = append(out, a.IP.String())
			}
		}
		return err
	})
	require.NoError(t, err)
	return out
}

// An interface without IPv6 addresses makes no link-local address (no DAD,
// router solicitations or MLD on the bridge); giving it an IPv6 address
// later brings the link-local address back, and IPv6 works.
func TestLinkLocalOnlyWhereIPv6IsUsed(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	a, b := topo.AddHost("a"), topo.AddHost("b")
	ai := topo.Connect(a, br, "10.0.0.1/24")
	topo.Connect(b, br, "10.0.0.2/24", "fd00::2/64")
	nstest.RequireReachable(t, a, "b")

	assert.Empty(t, linkLocals(t, a, "eth0"), "IPv4-only host end")
	assert.Empty(t, linkLocals(t, topo.Fabric(), ai.Peer().Name()), "bridge port")
	assert.Len(t, linkLocals(t, b, "eth0"), 1, "host end with an IPv6 address")

	require.NoError(t, ai.AddAddr("fd00::1/64"))
	assert.Len(t, linkLocals(t, a, "eth0"), 1, "after AddAddr of an IPv6 address")
	nstest.AssertReachable(t, a, "fd00::2")
	nstest.AssertReachable(t, b, "fd00::1")
}

func TestBridgeAddAddrIPv6GetsLinkLocal(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	h := topo.AddHost("h")
	topo.Connect(h, br, "fd00::2/64")
	assert.Empty(t, linkLocals(t, topo.Fabric(), "br1"))
	require.NoError(t, br.AddAddr("fd00::1/64"))
	assert.Len(t, linkLocals(t, topo.Fabric(), "br1"), 1)
	nstest.AssertReachable(t, h, "br1")
}

// Connect asks the kernel for interface indexes it chooses itself; one that
// is taken already (here by a device the test made) is skipped, and Index
// reports the index the kernel gave.
func TestConnectSkipsTakenIndex(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br := topo.AddBridge("br1")
	h, g := topo.AddHost("h"), topo.AddHost("g")
	err := h.Do(func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "x0"}, PeerName: "x1"})
	})
	require.NoError(t, err)
	hi := topo.Connect(h, br, "10.0.0.1/24")
	topo.Connect(g, br, "10.0.0.2/24")
	var idx int
	require.NoError(t, h.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err == nil {
			idx = l.Attrs().Index
		}
		return err
	}))
	assert.Equal(t, idx, hi.Index())
	assert.NotContains(t, []int{1, 2, 3}, hi.Index(), "lo, x0 and x1 hold 1 to 3")
	nstest.AssertReachable(t, h, "g")
}

// A Connect that fails leaves no link behind, in the host or the fabric.
func TestFailedConnectLeavesNothing(t *testing.T) {
	t.Parallel()
	links := func(h *nstest.Host) string {
		var names []string
		err := h.Do(func() error {
			ls, err := netlink.LinkList()
			for _, l := range ls {
				names = append(names, l.Attrs().Name)
			}
			return err
		})
		if err != nil {
			return err.Error()
		}
		return strings.Join(names, " ")
	}
	for _, bad := range []string{
		"10.0.0.1/24", // a's: the topology refuses it before any netlink call
		"ff02::5/64",  // multicast: the kernel refuses it after the pair exists
	} {
		t.Run(bad, func(t *testing.T) { failConnect(t, links, bad) })
	}
}

func failConnect(t *testing.T, links func(*nstest.Host) string, bad string) {
	var before, after, bLinks string
	err := testrun.Run("failed-connect", nil, func(tb testing.TB) {
		topo := nstest.New(tb)
		br := topo.AddBridge("br1")
		a, b := topo.AddHost("a"), topo.AddHost("b")
		topo.Connect(a, br, "10.0.0.1/24")
		before = links(topo.Fabric())
		// Runs after the failed Connect, before the teardown.
		tb.Cleanup(func() { after, bLinks = links(topo.Fabric()), links(b) })
		topo.Connect(b, br, "10.0.0.9/24", bad)
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), bad)
	if strings.HasPrefix(bad, "ff02") {
		assert.Contains(t, err.Error(), `nstest: host "b": add address "`+bad+`" to eth0: `, "the kernel's refusal")
	} else {
		assert.Contains(t, err.Error(), `connect "b" to bridge "br1"`)
	}
	assert.Equal(t, before, after, "fabric links")
	assert.Equal(t, "lo", bLinks, "links of b")
}

// Two bridges joined by a cable carry traffic between their hosts, and a
// Link's MTU option sets both ends.
func TestConnectBridgesAndLinkMTU(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	br1, br2 := topo.AddBridge("br1"), topo.AddBridge("br2")
	a, b := topo.AddHost("a"), topo.AddHost("b")
	topo.Connect(a, br1, "10.0.0.1/24")
	topo.Connect(b, br2, "10.0.0.2/24")
	p1, p2 := topo.ConnectBridges(br1, br2)
	assert.Equal(t, p2, p1.Peer())
	nstest.AssertReachable(t, a, "b")

	c, d := topo.AddHost("c"), topo.AddHost("d")
	ci, di := topo.Link(c, d, "10.9.0.1/30", "10.9.0.2/30", nstest.MTU(1280))
	for _, i := range []*nstest.Interface{ci, di} {
		mtu, err := i.MTU()
		require.NoError(t, err)
		assert.Equal(t, 1280, mtu, i.String())
	}
	nstest.AssertReachable(t, c, "d")
}

// The two ends of a veth pair get different interface indexes, even between
// two fresh namespaces that would both number their first device 2: the
// kernel's link-watch code defers the carrier change of a device whose index
// equals its peer's by up to a second, and during it packets are dropped.
func TestVethEndsHaveDistinctIndexes(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	a, b := topo.Link(topo.AddHost("a"), topo.AddHost("b"), "10.0.0.1/24", "10.0.0.2/24")
	assert.NotEqual(t, a.Index(), b.Index())
	br := topo.AddBridge("br1")
	h := topo.Connect(topo.AddHost("c"), br, "10.0.1.1/24")
	assert.NotEqual(t, h.Index(), h.Peer().Index())
}

// v4Addrs returns n distinct addresses of 10.1.0.0/16, as CIDRs.
func v4Addrs(n int) []string {
	out := make([]string, n)
	for k := range out {
		out[k] = fmt.Sprintf("10.1.%d.%d/16", k/250, k%250+1)
	}
	return out
}

// kernelAddrs returns the global addresses of the interface called name in
// h, as the kernel lists them.
func kernelAddrs(t *testing.T, h *nstest.Host, name string) []string {
	t.Helper()
	var out []string
	require.NoError(t, h.Do(func() error {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		as, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		for _, a := range as {
			if a.IP.IsGlobalUnicast() {
				out = append(out, a.IPNet.String())
			}
		}
		return err
	}))
	return out
}

// Connect with more addresses than one netlink exchange can acknowledge (the
// kernel queues every answer of a send before the first read, and drops
// those that overflow the socket's buffer) makes every one of them.
func TestConnectManyAddresses(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	h := topo.AddHost("h")
	want := append(v4Addrs(400), "fd00::1/64")
	i := topo.Connect(h, topo.AddBridge("br1"), want...)
	assert.ElementsMatch(t, want, kernelAddrs(t, h, "eth0"))
	assert.Len(t, i.Addrs(), len(want))
	g := topo.AddHost("g")
	topo.Connect(g, topo.Bridge("br1"), "10.1.200.1/16")
	nstest.AssertReachable(t, g, "10.1.1.100")
}

// buildFails runs build in a topology of its own, which must fail the run;
// check inspects the topology after the failure, before its teardown. It
// returns the failure.
func buildFails(t *testing.T, build func(topo *nstest.Topology), check func(topo *nstest.Topology)) string {
	t.Helper()
	err := testrun.Run(t.Name(), nil, func(tb testing.TB) {
		topo := nstest.New(tb)
		tb.Cleanup(func() { check(topo) }) // before the teardown
		build(topo)
	})
	require.Error(t, err, "the build did not fail")
	return err.Error()
}

// portsOf returns the ports of the bridge called name, or the error.
func portsOf(topo *nstest.Topology, name string) string {
	ps, err := topo.Bridge(name).Ports()
	if err != nil {
		return err.Error()
	}
	return strings.Join(ps, " ")
}

// A build whose Nth request fails, past the first batch, reports that
// request's object and leaves nothing behind: no link, no claimed address.
func TestConnectFailingLateStepLeavesNothing(t *testing.T) {
	t.Parallel()
	addrs := v4Addrs(400)
	addrs[300] = "ff02::5/64" // multicast: the kernel refuses it
	var portsBefore string
	var gi *nstest.Interface
	msg := buildFails(t, func(topo *nstest.Topology) {
		br := topo.AddBridge("br1")
		gi = topo.Connect(topo.AddHost("g"), br, "10.2.0.1/24")
		portsBefore = portsOf(topo, "br1")
		topo.Connect(topo.AddHost("h"), br, addrs...)
	}, func(topo *nstest.Topology) {
		h := topo.Host("h")
		assert.Equal(t, []string{"lo"}, links(t, h))
		assert.Equal(t, portsBefore, portsOf(topo, "br1"))
		assert.Empty(t, h.Interfaces())
		// The addresses were released: another interface can have them.
		assert.NoError(t, gi.AddAddr(addrs[0]))
		assert.NoError(t, gi.AddAddr(addrs[299]))
	})
	assert.Contains(t, msg, `nstest: host "h": add address "ff02::5/64" to eth0: cannot assign requested address`)
	assert.NotContains(t, msg, "buffer space")
}

// When the kernel's answers are lost (here a receive buffer too small for
// the batch), the build blames the first request whose outcome is unknown,
// not the first of the batch, and deletes the pair by its index.
func TestConnectLostAcknowledgementsLeaveNothing(t *testing.T) {
	t.Parallel()
	var gi *nstest.Interface
	msg := buildFails(t, func(topo *nstest.Topology) {
		gi = topo.Connect(topo.AddHost("g"), topo.AddBridge("br1"), "10.2.0.1/24")
		h := topo.AddHost("h")
		if err := nstest.SetBuildBuffer(h, 1, 1000); err != nil { // the kernel's minimum
			panic(err)
		}
		topo.Connect(h, topo.Bridge("br1"), v4Addrs(100)...)
	}, func(topo *nstest.Topology) {
		h := topo.Host("h")
		assert.Equal(t, []string{"lo"}, links(t, h))
		assert.Equal(t, gi.Peer().Name(), portsOf(topo, "br1"))
		assert.Empty(t, h.Interfaces())
		assert.NoError(t, gi.AddAddr("10.1.0.50/16"), "the address was not released")
	})
	assert.Regexp(t, `nstest: host "h": add address "10\.1\.0\.\d+/16" to eth0: outcome unknown, no acknowledgement: netlink receive: no buffer space available`, msg)
}

// An MTU below IPv6's minimum would make the kernel drop an interface's IPv6
// addresses while the topology still lists them: SetMTU and Link refuse it,
// naming the interface, the value and the minimum. IPv4-only ends accept it.
func TestMTUBelowIPv6Minimum(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	a, b := topo.AddHost("a"), topo.AddHost("b")
	ai, _ := topo.Link(a, b, "fd00::1/64", "fd00::2/64")
	err := ai.SetMTU(1000)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `nstest: interface a:eth0: MTU 1000: below 1280, the minimum for IPv6`)
	assert.Contains(t, err.Error(), "fd00::1/64")
	mtu, err := ai.MTU()
	require.NoError(t, err)
	assert.Equal(t, 1500, mtu)
	assert.Equal(t, []string{"fd00::1/64"}, kernelAddrs(t, a, "eth0"))
	nstest.AssertReachable(t, a, "fd00::2")

	c, d := topo.AddHost("c"), topo.AddHost("d")
	ci, _ := topo.Link(c, d, "10.0.0.1/24", "10.0.0.2/24")
	require.NoError(t, ci.SetMTU(1000), "IPv4 only")

	msg := buildFails(t, func(topo *nstest.Topology) {
		topo.Link(topo.AddHost("e"), topo.AddHost("f"), "10.0.1.1/24", "fd00::2/64", nstest.MTU(1000))
	}, func(topo *nstest.Topology) {
		assert.Equal(t, []string{"lo"}, links(t, topo.Host("e")))
	})
	assert.Contains(t, msg, `nstest: link "e" to "f": MTU 1000: below 1280, the minimum for IPv6`)
}

// Names in the fabric are made so that they cannot clash with a bridge's,
// whatever the nodes are called: "host+ethN" ('+' is not allowed in node
// names), or one made from the interface's index where that is too long.
func TestFabricNamesNeverClash(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	trap := topo.AddBridge("a-eth0") // what a port of host "a" used to be called
	veth := topo.AddBridge("veth1")  // what the first long-named port used to be called
	br := topo.AddBridge("br1")
	a := topo.AddHost("a")
	long := topo.AddHost("a-host-with-a-long-name")
	ai := topo.Connect(a, br, "10.0.0.1/24")
	li := topo.Connect(long, br, "10.0.0.2/24")
	topo.Connect(topo.AddHost("c"), trap, "10.0.1.1/24")
	topo.Connect(topo.AddHost("d"), veth, "10.0.2.1/24")
	assert.Equal(t, "a+eth0", ai.Peer().Name())
	assert.Regexp(t, `^a-host-wit\+\d{4}$`, li.Peer().Name())
	nstest.AssertReachable(t, a, "a-host-with-a-long-name")
	ports, err := br.Ports()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{ai.Peer().Name(), li.Peer().Name()}, ports)
}

// A second cable between the same two bridges would make a loop, which
// bridges without spanning tree turn into a broadcast storm: ConnectBridges
// refuses it with a clear error and changes nothing.
func TestSecondCableBetweenBridgesIsRefused(t *testing.T) {
	t.Parallel()
	var before string
	msg := buildFails(t, func(topo *nstest.Topology) {
		br1, br2 := topo.AddBridge("br1"), topo.AddBridge("br2")
		p, q := topo.ConnectBridges(br1, br2)
		assert.Equal(t, "br1+br2", p.Name())
		assert.Equal(t, "br2+br1", q.Name())
		before = portsOf(topo, "br1") + " / " + portsOf(topo, "br2")
		topo.ConnectBridges(br2, br1)
	}, func(topo *nstest.Topology) {
		assert.Equal(t, before, portsOf(topo, "br1")+" / "+portsOf(topo, "br2"))
	})
	assert.Contains(t, msg, `nstest: connect bridges "br2" and "br1": they are already joined (by br1+br2 and br2+br1); a second cable would make a loop`)
}
