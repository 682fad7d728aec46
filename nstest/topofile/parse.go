package topofile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parse reads a topology file from data and validates it. filename is used
// in error messages only (and for the topology's name when the file has no
// "name" key: see NameFromFile).
//
// Parse reports every error it finds, joined with errors.Join and sorted by
// position, in two stages: first all YAML syntax, type and key errors; only
// when there are none, every semantic error that Validate finds. Each error is
// an *Error. On any error the returned *File is nil.
func Parse(filename string, data []byte) (f *File, err error) {
	defer func() {
		// The YAML library is not ours; never let a file crash the caller.
		if r := recover(); r != nil {
			f, err = nil, &Error{File: filename, Msg: fmt.Sprintf("cannot parse YAML: %v", r)}
		}
	}()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: filename, Msg: "empty file: want a mapping with hosts, bridges, ..."}
		}
		return nil, yamlError(filename, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: filename, Pos: Pos{extra.Line, extra.Column}, Msg: "more than one YAML document in the file"}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(filename, err)
	}

	d := &decoder{file: filename}
	f = &File{filename: filename}
	d.file_(&doc, f)
	if len(d.errs) > 0 {
		return nil, joinErrors(d.errs)
	}
	if f.Name == "" {
		f.Name = NameFromFile(filename)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

var notInName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// NameFromFile returns the name a topology read from filename has when the
// file gives none: the file's name without its directory and extension,
// made a valid topology name: other characters become '-', and a name that
// does not start with a letter ("06-x.yaml") gets "topo-" in front.
func NameFromFile(filename string) string {
	s := strings.TrimSuffix(filepath.Base(filename), filepath.Ext(filename))
	s = strings.Trim(notInName.ReplaceAllString(s, "-"), "-")
	if s == "" {
		return "topology"
	}
	if !validName(s) {
		s = "topo-" + s
	}
	if len(s) > MaxNameLen {
		s = strings.TrimRight(s[:MaxNameLen], "-")
	}
	return s
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns "yaml: line 3: did not find expected key" into
// "file:3: did not find expected key".
func yamlError(filename string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: filename, Pos: Pos{Line: line}, Msg: "invalid YAML: " + m[2]}
	}
	return &Error{File: filename, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// MaxErrors bounds the errors Parse and Validate return: the first
// MaxErrors by position, then one that says how many more there were.
const MaxErrors = 20

func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i].Pos, errs[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	n := min(len(errs), MaxErrors)
	list := make([]error, n, n+1)
	for i, e := range errs[:n] {
		list[i] = e
	}
	if more := len(errs) - n; more > 0 {
		list = append(list, &Error{File: errs[0].File, Msg: fmt.Sprintf("and %d more errors", more)})
	}
	return errors.Join(list...)
}

// decoder walks the YAML tree, filling a File and collecting errors.
type decoder struct {
	file string
	errs []*Error
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Pos: pos(n), Msg: sprintf(format, args...)})
}

func pos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// field is one key a mapping may hold.
type field struct {
	key    string
	decode func(value *yaml.Node)
}

// describe names a node's kind and value for "got ..." messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing"
		case "!!str":
			return "string " + Quote(n.Value)
		case "!!int":
			return "integer " + clip(n.Value)
		case "!!bool":
			return "boolean " + clip(n.Value)
		case "!!float":
			return "number " + clip(n.Value)
		default:
			return sprintf("%s %q", n.ShortTag(), n.Value)
		}
	}
	return "an unknown YAML node"
}

