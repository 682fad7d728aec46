package nstest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nstest/harness/internal/exampletest"
	"github.com/nstest/harness/nstest"
)

// TestExamples runs the package's examples and checks what they print. They
// build namespaces, so they have no "Output:" comment: go test would run them
// where the machine cannot and fail them, where this test skips.
func TestExamples(t *testing.T) {
	nstest.New(t) // skips where the machine cannot build namespaces
	for _, c := range []struct {
		name    string
		example func()
		want    string
	}{
		{"Example", Example, "ns1 and ns2 reach each other through br1\nerror: <nil>\n"},
		{"Host_Listen", ExampleHost_Listen, "hello 10.0.0.2\n"},
		{"Host_Command", ExampleHost_Command, "eth0 mtu 1500\n"},
		{"Host_InNS", ExampleHost_InNS, "interfaces: 1\n"},
		{"AssertConnectivity", ExampleAssertConnectivity, "all pairs: true\n"},
		{"Host_Capture", ExampleHost_Capture, "10.0.0.1 > 10.0.0.2: echo request\n"},
		{"Host_Masquerade", ExampleHost_Masquerade, "server sees 203.0.113.1\n"},
		{"AssertMatrix", ExampleAssertMatrix, "as expected: true\n"},
		{"AssertUDPReachable", ExampleAssertUDPReachable, "true\ntrue\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, exampletest.Output(t, c.example))
		})
	}
}
