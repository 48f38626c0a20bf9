package staxapi

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestScrub(t *testing.T) {
	const (
		email = "Admin@Example.com"
		key   = "w3i21te0abcdefghijklmnopqrstuvwxyz012345"
	)
	zwsp := func(s string, every int) string {
		var b strings.Builder
		for i, r := range s {
			if i > 0 && i%every == 0 {
				b.WriteString("\u200b")
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	fullwidth := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r > ' ' && r < 0x7f {
				return r - '!' + '\uff01'
			}
			return r
		}, s)
	}
	cases := []struct{ name, in, want string }{
		{"the key as sent", "bad key " + key, "bad key [key]"},
		{"the key upper-cased", "bad key " + strings.ToUpper(key) + " for team", "bad key [key] for team"},
		{"the key split by zero-width spaces", "key " + zwsp(key, 3) + "!", "key [key]!"},
		{"the key split every 5 by zero-width spaces, upper-cased", zwsp(strings.ToUpper(key), 5), "[key]"},
		{"all but the last 4", "key " + key[:len(key)-4] + "****", "key [key]****"},
		{"the last 4 alone survive", "key ending in " + key[len(key)-4:], "key ending in " + key[len(key)-4:]},
		{"a 5-character fragment survives", "w3i21 is short", "w3i21 is short"},
		{"a 6-character fragment does not", "x w3i21t y", "x [key] y"},
		{"a fragment from the middle", "...NOPQRSTU...", "...[key]..."},
		{"soft hyphens and word joiners", "k: w3i\u00ad21t\u2060e0abc", "k: [key]"},
		{"bidi overrides and isolates", "k: \u202ew3i21\u2066te0a\u2069bc\u202c", "k: [key]"},
		{"variation selectors and tags", "k: w3i\ufe0f21\U000e0041te0\U000e0100abc", "k: [key]"},
		{"grapheme joiner and Hangul filler", "k: w3i\u034f21\u3164te0abc", "k: [key]"},
		{"control codes", "k: w3i\x0021\x1bte0abc", "k: [key]"},
		{"combining marks", "k: w\u03013i\u030821te0", "k: [key]"},
		{"fullwidth", "k: " + fullwidth(key[:10]), "k: [key]"},
		{"Kelvin sign and long s", "\u212Almnopqr\u017Ftu", "[key]"},
		{"spread by spaces", "w3i21 te0ab cdefg", "[key]"},
		{"spread by a line break", "w3i21\nte0abc", "[key]"},
		{"spelt out with dashes", "key w-3-i-2-1-t-e-0 ok", "key [key] ok"},
		{"spread by dots and slashes", "key w3i.21t/e0a", "key [key]"},
		{"the email spread by dashes", "for ad-min@exa-mple.com", "for [email]"},
		{"the email's own dots must match", "admin@example,com", "[email],com"},
		{"punctuation between ordinary words stays", "Invalid key; see https://docs.stax.ai/keys (ref: 42-17)", "Invalid key; see https://docs.stax.ai/keys (ref: 42-17)"},
		{"the email upper-cased", "for ADMIN@EXAMPLE.COM.", "for [email]."},
		{"the email query-escaped", "?email=admin%40example.com&x=1", "?email=[email]&x=1"},
		{"the email split by zero-width joiners", "for Ad\u200dmin@Exa\u200dmple.com", "for [email]"},
		{"a long part of the email", "https://login.example.invalid/sso", "https://login.[email]invalid/sso"},
		{"key then email", key + strings.ToUpper(email), "[key][email]"},
		{"ordinary words stay", "Invalid key for team; access denied (admin rights needed)", "Invalid key for team; access denied (admin rights needed)"},
		{"invisible characters go even without a secret", "Acc\u200bess\u00ad denied\u202e", "Access denied"},
		{"invalid UTF-8", "bad \xff key", "bad \uFFFD key"},
		{"empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := newScrubber(email, key).scrub(c.in); got != c.want {
				t.Errorf("scrub(%q)\n = %q\nwant %q", c.in, got, c.want)
			}
		})
	}

	// A nil scrubber knows no secret: it only drops invisible characters.
	var none *scrubber
	if got := none.scrub("Acc\u200bess " + key); got != "Access "+key {
		t.Errorf("nil scrubber: %q", got)
	}

	// Keys with URL-special characters are found escaped too.
	sc := newScrubber("Admin@Example.com", "k3y/with+chars/and=more")
	got := sc.scrub("bad key k3y/with+chars/and=more (k3y%2Fwith%2Bchars%2Fand%3Dmore, K3Y%2FWITH%2BCHARS)")
	if got != "bad key [key] ([key], [key])" {
		t.Errorf("escaped key: %q", got)
	}

	// A key holding brackets gets markers it cannot form a run with.
	sc = newScrubber(email, "[key]abcdef[key]0123456789")
	if got := sc.scrub("x [KEY]ABCDEF[KEY]0123 y"); got != "x «key» y" {
		t.Errorf("bracketed key: %q", got)
	}

	// A key shorter than minRun is removed whole, never in part.
	sc = newScrubber(email, "abc")
	if got := sc.scrub("ab abc ABC"); got != "ab [key] [key]" {
		t.Errorf("short key: %q", got)
	}

	// Only the first maxScrubInput bytes are looked at; the key early in a
	// huge text is still removed.
	huge := "bad key " + strings.ToUpper(key) + strings.Repeat("é", 40<<10)
	got = newScrubber(email, key).scrub(huge)
	if len(got) > maxScrubInput || !strings.HasPrefix(got, "bad key [key]éé") || !utf8.ValidString(got) {
		t.Errorf("huge text: %d bytes, starts %q", len(got), got[:min(len(got), 40)])
	}
}