// usable reports whether n can be decoded at all: aliases, anchors and
// custom tags are refused so that a file means exactly what it shows.
func (d *decoder) usable(n *yaml.Node, what string) bool {
	switch {
	case n.Kind == yaml.AliasNode:
		d.errorf(n, "%s: YAML aliases (*%s) are not supported; write the value out", what, n.Value)
		return false
	case n.Anchor != "":
		d.errorf(n, "%s: YAML anchors (&%s) are not supported; write the value out", what, n.Anchor)
		return false
	case n.Tag != "" && n.Tag != "!" && !strings.HasPrefix(n.Tag, "!!") && !strings.HasPrefix(n.Tag, "tag:yaml.org,2002:"):
		d.errorf(n, "%s: custom YAML tag %s is not supported", what, n.Tag)
		return false
	}
	return true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// mapping decodes a mapping with the given keys, reporting unknown,
// repeated and (when required names some) missing keys.
func (d *decoder) mapping(n *yaml.Node, what string, fields []field, required ...string) bool {
	if !d.usable(n, what) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: got %s, want a mapping", what, describe(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || !d.usable(k, what) {
			if k.Kind != yaml.ScalarNode {
				d.errorf(k, "%s: got %s as a key, want a name", what, describe(k))
			}
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "%s: key %q given twice", what, k.Value)
			continue
		}
		seen[k.Value] = true
		var fn func(*yaml.Node)
		for _, f := range fields {
			if f.key == k.Value {
				fn = f.decode
			}
		}
		if fn == nil {
			keys := make([]string, len(fields))
			for i, f := range fields {
				keys[i] = f.key
			}
			d.errorf(k, "%s: unknown key %q (want %s)", what, k.Value, strings.Join(keys, ", "))
			continue
		}
		fn(v)
	}
	for _, key := range required {
		if !seen[key] {
			d.errorf(n, "%s: missing %q", what, key)
		}
	}
	return true
}

// scalarKey returns the value of key in mapping n without reporting
// anything, so that an item can be named in messages before it is decoded.
func scalarKey(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode && n.Content[i+1].ShortTag() == "!!str" {
			return n.Content[i+1].Value
		}
	}
	return ""
}

func (d *decoder) str(n *yaml.Node, what string, dst *string) bool {
	if !d.usable(n, what) {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		hint := ""
		if n.Kind == yaml.ScalarNode && !isNull(n) {
			hint = " (quote it)"
		}
		d.errorf(n, "%s: got %s, want a string%s", what, describe(n), hint)
		return false
	}
	*dst = n.Value
	return true
}

func (d *decoder) integer(n *yaml.Node, what string, dst *int) {
	if !d.usable(n, what) {
		return
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.errorf(n, "%s: got %s, want an integer", what, describe(n))
		return
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < -1<<31 || v > 1<<31-1 {
		d.errorf(n, "%s: integer %s out of range", what, clip(n.Value))
		return
	}
	*dst = int(v)
}

func (d *decoder) boolean(n *yaml.Node, what string, dst *bool) {
	if !d.usable(n, what) {
		return
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		d.errorf(n, "%s: got %s, want true or false", what, describe(n))
		return
	}
	if err := n.Decode(dst); err != nil {
		d.errorf(n, "%s: %v", what, err)
	}
}

// list calls item for each element of a sequence; nothing (null) is an
// empty list.
func (d *decoder) list(n *yaml.Node, what string, item func(i int, n *yaml.Node)) {
	if !d.usable(n, what) || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: got %s, want a list", what, describe(n))
		return
	}
	for i, c := range n.Content {
		item(i, c)
	}
}

// strings decodes a list of strings, recording each one's position as
// key.0, key.1, ...
func (d *decoder) strs(n *yaml.Node, what, key string, at positions, dst *[]string) {
	at[key] = pos(n)
	d.list(n, what, func(i int, c *yaml.Node) {
		var s string
		if d.str(c, what, &s) {
			at[key+"."+strconv.Itoa(len(*dst))] = pos(c)
			*dst = append(*dst, s)
		}
	})
}

