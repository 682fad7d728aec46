package firewall

import (
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// Dump lists every nf_tables table in the namespace, not only the package's,
// with its chains and rules and each rule's packet and byte counters, for
// failure artifacts. Rules this package made read as their description
// (Rule.String); others as their raw expressions. The text looks like nft
// output but is not meant to be parsed or loaded.
func Dump(n Namespace) (string, error) {
	var s string
	err := session(n, func(c *nftables.Conn) (err error) {
		s, err = dump(c)
		return err
	})
	return s, err
}

func dump(c *nftables.Conn) (string, error) {
	tables, err := c.ListTables()
	if err != nil {
		return "", fmt.Errorf("firewall: list tables: %w", err)
	}
	chains, err := c.ListChains()
	if err != nil {
		return "", fmt.Errorf("firewall: list chains: %w", err)
	}
	var b strings.Builder
	for _, t := range tables {
		fmt.Fprintf(&b, "table %s %s\n", familyName(t.Family), t.Name)
		for _, ch := range chains {
			if ch.Table.Name != t.Name || ch.Table.Family != t.Family {
				continue
			}
			fmt.Fprintf(&b, "\tchain %s%s\n", ch.Name, chainAttrs(ch))
			rules, err := c.GetRules(t, ch)
			if err != nil {
				return "", fmt.Errorf("firewall: list rules of chain %s %s %s: %w", familyName(t.Family), t.Name, ch.Name, err)
			}
			for _, r := range rules {
				fmt.Fprintf(&b, "\t\t%s\n", describeRule(r))
			}
		}
	}
	if b.Len() == 0 {
		return "(no nf_tables tables)\n", nil
	}
	return b.String(), nil
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return fmt.Sprintf("family%d", f)
}

func chainAttrs(ch *nftables.Chain) string {
	if ch.Hooknum == nil {
		return ""
	}
	hooks := []string{"prerouting", "input", "forward", "output", "postrouting"}
	if ch.Table.Family == nftables.TableFamilyNetdev {
		hooks = []string{"ingress", "egress"}
	}
	hook := fmt.Sprint(*ch.Hooknum)
	if int(*ch.Hooknum) < len(hooks) {
		hook = hooks[*ch.Hooknum]
	}
	s := fmt.Sprintf(" { type %s hook %s", ch.Type, hook)
	if ch.Priority != nil {
		s += fmt.Sprintf(" priority %d", *ch.Priority)
	}
	if ch.Policy != nil {
		policy := "accept"
		if *ch.Policy == nftables.ChainPolicyDrop {
			policy = "drop"
		}
		s += "; policy " + policy
	}
	return s + "; }"
}

func describeRule(r *nftables.Rule) string {
	var counter *expr.Counter
	var parts []string
	for _, e := range r.Exprs {
		if c, ok := e.(*expr.Counter); ok {
			counter = c
			continue
		}
		parts = append(parts, describeExpr(e))
	}
	s, ok := userdata.GetString(r.UserData, userdata.TypeComment)
	if !ok {
		s = strings.Join(parts, " ")
	}
	if counter != nil {
		s += fmt.Sprintf("  [packets %d bytes %d]", counter.Packets, counter.Bytes)
	}
	return s + fmt.Sprintf("  # handle %d", r.Handle)
}

// describeExpr renders one expression of a rule this package did not make:
// a verdict as nft writes it, anything else as the expression kind and its
// non-zero fields.
func describeExpr(e expr.Any) string {
	if v, ok := e.(*expr.Verdict); ok {
		return verdictName(v)
	}
	v := reflect.Indirect(reflect.ValueOf(e))
	name := strings.ToLower(v.Type().Name())
	var fields []string
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() || f.IsZero() {
			continue
		}
		val := fmt.Sprint(f.Interface())
		if bs, ok := f.Interface().([]byte); ok {
			val = "0x" + hex.EncodeToString(bs)
		}
		fields = append(fields, strings.ToLower(v.Type().Field(i).Name)+"="+val)
	}
	return "[" + strings.Join(append([]string{name}, fields...), " ") + "]"
}

// verdictName writes a verdict as nft does. It cannot go through the generic
// path: drop is verdict 0, a zero field that would be left out.
func verdictName(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictStolen:
		return "stolen"
	case expr.VerdictQueue:
		return "queue"
	case expr.VerdictRepeat:
		return "repeat"
	case expr.VerdictStop:
		return "stop"
	case expr.VerdictContinue:
		return "continue"
	case expr.VerdictBreak:
		return "break"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	}
	return fmt.Sprintf("verdict %d", v.Kind)
}
