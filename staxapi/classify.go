// Package staxapi asks the Stax.ai API whether an (email, key) pair is
// accepted, and classifies the answer.
//
// The classification follows the contract in the project's notes on the
// Stax.ai API: a verdict of revoked or denied must rest on the API saying so,
// and anything the API did not clearly decide (network trouble, proxies,
// rate limits, odd bodies) is Undecided so that it never flips a key's state.
package staxapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Outcome is the verdict on one check; its values are stored as they are,
// so they must never change.
type Outcome string

const (
	// Valid means Stax.ai answered a 2xx JSON object without an auth error.
	Valid Outcome = "valid"
	// Revoked means Stax.ai said the key does not authenticate (401, or
	// authError in the body); only the API saying so may revoke a key.
	Revoked Outcome = "revoked"
	// Denied means HTTP 403: the key is known but not allowed, for example
	// after the admin was demoted or the team fell back to trial. It is
	// neither valid nor revoked, so it gets a state of its own.
	Denied Outcome = "denied"
	// Undecided is stored as "error" because that is what an admin reads in
	// the history: the API did not decide and the key's state must not move.
	Undecided Outcome = "error"
)

// MaxBody is how much of a response body is kept. Auth answers from Stax.ai
// are tiny; anything larger is not an answer we can trust, and the cap keeps
// a hostile or broken upstream from exhausting memory.
const MaxBody = 64 << 10

// MaxReason bounds Result.Reason so that a hostile upstream cannot flood the
// database or the dashboard through the text we keep.
const MaxReason = 200

// maxUpstreamText bounds the part of a Reason quoted from the upstream, so the
// status context around it always survives the MaxReason cap.
const maxUpstreamText = 100

// maxRetryAfter clamps Retry-After: a absurd value from a broken proxy must
// not park a key for months.
const maxRetryAfter = 24 * time.Hour

// Result is what one check learnt. It carries enough for the caller to store
// the verdict, show it to an admin and pace further requests.
type Result struct {
	// Outcome is the verdict; Undecided unless the API clearly decided.
	Outcome Outcome
	// Reason is a short sentence for an admin, at most MaxReason bytes,
	// free of control characters, and never containing the email or key.
	Reason string
	// HTTPStatus is 0 when no HTTP response arrived.
	HTTPStatus int
	// Latency runs from sending the request to the end of the body read,
	// so a slow body counts as a slow API.
	Latency time.Duration
	// RetryAfter comes from Retry-After on 429 and 503, 0 if absent.
	RetryAfter time.Duration
	// RateLimited is set on HTTP 429, whatever the outcome, so the caller
	// slows down even when the body decided.
	RateLimited bool
	// UpstreamFault marks failures that count toward "Stax.ai is down":
	// transport errors, timeouts, 5xx and non-JSON proxy pages. Auth answers,
	// 429, 404 and redirects say nothing about availability.
	UpstreamFault bool
}

// Classify is the pure decision for one HTTP answer: status, headers, the
// body as read (at most MaxBody bytes) and whether it was cut there. It is
// exported so the contract can be table-tested and fuzzed without a network.
func Classify(status int, h http.Header, body []byte, truncated bool) Result {
	return classify(status, h, body, truncated, time.Now(), nil)
}

// bodyKind is what a body looked like, decided from its bytes alone: proxies
// lie in Content-Type, so the header is never consulted.
type bodyKind int

const (
	kindEmpty bodyKind = iota
	kindObject
	kindOtherJSON
	kindHTML
	kindNotJSON
	kindTruncated
)

// inspected is a body reduced to what the decision needs.
type inspected struct {
	kind      bodyKind
	jsonType  string // for kindOtherJSON: "array", "string", ...
	authError bool
	message   string // the upstream "error" text, unsanitised
}

