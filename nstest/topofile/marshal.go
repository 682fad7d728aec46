package topofile

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// The shapes below mirror the file format for Marshal; Parse does not use
// them (it walks the YAML tree itself to report positions).
type (
	yFile struct {
		Name    string  `yaml:"name,omitempty"`
		Bridges []yBr   `yaml:"bridges,omitempty"`
		Hosts   []yNode `yaml:"hosts,omitempty"`
		Routers []yNode `yaml:"routers,omitempty"`
		Links   []yLink `yaml:"links,omitempty"`
		Expect  *yExp   `yaml:"expect,omitempty"`
	}
	yBr struct {
		Name  string   `yaml:"name"`
		Kind  string   `yaml:"kind,omitempty"`
		Addrs []string `yaml:"addrs,omitempty,flow"`
	}
	yNode struct {
		Name    string  `yaml:"name"`
		Connect []yConn `yaml:"connect,omitempty"`
		Routes  []yRt   `yaml:"routes,omitempty"`
	}
	yConn struct {
		Bridge string   `yaml:"bridge"`
		Addrs  []string `yaml:"addrs,omitempty,flow"`
		MTU    int      `yaml:"mtu,omitempty"`
	}
	yRt struct {
		Dst string `yaml:"dst"`
		Via string `yaml:"via"`
	}
	yLink struct {
		A      string   `yaml:"a"`
		B      string   `yaml:"b"`
		AAddrs []string `yaml:"a_addrs,omitempty,flow"`
		BAddrs []string `yaml:"b_addrs,omitempty,flow"`
		MTU    int      `yaml:"mtu,omitempty"`
	}
	yExp struct {
		PingAll        bool     `yaml:"pingall,omitempty"`
		Reachable      []string `yaml:"reachable,omitempty"`
		Unreachable    []string `yaml:"unreachable,omitempty"`
		TCP            []string `yaml:"tcp,omitempty"`
		TCPUnreachable []string `yaml:"tcp_unreachable,omitempty"`
		Service        []string `yaml:"service,omitempty"`
	}
)

// Marshal writes f in the topology file format, with two-space indents and
// empty fields left out. Parse reads the result back to an equal File
// (positions aside). It does not validate f.
func (f *File) Marshal() ([]byte, error) {
	y := yFile{Name: f.Name}
	for _, b := range f.Bridges {
		y.Bridges = append(y.Bridges, yBr{b.Name, b.Kind, b.Addrs})
	}
	nodes := func(list []Node) []yNode {
		var out []yNode
		for _, n := range list {
			yn := yNode{Name: n.Name}
			for _, c := range n.Connect {
				yn.Connect = append(yn.Connect, yConn{c.Bridge, c.Addrs, c.MTU})
			}
			for _, r := range n.Routes {
				yn.Routes = append(yn.Routes, yRt{r.Dst, r.Via})
			}
			out = append(out, yn)
		}
		return out
	}
	y.Hosts, y.Routers = nodes(f.Hosts), nodes(f.Routers)
	for _, l := range f.Links {
		y.Links = append(y.Links, yLink{l.A, l.B, l.AAddrs, l.BAddrs, l.MTU})
	}
	strs := func(cs []Check) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.String())
		}
		return out
	}
	e := f.Expect
	ye := yExp{e.PingAll, strs(e.Reachable), strs(e.Unreachable), strs(e.TCP), strs(e.TCPUnreachable), strs(e.Service)}
	if ye.PingAll || ye.Reachable != nil || ye.Unreachable != nil || ye.TCP != nil || ye.TCPUnreachable != nil || ye.Service != nil {
		y.Expect = &ye
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(y); err != nil {
		return nil, fmt.Errorf("topofile: marshal %q: %w", f.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("topofile: marshal %q: %w", f.Name, err)
	}
	return buf.Bytes(), nil
}
