package nstest_test

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

// TestEveryAssertHasARequire reads the package's source: every exported
// AssertX has a RequireX with the same parameters and no result.
func TestEveryAssertHasARequire(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	require.NoError(t, err)
	params := map[string]string{}
	results := map[string]int{}
	for _, f := range pkgs["nstest"].Files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() {
				continue
			}
			var b strings.Builder
			printer.Fprint(&b, fset, fn.Type.Params)
			params[fn.Name.Name] = b.String()
			results[fn.Name.Name] = fn.Type.Results.NumFields()
		}
	}
	asserts := 0
	for name, p := range params {
		base, ok := strings.CutPrefix(name, "Assert")
		if !ok {
			continue
		}
		asserts++
		rp, ok := params["Require"+base]
		if !assert.True(t, ok, "%s has no Require%s", name, base) {
			continue
		}
		assert.Equal(t, p, rp, "Require%s takes other parameters than %s", base, name)
		assert.Zero(t, results["Require"+base], "Require%s returns something", base)
	}
	assert.GreaterOrEqual(t, asserts, 8, "found too few Assert functions: is the source there?")
}

// TestRequireTransportStopsTheTest: each Require of a TCP or UDP check
// passes where its Assert holds, and where it fails reports the same
// message and ends the test at once.
func TestRequireTransportStopsTheTest(t *testing.T) {
	t.Parallel()
	_, ns1, ns2, _ := three(t)
	l, err := ns2.Listen("tcp", ":8080")
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
	nstest.ServeUDPEcho(t, ns2, ":7")
	short := nstest.Within(300 * time.Millisecond)

	type check func(tb testing.TB, from *nstest.Host, address string, opts ...nstest.CheckOption) bool
	type stop func(tb testing.TB, from *nstest.Host, address string, opts ...nstest.CheckOption)
	for _, c := range []struct {
		name    string
		assert  check
		require stop
		address string
		pass    bool
	}{
		{"TCPReachable", nstest.AssertTCPReachable, nstest.RequireTCPReachable, "ns2:8080", true},
		{"TCPReachable", nstest.AssertTCPReachable, nstest.RequireTCPReachable, "ns2:9", false},
		{"TCPUnreachable", nstest.AssertTCPUnreachable, nstest.RequireTCPUnreachable, "ns2:9", true},
		{"TCPUnreachable", nstest.AssertTCPUnreachable, nstest.RequireTCPUnreachable, "ns2:8080", false},
		{"UDPReachable", nstest.AssertUDPReachable, nstest.RequireUDPReachable, "ns2:7", true},
		{"UDPReachable", nstest.AssertUDPReachable, nstest.RequireUDPReachable, "ns2:9", false},
		{"UDPUnreachable", nstest.AssertUDPUnreachable, nstest.RequireUDPUnreachable, "ns2:9", true},
		{"UDPUnreachable", nstest.AssertUDPUnreachable, nstest.RequireUDPUnreachable, "ns2:7", false},
	} {
		// The options reach the check: over IPv6 the messages name fd00::2.
		opts := []nstest.CheckOption{short, nstest.IPv6()}
		msg, finished := failures(t, func(tb testing.TB) { c.require(tb, ns1, c.address, opts...) })
		if c.pass {
			assert.True(t, finished, "Require%s %s did not let the test go on", c.name, c.address)
			assert.Empty(t, msg, "Require%s %s", c.name, c.address)
			continue
		}
		assert.False(t, finished, "Require%s %s returned after failing", c.name, c.address)
		assert.Contains(t, msg, "fd00::2", "Require%s %s ignored its options", c.name, c.address)
		want, _ := failures(t, func(tb testing.TB) { c.assert(tb, ns1, c.address, opts...) })
		// What happened may differ from run to run (retry counts, the
		// ephemeral port, a last attempt cut short by the deadline): compare
		// who, to what and what was wanted.
		who := func(s string) string { before, _, _ := strings.Cut(s, ", got "); return before }
		assert.Equal(t, who(want), who(msg), "Require%s %s reports otherwise than Assert%s", c.name, c.address, c.name)
	}
}