func inspect(body []byte, truncated bool) inspected {
	if truncated {
		return inspected{kind: kindTruncated}
	}
	b := bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return inspected{kind: kindEmpty}
	}
	if b[0] == '{' {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err == nil && obj != nil {
			return inspected{kind: kindObject, authError: hasAuthError(obj), message: errorMessage(obj)}
		}
	} else if json.Valid(b) {
		return inspected{kind: kindOtherJSON, jsonType: jsonTypeName(b[0])}
	}
	if b[0] == '<' {
		return inspected{kind: kindHTML}
	}
	return inspected{kind: kindNotJSON}
}

func jsonTypeName(first byte) string {
	switch first {
	case '[':
		return "a JSON array"
	case '"':
		return "a JSON string"
	case 't', 'f':
		return "a JSON boolean"
	case 'n':
		return "JSON null"
	default:
		return "a JSON number"
	}
}

// hasAuthError accepts any spelling of the key and a true given as a bool or
// as a string: the older and newer API references disagree on details, and a
// revoked key reported loosely is still revoked.
func hasAuthError(obj map[string]json.RawMessage) bool {
	for k, v := range obj {
		if !strings.EqualFold(k, "authError") {
			continue
		}
		if string(v) == "true" {
			return true
		}
		var s string
		if json.Unmarshal(v, &s) == nil && strings.EqualFold(strings.TrimSpace(s), "true") {
			return true
		}
	}
	return false
}

// errorMessage picks the upstream "error" text. Keys are visited in sorted
// order so that a body with several spellings always gives the same Reason.
func errorMessage(obj map[string]json.RawMessage) string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		if strings.EqualFold(k, "error") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if _, ok := obj["error"]; ok {
		keys = append([]string{"error"}, keys...)
	}
	for _, k := range keys {
		var s string
		if json.Unmarshal(obj[k], &s) == nil && strings.TrimSpace(s) != "" {
			return s
		}
		var inner struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(obj[k], &inner) == nil && strings.TrimSpace(inner.Message) != "" {
			return inner.Message
		}
	}
	return ""
}

// classify is Classify with the clock and a scrubber injected: Check uses the
// scrubber to remove the email and key from upstream text before it is cut
// to length, so no fragment of a secret can survive truncation.
func classify(status int, h http.Header, body []byte, truncated bool, now time.Time, scrub func(string) string) Result {
	if scrub == nil {
		scrub = func(s string) string { return s }
	}
	r := Result{HTTPStatus: status, RateLimited: status == http.StatusTooManyRequests}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		r.RetryAfter = parseRetryAfter(h.Get("Retry-After"), now)
	}
	in := inspect(body, truncated)
	said := ""
	if in.message != "" {
		said = "Stax.ai said: " + upstreamText(in.message, scrub)
	}

	switch {
	case status == http.StatusForbidden:
		r.Outcome = Denied
		r.Reason = "HTTP 403: Stax.ai knows the key but denies access"
		if said != "" {
			r.Reason += "; " + said
		}
	case in.authError || status == http.StatusUnauthorized:
		r.Outcome = Revoked
		switch {
		case said != "" && status == http.StatusOK:
			r.Reason = said
		case said != "":
			r.Reason = fmt.Sprintf("%s (HTTP %d)", said, status)
		case status == http.StatusUnauthorized:
			r.Reason = "HTTP 401 from Stax.ai"
		default:
			r.Reason = fmt.Sprintf("Stax.ai reported an authorization error (HTTP %d)", status)
		}
	case status >= 200 && status <= 299 && in.kind == kindObject:
		r.Outcome = Valid
		r.Reason = "Stax.ai accepted the key"
		if status != http.StatusOK {
			r.Reason += fmt.Sprintf(" (HTTP %d)", status)
		}
	default:
		r.Outcome = Undecided
		r.Reason, r.UpstreamFault = undecided(status, h, in, said, r.RetryAfter, scrub)
	}
	r.Reason = cleanReason(r.Reason)
	return r
}

