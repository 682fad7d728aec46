package nstest_test

import (
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
)

// badInput runs build as a test of its own, which must fail with a message
// containing every part of want; then check inspects the topology before it
// is torn down, to prove nothing half-built was left.
func badInput(t *testing.T, build func(tb testing.TB, topo *nstest.Topology), check func(topo *nstest.Topology), want ...string) {
	t.Helper()
	err := testrun.Run(t.Name(), io.Discard, func(tb testing.TB) {
		topo := nstest.New(tb)
		if check != nil {
			tb.Cleanup(func() { check(topo) }) // runs before the topology's teardown
		}
		build(tb, topo)
	})
	require.Error(t, err, "bad input was accepted")
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
}

func links(t *testing.T, h *nstest.Host) []string {
	var names []string
	h.InNS(func() {
		ifs, err := net.Interfaces()
		require.NoError(t, err)
		for _, i := range ifs {
			names = append(names, i.Name)
		}
	})
	return names
}

func TestBadInput(t *testing.T) {
	nstest.New(t) // skip where namespaces cannot be built
	t.Run("invalid CIDR", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.Connect(topo.AddHost("h1"), topo.AddBridge("br1"), "10.0.0.300/24")
		}, func(topo *nstest.Topology) {
			assert.Equal(t, []string{"lo"}, links(t, topo.Host("h1")))
			assert.Equal(t, []string{"lo", "br1"}, links(t, topo.Fabric()))
		}, `host "h1"`, `address "10.0.0.300/24": invalid CIDR`)
	})
	t.Run("address without prefix", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.Link(topo.AddHost("a"), topo.AddHost("b"), "10.0.0.1", "10.0.0.2/24")
		}, nil, `host "a"`, `address "10.0.0.1": missing prefix length`)
	})
	t.Run("duplicate host", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddHost("h1")
			topo.AddHost("h1")
		}, func(topo *nstest.Topology) {
			assert.Len(t, topo.Hosts(), 1)
		}, `host "h1": duplicate name`)
	})
	t.Run("bridge named like a host", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddHost("x1")
			topo.AddBridge("x1")
		}, nil, `bridge "x1": duplicate name`)
	})
	t.Run("bridge name over 15 bytes", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddBridge("a-very-long-bridge")
		}, func(topo *nstest.Topology) {
			assert.Nil(t, topo.Bridge("a-very-long-bridge"))
		}, `bridge "a-very-long-bridge"`, "over the 15 bytes")
	})
	t.Run("interface name over 15 bytes", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.Link(topo.AddHost("a"), topo.AddHost("b"), "", "", nstest.Names("eth0", "sixteen-bytes-xx"))
		}, func(topo *nstest.Topology) {
			assert.Equal(t, []string{"lo"}, links(t, topo.Host("a")))
		}, `interface name "sixteen-bytes-xx"`, "over the 15 bytes")
	})
	t.Run("invalid host name", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddHost("no/slash")
		}, nil, `host "no/slash": invalid name`)
	})
	t.Run("host named like an address", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			topo.AddHost("10.0.0.9")
		}, nil, `host "10.0.0.9": invalid name: want a letter, then letters, digits`)
	})
	t.Run("address conflict", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			br := topo.AddBridge("br1")
			topo.Connect(topo.AddHost("h1"), br, "10.0.0.1/24")
			topo.Connect(topo.AddHost("h2"), br, "10.0.0.1/24")
		}, func(topo *nstest.Topology) {
			assert.Equal(t, []string{"lo"}, links(t, topo.Host("h2")), "the conflicting veth was left in h2")
			ports, err := topo.Bridge("br1").Ports()
			require.NoError(t, err)
			assert.Equal(t, []string{"h1+eth0"}, ports)
		}, `address "10.0.0.1/24": conflict: h1:eth0 already has 10.0.0.1`)
	})
	t.Run("unknown host in an assertion", func(t *testing.T) {
		badInput(t, func(tb testing.TB, topo *nstest.Topology) {
			nstest.AssertReachable(tb, topo.AddHost("h1"), "nope")
		}, nil, `"nope" is neither an IP address nor a node of topology`)
	})
	t.Run("unknown host in Dial", func(t *testing.T) {
		topo := nstest.New(t)
		_, err := topo.AddHost("h1").Dial("tcp", "nope:80")
		require.Error(t, err)
		assert.True(t, strings.Contains(err.Error(), `host "h1"`), err.Error())
		assert.Contains(t, err.Error(), `"nope" is neither an IP address nor a node`)
	})
	t.Run("MTU out of range", func(t *testing.T) {
		topo := nstest.New(t)
		a, _ := topo.Link(topo.AddHost("a"), topo.AddHost("b"), "", "")
		err := a.SetMTU(20)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "MTU 20: out of range")
	})
}

// A sysctl the host cannot have fails AddHost, naming the host and the key,
// and leaves no host behind.
func TestBadSysctl(t *testing.T) {
	nstest.New(t)
	for _, c := range []struct{ key, want string }{
		{"net.ipv4.no_such_knob", `host "h1": sysctl "net.ipv4.no_such_knob": no such network sysctl`},
		{"kernel.hostname", `host "h1": sysctl "kernel.hostname": only network sysctls (net.*)`},
		{"net.ipv4.ip_forward", `host "h1": sysctl net.ipv4.ip_forward="yes": the kernel refuses the value`},
	} {
		t.Run(c.key, func(t *testing.T) {
			value := "1"
			if c.key == "net.ipv4.ip_forward" {
				value = "yes"
			}
			badInput(t, func(tb testing.TB, topo *nstest.Topology) {
				topo.AddHost("h1", nstest.Sysctl(c.key, value))
			}, func(topo *nstest.Topology) {
				assert.Nil(t, topo.Host("h1"))
				assert.Empty(t, topo.Hosts())
			}, c.want)
		})
	}
}

// A nil function given to InNS or Do says which host and method, instead of
// a nil dereference deep in the namespace plumbing.
func TestNilFunctions(t *testing.T) {
	t.Parallel()
	h := nstest.New(t).AddHost("h1")
	assert.PanicsWithValue(t, `nstest: host "h1": InNS: fn is nil`, func() { h.InNS(nil) })
	err := h.Do(nil)
	require.Error(t, err)
	assert.Equal(t, `nstest: host "h1": Do: fn is nil`, err.Error())
}
