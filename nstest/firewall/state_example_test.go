package firewall_test

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/nstest/firewall"
)

// A stateful firewall on a router: forward what the LAN (lan0) sends, and
// from anywhere else only what belongs to the LAN's connections; then read
// what each rule matched.
func ExampleSetPolicy() {
	router, err := ns.New() // in a test: a router of an nstest topology
	if err != nil {
		fmt.Println(err)
		return
	}
	defer router.Close()

	err = firewall.SetPolicy(router, firewall.Forward, firewall.Drop)
	if err == nil {
		err = firewall.Add(router,
			firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, State: "established,related"},
			firewall.Rule{Chain: firewall.Forward, Action: firewall.Drop, State: "invalid"},
			firewall.Rule{Chain: firewall.Forward, Action: firewall.Accept, InIface: "lan0"},
		)
	}
	if err != nil {
		fmt.Println(err) // wraps nstest.ErrUnsupported on a kernel without conntrack
		return
	}
	counters, err := firewall.Counters(router)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range counters {
		fmt.Println(c)
	}
}

// The example needs privileges, so it prints no Output to check: run it
// here, where a machine without them skips.
func TestSetPolicyExample(t *testing.T) {
	newNode(t) // skips without privileges
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	ExampleSetPolicy()
	os.Stdout = old
	w.Close()
	out, _ := io.ReadAll(r)
	want := []string{
		"forward ct state established,related accept: 0 packets, 0 bytes",
		"forward ct state invalid drop: 0 packets, 0 bytes",
		"forward iifname lan0 accept: 0 packets, 0 bytes",
	}
	if got := strings.TrimSpace(string(out)); got != strings.Join(want, "\n") {
		t.Errorf("the example printed:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
