package topofile

import (
	"strings"
	"testing"

	"github.com/nstest/harness/nstest"
)

// TestOneNameRule: the library and topology files accept the same names: a
// letter first (so that a name never reads as an address), then letters,
// digits, '.', '_' and '-', at most 64 bytes.
func TestOneNameRule(t *testing.T) {
	for name, valid := range map[string]bool{
		"ns3": true, "h-1": true, "web.example": true, "a_b": true, "A": true,
		"x" + strings.Repeat("y", 63): true,
		"10.0.0.9":                    false, "9x": false, "-a": false, ".a": false, "_a": false,
		"a/b": false, "a b": false, "fe80::1": false, "": false,
		"x" + strings.Repeat("y", 64): false,
	} {
		libErr := nstest.ValidName("host", name)
		if (libErr == nil) != valid {
			t.Errorf("library: name %q: got %v, want valid=%v", name, libErr, valid)
		}
		file := strings.Replace(seedBase, "name: ns2", "name: "+`"`+name+`"`, 1)
		_, fileErr := Parse("names.yaml", []byte(file))
		nameRefused := fileErr != nil && strings.Contains(fileErr.Error(), "name")
		if nameRefused == valid {
			t.Errorf("topology file: name %q: got %v, want valid=%v", name, fileErr, valid)
		}
	}
}
