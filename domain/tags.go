package domain

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on tags, the labels keys are grouped, muted and routed by.
const (
	MaxTagLen = 40
	MaxTags   = 20
	// MinKeyLen is the shortest API key staxkeys takes. A bad tag that long or longer is not
	// quoted in a message: it could be a key pasted in the wrong field or import column.
	MinKeyLen = 16
)

// NormalizeTags returns tags as stored: trimmed, lower-cased, without empty ones or repeats,
// sorted; and what is wrong with them ("" when nothing), naming the first bad tag. A tag is 1 to
// 40 of a-z, 0-9 and - _ . : /, starting with a letter or digit ("billing", "env:prod",
// "team/ops"), so it reads the same in a URL, a CSV cell and a chip. Keys' tags and the tags a
// route or a mute names follow the same rule, so that what is typed in one can match the other.
func NormalizeTags(in []string) ([]string, string) {
	out := make([]string, 0, len(in))
	for _, t := range in {
		t = NormalizeTag(t)
		if t == "" || slices.Contains(out, t) {
			continue
		}
		if msg := CheckTag(t); msg != "" {
			return out, msg
		}
		out = append(out, t)
	}
	if len(out) > MaxTags {
		return out, fmt.Sprintf("at most %d tags (this has %d)", MaxTags, len(out))
	}
	slices.Sort(out)
	return out, ""
}

// NormalizeTag is one tag as stored (trimmed, lower-cased), before CheckTag.
func NormalizeTag(t string) string { return strings.ToLower(strings.TrimSpace(t)) }

// CheckTag says what is wrong with one normalized tag, naming it ("" when nothing).
func CheckTag(t string) string {
	shown := t
	if len(shown) >= MinKeyLen || !utf8.ValidString(shown) || strings.ContainsFunc(shown, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
	}) {
		shown = "" // never echo what could be a key, nor what would not print as itself
	}
	name := func(msg string) string {
		if shown == "" {
			return "a tag " + msg
		}
		return "tag " + strconv.Quote(shown) + " " + msg
	}
	if len(t) > MaxTagLen {
		return name(fmt.Sprintf("is too long: at most %d characters", MaxTagLen))
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:/", c) >= 0) {
			return name("may use only letters a-z, digits and - _ . : / (no spaces)")
		}
	}
	if c := t[0]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
		return name("must start with a letter or a digit")
	}
	return ""
}
