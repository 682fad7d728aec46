package nstest

import (
	"os"
	"testing"

	"github.com/nstest/harness/internal/rootless"
)

// Main runs the tests of m and exits, for use as the whole of TestMain:
//
//	func TestMain(m *testing.M) { nstest.Main(m) }
//
// When the process may build network namespaces (it is root, or has
// CAP_NET_ADMIN and CAP_SYS_ADMIN), Main just runs the tests. Otherwise it
// runs the test binary again inside a new user namespace, where it is root
// over network namespaces of its own, and exits with that run's status, so
// that the tests run for an ordinary user. If the system forbids that too,
// the tests run as they are and New skips them, saying why.
func Main(m *testing.M) {
	os.Exit(rootless.Run(m.Run))
}
