// Package staxapi asks the Stax.ai API whether an (email, key) pair is
// accepted, and classifies the answer.
//
// The classification follows the contract in the project's notes on the
// Stax.ai API: a verdict of revoked or denied must rest on the API saying so,
// and anything the API did not clearly decide (network trouble, proxies,
// rate limits, odd bodies) is Undecided so that it never flips a key's state.
// Only a JSON object in Stax.ai's shape may decide; the rules are listed on
// Classify.
//
// Text quoted from an answer into a Reason is hostile input: it may echo the
// email or key altered (upper-cased, split by invisible characters, cut
// short). Check removes invisible characters and every run of six or more
// characters shared with either secret before anything is kept.
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

	"github.com/staxkeys/staxkeys/domain"
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
	Outcome domain.Outcome
	// Reason is a short sentence for an admin, at most MaxReason bytes,
	// free of control and invisible characters, and never containing the
	// email or key, nor any run of 6 or more of their characters in any
	// case, spacing or spelling an upstream may have echoed them in.
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
	// UpstreamFault marks failures that count toward "Stax.ai is down, or
	// something in the path to it is in the way": transport errors,
	// timeouts, 5xx, non-JSON pages, and 401 or 403 answers that are not
	// Stax.ai's (a proxy's sign-in page, a WAF's block page, a gateway's
	// {"message":"Forbidden"}). Auth answers, 429, 404 and redirects say
	// nothing about availability.
	UpstreamFault bool
}

// Classify is the pure decision for one HTTP answer: status, headers, the
// body as read (at most MaxBody bytes) and whether it was cut there. It is
// exported so the contract can be table-tested and fuzzed without a network.
// It knows no email or key, so it cannot scrub them: Check does.
//
// The rules, first match wins (the project's notes on the Stax.ai API,
// "What follows for a key checker"):
//
//  1. 5xx, 429, 1xx and 3xx decide nothing, whatever the body says: an auth
//     backend that is down may answer authError with a 500, a rate limiter
//     may reuse the error shape. 5xx is an UpstreamFault; 429 is
//     RateLimited, not a fault.
//  2. A body that is not a JSON object (after an optional BOM and white
//     space) decides nothing. A 401 or 403 with such a body is a proxy's,
//     WAF's or captive portal's page, so it is also an UpstreamFault.
//  3. A JSON object that is not in Stax.ai's shape (none of a boolean
//     "success", an "error" or an "authError") decides nothing either, and
//     is an UpstreamFault: a gateway's {"message":"Forbidden"} is not
//     Stax.ai denying the key.
//  4. 403 with a Stax.ai object is Denied.
//  5. 401 with a Stax.ai object, or authError true (also "true") at a 2xx,
//     is Revoked.
//  6. A 2xx Stax.ai object with success false and no auth error decides
//     nothing (something failed, not the key); any other is Valid.
//  7. Anything else (400, 404, other 4xx) decides nothing, with a reason
//     that says what to fix.
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
	kind     bodyKind
	jsonType string // for kindOtherJSON: "a JSON array", ...
	// stax is set for a JSON object in Stax.ai's shape; only such an
	// object may decide.
	stax         bool
	authError    bool
	successFalse bool
	message      string // the upstream's own words, unsanitised
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
			in := inspected{kind: kindObject, stax: staxShape(obj)}
			if in.stax {
				in.authError = boolField(obj, "authError") == fieldTrue
				in.successFalse = boolField(obj, "success") == fieldFalse
				in.message = textField(obj, "error", "message")
			} else {
				// A gateway's own words, e.g. API Gateway's "Forbidden",
				// tell the admin who answered.
				in.message = textField(obj, "message", "title")
			}
			return in
		}
	} else if json.Valid(b) {
		return inspected{kind: kindOtherJSON, jsonType: jsonTypeName(b[0])}
	}
	if b[0] == '<' {
		return inspected{kind: kindHTML}
	}
	return inspected{kind: kindNotJSON}
}

