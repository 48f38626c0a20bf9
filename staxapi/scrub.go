package staxapi

import (
	"html"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// minRun is the shortest run of a secret's characters that scrubbing
// removes. An upstream may echo the key altered (upper-cased, split by
// invisible characters, all but its last few characters), so matching the
// whole key is not enough. Six keeps short ordinary words ("key", "team",
// "valid") readable, and longer ones go only where they really occur in a
// secret, while at most five characters of a secret are left in a row, far
// too little to rebuild a key of at least sixteen.
const minRun = 6

// maxScrubInput bounds the upstream text looked at. Only maxUpstreamText
// bytes of it are ever kept, and the matching costs time in proportion to its
// length times the secrets' length, so a 64 KiB error message from a hostile
// upstream must not be scanned whole; ten times what is kept leaves room for
// runs that shrink to a marker. Cutting first is safe: a run of a secret cut
// at the end is either still long enough to be found or too short to matter.
const maxScrubInput = 1 << 10

// Labels of what a removed run belonged to; the key wins where runs of the
// key and of the email overlap.
const (
	labelKey uint8 = iota + 1
	labelEmail
)

// markerSets are the texts that replace a removed run, for the key and the
// email. The first set whose delimiters occur in no secret is used, so a
// marker can never join its neighbours into a new run of a secret. Vault
// keys are visible ASCII and may hold brackets; they never hold guillemets.
var markerSets = [][2]string{{"[key]", "[email]"}, {"«key»", "«email»"}}

// secretForm is one spelling of a secret (as given, query- or
// path-escaped) reduced to its skeleton.
type secretForm struct {
	runes []rune
	has   map[rune]bool // the runes it holds, to know which separators to skip
	min   int           // minRun, or the whole secret when it is shorter
	label uint8
}

// scrubber removes every trace of one email and key from text an upstream
// chose: a server or proxy may echo them, altered or not, and they must
// never reach a Reason. A nil *scrubber knows no secret and only removes
// invisible characters. It is not safe for concurrent use; Check makes one
// per call.
type scrubber struct {
	forms   []secretForm
	markers [2]string
	caser   cases.Caser
}

func newScrubber(email, key string) *scrubber {
	sc := &scrubber{caser: cases.Fold()}
	add := func(label uint8, secret string) {
		for _, v := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
			sk := sc.skeleton(v, nil)
			if len(sk) == 0 || slices.ContainsFunc(sc.forms, func(f secretForm) bool { return slices.Equal(f.runes, sk) }) {
				continue
			}
			has := make(map[rune]bool, len(sk))
			for _, r := range sk {
				has[r] = true
			}
			sc.forms = append(sc.forms, secretForm{runes: sk, has: has, min: min(minRun, len(sk)), label: label})
		}
	}
	add(labelKey, key)
	add(labelEmail, email)
	sc.markers = markerSets[len(markerSets)-1]
	for _, set := range markerSets {
		if sc.markerSafe(set[0]) && sc.markerSafe(set[1]) {
			sc.markers = set
			break
		}
	}
	return sc
}

// invisible reports characters that render as nothing yet can split a
// secret so that it no longer matches: format characters (Unicode Cf: zero
// width space and joiners, bidi marks and overrides, soft hyphen, BOM, tag
// characters), variation selectors, the other default-ignorable code points
// (combining grapheme joiner, Hangul fillers) and control codes other than
// white space. They carry nothing an admin needs, so they are dropped from
// the text, not replaced.
func invisible(r rune) bool {
	if r < utf8.RuneSelf {
		return (r < 0x20 && !unicode.IsSpace(r)) || r == 0x7f
	}
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Variation_Selector, r) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		(unicode.IsControl(r) && !unicode.IsSpace(r))
}

// ignoredInMatch reports characters skipped when comparing text with a
// secret but kept in the text: white space and combining marks. Secrets
// hold neither, so skipping them only catches a secret spread out by them.
func ignoredInMatch(r rune) bool {
	if r < utf8.RuneSelf {
		return r <= ' ' || r == 0x7f
	}
	return invisible(r) || unicode.IsSpace(r) || unicode.IsControl(r) || unicode.In(r, unicode.Mn, unicode.Me)
}

// fold appends the skeleton of one rune to dst: its compatibility
// decomposition (fullwidth and mathematical letters, ligatures) with full
// Unicode case folding, minus what ignoredInMatch skips. Runes are folded one
// at a time so every skeleton rune can be traced back to the rune it came
// from.
func (sc *scrubber) fold(r rune, dst []rune) []rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		if !ignoredInMatch(r) {
			dst = append(dst, r)
		}
		return dst
	}
	for _, c := range sc.caser.String(norm.NFKD.String(string(r))) {
		if !ignoredInMatch(c) {
			dst = append(dst, c)
		}
	}
	return dst
}

// separator reports punctuation and symbols. Those a secret does not hold
// are skipped when matching text against it, so that an echo spelt out with
// them ("w-3-i-2-1-t-e-0", "w3i.21t.e0a") is still found, while those it
// holds (the "@" and dots of an email) must match.
func separator(r rune) bool {
	if r < utf8.RuneSelf {
		return r > ' ' && r < 0x7f && !('a' <= r && r <= 'z') && !('A' <= r && r <= 'Z') && !('0' <= r && r <= '9')
	}
	return unicode.IsPunct(r) || unicode.IsSymbol(r)
}

