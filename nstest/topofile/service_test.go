package topofile_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nstest/harness/internal/testrun"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/topofile"
)

const serviceFile = `
bridges: [{name: br1}]
hosts:
  - {name: h1, connect: [{bridge: br1, addrs: [10.0.0.1/24]}]}
  - {name: h2, connect: [{bridge: br1, addrs: [10.0.0.2/24]}]}
expect:
  tcp: [h1 -> h2:80]
  service: [h1 -> h2:80, "h1 -> 10.0.0.2:8080"]
`

// TestServiceNeedsAListener: a tcp check passes with nothing listening (the
// runner listens for it), a service check of the same port does not, and a
// service check passes once a program of the test listens.
func TestServiceNeedsAListener(t *testing.T) {
	f := parse(t, "svc.yaml", serviceFile)
	var rs []topofile.Result
	err := testrun.Run("service", nil, func(tb testing.TB) {
		topo := topofile.Build(tb, f)
		l, err := topo.Host("h2").Listen("tcp", ":8080")
		if err != nil {
			tb.Fatal(err)
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		rs = topofile.Verify(tb, topo, f, nstest.Within(300*time.Millisecond))
	})
	if errors.Is(err, testrun.ErrSkipped) {
		t.Skip(err)
	}
	want := map[string]bool{"h1 -> h2:80 tcp": true, "h1 -> h2:80 service": false, "h1 -> 10.0.0.2:8080 service": true}
	if len(rs) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(rs), len(want), rs)
	}
	for _, r := range rs {
		if ok, known := want[r.String()]; !known || r.OK != ok {
			t.Errorf("%s: ok=%v (%s), want %v", r, r.OK, r.Message, ok)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "svc.yaml:8:13: nstest: h1 -> tcp h2:80 (10.0.0.2:80): want a connection, got refused") {
		t.Errorf("failure %v: want the service line and a refused connection", err)
	}
}

func TestServiceRoundTripAndValidate(t *testing.T) {
	f := parse(t, "svc.yaml", serviceFile)
	out, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "service:\n    - h1 -> h2:80\n") {
		t.Errorf("Marshal lost the service checks:\n%s", out)
	}
	g, err := topofile.Parse("again.yaml", out)
	if err != nil || len(g.Expect.Service) != 2 {
		t.Fatalf("Parse(Marshal) = %v, %v", g, err)
	}
	for bad, want := range map[string]string{
		"br1:80":      `expect.service "h1 -> br1:80": bridge "br1" cannot listen`,
		"h2":          `expect.service "h1 -> h2": destination "h2": want host:port`,
		"10.0.0.9:80": `expect.service "h1 -> 10.0.0.9:80": address 10.0.0.9 is not on any host or router`,
		"h2:0":        `expect.service "h1 -> h2:0": port "0": want 1 to 65535`,
	} {
		_, err := topofile.Parse("bad.yaml", []byte(strings.Replace(serviceFile, "h1 -> h2:80, ", "h1 -> "+bad+", ", 1)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("service to %s: error %v, want %q", bad, err, want)
		}
	}
}
