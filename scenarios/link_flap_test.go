// The bug: after a switch port flapped, a service's clients reconnected in a
// storm and lost their sessions, though the outage lasted under a second. The
// client treated a read that stalled for a moment as a dead connection. TCP
// itself needs no help: while the link is down, segments are retransmitted
// with growing timeouts, and when the link is back the same connection
// delivers everything, in order, without a reset.
//
// The test shows the outage first (pings lost, nothing delivered while the
// link is down), then the recovery on the same connection, once after a
// single outage and once through a link that keeps flapping. The fix in the
// client is to give a connection longer than one outage before giving up.
package scenarios_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestLinkFlapTCPRecovers(t *testing.T) {
	t.Parallel()
	topo := nstest.New(t)
	lan := topo.AddBridge("lan")
	client, server := topo.AddHost("client"), topo.AddHost("server")
	eth0 := topo.Connect(client, lan, "10.0.0.1/24")
	topo.Connect(server, lan, "10.0.0.2/24")
	serve(t, server, ":7", func(c net.Conn) { io.Copy(c, c) }) // echo
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.DialContext(dctx, "tcp", "server:7")
	require.NoError(t, err)
	r := bufio.NewReader(conn)
	echo := func(msg string, within time.Duration) (string, error) {
		conn.SetDeadline(time.Now().Add(within))
		if _, err := io.WriteString(conn, msg+"\n"); err != nil {
			return "", err
		}
		return r.ReadString('\n')
	}
	got, err := echo("before", 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "before\n", got)

	// The failure: the switch port goes down; nothing gets through, and a
	// client that waits half a second gives up on a healthy connection.
	stop := eth0.Flap(context.Background(), time.Minute, time.Minute)
	nstest.AssertUnreachable(t, client, "server", nstest.Within(300*time.Millisecond))
	_, err = echo("during", 500*time.Millisecond)
	require.Error(t, err)
	assert.True(t, isTimeout(err), "want a stall, got %v", err)

	// The recovery: the port comes back and the same connection delivers
	// the message sent during the outage, by retransmission.
	// TCP's backoff after the outage decides when: bounded, not timed.
	require.NoError(t, stop())
	conn.SetDeadline(time.Now().Add(time.Minute))
	got, err = r.ReadString('\n')
	require.NoError(t, err, "the connection did not recover")
	assert.Equal(t, "during\n", got)

	// And through a port that keeps flapping, every message arrives in
	// order on the same connection, given time.
	ctx, stopFlapping := context.WithCancel(context.Background())
	defer stopFlapping()
	// Up long enough that a retransmission is more likely to pass than not,
	// also on a loaded machine that brings the carrier back a little late:
	// TCP's backoff doubles with every loss, so "given time" is generous.
	eth0.Flap(ctx, 100*time.Millisecond, 400*time.Millisecond)
	for i := range 10 {
		msg := fmt.Sprint("flap ", i)
		got, err := echo(msg, time.Minute)
		require.NoError(t, err)
		require.Equal(t, msg+"\n", got)
	}
}