// TestClassifyScrubsQuotedText runs the scrubber where Check uses it: every
// kind of upstream text that reaches a Reason.
func TestClassifyScrubsQuotedText(t *testing.T) {
	const (
		email = "Secret.Admin@Example.com"
		key   = "k3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3y0"
	)
	echo := "token " + strings.ToUpper(key[:20]) + "\u200b" + key[20:36] + " of " + strings.ToUpper(email)
	msg, _ := json.Marshal(echo)
	for _, c := range []struct {
		status int
		h      http.Header
		body   string
		want   string
	}{
		{200, nil, `{"authError":true,"error":` + string(msg) + `}`, "Stax.ai said: token [key] of [email]"},
		{401, nil, `{"authError":true,"error":` + string(msg) + `}`, "Stax.ai said: token [key] of [email] (HTTP 401)"},
		{403, nil, `{"message":` + string(msg) + `}`, "it said: token [key] of [email]"},
		{500, nil, `{"error":{"message":` + string(msg) + `}}`, "HTTP 500 from Stax.ai; Stax.ai said: token [key] of [email]"},
		{302, hdr("Location", "https://x.invalid/?k="+url.QueryEscape(strings.ToUpper(key))+"&e="+url.QueryEscape(email)), "",
			"HTTP 302: redirected to https://x.invalid/?k=[key]&e=[email]"},
		{302, hdr("Location", "https://x.invalid/"+strings.Join(strings.SplitAfter(key[:30], "k3y"), "%E2%80%8B")+"?next=%2F"), "",
			"HTTP 302: redirected to https://x.invalid/[key]?next=/"},
		{403, nil, `{"error":"token &#107;&#51;&#x79;K3Y&#x6B;3y&#8203;k3y&amp;co"}`, "Stax.ai said: token [key]&co"},
		{403, nil, `{"error":"Tom &amp; Jerry &lt;3"}`, "Stax.ai said: Tom &amp; Jerry &lt;3"},
		{302, hdr("Location", "https://x.invalid/sso?next=%2Fkeys%3Fpage%3D2"), "",
			"HTTP 302: redirected to https://x.invalid/sso?next=%2Fkeys%3Fpage%3D2"},
	} {
		r := classify(c.status, c.h, []byte(c.body), false, time.Now(), newScrubber(email, key))
		if !strings.Contains(r.Reason, c.want) {
			t.Errorf("%d: Reason = %q, want it to contain %q", c.status, r.Reason, c.want)
		}
		checkReason(t, r.Reason)
	}
}

