package domain

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckText says what is wrong with s as a name shown on the pages and in the audit trail (a
// key's label, a channel's or a passkey's name), called what in the message, or "" when it is
// acceptable: valid UTF-8, at most max characters, no control characters (line breaks and tabs
// included) and no bidirectional embedding, override or isolate (U+202A–U+202E,
// U+2066–U+2069), which can make a name read differently from how it is stored (the "Trojan
// Source" trick). The marks U+200E and U+200F, which right-to-left text needs, are allowed.
func CheckText(what, s string, max int) string {
	switch {
	case !utf8.ValidString(s):
		return what + " is not valid UTF-8"
	case HasControl(s):
		return what + " must not contain control characters (such as line breaks or tabs)"
	case HasBidiControl(s):
		return what + " must not contain bidirectional override characters (they make text read differently from how it is stored)"
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("%s must be at most %d characters", what, max)
	}
	return ""
}

// HasControl finds control characters, the line and paragraph separators, and invalid UTF-8.
func HasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
	})
}

// HasBidiControl finds the embedding, override and isolate controls of the Unicode
// bidirectional algorithm (U+202A–U+202E, U+2066–U+2069); see CheckText.
func HasBidiControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
	})
}
