package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nstest/harness/nstest/topofile"
)

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// line is one TEST line of the text report: a check, or pingall as a whole.
type line struct {
	name string
	ok   bool
	msg  string
}

// lines groups the results as the text report shows them.
func (r *report) lines() []line {
	var out []line
	pairs, failed := 0, 0
	for _, x := range r.Results {
		if x.Kind != topofile.KindPingAll {
			continue
		}
		pairs++
		if !x.OK {
			failed++
		}
	}
	if r.File.Expect.PingAll {
		hosts := len(r.File.Hosts)
		out = append(out, line{name: fmt.Sprintf("pingall: %s, %s", plural(hosts, "host"), plural(pairs, "pair")), ok: failed == 0})
	}
	for _, x := range r.Results {
		if x.Kind == topofile.KindPingAll {
			continue
		}
		msg := x.Message
		if !x.OK && x.Pos.IsValid() {
			msg = fmt.Sprintf("%s:%d:%d: %s", r.Source, x.Pos.Line, x.Pos.Col, msg)
		}
		out = append(out, line{name: x.String(), ok: x.OK, msg: msg})
	}
	return out
}

// writeText writes the report in the style of the kernel's network
// selftests, with Mininet's pingall matrix.
func writeText(w io.Writer, r *report) {
	ls := r.lines()
	fmt.Fprintf(w, "%s (%s): %s, built in %s\n", r.Topology, r.Source, shape(r.File), round(r.Build))
	failed := 0
	for i, l := range ls {
		status := "[ OK ]"
		if !l.ok {
			status = "[FAIL]"
			failed++
		}
		fmt.Fprintf(w, "TEST: %-60s %s\n", l.name, status)
		if l.msg != "" {
			fmt.Fprintf(w, "      %s\n", strings.ReplaceAll(l.msg, "\n", "\n      "))
		}
		if i == 0 && r.File.Expect.PingAll {
			m, _, _ := topofile.Matrix(r.Results)
			fmt.Fprintln(w, m)
		}
	}
	switch {
	case len(ls) == 1 && r.File.Expect.PingAll:
		// The matrix's Results line says it all.
	case len(ls) == 0:
		fmt.Fprintln(w, "Results: no expectations to check")
	case failed == 0:
		fmt.Fprintf(w, "Results: %d/%d checks passed in %s\n", len(ls), len(ls), round(r.Total))
	default:
		fmt.Fprintf(w, "Results: %d/%d checks passed, %d FAILED in %s\n", len(ls)-failed, len(ls), failed, round(r.Total))
	}
}

// shape describes a topology: "2 hosts, 1 router, 1 bridge".
func shape(f *topofile.File) string {
	s := []string{plural(len(f.Hosts), "host")}
	if len(f.Routers) > 0 {
		s = append(s, plural(len(f.Routers), "router"))
	}
	if len(f.Bridges) > 0 {
		s = append(s, plural(len(f.Bridges), "bridge"))
	}
	if len(f.Links) > 0 {
		s = append(s, plural(len(f.Links), "link"))
	}
	return strings.Join(s, ", ")
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d
}

// jsonReport is the --format json output.
type jsonReport struct {
	Topology     string       `json:"topology"`
	Source       string       `json:"source"`
	Passed       bool         `json:"passed"`
	Checks       int          `json:"checks"`
	Failures     int          `json:"failures"`
	BuildSeconds float64      `json:"build_seconds"`
	TotalSeconds float64      `json:"total_seconds"`
	PingAll      *jsonPingAll `json:"pingall,omitempty"`
	Results      []jsonResult `json:"results"`
}

type jsonPingAll struct {
	Received       int `json:"received"`
	Total          int `json:"total"`
	DroppedPercent int `json:"dropped_percent"`
}

type jsonResult struct {
	Kind            string  `json:"kind"`
	From            string  `json:"from"`
	To              string  `json:"to"`
	Address         string  `json:"address"`
	OK              bool    `json:"ok"`
	Message         string  `json:"message,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	Line            int     `json:"line,omitempty"`
	Col             int     `json:"col,omitempty"`
}

func writeJSON(w io.Writer, r *report) error {
	out := jsonReport{
		Topology:     r.Topology,
		Source:       r.Source,
		Checks:       len(r.Results),
		Failures:     len(r.failed()),
		BuildSeconds: r.Build.Seconds(),
		TotalSeconds: r.Total.Seconds(),
		Results:      []jsonResult{},
	}
	out.Passed = out.Failures == 0
	if _, received, total := topofile.Matrix(r.Results); total > 0 {
		out.PingAll = &jsonPingAll{received, total, 100 * (total - received) / total}
	}
	for _, x := range r.Results {
		out.Results = append(out.Results, jsonResult{
			Kind: x.Kind, From: x.From, To: x.To, Address: x.Addr, OK: x.OK, Message: x.Message,
			DurationSeconds: x.Duration.Seconds(), Line: x.Pos.Line, Col: x.Pos.Col,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// JUnit XML, as Jenkins, GitLab and the GitHub test-report actions read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitFailure `xml:"failure"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func writeJUnit(w io.Writer, r *report) error {
	suite := junitSuite{
		Name:       r.Topology,
		Tests:      len(r.Results),
		Failures:   len(r.failed()),
		Time:       seconds(r.Total),
		Timestamp:  time.Now().Add(-r.Total).UTC().Format("2006-01-02T15:04:05"),
		Properties: []junitProperty{{"source", r.Source}, {"build_seconds", seconds(r.Build)}},
	}
	file := ""
	if !strings.HasPrefix(r.Source, "--") {
		file = r.Source
	}
	for _, x := range r.Results {
		c := junitCase{Name: x.String(), Classname: "nstest." + r.Topology, Time: seconds(x.Duration)}
		if x.Pos.IsValid() {
			c.File, c.Line = file, x.Pos.Line
		}
		if !x.OK {
			first, _, _ := strings.Cut(x.Message, "\n")
			c.Failure = &junitFailure{Message: first, Type: x.Kind, Text: x.Message}
		}
		suite.Cases = append(suite.Cases, c)
	}
	out := junitSuites{Name: "nstest", Tests: suite.Tests, Failures: suite.Failures, Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