// oracleFold is an independent, weaker reading of "case-folded, invisible
// characters and foreign separators removed" for FuzzScrub: it folds only to
// ASCII through Unicode's simple case folding orbits and drops format,
// control (but not space), default-ignorable characters, combining marks,
// and punctuation and symbols the secret does not hold. Our markers become
// spaces first, so that their letters cannot join the text around them. Any
// run it finds, the scrubber must have found.
func oracleFold(s, secret string) string {
	for _, set := range markerSets {
		s = strings.ReplaceAll(strings.ReplaceAll(s, set[0], " "), set[1], " ")
	}
	secret = strings.ToLower(secret)
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point):
			continue
		case unicode.IsControl(r) && !unicode.IsSpace(r):
			continue
		case (unicode.IsPunct(r) || unicode.IsSymbol(r)) && !strings.ContainsRune(secret, unicode.ToLower(r)):
			continue
		}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < utf8.RuneSelf {
				r = f
				break
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// percentDecoded undoes well-formed %XX escapes, as an admin reading a URL
// would, for the leak checks.
func percentDecoded(s string) string {
	return regexp.MustCompile(`%[0-9A-Fa-f]{2}`).ReplaceAllStringFunc(s, func(m string) string {
		b, _ := hex.DecodeString(m[1:])
		return string(b)
	})
}

// leakedRun returns a run of minRun characters of secret found in reason but
// not in our own template, or "".
func leakedRun(reason, template, secret string) string {
	got, tmpl, sec := oracleFold(reason, secret), oracleFold(template, secret), oracleFold(secret, secret)
	for i := 0; i+minRun <= len(sec); i++ {
		if run := sec[i : i+minRun]; strings.Contains(got, run) && !strings.Contains(tmpl, run) {
			return run
		}
	}
	return ""
}

func FuzzScrub(f *testing.F) {
	f.Add([]byte("w3i21te0abcdefghijklmnopqrstuvwxyz012345"), "admin", uint8(0), uint8(3), "bad key ", " for team", uint8(0))
	f.Add([]byte("w3i21te0abcdefghijklmnopqrstuvwxyz012345"), "Admin.Team", uint8(1), uint8(5), "", "", uint8(1))
	f.Add([]byte("AAAAAAAAAAAAAAAAaaaaaaaa"), "a.a", uint8(2), uint8(1), "\u202e", "\u200b", uint8(2))
	f.Add([]byte("0123456789abcdefghij"), "x", uint8(3), uint8(7), "key=", "&x=1", uint8(3))
	f.Add([]byte("zyxwvutsrqponmlkjihgfedcba"), "ops", uint8(4), uint8(2), "\ufe0f", "", uint8(4))
	f.Add([]byte("Q9q9Q9q9Q9q9Q9q9Q9q9"), "q9", uint8(5), uint8(9), "ｑ９", "K", uint8(5))
	f.Add([]byte("k3yk3yk3yk3yk3yk3yk3y"), "k3y", uint8(6), uint8(4), "k3y", "k3", uint8(0))
	f.Add([]byte("abcdefabcdefabcdefab"), "def", uint8(7), uint8(0), "", "\x00", uint8(1))
	f.Add([]byte("w3i21te0abcdefghijklmnopqrstuvwxyz012345"), "ops", uint8(8), uint8(1), "key ", ".", uint8(5))
	f.Add([]byte("w3i21te0abcdefghijklmnopqrstuvwxyz012345"), "ops", uint8(8), uint8(4), "", "", uint8(2))
	f.Add([]byte("w3i21te0abcdefghijklmnopqrstuvwxyz012345"), "ops", uint8(9), uint8(0), "https://x/", "%", uint8(5))
	f.Add([]byte("w3i21te0abcdefghijklmnopqrstuvwxyz012345"), "ops", uint8(9), uint8(3), "%zz", "", uint8(1))
	f.Add([]byte("w3i21te0abcdefghijklmnopqrstuvwxyz012345"), "ops", uint8(10), uint8(2), "&amp;", "&", uint8(0))

	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	invisibles := []string{"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u2066",
		"\ufe0f", "\U000e0041", "\u034f", "\u3164", "\x00", "\u0301", "\u180e", "\U000e0100"}
	f.Fuzz(func(t *testing.T, keySeed []byte, local string, mode, every uint8, prefix, suffix string, where uint8) {
		// Keys as the vault accepts them, from Stax.ai's alphabet, so that
		// our own words around the quote (which hold spaces and
		// punctuation) cannot join with it into a run.
		if len(keySeed) < 16 {
			return
		}
		kb := make([]byte, min(len(keySeed), 64))
		for i := range kb {
			kb[i] = alphabet[int(keySeed[i])%len(alphabet)]
		}
		key := string(kb)
		local = strings.Map(func(r rune) rune {
			if r < utf8.RuneSelf && (strings.ContainsRune(alphabet, r) || r == '.' || r == '_') {
				return r
			}
			return -1
		}, local)
		if local == "" {
			local = "admin"
		}
		email := local + "@example.com"

		n := int(every)%7 + 1
		alter := func(s string) string {
			switch mode % 11 {
			case 1:
				return strings.ToUpper(s)
			case 2: // mixed case, chosen by the bits of every
				b := []byte(s)
				for i := range b {
					if every>>(i%8)&1 == 1 {
						b[i] = byte(unicode.ToUpper(rune(b[i])))
					}
				}
				return string(b)
			case 3, 7: // split by invisible characters
				var b strings.Builder
				for i, r := range s {
					if i > 0 && i%n == 0 {
						b.WriteString(invisibles[(i+int(every))%len(invisibles)])
					}
					b.WriteRune(unicode.ToUpper(r))
				}
				return b.String()
			case 4: // all but the last 4
				return s[:max(0, len(s)-4)]
			case 5: // a part from the middle
				i := int(every) % len(s)
				return s[i:]
			case 6: // query-escaped, upper-cased
				return strings.ToUpper(url.QueryEscape(s))
			case 10: // every n-th character as an HTML character reference
				var b strings.Builder
				for i, r := range s {
					if i%n == 0 {
						fmt.Fprintf(&b, "&#%d;", r)
					} else {
						b.WriteRune(r)
					}
				}
				return b.String()
			case 9: // split by percent-encoded invisible characters
				var b strings.Builder
				for i, r := range s {
					if i > 0 && i%n == 0 {
						b.WriteString(url.PathEscape(invisibles[(i+int(every))%len(invisibles)]))
					}
					b.WriteRune(r)
				}
				return b.String()
			case 8: // spelt out with a separator the key lacks
				seps := []string{"-", "/", "|", ":", "·", "–", "*", "+"}
				var b strings.Builder
				for i, r := range s {
					if i > 0 && i%n == 0 {
						b.WriteString(seps[int(every)%len(seps)])
					}
					b.WriteRune(r)
				}
				return b.String()
			}
			return s
		}
		text := prefix + alter(key) + " / " + alter(email) + suffix

		var (
			status int
			h      http.Header
			body   []byte
		)
		build := func(text string) {
			h = nil
			msg, _ := json.Marshal(text)
			switch where % 6 {
			case 0:
				status, body = 200, []byte(`{"success":false,"authError":true,"error":`+string(msg)+`}`)
			case 1:
				status, body = 401, []byte(`{"error":`+string(msg)+`}`)
			case 2:
				status, body = 403, []byte(`{"message":`+string(msg)+`}`)
			case 3:
				status, body = 500, []byte(`{"error":{"message":`+string(msg)+`}}`)
			case 4:
				status, body = 400, []byte(`{"success":false,"error":`+string(msg)+`}`)
			default:
				status, body, h = 302, nil, http.Header{"Location": {text}}
			}
		}
		now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		build("x")
		template := classify(status, h, body, false, now, nil).Reason
		build(text)
		r := classify(status, h, body, false, now, newScrubber(email, key))
		checkReason(t, r.Reason)
		for _, read := range [][2]string{
			{r.Reason, template},
			{percentDecoded(r.Reason), percentDecoded(template)},
			{html.UnescapeString(r.Reason), html.UnescapeString(template)},
		} {
			if run := leakedRun(read[0], read[1], key); run != "" {
				t.Fatalf("%q of the key %q survived in %q", run, key, r.Reason)
			}
			if run := leakedRun(read[0], read[1], email); run != "" {
				t.Fatalf("%q of the email %q survived in %q", run, email, r.Reason)
			}
		}
	})
}

func BenchmarkScrub(b *testing.B) {
	const (
		email = "Admin@Example.com"
		key   = "w3i21te0abcdefghijklmnopqrstuvwxyz012345"
	)
	short := "Invalid API key " + strings.ToUpper(key) + " for " + email
	hostile := strings.Repeat("W3I\u200b21TE0\u00adabcd é ", 64<<10/24)
	// The longest secrets the vault accepts, against text that defeats the
	// ASCII fast path.
	longKey := strings.Repeat("w3i21te0ab", 26)[:256]
	longEmail := strings.Repeat("a", 64) + "@" + strings.Repeat("example.", 23) + "com"
	for _, c := range []struct{ name, email, key, text string }{
		{"short", email, key, short},
		{"64KiB-hostile", email, key, hostile},
		{"64KiB-hostile-longest-secrets", longEmail, longKey, hostile},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = upstreamText(c.text, newScrubber(c.email, c.key))
			}
		})
	}
}
