package topofile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHugeNameShownCut parses a file with a 10 MB topology name and a 10 MB
// host name: the errors show the first bytes of each, and their length.
func TestHugeNameShownCut(t *testing.T) {
	huge := strings.Repeat("n", 10<<20)
	for _, c := range []struct{ what, yaml, want string }{
		{"topology name", "name: " + huge + "\nhosts: [{name: h1}]\n",
			`t.yaml: topology name "` + huge[:64] + `…" (10485760 bytes): want a letter`},
		{"host name", "hosts: [{name: " + huge + "}]\n",
			`t.yaml:1:16: host "` + huge[:64] + `…" (10485760 bytes): name is 10485760 bytes, over the limit of 64`},
		{"bridge", "hosts: [{name: h1, connect: [{bridge: " + huge + "}]}]\n",
			`t.yaml:1:39: host "h1": connect: unknown bridge "` + huge[:64] + `…" (10485760 bytes)`},
	} {
		_, err := Parse("t.yaml", []byte(c.yaml))
		if err == nil {
			t.Fatalf("%s: no error", c.what)
		}
		msg := err.Error()
		if len(msg) > 1000 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d bytes of error: %.400q; want at most 1000 and %q", c.what, len(msg), msg, c.want)
		}
	}
}

// TestErrorsCapped parses a file with 10,000 duplicate hosts: MaxErrors of
// them are returned, then how many more.
func TestErrorsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("hosts:\n")
	for range 10001 {
		b.WriteString("  - {name: h}\n")
	}
	_, err := Parse("dup.yaml", []byte(b.String()))
	var list interface{ Unwrap() []error }
	if !errors.As(err, &list) {
		t.Fatalf("Parse: %v, want joined errors", err)
	}
	errs := list.Unwrap()
	if len(errs) != MaxErrors+1 {
		t.Fatalf("%d errors, want %d", len(errs), MaxErrors+1)
	}
	if got, want := errs[MaxErrors].Error(), fmt.Sprintf("dup.yaml: and %d more errors", 10000-MaxErrors); got != want {
		t.Errorf("last error %q, want %q", got, want)
	}
	for i, e := range errs {
		var fe *Error
		if !errors.As(e, &fe) {
			t.Errorf("error %d is a %T, want *Error", i, e)
		}
	}
}

// TestParseFileCapsSize refuses a file over MaxFileSize, regular or not, and
// reads one of exactly MaxFileSize.
func TestParseFileCapsSize(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	_, err := ParseFile(big)
	if want := fmt.Sprintf("%s: file is %d bytes, over the limit of %d bytes (8 MiB) for a topology file", big, MaxFileSize+1, MaxFileSize); err == nil || err.Error() != want {
		t.Errorf("ParseFile(%d bytes): %v, want %q", MaxFileSize+1, err, want)
	}
	if _, err := ParseFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "/dev/zero: more than 8388608 bytes (8 MiB), the limit") {
		t.Errorf("ParseFile(/dev/zero): %v", err)
	}
	// A file at the limit is read: its error is about its content.
	at := filepath.Join(dir, "at.yaml")
	text := "name: at\nhosts: [{name: h1}]\n"
	if err := os.WriteFile(at, []byte(text+strings.Repeat("#", MaxFileSize-len(text))), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := ParseFile(at); err != nil || f.Name != "at" {
		t.Errorf("ParseFile(a file of %d bytes): %v", MaxFileSize, err)
	}
}

func TestNameFromFile(t *testing.T) {
	for file, want := range map[string]string{
		"dir/seed.yaml":          "seed",
		"06-x.yaml":              "topo-06-x",
		"/dev/stdin":             "stdin",
		"/dev/fd/63":             "topo-63",
		"my topo (copy).yml":     "my-topo-copy",
		"-x-.yaml":               "x",
		"!!!.yaml":               "topology",
		"_a.yaml":                "topo-_a",
		strings.Repeat("a", 100): strings.Repeat("a", MaxNameLen),
	} {
		got := NameFromFile(file)
		if got != want {
			t.Errorf("NameFromFile(%q) = %q, want %q", file, got, want)
		}
		if err := (&File{Name: got}).Validate(); err != nil {
			t.Errorf("NameFromFile(%q) = %q, which is not valid: %v", file, got, err)
		}
	}
	f, err := Parse("06-x.yaml", []byte("hosts: [{name: h1}]\n"))
	if err != nil || f.Name != "topo-06-x" {
		t.Errorf("Parse(06-x.yaml without a name): %v, %v; want named topo-06-x", f, err)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"ns1":                         `"ns1"`,
		strings.Repeat("é", 40):       `"` + strings.Repeat("é", 40) + `"`, // 80 bytes: whole
		strings.Repeat("é", 41):       `"` + strings.Repeat("é", 32) + `…" (82 bytes)`,
		"a" + strings.Repeat("é", 50): `"a` + strings.Repeat("é", 31) + `…" (101 bytes)`, // never half a character
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%d bytes) = %q, want %q", len(in), got, want)
		}
	}
}