// staxShape reports whether a JSON object is recognisably Stax.ai's: its
// success bodies carry a boolean "success" and its Error shape carries
// "error" and "authError". The contract lets any JSON object at 401 or 403
// decide, but a CDN or gateway in front answers JSON too (AWS API Gateway's
// {"message":"Forbidden"}, Cloudflare's custom JSON errors, RFC 9457 problem
// details with "title" and "detail"): an object with none of Stax.ai's
// fields is not Stax.ai's answer, so it must not deny, revoke or validate.
//
// An "error" alone is weaker evidence than "success" or "authError": web
// frameworks' generic error bodies carry one too, beside the HTTP status
// repeated as a number (Spring Boot's {"status":403,"error":"Forbidden",
// "path":"/"}, NestJS's {"statusCode":403,"error":"Forbidden"}). Stax.ai's
// documented shapes never repeat the status, so such a body, from whatever
// framework sits in front, is not taken as Stax.ai's.
func staxShape(obj map[string]json.RawMessage) bool {
	if boolField(obj, "success") != fieldAbsent || boolField(obj, "authError") != fieldAbsent {
		return true
	}
	hasError, echoesStatus := false, false
	for k, v := range obj {
		switch {
		case strings.EqualFold(k, "error"):
			hasError = hasError || string(v) != "null"
		case strings.EqualFold(k, "status"), strings.EqualFold(k, "statusCode"):
			var n json.Number
			echoesStatus = echoesStatus || json.Unmarshal(v, &n) == nil
		}
	}
	return hasError && !echoesStatus
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

// boolish is what a field holds when read as a boolean.
type boolish int

const (
	fieldAbsent boolish = iota // missing, or not a boolean in any spelling
	fieldTrue
	fieldFalse
)

// boolField accepts any spelling of the name and a boolean given as a bool
// or as a string: the older and newer API references disagree on details,
// and a revoked key reported loosely is still revoked. A true in any
// spelling wins, so that a body cannot hide an auth error behind a second
// key.
func boolField(obj map[string]json.RawMessage, name string) boolish {
	got := fieldAbsent
	for k, v := range obj {
		if !strings.EqualFold(k, name) {
			continue
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			v = json.RawMessage(strings.ToLower(strings.TrimSpace(s)))
		}
		switch string(v) {
		case "true":
			return fieldTrue
		case "false":
			got = fieldFalse
		}
	}
	return got
}

// textField picks the upstream's text from the first of names that holds
// some, as a string or as an object with a "message". Spellings of one name
// are visited exact name first, then in sorted order, so that a body with
// several always gives the same Reason.
func textField(obj map[string]json.RawMessage, names ...string) string {
	for _, name := range names {
		var keys []string
		for k := range obj {
			if strings.EqualFold(k, name) && k != name {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if _, ok := obj[name]; ok {
			keys = append([]string{name}, keys...)
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
	}
	return ""
}

// bodyPhrase names a body that is not a Stax.ai object, for "HTTP 401 with
// an HTML page".
func bodyPhrase(in inspected) string {
	switch in.kind {
	case kindEmpty:
		return "an empty body"
	case kindHTML:
		return "an HTML page"
	case kindTruncated:
		return "a body larger than 64 KiB"
	case kindOtherJSON:
		return in.jsonType
	case kindObject:
		return "JSON that is not Stax.ai's (no success, error or authError)"
	default:
		return "a body that is not JSON"
	}
}

// classify is Classify with the clock and a scrubber injected: Check uses the
// scrubber to remove the email and key from upstream text before it is cut
// to length, so no fragment of a secret can survive truncation.
func classify(status int, h http.Header, body []byte, truncated bool, now time.Time, sc *scrubber) Result {
	r := Result{HTTPStatus: status, RateLimited: status == http.StatusTooManyRequests}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		r.RetryAfter = parseRetryAfter(h.Get("Retry-After"), now)
	}
	in := inspect(body, truncated)
	said := ""
	if quoted := upstreamText(in.message, sc); quoted != "" {
		// Quoted only when something visible is left: a message of
		// invisible characters alone says nothing.
		who := "Stax.ai said: "
		if !in.stax {
			who = "it said: "
		}
		said = who + quoted
	}
	r.Outcome = domain.OutcomeUndecided
	r.Reason, r.UpstreamFault = decide(&r, h, in, said, sc)
	r.Reason = cleanReason(r.Reason)
	return r
}

// decide applies the rules listed on Classify. It sets r.Outcome when the
// answer decides and returns the reason and whether the answer counts as an
// upstream fault; anything it does not decide stays Undecided.
func decide(r *Result, h http.Header, in inspected, said string, sc *scrubber) (string, bool) {
	status := r.HTTPStatus
	var notes []string
	if r.RetryAfter > 0 {
		notes = append(notes, "retry after "+fmtDuration(r.RetryAfter))
	}
	ignored := func(why string) {
		if in.authError {
			notes = append(notes, "authError ignored: "+why)
		}
	}
	// Rule 1: statuses that never decide, whatever the body says.
	switch {
	case status < 100 || status > 999:
		return fmt.Sprintf("invalid HTTP status %d", status), true
	case status >= 500:
		ignored("a server fault cannot revoke")
		if in.stax {
			return compose(fmt.Sprintf("HTTP %d from Stax.ai", status), notes, said), true
		}
		return compose(fmt.Sprintf("HTTP %d from upstream (%s)", status, upstreamBody(in)), notes, said), true
	case status == http.StatusTooManyRequests:
		ignored("a rate limit cannot revoke")
		if !in.stax && in.kind != kindEmpty {
			// A CDN's or gateway's limiter: it slows us all the same.
			what := bodyPhrase(in)
			if in.kind == kindObject {
				what = "JSON not in Stax.ai's shape"
			}
			notes = append([]string{"HTTP 429 with " + what}, notes...)
			return compose("rate limited by a proxy or CDN in front of Stax.ai", notes, said), false
		}
		return compose("rate limited by Stax.ai", notes, ""), false
	case status < 200:
		ignored("an interim status cannot revoke")
		return compose(fmt.Sprintf("HTTP %d: an interim status, not an answer", status), notes, ""), false
	case status >= 300 && status <= 399:
		ignored("a redirect cannot revoke")
		loc := upstreamText(h.Get("Location"), sc)
		if loc == "" {
			return compose(fmt.Sprintf("HTTP %d redirect without a Location", status), notes, ""), false
		}
		return compose(fmt.Sprintf("HTTP %d: redirected to %s", status, loc), notes, ""), false
	case status == http.StatusNotFound:
		// Whoever answered, the probe path is what to fix.
		return "HTTP 404 from Stax.ai: no such endpoint (check the probe path)", false
	case status == http.StatusProxyAuthRequired:
		return "HTTP 407: a proxy between us and Stax.ai wants credentials (check the network path)", true
	}

	// Rules 2 and 3: only a Stax.ai object may decide.
	if !in.stax {
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			who := "a proxy or firewall answered, not Stax.ai"
			if in.kind == kindObject {
				who = "a gateway or firewall answered, not Stax.ai"
			}
			return compose(fmt.Sprintf("HTTP %d with %s: %s", status, bodyPhrase(in), who), nil, said), true
		case status >= 200 && status <= 299:
			return undecided2xx(status, in, said)
		}
		fault := in.kind == kindHTML || in.kind == kindNotJSON || in.kind == kindObject
		return compose(fmt.Sprintf("HTTP %d from upstream (%s)", status, upstreamBody(in)), nil, said), fault
	}

	switch {
	case status == http.StatusForbidden: // rule 4
		r.Outcome = domain.OutcomeDenied
		return compose("HTTP 403: Stax.ai knows the key but denies access", nil, said), false
	case status == http.StatusUnauthorized: // rule 5
		r.Outcome = domain.OutcomeRevoked
		if said != "" {
			return said + " (HTTP 401)", false
		}
		return "HTTP 401 from Stax.ai", false
	case status >= 200 && status <= 299 && in.authError: // rule 5
		r.Outcome = domain.OutcomeRevoked
		switch {
		case said != "" && status == http.StatusOK:
			return said, false
		case said != "":
			return fmt.Sprintf("%s (HTTP %d)", said, status), false
		}
		return fmt.Sprintf("Stax.ai reported an authorization error (HTTP %d)", status), false
	case status >= 200 && status <= 299 && in.successFalse: // rule 6
		reason := "Stax.ai answered success: false without an auth error: something failed, not the key"
		if status != http.StatusOK {
			reason += fmt.Sprintf(" (HTTP %d)", status)
		}
		return compose(reason, nil, said), false
	case status >= 200 && status <= 299: // rule 6
		r.Outcome = domain.OutcomeValid
		if status != http.StatusOK {
			return fmt.Sprintf("Stax.ai accepted the key (HTTP %d)", status), false
		}
		return "Stax.ai accepted the key", false
	}

	// Rule 7: a Stax.ai answer that says nothing about the key. The fix
	// comes first among the notes, so an admin reads it before the quote.
	head, fix := fmt.Sprintf("HTTP %d from Stax.ai: not an answer about the key", status), "check the base URL and probe path"
	switch status {
	case http.StatusBadRequest:
		head, fix = "HTTP 400 from Stax.ai: it could not parse the request", "check the probe path"
	case http.StatusMethodNotAllowed:
		head, fix = "HTTP 405 from Stax.ai: method not allowed", "check the probe path"
	case http.StatusGone:
		head, fix = "HTTP 410 from Stax.ai: the endpoint is gone", "check the probe path"
	}
	notes = append([]string{fix}, notes...)
	ignored("only a 401 or 2xx answer revokes")
	return compose(head, notes, said), false
}

// undecided2xx explains a 2xx whose body is not a Stax.ai object.
func undecided2xx(status int, in inspected, said string) (string, bool) {
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
	case kindObject:
		return compose(fmt.Sprintf("HTTP %d with %s: something else answered (check the base URL and probe path)", status, bodyPhrase(in)), nil, said), true
	default:
		return fmt.Sprintf("HTTP %d but the body is not JSON", status), true
	}
}

// upstreamBody names a body that did not come from Stax.ai, for "HTTP 502
// from upstream (HTML, not JSON)".
func upstreamBody(in inspected) string {
	switch in.kind {
	case kindEmpty:
		return "empty body"
	case kindHTML:
		return "HTML, not JSON"
	case kindTruncated:
		return "body larger than 64 KiB"
	case kindOtherJSON:
		return "body is " + in.jsonType + ", not an object"
	case kindObject:
		return "JSON, not in Stax.ai's shape"
	default:
		return "body is not JSON"
	}
}

// compose puts a reason together: our own words first, then notes in
// brackets, then the upstream's quoted words last, so the MaxReason cap can
// only ever cut what the upstream said.
func compose(head string, notes []string, said string) string {
	if len(notes) > 0 {
		head += " (" + strings.Join(notes, "; ") + ")"
	}
	if said != "" {
		head += "; " + said
	}
	return head
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

// upstreamText makes text chosen by the upstream safe to embed: invisible
// characters are removed and secrets scrubbed first (sc may be nil when no
// secret is known), then it is flattened to one printable line and cut
// short. Scrubbing before the cut means no fragment of a secret can survive
// the truncation.
func upstreamText(s string, sc *scrubber) string {
	return truncate(sanitize(sc.scrubEncoded(s)), maxUpstreamText)
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
// replaced, invisible characters (format characters such as bidi overrides
// that could disguise text in the dashboard, zero-width characters,
// variation selectors, control codes) are dropped, white space becomes one
// space, and the result is trimmed.
func sanitize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if invisible(r) {
			continue
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
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
