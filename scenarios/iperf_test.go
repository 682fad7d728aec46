// Throughput through a shaped link, as Mininet's testLinkBandwidth checks
// its TCLink: iperf3 between two hosts measures the link as it is, then
// with Impair's rate limit of 10 Mbit/s, which the measured rate must meet
// within 15%.
package scenarios_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestThroughputOfShapedLink(t *testing.T) {
	t.Parallel()
	needProgram(t, "iperf3", "iperf3")
	topo := nstest.New(t)
	client, server := topo.AddHost("client"), topo.AddHost("server")
	up, _ := topo.Link(client, server, "10.0.0.1/24", "10.0.0.2/24")
	server.StartService([]string{"iperf3", "--server", "--bind", "10.0.0.2"}, nstest.ReadyTCP(5201))

	// Unshaped, a veth carries gigabits.
	free := iperfRate(t, client, "10.0.0.2")
	t.Logf("unshaped: %.1f Mbit/s", free/1e6)
	assert.Greater(t, free, 100e6, "a veth without a rate limit")

	const limit = 10_000_000
	require.NoError(t, up.Impair(nstest.Impairment{Rate: limit}))
	shaped := iperfRate(t, client, "10.0.0.2")
	t.Logf("shaped to 10 Mbit/s: %.2f Mbit/s", shaped/1e6)
	assert.InEpsilon(t, float64(limit), shaped, 0.15, "measured rate through a 10 Mbit/s link")
}

// iperfRate runs a 2-second iperf3 test from client to the server at addr
// and returns the rate the server received, in bits per second. The first
// half second is left out: it holds the token bucket's initial burst.
func iperfRate(t *testing.T, client *nstest.Host, addr string) float64 {
	t.Helper()
	out, err := client.Command("iperf3", "--client", addr, "--time", "2", "--omit", "0.5", "--json").Output()
	require.NoError(t, err, "iperf3 --client %s: %s", addr, out)
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	require.NoError(t, json.Unmarshal(out, &r), "iperf3 output: %s", out)
	return r.End.SumReceived.BitsPerSecond
}
