package topofile_test

import (
	"fmt"

	"github.com/nstest/harness/nstest/topofile"
)

func ExampleParse() {
	f, err := topofile.Parse("seed.yaml", []byte(`
bridges:
  - {name: br1, addrs: [10.0.0.100/24]}
hosts:
  - name: ns1
    connect: [{bridge: br1, addrs: [10.0.0.1/24]}]
  - name: ns2
    connect: [{bridge: br1, addrs: [10.0.0.300/24]}]
`))
	fmt.Println(f, err)
	// Output:
	// <nil> seed.yaml:8:37: host "ns2": address "10.0.0.300/24": invalid CIDR
}

func ExamplePreset() {
	f, err := topofile.Preset("tree,2,2")
	if err != nil {
		panic(err)
	}
	for _, h := range f.Hosts {
		fmt.Println(h.Name, h.Connect[0].Bridge, h.Connect[0].Addrs[0])
	}
	for _, l := range f.Links {
		fmt.Println(l.A, "-", l.B)
	}
	// Output:
	// h1 s2 10.0.0.1/8
	// h2 s2 10.0.0.2/8
	// h3 s3 10.0.0.3/8
	// h4 s3 10.0.0.4/8
	// s1 - s2
	// s1 - s3
}
