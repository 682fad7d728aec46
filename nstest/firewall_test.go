package nstest_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
	"github.com/nstest/harness/nstest/firewall"
)

func TestFirewallDropThenFlush(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := seed(t)
	nstest.RequireReachable(t, ns1, "ns2")

	require.NoError(t, ns2.Firewall(firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Proto: "icmp", Src: "ns1"}))
	nstest.AssertUnreachable(t, ns1, "ns2", nstest.Within(300*time.Millisecond))
	nstest.AssertReachable(t, ns1, "fd00::2") // the rule names ns1's IPv4 address only

	rules, err := ns2.FirewallRules()
	require.NoError(t, err)
	m := regexp.MustCompile(`input icmp saddr 10\.0\.0\.1 drop\s+\[packets (\d+)`).FindStringSubmatch(rules)
	require.NotNil(t, m, "no drop rule for 10.0.0.1 in:\n%s", rules)
	assert.NotEqual(t, "0", m[1], "the drop rule counted no packets:\n%s", rules)

	require.NoError(t, ns2.FlushFirewall())
	nstest.AssertReachable(t, ns1, "ns2")
	rules, err = ns2.FirewallRules()
	require.NoError(t, err)
	assert.NotContains(t, rules, "drop")
}

func TestFirewallErrorsNameHostAndValue(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := seed(t)
	err := ns2.Firewall(
		firewall.Rule{Chain: firewall.Input, Action: firewall.Accept, Src: "ns1"},
		firewall.Rule{Chain: firewall.Input, Action: firewall.Drop, Src: "10.0.0.300"},
	)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `host "ns2"`)
	assert.Contains(t, err.Error(), "rule 2")
	assert.Contains(t, err.Error(), "10.0.0.300")
	// Nothing was installed: the batch is all or nothing.
	rules, err := ns2.FirewallRules()
	require.NoError(t, err)
	assert.NotContains(t, rules, "10.0.0.1")

	err = ns1.ForwardPort("tcp", 80, "nosuch:8080", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `host "ns1"`)
	assert.Contains(t, err.Error(), "nosuch")
}

// chain builds client -- router -- server on two direct links:
// client 10.0.1.2 (eth0), router 10.0.1.1 (eth0) and 10.0.2.1 (eth1),
// server 10.0.2.2 (eth0).
func chain(t *testing.T, opts ...nstest.LinkOption) (client, router, server *nstest.Host) {
	topo := nstest.New(t)
	client, router, server = topo.AddHost("client"), topo.AddRouter("r"), topo.AddHost("srv")
	topo.Link(client, router, "10.0.1.2/24", "10.0.1.1/24")
	topo.Link(router, server, "10.0.2.1/24", "10.0.2.2/24", opts...)
	return client, router, server
}

// acceptOne accepts one connection on l and returns it.
func acceptOne(t *testing.T, l net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

func TestMasqueradeHidesClientFromServer(t *testing.T) {
	t.Parallel()
	client, router, server := chain(t)
	require.NoError(t, client.AddRoute("default", "r"))
	l, err := server.Listen("tcp", ":8080")
	require.NoError(t, err)

	// The server has no route back to the client's subnet.
	nstest.AssertTCPUnreachable(t, client, "srv:8080", nstest.Within(300*time.Millisecond))

	require.NoError(t, router.Masquerade("eth1", "client"))
	accepted := acceptOne(t, l)
	c, err := client.Dial("tcp", "srv:8080")
	require.NoError(t, err)
	defer c.Close()
	sc := <-accepted
	require.NotNil(t, sc, "accept failed")
	defer sc.Close()
	assert.Equal(t, "10.0.2.1", sc.RemoteAddr().(*net.TCPAddr).IP.String(), "the server sees the router's address")
	assert.Equal(t, "10.0.1.2", c.LocalAddr().(*net.TCPAddr).IP.String(), "the client uses its own")
}

func TestForwardPortReachesServerByName(t *testing.T) {
	t.Parallel()
	// srv is inside, behind the router; the client is outside, on the
	// router's eth1 network, and knows only the router's address.
	topo := nstest.New(t)
	server, router, client := topo.AddHost("srv"), topo.AddRouter("r"), topo.AddHost("client")
	topo.Link(server, router, "192.168.1.2/24", "192.168.1.1/24")
	topo.Link(router, client, "203.0.113.1/24", "203.0.113.9/24")
	require.NoError(t, server.AddRoute("default", "r"))
	l, err := server.Listen("tcp", ":8080")
	require.NoError(t, err)

	nstest.AssertTCPUnreachable(t, client, "203.0.113.1:80", nstest.Within(300*time.Millisecond))

	require.NoError(t, router.ForwardPort("tcp", 80, "srv:8080", "eth1"))
	accepted := acceptOne(t, l)
	c, err := client.Dial("tcp", "203.0.113.1:80")
	require.NoError(t, err)
	defer c.Close()
	sc := <-accepted
	require.NotNil(t, sc, "accept failed")
	assert.Equal(t, "203.0.113.9", sc.RemoteAddr().(*net.TCPAddr).IP.String(), "DNAT keeps the client's address")
	_, err = sc.Write([]byte("hello from srv"))
	require.NoError(t, err)
	sc.Close()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, "hello from srv", string(got))
}

// synMSS returns the MSS option of the first TCP SYN captured, or 0.
func synMSS(pkts []capture.Packet) uint16 {
	for _, p := range pkts {
		if p.EtherType != capture.EtherTypeIPv4 || len(p.Data) < 14+20 {
			continue
		}
		ip := p.Data[14:]
		tcp := ip[int(ip[0]&0x0f)*4:]
		if len(tcp) < 20 {
			continue
		}
		opts := tcp[20 : int(tcp[12]>>4)*4]
		for len(opts) >= 2 {
			switch opts[0] {
			case 0:
				opts = nil
				continue
			case 1:
				opts = opts[1:]
				continue
			}
			if opts[0] == 2 && opts[1] == 4 && len(opts) >= 4 {
				return binary.BigEndian.Uint16(opts[2:4])
			}
			if opts[1] < 2 {
				break
			}
			opts = opts[min(int(opts[1]), len(opts)):]
		}
	}
	return 0
}

func TestClampMSSLowersForwardedSyn(t *testing.T) {
	t.Parallel()
	client, router, server := chain(t, nstest.MTU(1400))
	require.NoError(t, client.AddRoute("default", "r"))
	require.NoError(t, server.AddRoute("default", "r"))
	l, err := server.Listen("tcp", ":8080")
	require.NoError(t, err)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	syn := capture.And(capture.TCPPort(8080), capture.TCPFlagsSet(capture.TCPSyn), capture.Src(netip.MustParseAddr("10.0.1.2")))
	dial := func() uint16 {
		c := server.Capture("eth0")
		conn, err := client.Dial("tcp", "srv:8080")
		require.NoError(t, err)
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pkts, err := c.Wait(ctx, syn, 1)
		require.NoError(t, err)
		return synMSS(pkts)
	}
	assert.Equal(t, uint16(1460), dial(), "without clamping the server sees the client's MSS")
	require.NoError(t, router.ClampMSS("eth1"))
	assert.Equal(t, uint16(1360), dial(), "clamped to the 1400-byte link")
}