// skeleton is the folded form of s, appended to dst.
func (sc *scrubber) skeleton(s string, dst []rune) []rune {
	for _, r := range s {
		if !invisible(r) {
			dst = sc.fold(r, dst)
		}
	}
	return dst
}

// markerSafe reports whether marker m can stand in the text without
// forming a run of a secret with what surrounds it: its first and last
// characters occur in no secret, and it holds no run itself.
func (sc *scrubber) markerSafe(m string) bool {
	sk := sc.skeleton(m, nil)
	for _, f := range sc.forms {
		if slices.Contains(f.runes, sk[0]) || slices.Contains(f.runes, sk[len(sk)-1]) {
			return false
		}
	}
	cover := make([]uint8, len(sk))
	origin := make([]int32, len(sk))
	for i := range origin {
		origin[i] = int32(i)
	}
	for _, f := range sc.forms {
		markRuns(sk, origin, f, cover)
	}
	return !slices.ContainsFunc(cover, func(c uint8) bool { return c != 0 })
}

// scrub returns text without invisible characters and with every run of at
// least minRun characters that also occurs in the key or the email
// (compared on skeletons: case-folded, compatibility-decomposed, ignoring
// invisible characters, white space, combining marks and the punctuation
// and symbols the secret does not hold) replaced by a marker. Text beyond
// maxScrubInput bytes is dropped first.
func (sc *scrubber) scrub(text string) string {
	if len(text) > maxScrubInput {
		cut := maxScrubInput
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	out := make([]rune, 0, len(text))
	var skel []rune
	var origin []int32 // skel[i] came from out[origin[i]]
	for _, r := range text {
		if invisible(r) {
			continue
		}
		out = append(out, r)
		if sc == nil {
			continue
		}
		n := len(skel)
		skel = sc.fold(r, skel)
		for range len(skel) - n {
			origin = append(origin, int32(len(out)-1))
		}
	}
	if sc == nil || len(sc.forms) == 0 {
		return string(out)
	}
	cover := make([]uint8, len(out))
	fskel, forigin := make([]rune, 0, len(skel)), make([]int32, 0, len(skel))
	for _, f := range sc.forms {
		// The text as this form sees it: without the separators it lacks.
		fskel, forigin = fskel[:0], forigin[:0]
		for i, r := range skel {
			if !separator(r) || f.has[r] {
				fskel, forigin = append(fskel, r), append(forigin, origin[i])
			}
		}
		markRuns(fskel, forigin, f, cover)
	}
	res := make([]rune, 0, len(out))
	for i, r := range out {
		switch {
		case cover[i] == 0:
			res = append(res, r)
		case i == 0 || cover[i-1] != cover[i]:
			res = append(res, []rune(sc.markers[cover[i]-1])...)
		}
	}
	return string(res)
}

// scrubEncoded is scrub for text that may hide a secret behind an encoding:
// Go's URL handling writes a zero-width space in a Location as %E2%80%8B,
// and an HTML-minded proxy may write "w" as "&#119;", so a key split or
// spelt that way shows in the raw text only as short chunks. When decoding
// what scrub left reveals more runs of a secret, the decoded and scrubbed
// text is kept; otherwise the text stays as the upstream wrote it.
func (sc *scrubber) scrubEncoded(text string) string {
	s := sc.scrub(text)
	if sc == nil {
		return s
	}
	count := func(s string) int {
		return strings.Count(s, sc.markers[0]) + strings.Count(s, sc.markers[1])
	}
	for _, decode := range []func(string) string{percentDecode, html.UnescapeString} {
		if dec := decode(s); dec != s {
			if d := sc.scrub(dec); count(d) > count(s) {
				s = d
			}
		}
	}
	return s
}

// percentDecode undoes every well-formed %XX and keeps anything else as it
// is: url.PathUnescape gives up on the whole text at one stray "%", which a
// hostile upstream would add on purpose.
func percentDecode(s string) string {
	unhex := func(c byte) (byte, bool) {
		switch {
		case '0' <= c && c <= '9':
			return c - '0', true
		case 'a' <= c && c <= 'f':
			return c - 'a' + 10, true
		case 'A' <= c && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

// markRuns marks in cover every rune of the text that lies in a run of at
// least f.min skeleton characters also found in f. For each start i it
// finds the longest prefix of skel[i:] occurring anywhere in the secret
// (cur[j] is the length of the common prefix of skel[i:] and f.runes[j:]),
// in O(len(skel)·len(secret)) time. Any stretch of the text that matches
// the secret starts at some i, so it is covered; the runes between the
// first and the last matched one (white space, combining marks) go with it.
func markRuns(skel []rune, origin []int32, f secretForm, cover []uint8) {
	m := len(f.runes)
	prev, cur := make([]int32, m+1), make([]int32, m+1)
	for i := len(skel) - 1; i >= 0; i-- {
		best := int32(0)
		for j := m - 1; j >= 0; j-- {
			if skel[i] != f.runes[j] {
				cur[j] = 0
				continue
			}
			cur[j] = prev[j+1] + 1
			best = max(best, cur[j])
		}
		if int(best) >= f.min {
			for k := origin[i]; k <= origin[i+int(best)-1]; k++ {
				if cover[k] == 0 || f.label == labelKey {
					cover[k] = f.label
				}
			}
		}
		prev, cur = cur, prev
	}
}
