package firewall_test

import (
	"strings"
	"testing"

	"github.com/nstest/harness/nstest/firewall"
)

// CutIngress drops what enters an interface until DeleteTable removes the
// cut; the package's own rules (Flush) are not touched by either.
func TestCutIngressThenDeleteTable(t *testing.T) {
	t.Parallel()
	a, b := pair(t)
	if !a.ping(t, "10.0.0.2", 3) {
		t.Fatal("no ping reply before the cut")
	}
	if err := firewall.CutIngress(b.ns, "cut1", []string{"b-eth"}); err != nil {
		t.Fatalf("CutIngress: %v", err)
	}
	if a.ping(t, "10.0.0.2", 1) {
		t.Error("ping answered through a cut interface")
	}
	if d := dump(t, b); !strings.Contains(d, "table netdev cut1") {
		t.Errorf("Dump lacks the cut's table:\n%s", d)
	}
	if err := firewall.DeleteTable(b.ns, "cut1"); err != nil {
		t.Fatalf("DeleteTable: %v", err)
	}
	if !a.ping(t, "10.0.0.2", 3) {
		t.Error("no ping reply after DeleteTable")
	}
	err := firewall.DeleteTable(b.ns, "cut1")
	if err == nil || !strings.Contains(err.Error(), "cut1") {
		t.Errorf("second DeleteTable: got %v, want an error naming the table", err)
	}
}

// A cut cannot take, or delete, the tables the package's other rules live in.
func TestCutRefusesOwnTables(t *testing.T) {
	t.Parallel()
	_, b := pair(t)
	for _, name := range []string{"", firewall.TableName, firewall.FramesTable} {
		if err := firewall.CutIngress(b.ns, name, []string{"eth0"}); err == nil {
			t.Errorf("CutIngress into table %q: no error", name)
		}
		if err := firewall.CutMACs(b.ns, name, nil); err == nil {
			t.Errorf("CutMACs into table %q: no error", name)
		}
		if err := firewall.DeleteTable(b.ns, name); err == nil {
			t.Errorf("DeleteTable %q: no error", name)
		}
	}
}
