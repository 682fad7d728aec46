package nstest_test

import (
	"testing"

	"github.com/nstest/harness/nstest"
)

// BenchmarkCommand measures one Command, from Start to the exit of `true`,
// in a host whose first command has already run.
func BenchmarkCommand(b *testing.B) {
	topo := nstest.New(b)
	h := topo.AddHost("h1")
	if out, err := h.Command("true").CombinedOutput(); err != nil {
		b.Fatalf("true: %v: %s", err, out)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := h.Command("true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}
