package keys_test

import (
	"errors"
	"net/mail"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
)

// hostileSeeds are values an attacker or a careless paste would try; the fuzzers start from
// them. CI runs each fuzzer for a few seconds (.ci/run); go test runs the seeds.
var hostileSeeds = []string{
	"", " ", "admin@example.com", "Billing (prod)", goodKey,
	"<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "' OR '1'='1", "'; DROP TABLE pairs; --",
	"a@b.co\r\nBcc: evil@example.com", "a\x00b", "\x1b[31mred", "\u2028", "\u0085", "\xff\xfe", "\xed\xa0\x80",
	"аdmin@example.com", "admin@exаmple.com", "ａｄｍｉｎ@example.com", "admin＠example.com", "admin@example.com\u200b",
	"\u202egnp.exe", "abc\u2066def\u2069", "\u200fשלום", "\ufeffbom", "\ufffd",
	strings.Repeat("x", 101), strings.Repeat("é", 100), strings.Repeat("a", 243) + "@example.com",
	"a@b", "a@b.", "a@.b", "a@b..c", "\"quoted\"@example.com", "a b@example.com", "a@[127.0.0.1]", "Name <a@b.co>",
	"sk_live_SPACED KEY_0123456", "sk_live_КЛЮЧ_0123456789", strings.Repeat("k", 257), "short",
}

// FuzzValidate checks what Validate lets through: every accepted pair is trimmed, fits the
// limits, carries nothing that could inject a header (the email and key travel as HTTP header
// values) or disguise a label, and validates again unchanged; every refusal names only real
// fields, each with a message, and only fields that are really at fault.
func FuzzValidate(f *testing.F) {
	for i, s := range hostileSeeds {
		f.Add(s, "admin@example.com", goodKey, i%2 == 0)
		f.Add("Label", s, goodKey, true)
		f.Add("Label", "admin@example.com", s, i%2 == 1)
	}
	f.Fuzz(func(t *testing.T, label, email, key string, requireKey bool) {
		in := keys.Input{Label: label, Email: email, Key: key}
		out, err := keys.Validate(in, requireKey)
		if out.Label != strings.TrimSpace(label) || out.Email != strings.TrimSpace(email) || out.Key != strings.TrimSpace(key) {
			t.Fatalf("Validate(%q) = %q: not the trimmed input", in, out)
		}
		bad := map[string]bool{}
		if err != nil {
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("Validate(%q) = %v: not a ValidationError naming fields", in, err)
			}
			for name, msg := range ve.Fields {
				if name != "label" && name != "email" && name != "key" {
					t.Fatalf("Validate(%q) names the unknown field %q", in, name)
				}
				if strings.TrimSpace(msg) == "" {
					t.Fatalf("Validate(%q): field %s has no message", in, name)
				}
				bad[name] = true
			}
		}
		if !bad["label"] {
			checkLabelSafe(t, out.Label)
		}
		if !bad["email"] {
			checkEmailSafe(t, out.Email)
		}
		if !bad["key"] && (out.Key != "" || requireKey) {
			if n := len(out.Key); n < keys.MinKeyLen || n > keys.MaxKeyLen {
				t.Fatalf("key %q accepted with %d bytes", out.Key, n)
			}
			for i := 0; i < len(out.Key); i++ {
				if c := out.Key[i]; c <= ' ' || c > '~' {
					t.Fatalf("key %q accepted with byte %#x", out.Key, c)
				}
			}
		}
		if err == nil {
			again, err2 := keys.Validate(out, requireKey)
			if err2 != nil || !reflect.DeepEqual(again, out) {
				t.Fatalf("Validate is not idempotent on %q: %q, %v", out, again, err2)
			}
		}
	})
}

// FuzzCheckEmail checks that every email CheckEmail accepts is a plain address of printable
// ASCII, safe as an HTTP header value, with a dotted domain, that net/mail reads back as itself.
func FuzzCheckEmail(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		msg := keys.CheckEmail(s)
		if msg != "" {
			if !strings.HasPrefix(msg, "email ") {
				t.Fatalf("CheckEmail(%q) = %q: the message does not name the field", s, msg)
			}
			return
		}
		checkEmailSafe(t, s)
	})
}

func checkLabelSafe(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("label %q accepted with invalid UTF-8", s)
	}
	if n := utf8.RuneCountInString(s); n > keys.MaxLabelLen {
		t.Fatalf("label accepted with %d characters", n)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') {
			t.Fatalf("label %q accepted with %U", s, r)
		}
	}
}

func checkEmailSafe(t *testing.T, s string) {
	t.Helper()
	if s == "" || len(s) > keys.MaxEmailLen {
		t.Fatalf("email %q accepted with %d bytes", s, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			t.Fatalf("email %q accepted with byte %#x", s, c)
		}
	}
	if strings.ContainsAny(s, "<>\",;()[]\\") || strings.Count(s, "@") != 1 {
		t.Fatalf("email %q accepted but is not a plain address", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		t.Fatalf("email %q accepted but net/mail reads %v, %v", s, a, err)
	}
	domain := s[strings.IndexByte(s, '@')+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		t.Fatalf("email %q accepted with the domain %q", s, domain)
	}
}
