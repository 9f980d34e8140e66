package podenv

import (
	"regexp"
	"strings"
	"testing"
)

// refToken matches what Expand rewrites: an escaped "$$" or a complete
// "$(NAME)" reference. Anything else, including an unterminated "$(", is
// literal text. Go's regexp scans leftmost-first, as Expand does.
var refToken = regexp.MustCompile(`\$(\$|\([^)]*\))`)

// refExpand is an independent statement of the kubelet's expansion rules.
func refExpand(s string, vars map[string]string) string {
	return refToken.ReplaceAllStringFunc(s, func(tok string) string {
		if tok == "$$" {
			return "$"
		}
		if v, ok := vars[tok[2:len(tok)-1]]; ok {
			return v
		}
		return tok
	})
}

func FuzzExpand(f *testing.F) {
	for _, seed := range []struct{ s, name, value string }{
		{"plain text", "A", "1"},
		{"$(A)", "A", "1"},
		{"$(A)$(B)", "A", "$(B)"},
		{"$$(A)", "A", "1"},
		{"$$$(A)", "A", "1"},
		{"$(A", "A", "1"},
		{"$(", "", ""},
		{"$()", "", "empty"},
		{"a$", "A", "1"},
		{"$x$y", "x", "1"},
		{"$($(A))", "$(A", "nested"},
		{"$(A)$$$$", "A", "$$"},
	} {
		f.Add(seed.s, seed.name, seed.value)
	}
	f.Fuzz(func(t *testing.T, s, name, value string) {
		vars := map[string]string{name: value}
		got := Expand(s, vars)
		if want := refExpand(s, vars); got != want {
			t.Fatalf("Expand(%q, %q) = %q, reference gives %q", s, vars, got, want)
		}
		if !strings.Contains(s, "$") && got != s {
			t.Fatalf("Expand(%q) changed text without '$' to %q", s, got)
		}
		// With no variables only the "$$" escapes change.
		unescaped := refToken.ReplaceAllStringFunc(s, func(tok string) string {
			if tok == "$$" {
				return "$"
			}
			return tok
		})
		if got := Expand(s, nil); got != unescaped {
			t.Fatalf("Expand(%q, nil) = %q, want the references kept: %q", s, got, unescaped)
		}
		// Escaping every '$' makes any text come out literally.
		if got := Expand(strings.ReplaceAll(s, "$", "$$"), vars); got != s {
			t.Fatalf("Expand of escaped %q = %q", s, got)
		}
		// Values are inserted as they are, never expanded again.
		if got := Expand("$("+name+")", vars); !strings.Contains(name, ")") && got != value {
			t.Fatalf("Expand($(%s)) = %q, want the value %q", name, got, value)
		}
	})
}
