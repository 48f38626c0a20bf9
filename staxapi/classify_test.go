package staxapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

const jsonCT = "application/json; charset=utf-8"

var (
	htmlPage  = []byte("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
	authBody  = []byte(`{"success":false,"authError":true,"error":"Invalid authorization request"}`)
	okBody    = []byte(`{"success":true,"stacks":[]}`)
	exactCap  = jsonOfSize(MaxBody)
	overCap   = jsonOfSize(MaxBody) // passed with truncated=true
	nested    = []byte(strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200))
	tooNested = []byte(`{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}")
)

// jsonOfSize builds a JSON object of exactly n bytes.
func jsonOfSize(n int) []byte {
	head, tail := `{"success":true,"pad":"`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

func TestClassifyTable(t *testing.T) {
	if len(exactCap) != MaxBody {
		t.Fatalf("exactCap is %d bytes", len(exactCap))
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name      string
		status    int
		h         http.Header
		body      []byte
		truncated bool

		want        Outcome
		reason      string // substring the Reason must contain
		fault       bool
		rateLimited bool
		retryAfter  time.Duration
	}{
		// Valid.
		{name: "200 valid JSON", status: 200, h: hdr("Content-Type", jsonCT), body: okBody,
			want: Valid, reason: "Stax.ai accepted the key"},
		{name: "200 success false without authError", status: 200, body: []byte(`{"success":false,"error":"No stack"}`),
			want: Valid, reason: "accepted"},
		{name: "200 authError string false", status: 200, body: []byte(`{"success":true,"authError":"false"}`),
			want: Valid},
		{name: "200 authError bool false", status: 200, body: []byte(`{"success":true,"authError":false}`),
			want: Valid},
		{name: "201 JSON", status: 201, body: okBody, want: Valid, reason: "(HTTP 201)"},
		{name: "JSON with text/html header", status: 200, h: hdr("Content-Type", "text/html"), body: okBody,
			want: Valid},
		{name: "JSON with BOM and whitespace", status: 200, body: append([]byte("\xef\xbb\xbf \n"), okBody...),
			want: Valid},
		{name: "nested JSON", status: 200, body: nested, want: Valid},
		{name: "huge numbers", status: 200, body: []byte(`{"success":true,"n":1e999999,"m":-123456789012345678901234567890}`),
			want: Valid},
		{name: "invalid UTF-8 inside a JSON string", status: 200, body: []byte("{\"success\":true,\"x\":\"\xff\xfe\"}"),
			want: Valid},
		{name: "body of exactly 64 KiB", status: 200, body: exactCap, want: Valid},

		// Revoked.
		{name: "200 authError true", status: 200, body: authBody,
			want: Revoked, reason: "Stax.ai said: Invalid authorization request"},
		{name: "200 authError string TRUE", status: 200, body: []byte(`{"success":false,"authError":"TRUE","error":"Invalid authorization request"}`),
			want: Revoked, reason: "Stax.ai said: Invalid authorization request"},
		{name: "200 autherror key case-insensitive", status: 200, body: []byte(`{"AUTHERROR":true}`),
			want: Revoked, reason: "authorization error"},
		{name: "success true and authError true", status: 200, body: []byte(`{"success":true,"authError":true}`),
			want: Revoked},
		{name: "401 JSON", status: 401, h: hdr("Content-Type", jsonCT), body: authBody,
			want: Revoked, reason: "Stax.ai said: Invalid authorization request (HTTP 401)"},
		{name: "401 HTML", status: 401, h: hdr("Content-Type", "text/html"), body: htmlPage,
			want: Revoked, reason: "HTTP 401 from Stax.ai"},
		{name: "401 empty", status: 401, want: Revoked, reason: "HTTP 401 from Stax.ai"},
		{name: "401 truncated", status: 401, body: overCap, truncated: true, want: Revoked, reason: "HTTP 401"},
		{name: "authError at 500", status: 500, body: authBody, want: Revoked, reason: "(HTTP 500)"},
		{name: "authError at 429 still revoked, still rate limited", status: 429, h: hdr("Retry-After", "5"), body: authBody,
			want: Revoked, rateLimited: true, retryAfter: 5 * time.Second},

		// Denied.
		{name: "403 JSON", status: 403, body: []byte(`{"success":false,"error":"Team is on a trial plan"}`),
			want: Denied, reason: "HTTP 403: Stax.ai knows the key but denies access; Stax.ai said: Team is on a trial plan"},
		{name: "403 HTML", status: 403, h: hdr("Content-Type", "text/html"), body: htmlPage,
			want: Denied, reason: "HTTP 403: Stax.ai knows the key but denies access"},
		{name: "403 with authError (403 wins)", status: 403, body: authBody,
			want: Denied, reason: "Stax.ai said: Invalid authorization request"},
		{name: "403 empty", status: 403, want: Denied},
		{name: "403 truncated", status: 403, body: overCap, truncated: true, want: Denied},

		// Undecided.
		{name: "404 JSON", status: 404, body: []byte(`{"success":false,"error":"Not found"}`),
			want: Undecided, reason: "HTTP 404"},
		{name: "404 HTML", status: 404, body: htmlPage, want: Undecided, reason: "HTTP 404"},
		{name: "429 Retry-After seconds", status: 429, h: hdr("Retry-After", "30"), body: []byte(`{"success":false,"error":"Too many requests"}`),
			want: Undecided, reason: "rate limited by Stax.ai (retry after 30s)", rateLimited: true, retryAfter: 30 * time.Second},
		{name: "429 Retry-After HTTP date", status: 429, h: hdr("Retry-After", now.Add(2*time.Minute).Format(http.TimeFormat)),
			want: Undecided, reason: "rate limited by Stax.ai (retry after 2m)", rateLimited: true, retryAfter: 2 * time.Minute},
		{name: "429 Retry-After date in the past", status: 429, h: hdr("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)),
			want: Undecided, reason: "rate limited by Stax.ai", rateLimited: true},
		{name: "429 Retry-After absurd", status: 429, h: hdr("Retry-After", "99999999999999999999"),
			want: Undecided, rateLimited: true, retryAfter: maxRetryAfter},
		{name: "429 Retry-After garbage", status: 429, h: hdr("Retry-After", "soon"),
			want: Undecided, reason: "rate limited by Stax.ai", rateLimited: true},
		{name: "429 without Retry-After", status: 429, want: Undecided, reason: "rate limited by Stax.ai", rateLimited: true},
		{name: "500 JSON", status: 500, body: []byte(`{"success":false,"error":"Internal server error"}`),
			want: Undecided, reason: "HTTP 500 from Stax.ai; Stax.ai said: Internal server error", fault: true},
		{name: "502 HTML", status: 502, h: hdr("Content-Type", "text/html"), body: htmlPage,
			want: Undecided, reason: "HTTP 502 from upstream (HTML, not JSON)", fault: true},
		{name: "503 with Retry-After", status: 503, h: hdr("Retry-After", "120"), body: []byte(`{"success":false,"error":"Service unavailable"}`),
			want: Undecided, reason: "HTTP 503 from Stax.ai (retry after 2m); Stax.ai said: Service unavailable", fault: true, retryAfter: 2 * time.Minute},
		{name: "503 empty", status: 503, want: Undecided, reason: "HTTP 503 from upstream (empty body)", fault: true},
		{name: "504 text", status: 504, body: []byte("upstream request timeout"),
			want: Undecided, reason: "HTTP 504 from upstream (body is not JSON)", fault: true},
		{name: "301 with Location", status: 301, h: hdr("Location", "https://x/y"),
			want: Undecided, reason: "redirected to https://x/y"},
		{name: "302 with Location", status: 302, h: hdr("Location", "https://login.example.com/sso?next=%2F"), body: htmlPage,
			want: Undecided, reason: "HTTP 302: redirected to https://login.example.com/sso?next=%2F"},
		{name: "302 without Location", status: 302, want: Undecided, reason: "without a Location"},
		{name: "HTML with application/json header", status: 200, h: hdr("Content-Type", jsonCT), body: htmlPage,
			want: Undecided, reason: "HTTP 200 but the body is HTML, not JSON", fault: true},
		{name: "empty body", status: 200, h: hdr("Content-Type", jsonCT),
			want: Undecided, reason: "empty response body", fault: true},
		{name: "whitespace body", status: 200, body: []byte(" \r\n\t "),
			want: Undecided, reason: "empty response body", fault: true},
		{name: "204 no content", status: 204, want: Undecided, reason: "HTTP 204 with an empty response body", fault: true},
		{name: "truncated body", status: 200, body: overCap, truncated: true,
			want: Undecided, reason: "response body larger than 64 KiB"},
		{name: "truncated 5xx", status: 500, body: overCap, truncated: true,
			want: Undecided, reason: "HTTP 500 from upstream (body larger than 64 KiB)", fault: true},
		{name: "JSON array", status: 200, body: []byte(`[{"success":true}]`),
			want: Undecided, reason: "HTTP 200 but the body is a JSON array, not an object"},
		{name: "JSON string", status: 200, body: []byte(`"ok"`),
			want: Undecided, reason: "a JSON string"},
		{name: "JSON null", status: 200, body: []byte(`null`), want: Undecided},
		{name: "invalid UTF-8", status: 200, body: []byte("\xff\xfe\xfd garbage"),
			want: Undecided, reason: "HTTP 200 but the body is not JSON", fault: true},
		{name: "garbage that starts like JSON", status: 200, body: []byte(`{"success":true,`),
			want: Undecided, reason: "not JSON", fault: true},
		{name: "JSON with trailing garbage", status: 200, body: []byte(`{"success":true} {}`),
			want: Undecided, reason: "not JSON", fault: true},
		{name: "nesting beyond the decoder's limit", status: 200, body: tooNested,
			want: Undecided, reason: "not JSON", fault: true},
		{name: "400 JSON", status: 400, body: []byte(`{"success":false,"error":"Bad request"}`),
			want: Undecided, reason: "HTTP 400 from Stax.ai; Stax.ai said: Bad request"},
		{name: "400 HTML from a proxy", status: 400, body: htmlPage,
			want: Undecided, reason: "HTTP 400 from upstream (HTML, not JSON)", fault: true},
		{name: "status 0", status: 0, want: Undecided, reason: "invalid HTTP status", fault: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := classify(c.status, c.h, c.body, c.truncated, now, nil)
			if r.Outcome != c.want {
				t.Errorf("Outcome = %q, want %q (reason %q)", r.Outcome, c.want, r.Reason)
			}
			if !strings.Contains(r.Reason, c.reason) {
				t.Errorf("Reason = %q, want it to contain %q", r.Reason, c.reason)
			}
			if r.HTTPStatus != c.status {
				t.Errorf("HTTPStatus = %d, want %d", r.HTTPStatus, c.status)
			}
			if r.UpstreamFault != c.fault {
				t.Errorf("UpstreamFault = %v, want %v (reason %q)", r.UpstreamFault, c.fault, r.Reason)
			}
			if r.RateLimited != c.rateLimited {
				t.Errorf("RateLimited = %v, want %v", r.RateLimited, c.rateLimited)
			}
			if r.RetryAfter != c.retryAfter {
				t.Errorf("RetryAfter = %v, want %v", r.RetryAfter, c.retryAfter)
			}
			checkReason(t, r.Reason)
			// The exported entry point agrees, except where the clock matters.
			if c.h.Get("Retry-After") == "" {
				if pub := Classify(c.status, c.h, c.body, c.truncated); pub != r {
					t.Errorf("Classify = %+v, classify = %+v", pub, r)
				}
			}
		})
	}
}

// checkReason asserts what every Reason must be, whatever produced it.
func checkReason(t *testing.T, reason string) {
	t.Helper()
	if reason == "" || len(reason) > MaxReason {
		t.Errorf("Reason length %d: %q", len(reason), reason)
	}
	if !utf8.ValidString(reason) {
		t.Errorf("Reason is not valid UTF-8: %q", reason)
	}
	for _, r := range reason {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			t.Errorf("Reason contains control or format character %U: %q", r, reason)
		}
	}
}

func TestClassifySanitizesUpstreamText(t *testing.T) {
	evil := "line1\r\nX-Injected: yes\x00\x1b[31m\u202egnirts desrever" + strings.Repeat(" é", 300)
	body, _ := json.Marshal(map[string]any{"authError": true, "error": evil})
	r := Classify(200, nil, body, false)
	if r.Outcome != Revoked {
		t.Fatalf("Outcome = %q", r.Outcome)
	}
	checkReason(t, r.Reason)
	if !strings.HasPrefix(r.Reason, "Stax.ai said: line1 X-Injected: yes") || !strings.HasSuffix(r.Reason, "…") {
		t.Errorf("Reason = %q", r.Reason)
	}

	r = Classify(302, hdr("Location", "https://x/\u202e"+strings.Repeat("a", 500)), nil, false)
	checkReason(t, r.Reason)
	if !strings.Contains(r.Reason, "redirected to https://x/") {
		t.Errorf("Reason = %q", r.Reason)
	}

	// The "error" field may be an object with a message.
	r = Classify(403, nil, []byte(`{"error":{"message":"Admin rights required"}}`), false)
	if !strings.HasSuffix(r.Reason, "Stax.ai said: Admin rights required") {
		t.Errorf("Reason = %q", r.Reason)
	}
	// Several spellings of "error" give a stable answer.
	for range 20 {
		r = Classify(401, nil, []byte(`{"Error":"b","ERROR":"a","error":"exact"}`), false)
		if !strings.Contains(r.Reason, "exact") {
			t.Fatalf("Reason = %q", r.Reason)
		}
		r = Classify(401, nil, []byte(`{"Error":"b","ERROR":"a"}`), false)
		if !strings.Contains(r.Reason, "Stax.ai said: a") {
			t.Fatalf("Reason = %q", r.Reason)
		}
	}
}

func TestScrubberAndHelpers(t *testing.T) {
	scrub := scrubber("Admin@Example.com", "k3y/with+chars")
	got := scrub("bad key k3y/with+chars for ADMIN@example.COM (admin%40example.com, k3y%2Fwith%2Bchars)")
	if got != "bad key [key] for [email] ([email], [key])" {
		t.Errorf("scrub = %q", got)
	}
	if replaceFold("aXa", "x", "-") != "a-a" || replaceFold("abc", "", "-") != "abc" {
		t.Error("replaceFold")
	}
	for d, want := range map[time.Duration]string{
		10 * time.Second: "10s", 50 * time.Millisecond: "50ms", 2 * time.Minute: "2m",
		90 * time.Second: "1m30s", time.Hour: "1h", 3*time.Hour + 10*time.Minute: "3h10m",
	} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := truncate(strings.Repeat("é", 150), 200); len(got) > 200 || !utf8.ValidString(got) {
		t.Errorf("truncate broke a rune: %q", got)
	}
}

// authErrorIn is an independent reading of the contract's "JSON object body
// with authError true", for the fuzz target to check Classify against.
func authErrorIn(body []byte) bool {
	var obj map[string]any
	b := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if json.Unmarshal(b, &obj) != nil {
		return false
	}
	for k, v := range obj {
		if !strings.EqualFold(k, "autherror") {
			continue
		}
		switch v := v.(type) {
		case bool:
			if v {
				return true
			}
		case string:
			if strings.EqualFold(strings.TrimSpace(v), "true") {
				return true
			}
		}
	}
	return false
}

func FuzzClassify(f *testing.F) {
	seeds := []struct {
		status       int
		ctype, retry string
		location     string
		body         string
		truncated    bool
	}{
		{200, jsonCT, "", "", string(okBody), false},
		{200, jsonCT, "", "", string(authBody), false},
		{200, "", "", "", `{"authError":"true"}`, false},
		{200, "", "", "", `{"success":true,"authError":true}`, false},
		{401, "text/html", "", "", string(htmlPage), false},
		{403, jsonCT, "", "", string(authBody), false},
		{404, jsonCT, "", "", `{"error":"Not found"}`, false},
		{429, jsonCT, "30", "", `{"error":"slow down"}`, false},
		{429, "", "Wed, 21 Oct 2015 07:28:00 GMT", "", "", false},
		{500, jsonCT, "", "", `{"error":"boom"}`, false},
		{502, "text/html", "", "", string(htmlPage), false},
		{503, "", "120", "", "", false},
		{302, "", "", "https://x/y", "", false},
		{200, jsonCT, "", "", "\xff\xfe", false},
		{200, jsonCT, "", "", `[1,2]`, false},
		{200, jsonCT, "", "", `{"a":1`, true},
		{-1, "", "", "", "", false},
		{200, "", "", "", "{\"authError\":true,\"error\":\"\u202e\x00\r\n\"}", false},
	}
	for _, s := range seeds {
		f.Add(s.status, s.ctype, s.retry, s.location, []byte(s.body), s.truncated)
	}
	f.Fuzz(func(t *testing.T, status int, ctype, retry, location string, body []byte, truncated bool) {
		if len(body) > MaxBody {
			body, truncated = body[:MaxBody], true
		}
		h := http.Header{}
		h["Content-Type"] = []string{ctype}
		h["Retry-After"] = []string{retry}
		h["Location"] = []string{location}
		r := Classify(status, h, body, truncated)

		switch r.Outcome {
		case Valid, Revoked, Denied, Undecided:
		default:
			t.Fatalf("Outcome %q is not one of the four", r.Outcome)
		}
		checkReason(t, r.Reason)
		if r.HTTPStatus != status {
			t.Fatalf("HTTPStatus = %d, want %d", r.HTTPStatus, status)
		}
		if r.RetryAfter < 0 || r.RetryAfter > maxRetryAfter {
			t.Fatalf("RetryAfter = %v", r.RetryAfter)
		}
		if r.RateLimited != (status == 429) {
			t.Fatalf("RateLimited = %v at status %d", r.RateLimited, status)
		}
		if r.UpstreamFault && r.Outcome != Undecided {
			t.Fatalf("UpstreamFault on a decided outcome %q", r.Outcome)
		}
		switch status {
		case 403:
			if r.Outcome != Denied {
				t.Fatalf("403 gave %q", r.Outcome)
			}
			return
		case 401:
			if r.Outcome != Revoked {
				t.Fatalf("401 gave %q", r.Outcome)
			}
			return
		}
		claimsAuthError := !truncated && authErrorIn(body)
		if r.Outcome == Denied {
			t.Fatalf("status %d gave Denied", status)
		}
		if r.Outcome == Revoked && !claimsAuthError {
			t.Fatalf("status %d without authError gave Revoked: %q", status, body)
		}
		if claimsAuthError && r.Outcome != Revoked {
			t.Fatalf("authError body at status %d gave %q", status, r.Outcome)
		}
		if r.Outcome == Valid && (status < 200 || status > 299 || truncated) {
			t.Fatalf("status %d (truncated %v) gave Valid", status, truncated)
		}
	})
}
