package nstest

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/nstest/harness/nstest/ping"
)

// Ping sends ICMP or ICMPv6 echo requests from the host to dst, an IP
// address or the name of a node of the topology, and returns the
// statistics. The defaults are those of package ping: one echo, waiting up to
// a second for the reply.
func (h *Host) Ping(ctx context.Context, dst string, opts ...ping.Option) (*ping.Stats, error) {
	a, err := h.topo.resolve(h, dst, 0)
	if err != nil {
		return nil, fmt.Errorf("nstest: host %q: ping %s: %w", h.name, dst, err)
	}
	return h.ping(ctx, a, opts...)
}

func (h *Host) ping(ctx context.Context, dst netip.Addr, opts ...ping.Option) (*ping.Stats, error) {
	h.topo.ready()
	var (
		st  *ping.Stats
		c   *ping.Conn
		err error
	)
	if dst.Zone() != "" {
		// A zone names an interface of the host: resolve it inside.
		err = h.do(func() (err error) {
			st, err = ping.Ping(ctx, dst, opts...)
			return err
		})
	} else {
		// Only the socket needs the namespace; the exchange runs here.
		err = h.do(func() (err error) {
			c, err = ping.Open(ping.FamilyOf(dst), ping.Auto)
			return err
		})
		if err == nil {
			st, err = c.Ping(ctx, dst, opts...)
			c.Close()
		}
	}
	if err != nil {
		return st, fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return st, nil
}
