package keys

import (
	"net/mail"
	"strings"

	"github.com/staxkeys/staxkeys/domain"
)

// Limits on what a pair may hold.
const (
	MaxEmailLen = 254
	MaxLabelLen = 100
	MinKeyLen   = domain.MinKeyLen
	MaxKeyLen   = 256
)

// Validate checks a pair as typed and returns it normalized (surrounding white space trimmed).
// A key is required when requireKey; otherwise an empty key means "keep the stored one".
// Every faulty field is reported at once, in a *domain.ValidationError.
func Validate(in Input, requireKey bool) (Input, error) {
	out := Input{
		Label: strings.TrimSpace(in.Label),
		Email: strings.TrimSpace(in.Email),
		Key:   strings.TrimSpace(in.Key),
	}
	fields := map[string]string{}
	tags, msg := domain.NormalizeTags(in.Tags)
	out.Tags = tags
	if msg != "" {
		fields["tags"] = msg
	}
	if msg := checkLabel(out.Label); msg != "" {
		fields["label"] = msg
	}
	if msg := CheckEmail(out.Email); msg != "" {
		fields["email"] = msg
	}
	if e, err := domain.ParseExpect(string(in.Expected)); err != nil {
		fields["expected"] = err.(*domain.ValidationError).Fields["expected"]
	} else {
		out.Expected = e
	}
	if out.Key != "" || requireKey {
		if msg := checkKey(out.Key); msg != "" {
			fields["key"] = msg
		}
	}
	if len(fields) > 0 {
		return out, &domain.ValidationError{Fields: fields}
	}
	return out, nil
}

func checkLabel(s string) string { return domain.CheckText("label", s, MaxLabelLen) }

// CheckEmail returns what is wrong with an email address, or "" when it is acceptable. Emails are
// sent as an HTTP header, so only plain ASCII is allowed: that also shuts out look-alike letters.
func CheckEmail(s string) string {
	switch {
	case s == "":
		return "email is required"
	case len(s) > MaxEmailLen:
		return "email must be at most 254 characters"
	case domain.HasControl(s):
		return "email must not contain control characters (such as line breaks)"
	case !isPrintableASCII(s):
		return "email must use plain ASCII characters only"
	case strings.ContainsAny(s, " <>\",;()[]\\"):
		return "email must be a plain address such as admin@example.com"
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "email must be a plain address such as admin@example.com"
	}
	at := strings.LastIndexByte(s, '@')
	if domain := s[at+1:]; !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") ||
		strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "email must have a domain such as example.com"
	}
	return ""
}

func checkKey(s string) string {
	switch {
	case s == "":
		return "API key is required"
	case domain.HasControl(s):
		return "API key must not contain control characters (such as line breaks)"
	case strings.ContainsAny(s, " \t"):
		return "API key must not contain spaces"
	case !isPrintableASCII(s):
		return "API key must use visible ASCII characters only"
	case len(s) < MinKeyLen:
		return "API key is too short: Stax.ai keys have at least 16 characters"
	case len(s) > MaxKeyLen:
		return "API key is too long: at most 256 characters"
	}
	return ""
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// normalizeEmail is the form used for duplicate detection: email addresses are compared
// case-insensitively, as Stax.ai matches accounts.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
