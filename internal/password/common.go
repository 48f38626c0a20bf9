package password

import (
	_ "embed"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// commonText is the 10,000 most common passwords, lower-cased and sorted, one a line; see
// common.LICENSE for where they come from. Attackers try these first, with digits and
// symbols around them, so a password built on one falls to the first minutes of guessing
// however long it is.
//
//go:embed common.txt
var commonText string

// commonList splits the list on first use: an idle server, which sets no password, keeps no
// copy of it on the heap (the lines are substrings of the embedded text).
var commonList = sync.OnceValue(func() []string {
	return strings.Split(strings.TrimSuffix(commonText, "\n"), "\n")
})

func isCommon(s string) bool {
	_, found := slices.BinarySearch(commonList(), s)
	return found
}

// guessable reports whether pw falls to the first guesses a cracker makes: a common password
// as is, or with digits, symbols and spaces around it ("Password1234!"), one of the related
// words (the email's parts) the same way, a short unit repeated ("aaaaaaaaaaaa",
// "abcabcabcabc"), or a run of consecutive characters ("abcdefghijkl", "123456789012").
func guessable(pw string, related []string) bool {
	lower := strings.ToLower(pw)
	base := strings.TrimFunc(lower, notLetter)
	if isCommon(lower) || base == "" && (repeated(lower) || sequential(lower)) {
		return true
	}
	if base != "" && (isCommon(base) || repeated(base) || sequential(base)) {
		return true
	}
	for _, r := range related {
		for _, w := range strings.FieldsFunc(strings.ToLower(r), notLetter) {
			if len(w) >= 3 && (base == w || lower == w) {
				return true
			}
		}
	}
	return repeated(lower) || sequential(lower)
}

func notLetter(r rune) bool { return !unicode.IsLetter(r) }

// repeated reports whether s is one unit of at most 4 characters repeated.
func repeated(s string) bool {
	rs := []rune(s)
	for unit := 1; unit <= 4 && unit < len(rs); unit++ {
		if len(rs)%unit != 0 && unit > 1 {
			continue
		}
		ok := true
		for i := unit; i < len(rs); i++ {
			if rs[i] != rs[i%unit] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// sequential reports whether s is a run of consecutive characters, ascending or descending
// ("abcdef", "987654"); digits wrap round ("7890123").
func sequential(s string) bool {
	if utf8.RuneCountInString(s) < 4 {
		return false
	}
	rs := []rune(s)
	for _, step := range []rune{1, -1} {
		ok := true
		for i := 1; i < len(rs); i++ {
			want := rs[i-1] + step
			if unicode.IsDigit(rs[i-1]) {
				want = '0' + (rs[i-1]-'0'+step+10)%10
			}
			if rs[i] != want {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
