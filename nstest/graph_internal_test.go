package nstest

import (
	"testing"
	"time"
)

// TestImpairmentLabel: an impaired link's label says what the impairment
// does, in tc's units; netem's parts cannot be set on a kernel without
// netem, so they are checked here rather than on a built link.
func TestImpairmentLabel(t *testing.T) {
	for _, c := range []struct {
		im   Impairment
		want string
	}{
		{Impairment{}, ""},
		{Impairment{Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond, Loss: 0.5, Rate: 512_000}, "delay 10ms ±2ms, loss 0.5%, rate 512Kbit/s"},
		{Impairment{Jitter: time.Millisecond}, "delay 0s ±1ms"},
		{Impairment{Loss: 100}, "loss 100%"},
		{Impairment{Rate: 2_000_000_000}, "rate 2Gbit/s"},
		{Impairment{Rate: 1_500_000}, "rate 1500Kbit/s"},
		{Impairment{Rate: 999}, "rate 999bit/s"},
	} {
		if got := (ifaceDrawn{impair: c.im}).impairment(); got != c.want {
			t.Errorf("%+v: label %q, want %q", c.im, got, c.want)
		}
	}
}

func TestDOTQuote(t *testing.T) {
	if got, want := dotQuote("a\"b\\c\nd"), `"a\"b\\c\nd"`; got != want {
		t.Errorf("dotQuote = %s, want %s", got, want)
	}
	if got, want := mermaidText([]string{`a"b`, "c"}), "a#quot;b<br/>c"; got != want {
		t.Errorf("mermaidText = %s, want %s", got, want)
	}
}