// undecided explains an answer that decided nothing, and says whether it
// looks like Stax.ai (or the path to it) is in trouble.
func undecided(status int, h http.Header, in inspected, said string, retry time.Duration, scrub func(string) string) (string, bool) {
	retryNote := ""
	if retry > 0 {
		retryNote = " (retry after " + fmtDuration(retry) + ")"
	}
	switch {
	case status < 100 || status > 999:
		return fmt.Sprintf("invalid HTTP status %d", status), true
	case status == http.StatusTooManyRequests:
		return "rate limited by Stax.ai" + retryNote, false
	case status >= 300 && status <= 399:
		loc := h.Get("Location")
		if strings.TrimSpace(loc) == "" {
			return fmt.Sprintf("HTTP %d redirect without a Location", status), false
		}
		return fmt.Sprintf("HTTP %d: redirected to %s", status, upstreamText(loc, scrub)), false
	case status == http.StatusNotFound:
		return "HTTP 404 from Stax.ai: no such endpoint (check the probe path)", false
	case status >= 200 && status <= 299:
		switch in.kind {
		case kindEmpty:
			if status == http.StatusOK {
				return "empty response body", true
			}
			return fmt.Sprintf("HTTP %d with an empty response body", status), true
		case kindTruncated:
			return "response body larger than 64 KiB", false
		case kindHTML:
			return fmt.Sprintf("HTTP %d but the body is HTML, not JSON", status), true
		case kindOtherJSON:
			return fmt.Sprintf("HTTP %d but the body is %s, not an object", status, in.jsonType), false
		default:
			return fmt.Sprintf("HTTP %d but the body is not JSON", status), true
		}
	}
	// Any other status: 1xx, 4xx, 5xx.
	fault := status >= 500
	var reason string
	switch in.kind {
	case kindObject:
		reason = fmt.Sprintf("HTTP %d from Stax.ai", status)
		if said != "" {
			reason += "; " + said
		}
	case kindOtherJSON:
		reason = fmt.Sprintf("HTTP %d from Stax.ai (body is %s, not an object)", status, in.jsonType)
	case kindHTML:
		reason, fault = fmt.Sprintf("HTTP %d from upstream (HTML, not JSON)", status), true
	case kindEmpty:
		reason = fmt.Sprintf("HTTP %d from upstream (empty body)", status)
	case kindTruncated:
		reason = fmt.Sprintf("HTTP %d from upstream (body larger than 64 KiB)", status)
	default:
		reason, fault = fmt.Sprintf("HTTP %d from upstream (body is not JSON)", status), true
	}
	// The retry note goes before the upstream text so the cap cannot cut it.
	if retryNote != "" {
		if i := strings.Index(reason, "; "); i >= 0 {
			return reason[:i] + retryNote + reason[i:], fault
		}
		reason += retryNote
	}
	return reason, fault
}

// parseRetryAfter reads both forms RFC 9110 allows; a date in the past or a
// value that does not parse means "no hint".
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter // only overflow fails here: all digits
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now).Round(time.Second)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}

// fmtDuration drops the zero tails time.Duration prints ("2m0s" → "2m") so
// reasons read naturally.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// upstreamText makes text chosen by the upstream safe to embed: secrets are
// scrubbed first, then it is flattened to one printable line and cut short.
func upstreamText(s string, scrub func(string) string) string {
	s = sanitize(scrub(s))
	return truncate(s, maxUpstreamText)
}

// cleanReason is the last gate for every Reason, whatever produced it.
func cleanReason(s string) string {
	s = truncate(sanitize(s), MaxReason)
	if s == "" {
		return "no reason given"
	}
	return s
}

// sanitize turns arbitrary bytes into one printable line: invalid UTF-8 is
// replaced, control and format characters (including bidi overrides that
// could disguise text in the dashboard) become spaces, and runs of spaces
// collapse.
func sanitize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimRight(s[:cut], " ") + ellipsis
}
