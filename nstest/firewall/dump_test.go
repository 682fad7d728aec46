package firewall_test

import (
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// Rules made by other programs read with their verdicts, drop included
// (verdict 0, which a listing of non-zero fields would leave out).
func TestDumpShowsForeignVerdicts(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c, err := nftables.New(nftables.WithNetNSFd(n.fd()))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Name: "other", Family: nftables.TableFamilyINet})
	sub := c.AddChain(&nftables.Chain{Name: "sub", Table: tb})
	in := c.AddChain(&nftables.Chain{
		Name: "in", Table: tb, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter,
	})
	for _, v := range []*expr.Verdict{
		{Kind: expr.VerdictJump, Chain: "sub"},
		{Kind: expr.VerdictGoto, Chain: "sub"},
		{Kind: expr.VerdictAccept},
		{Kind: expr.VerdictDrop},
	} {
		c.AddRule(&nftables.Rule{Table: tb, Chain: in, Exprs: []expr.Any{&expr.Counter{}, v}})
	}
	c.AddRule(&nftables.Rule{Table: tb, Chain: sub, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictReturn}}})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	d := dump(t, n)
	for _, want := range []string{
		"jump sub  [packets 0 bytes 0]",
		"goto sub  [packets 0 bytes 0]",
		"accept  [packets 0 bytes 0]",
		"drop  [packets 0 bytes 0]",
		"return  # handle",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("Dump lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "[verdict]") {
		t.Errorf("Dump shows a bare [verdict]:\n%s", d)
	}
}
