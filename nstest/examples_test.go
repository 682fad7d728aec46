package nstest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nstest/harness/internal/exampletest"
	"github.com/nstest/harness/nstest"
)

// tb stands, in the examples, for the *testing.T of the test their body
// would be in a user's code; TestExamples sets it to the test running them.
// (The examples used to wrap their body in nstest.Run, which left the
// public package to become internal/testrun.)
var tb testing.TB

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
		{"Example", Example, "ns1 and ns2 reach each other through br1\n"},
		{"Host_Listen", ExampleHost_Listen, "hello 10.0.0.2\n"},
		{"Host_Command", ExampleHost_Command, "eth0 mtu 1500\n"},
		{"Host_InNS", ExampleHost_InNS, "interfaces: 1\n"},
		{"AssertConnectivity", ExampleAssertConnectivity, "all pairs: true\n"},
		{"Host_Capture", ExampleHost_Capture, "10.0.0.1 > 10.0.0.2: echo request\n"},
		{"Host_Masquerade", ExampleHost_Masquerade, "server sees 203.0.113.1\n"},
		{"AssertMatrix", ExampleAssertMatrix, "as expected: true\n"},
		{"AssertUDPReachable", ExampleAssertUDPReachable, "true\ntrue\n"},
		{"Topology_Graph", ExampleTopology_Graph, `flowchart TB
    %% nstest topology routed
    n0["h1"]
    n1{{"r1 (router)"}}
    n2["h2"]
    n0 ---|"h1:eth0 10.1.0.2/24<br/>r1:eth0 10.1.0.1/24"| n1
    n1 ---|"r1:eth1 10.2.0.1/24<br/>h2:eth0 10.2.0.2/24"| n2
    classDef host fill:#ffffff,stroke:#374151
    class n0,n2 host
    classDef router fill:#fef3c7,stroke:#b45309
    class n1 router
`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb = t
			assert.Equal(t, c.want, exampletest.Output(t, c.example))
		})
	}
}