func (d *decoder) file_(doc *yaml.Node, f *File) {
	root := doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	if isNull(root) {
		d.errorf(root, "empty file: want a mapping with hosts, bridges, ...")
		return
	}
	d.mapping(root, "topology", []field{
		{"name", func(v *yaml.Node) { d.str(v, "name", &f.Name) }},
		{"bridges", func(v *yaml.Node) {
			d.list(v, "bridges", func(i int, n *yaml.Node) { f.Bridges = append(f.Bridges, d.bridge(i, n)) })
		}},
		{"hosts", func(v *yaml.Node) {
			d.list(v, "hosts", func(i int, n *yaml.Node) { f.Hosts = append(f.Hosts, d.node("host", "hosts", i, n)) })
		}},
		{"routers", func(v *yaml.Node) {
			d.list(v, "routers", func(i int, n *yaml.Node) { f.Routers = append(f.Routers, d.node("router", "routers", i, n)) })
		}},
		{"links", func(v *yaml.Node) {
			d.list(v, "links", func(i int, n *yaml.Node) { f.Links = append(f.Links, d.link(i, n)) })
		}},
		{"expect", func(v *yaml.Node) { f.Expect = d.expect(v) }},
	})
}

// itemName names a list item in messages: `host "ns1"`, or `hosts[2]`
// while its name is unknown.
func itemName(kind, list string, i int, n *yaml.Node) string {
	if name := scalarKey(n, "name"); name != "" {
		return sprintf("%s %q", kind, name)
	}
	return fmt.Sprintf("%s[%d]", list, i)
}

func (d *decoder) bridge(i int, n *yaml.Node) Bridge {
	b := Bridge{Pos: pos(n), at: positions{}}
	what := itemName("bridge", "bridges", i, n)
	d.mapping(n, what, []field{
		{"name", func(v *yaml.Node) { b.at["name"] = pos(v); d.str(v, what+": name", &b.Name) }},
		{"kind", func(v *yaml.Node) { b.at["kind"] = pos(v); d.str(v, what+": kind", &b.Kind) }},
		{"addrs", func(v *yaml.Node) { d.strs(v, what+": addrs", "addrs", b.at, &b.Addrs) }},
	}, "name")
	return b
}

func (d *decoder) node(kind, list string, i int, n *yaml.Node) Node {
	h := Node{Pos: pos(n), at: positions{}}
	what := itemName(kind, list, i, n)
	d.mapping(n, what, []field{
		{"name", func(v *yaml.Node) { h.at["name"] = pos(v); d.str(v, what+": name", &h.Name) }},
		{"connect", func(v *yaml.Node) {
			d.list(v, what+": connect", func(j int, c *yaml.Node) {
				h.Connect = append(h.Connect, d.connection(fmt.Sprintf("%s: connect[%d]", what, j), c))
			})
		}},
		{"routes", func(v *yaml.Node) {
			d.list(v, what+": routes", func(j int, c *yaml.Node) {
				h.Routes = append(h.Routes, d.route(fmt.Sprintf("%s: routes[%d]", what, j), c))
			})
		}},
	}, "name")
	return h
}

func (d *decoder) connection(what string, n *yaml.Node) Connection {
	c := Connection{Pos: pos(n), at: positions{}}
	d.mapping(n, what, []field{
		{"bridge", func(v *yaml.Node) { c.at["bridge"] = pos(v); d.str(v, what+": bridge", &c.Bridge) }},
		{"addrs", func(v *yaml.Node) { d.strs(v, what+": addrs", "addrs", c.at, &c.Addrs) }},
		{"mtu", func(v *yaml.Node) { c.at["mtu"] = pos(v); d.integer(v, what+": mtu", &c.MTU) }},
	}, "bridge")
	return c
}

func (d *decoder) route(what string, n *yaml.Node) Route {
	r := Route{Pos: pos(n), at: positions{}}
	d.mapping(n, what, []field{
		{"dst", func(v *yaml.Node) { r.at["dst"] = pos(v); d.str(v, what+": dst", &r.Dst) }},
		{"via", func(v *yaml.Node) { r.at["via"] = pos(v); d.str(v, what+": via", &r.Via) }},
	}, "dst", "via")
	return r
}

