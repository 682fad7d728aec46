// TEMPORARY stand-in until the ping branch lands; not committed.
package ping

import (
	"context"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

type Stats struct {
	Sent, Received, Duplicates int
	Loss                       float64
	RTTs                       []time.Duration
	Min, Avg, Max, StdDev      time.Duration
}
type config struct {
	count    int
	interval time.Duration
	timeout  time.Duration
}
type Option func(*config)

func Count(n int) Option             { return func(c *config) { c.count = n } }
func Interval(d time.Duration) Option { return func(c *config) { c.interval = d } }
func Timeout(d time.Duration) Option  { return func(c *config) { c.timeout = d } }

func Ping(ctx context.Context, dst netip.Addr, opts ...Option) (*Stats, error) {
	c := config{count: 1, interval: 100 * time.Millisecond, timeout: time.Second}
	for _, o := range opts {
		o(&c)
	}
	netw, proto, typ := "ip4:icmp", 1, icmp.Type(ipv4.ICMPTypeEcho)
	if dst.Is6() {
		netw, proto, typ = "ip6:ipv6-icmp", 58, ipv6.ICMPTypeEchoRequest
	}
	conn, err := icmp.ListenPacket(netw, "")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st := &Stats{}
	end := time.Now().Add(c.timeout)
	for i := 0; i < c.count; i++ {
		m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: 77, Seq: i, Data: []byte("nstest")}}
		b, _ := m.Marshal(nil)
		if _, err := conn.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return st, err
		}
		st.Sent++
		conn.SetReadDeadline(end)
		buf := make([]byte, 1500)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return st, nil
			}
			r, err := icmp.ParseMessage(proto, buf[:n])
			if err == nil && (r.Type == ipv4.ICMPTypeEchoReply || r.Type == ipv6.ICMPTypeEchoReply) {
				st.Received++
				return st, nil
			}
		}
	}
	return st, nil
}
