package topofile

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Values longer than maxShown bytes are cut to cutShown in messages, so that a
// file with a 10 MB name gets a readable error, not the name back.
const (
	maxShown = 80
	cutShown = 64
)

// Quote returns s quoted as %q quotes it, for a message; a value over 80
// bytes is cut after 64 with an ellipsis, followed by its real length:
// "aaaa…" (10485760 bytes).
func Quote(s string) string {
	if len(s) <= maxShown {
		return strconv.Quote(s)
	}
	q := strconv.Quote(cut(s))
	return fmt.Sprintf("%s…\" (%d bytes)", q[:len(q)-1], len(s))
}

// clip is Quote for a value shown without quotes.
func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", cut(s), len(s))
}

// cut returns the first cutShown bytes of s, ending on a whole character.
func cut(s string) string {
	i := cutShown
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// quoted prints through %q as Quote does; through other verbs as a string.
type quoted string

func (q quoted) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprint(f, Quote(string(q)))
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), string(q))
}

// sprintf is fmt.Sprintf with every string argument that %q prints cut as
// Quote cuts it. The messages of this package quote what the file says, and
// a file may say anything.
func sprintf(format string, args ...any) string {
	a := make([]any, len(args))
	for i, v := range args {
		if s, ok := v.(string); ok {
			v = quoted(s)
		}
		a[i] = v
	}
	return fmt.Sprintf(format, a...)
}
