package nstest_test

// The API contract of DESIGN.md, as signatures: external tests are written
// against these names, so a change to any of them fails to compile here.

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/ping"
)

var (
	_ func(testing.TB, ...nstest.Option) *nstest.Topology                                                                             = nstest.New
	_ func(*testing.M)                                                                                                                = nstest.Main
	_ func(*nstest.Topology, string, ...nstest.HostOption) *nstest.Host                                                               = (*nstest.Topology).AddHost
	_ func(*nstest.Topology, string, ...nstest.HostOption) *nstest.Host                                                               = (*nstest.Topology).AddRouter
	_ func(*nstest.Topology, string, ...nstest.BridgeOption) *nstest.Bridge                                                           = (*nstest.Topology).AddBridge
	_ func(*nstest.Topology, *nstest.Host, *nstest.Bridge, ...string) *nstest.Interface                                               = (*nstest.Topology).Connect
	_ func(*nstest.Topology, *nstest.Host, *nstest.Host, string, string, ...nstest.LinkOption) (*nstest.Interface, *nstest.Interface) = (*nstest.Topology).Link
	_ func(*nstest.Topology, string) *nstest.Host                                                                                     = (*nstest.Topology).Host
	_ func(*nstest.Topology) []*nstest.Host                                                                                           = (*nstest.Topology).Hosts
	_ func(*nstest.Topology) *nstest.Host                                                                                             = (*nstest.Topology).Fabric
	_ func(*nstest.Host) string                                                                                                       = (*nstest.Host).Name
	_ func(*nstest.Host, func())                                                                                                      = (*nstest.Host).InNS
	_ func(*nstest.Host, func() error) error                                                                                          = (*nstest.Host).Do
	_ func(*nstest.Host, string, ...string) *exec.Cmd                                                                                 = (*nstest.Host).Command
	_ func(*nstest.Host, context.Context, string, ...string) *exec.Cmd                                                                = (*nstest.Host).CommandContext
	_ func(*nstest.Host, string, string) (net.Conn, error)                                                                            = (*nstest.Host).Dial
	_ func(*nstest.Host, string, string) (net.Listener, error)                                                                        = (*nstest.Host).Listen
	_ func(*nstest.Host, string, string) (net.PacketConn, error)                                                                      = (*nstest.Host).ListenPacket
	_ func(*nstest.Host, context.Context, string, ...ping.Option) (*ping.Stats, error)                                                = (*nstest.Host).Ping
	_ func(*nstest.Host) netip.Addr                                                                                                   = (*nstest.Host).Addr
	_ func(*nstest.Host, string, string) error                                                                                        = (*nstest.Host).AddRoute
	_ func(*nstest.Host) *http.Client                                                                                                 = (*nstest.Host).HTTPClient
	_ func(*nstest.Bridge) string                                                                                                     = (*nstest.Bridge).Name
	_ func(*nstest.Bridge, string) error                                                                                              = (*nstest.Bridge).AddAddr
	_ func(*nstest.Bridge, string) error                                                                                              = (*nstest.Bridge).AddFlow
	_ func(*nstest.Bridge, string) error                                                                                              = (*nstest.Bridge).DelFlows
	_ func(*nstest.Bridge) ([]string, error)                                                                                          = (*nstest.Bridge).Flows
	_ func(*nstest.Interface) string                                                                                                  = (*nstest.Interface).Name
	_ func(*nstest.Interface) error                                                                                                   = (*nstest.Interface).SetDown
	_ func(*nstest.Interface) error                                                                                                   = (*nstest.Interface).SetUp
	_ func(*nstest.Interface, int) error                                                                                              = (*nstest.Interface).SetMTU
	_ func(*nstest.Interface, nstest.Impairment) error                                                                                = (*nstest.Interface).Impair
	_                                                                                                                                 = nstest.Impairment{Delay: time.Second, Jitter: time.Second, Loss: 1.5, Rate: uint64(1)}
	_ error                                                                                                                           = nstest.ErrUnsupported
	_ error                                                                                                                           = nstest.ErrClosed
	_ func() nstest.BridgeOption                                                                                                      = nstest.OVS
	_ func(testing.TB, *nstest.Host, string, ...nstest.CheckOption) bool                                                              = nstest.AssertReachable
	_ func(testing.TB, *nstest.Host, string, ...nstest.CheckOption) bool                                                              = nstest.AssertUnreachable
	_ func(testing.TB, *nstest.Host, string, ...nstest.CheckOption)                                                                   = nstest.RequireReachable
	_ func(testing.TB, *nstest.Host, string, ...nstest.CheckOption)                                                                   = nstest.RequireUnreachable
	_ func(testing.TB, ...*nstest.Host) bool                                                                                          = nstest.AssertConnectivity
	_ func(testing.TB, *nstest.Host, string, ...nstest.CheckOption) bool                                                              = nstest.AssertTCPReachable
	_ func(testing.TB, *nstest.Host, string, ...nstest.CheckOption) bool                                                              = nstest.AssertTCPUnreachable
	_ func(context.Context, netip.Addr, ...ping.Option) (*ping.Stats, error)                                                          = ping.Ping
	_ func(int) ping.Option                                                                                                           = ping.Count
	_ func(time.Duration) ping.Option                                                                                                 = ping.Interval
	_ func(time.Duration) ping.Option                                                                                                 = ping.Timeout
	_ func(int) ping.Option                                                                                                           = ping.Size
	_ func(int) ping.Option                                                                                                           = ping.TTL
	_ func() ping.Option                                                                                                              = ping.DontFragment
	_ func(netip.Addr) ping.Option                                                                                                    = ping.Source
	_                                                                                                                                 = ping.Stats{Sent: 1, Received: 1, Duplicates: 1, Loss: 1, RTTs: nil, Min: 1, Avg: 1, Max: 1, StdDev: 1}
)