func (d *decoder) link(i int, n *yaml.Node) Link {
	l := Link{Pos: pos(n), at: positions{}}
	what := fmt.Sprintf("links[%d]", i)
	if a, b := scalarKey(n, "a"), scalarKey(n, "b"); a != "" && b != "" {
		what = fmt.Sprintf("link %s-%s", clip(a), clip(b))
	}
	d.mapping(n, what, []field{
		{"a", func(v *yaml.Node) { l.at["a"] = pos(v); d.str(v, what+": a", &l.A) }},
		{"b", func(v *yaml.Node) { l.at["b"] = pos(v); d.str(v, what+": b", &l.B) }},
		{"a_addrs", func(v *yaml.Node) { d.strs(v, what+": a_addrs", "a_addrs", l.at, &l.AAddrs) }},
		{"b_addrs", func(v *yaml.Node) { d.strs(v, what+": b_addrs", "b_addrs", l.at, &l.BAddrs) }},
		{"mtu", func(v *yaml.Node) { l.at["mtu"] = pos(v); d.integer(v, what+": mtu", &l.MTU) }},
	}, "a", "b")
	return l
}

func (d *decoder) expect(n *yaml.Node) Expect {
	e := Expect{Pos: pos(n), at: positions{}}
	checks := func(key string, dst *[]Check, tcp bool) func(*yaml.Node) {
		return func(v *yaml.Node) {
			d.list(v, "expect."+key, func(i int, c *yaml.Node) {
				if ch, ok := d.check("expect."+key, c, tcp); ok {
					*dst = append(*dst, ch)
				}
			})
		}
	}
	if isNull(n) {
		return e
	}
	d.mapping(n, "expect", []field{
		{"pingall", func(v *yaml.Node) { e.at["pingall"] = pos(v); d.boolean(v, "expect.pingall", &e.PingAll) }},
		{"reachable", checks("reachable", &e.Reachable, false)},
		{"unreachable", checks("unreachable", &e.Unreachable, false)},
		{"tcp", checks("tcp", &e.TCP, true)},
		{"tcp_unreachable", checks("tcp_unreachable", &e.TCPUnreachable, true)},
		{"service", checks("service", &e.Service, true)},
	})
	return e
}

// check decodes "a -> b", or for TCP also {from: a, to: b}.
func (d *decoder) check(what string, n *yaml.Node, tcp bool) (Check, bool) {
	if tcp && n.Kind == yaml.MappingNode {
		c := Check{Pos: pos(n)}
		ok := true
		d.mapping(n, what, []field{
			{"from", func(v *yaml.Node) { ok = d.str(v, what+": from", &c.From) && ok }},
			{"to", func(v *yaml.Node) { ok = d.str(v, what+": to", &c.To) && ok }},
		}, "from", "to")
		c.From, c.To = strings.TrimSpace(c.From), strings.TrimSpace(c.To)
		return c, ok && c.From != "" && c.To != ""
	}
	var s string
	if !d.str(n, what, &s) {
		return Check{}, false
	}
	c, err := ParseCheck(s)
	if err != nil {
		d.errorf(n, "%s: %v", what, err)
		return Check{}, false
	}
	c.Pos = pos(n)
	return c, true
}

// ParseCheck parses an expectation written "from -> to".
func ParseCheck(s string) (Check, error) {
	from, to, ok := strings.Cut(s, "->")
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	switch {
	case !ok:
		return Check{}, fmt.Errorf("%s: want \"from -> to\"", Quote(s))
	case strings.Contains(to, "->"):
		return Check{}, fmt.Errorf("%s: more than one \"->\"", Quote(s))
	case from == "" || to == "":
		return Check{}, fmt.Errorf("%s: want \"from -> to\" with both sides named", Quote(s))
	}
	return Check{From: from, To: to}, nil
}
