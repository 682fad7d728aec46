// Package pingbench compares the cost per echo of nstest's native pinger
// with github.com/prometheus-community/pro-bing and iputils ping, each
// pinging across a veth pair between two namespaces of one topology.
//
// It is a module of its own so that pro-bing never becomes a dependency of
// github.com/nstest/harness. Run it as root (or rootless through
// nstest.Main):
//
//	cd ci/pingbench && go test -run '^$' -bench . -benchtime 2s
package pingbench
