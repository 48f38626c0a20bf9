package staxapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/staxkeys/staxkeys/domain"
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

		want        domain.Outcome
		reason      string // the exact Reason, when given
		contains    string // else a substring the Reason must contain
		fault       bool
		rateLimited bool
		retryAfter  time.Duration
	}{
		// Rule 1: 5xx, 429, 1xx and 3xx never decide, whatever the body says.
		{name: "500 with authError", status: 500, body: authBody, want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 500 from Stax.ai (authError ignored: a server fault cannot revoke); Stax.ai said: Invalid authorization request"},
		{name: "503 with authError and Retry-After", status: 503, h: hdr("Retry-After", "120"), body: authBody,
			want: domain.OutcomeUndecided, fault: true, retryAfter: 2 * time.Minute,
			reason: "HTTP 503 from Stax.ai (retry after 2m; authError ignored: a server fault cannot revoke); Stax.ai said: Invalid authorization request"},
		{name: "502 with authError string true", status: 502, body: []byte(`{"authError":"true"}`), want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 502 from Stax.ai (authError ignored: a server fault cannot revoke)"},
		{name: "429 with authError", status: 429, h: hdr("Retry-After", "5"), body: authBody,
			want: domain.OutcomeUndecided, rateLimited: true, retryAfter: 5 * time.Second,
			reason: "rate limited by Stax.ai (retry after 5s; authError ignored: a rate limit cannot revoke)"},
		{name: "429 with authError at 401's words", status: 429, body: []byte(`{"success":false,"authError":true,"error":"Unauthorized"}`),
			want: domain.OutcomeUndecided, rateLimited: true, reason: "rate limited by Stax.ai (authError ignored: a rate limit cannot revoke)"},
		{name: "100 interim", status: 100, want: domain.OutcomeUndecided, reason: "HTTP 100: an interim status, not an answer"},
		{name: "103 with authError", status: 103, body: authBody, want: domain.OutcomeUndecided,
			reason: "HTTP 103: an interim status, not an answer (authError ignored: an interim status cannot revoke)"},
		{name: "302 with authError", status: 302, h: hdr("Location", "https://x/y"), body: authBody, want: domain.OutcomeUndecided,
			reason: "HTTP 302: redirected to https://x/y (authError ignored: a redirect cannot revoke)"},
		{name: "301 with Location", status: 301, h: hdr("Location", "https://x/y"),
			want: domain.OutcomeUndecided, reason: "HTTP 301: redirected to https://x/y"},
		{name: "302 with Location", status: 302, h: hdr("Location", "https://login.example.com/sso?next=%2F"), body: htmlPage,
			want: domain.OutcomeUndecided, reason: "HTTP 302: redirected to https://login.example.com/sso?next=%2F"},
		{name: "302 without Location", status: 302, want: domain.OutcomeUndecided, reason: "HTTP 302 redirect without a Location"},
		{name: "302 with an invisible Location", status: 302, h: hdr("Location", "\u200b\u2060 "),
			want: domain.OutcomeUndecided, reason: "HTTP 302 redirect without a Location"},
		{name: "429 Retry-After seconds", status: 429, h: hdr("Retry-After", "30"), body: []byte(`{"success":false,"error":"Too many requests"}`),
			want: domain.OutcomeUndecided, reason: "rate limited by Stax.ai (retry after 30s)", rateLimited: true, retryAfter: 30 * time.Second},
		{name: "429 Retry-After HTTP date", status: 429, h: hdr("Retry-After", now.Add(2*time.Minute).Format(http.TimeFormat)),
			want: domain.OutcomeUndecided, reason: "rate limited by Stax.ai (retry after 2m)", rateLimited: true, retryAfter: 2 * time.Minute},
		{name: "429 Retry-After date in the past", status: 429, h: hdr("Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)),
			want: domain.OutcomeUndecided, reason: "rate limited by Stax.ai", rateLimited: true},
		{name: "429 Retry-After absurd", status: 429, h: hdr("Retry-After", "99999999999999999999"),
			want: domain.OutcomeUndecided, reason: "rate limited by Stax.ai (retry after 24h)", rateLimited: true, retryAfter: maxRetryAfter},
		{name: "429 Retry-After garbage", status: 429, h: hdr("Retry-After", "soon"),
			want: domain.OutcomeUndecided, reason: "rate limited by Stax.ai", rateLimited: true},
		{name: "429 HTML", status: 429, h: hdr("Retry-After", "10"), body: htmlPage, want: domain.OutcomeUndecided, rateLimited: true, retryAfter: 10 * time.Second,
			reason: "rate limited by a proxy or CDN in front of Stax.ai (HTTP 429 with an HTML page; retry after 10s)"},
		{name: "429 gateway JSON", status: 429, body: []byte(`{"message":"Too Many Requests"}`), want: domain.OutcomeUndecided, rateLimited: true,
			reason: "rate limited by a proxy or CDN in front of Stax.ai (HTTP 429 with JSON not in Stax.ai's shape); it said: Too Many Requests"},
		{name: "429 without Retry-After", status: 429, want: domain.OutcomeUndecided, reason: "rate limited by Stax.ai", rateLimited: true},
		{name: "500 JSON", status: 500, body: []byte(`{"success":false,"error":"Internal server error"}`),
			want: domain.OutcomeUndecided, reason: "HTTP 500 from Stax.ai; Stax.ai said: Internal server error", fault: true},
		{name: "502 HTML", status: 502, h: hdr("Content-Type", "text/html"), body: htmlPage,
			want: domain.OutcomeUndecided, reason: "HTTP 502 from upstream (HTML, not JSON)", fault: true},
		{name: "503 with Retry-After", status: 503, h: hdr("Retry-After", "120"), body: []byte(`{"success":false,"error":"Service unavailable"}`),
			want: domain.OutcomeUndecided, reason: "HTTP 503 from Stax.ai (retry after 2m); Stax.ai said: Service unavailable", fault: true, retryAfter: 2 * time.Minute},
		{name: "503 empty", status: 503, want: domain.OutcomeUndecided, reason: "HTTP 503 from upstream (empty body)", fault: true},
		{name: "504 text", status: 504, body: []byte("upstream request timeout"),
			want: domain.OutcomeUndecided, reason: "HTTP 504 from upstream (body is not JSON)", fault: true},
		{name: "530 gateway JSON", status: 530, body: []byte(`{"message": "A server error occurred."}`),
			want: domain.OutcomeUndecided, reason: "HTTP 530 from upstream (JSON, not in Stax.ai's shape); it said: A server error occurred.", fault: true},
		{name: "500 JSON array", status: 500, body: []byte(`[]`),
			want: domain.OutcomeUndecided, reason: "HTTP 500 from upstream (body is a JSON array, not an object)", fault: true},
		{name: "truncated 5xx", status: 500, body: overCap, truncated: true,
			want: domain.OutcomeUndecided, reason: "HTTP 500 from upstream (body larger than 64 KiB)", fault: true},

		// Rule 2: a body that is not a JSON object never decides; at 401 or
		// 403 it is something in front of Stax.ai.
		{name: "401 HTML sign-in page", status: 401, h: hdr("Content-Type", "text/html"), body: htmlPage,
			want: domain.OutcomeUndecided, fault: true, reason: "HTTP 401 with an HTML page: a proxy or firewall answered, not Stax.ai"},
		{name: "401 HTML claiming JSON", status: 401, h: hdr("Content-Type", jsonCT), body: htmlPage,
			want: domain.OutcomeUndecided, fault: true, reason: "HTTP 401 with an HTML page: a proxy or firewall answered, not Stax.ai"},
		{name: "401 empty", status: 401, want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 401 with an empty body: a proxy or firewall answered, not Stax.ai"},
		{name: "401 truncated", status: 401, body: overCap, truncated: true, want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 401 with a body larger than 64 KiB: a proxy or firewall answered, not Stax.ai"},
		{name: "401 JSON array", status: 401, body: []byte(`[{"authError":true}]`), want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 401 with a JSON array: a proxy or firewall answered, not Stax.ai"},
		{name: "401 truncated JSON", status: 401, body: []byte(`{"success":false,"authError":tr`), want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 401 with a body that is not JSON: a proxy or firewall answered, not Stax.ai"},
		{name: "403 HTML block page", status: 403, h: hdr("Content-Type", "text/html"), body: htmlPage,
			want: domain.OutcomeUndecided, fault: true, reason: "HTTP 403 with an HTML page: a proxy or firewall answered, not Stax.ai"},
		{name: "403 empty", status: 403, want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 403 with an empty body: a proxy or firewall answered, not Stax.ai"},
		{name: "403 white space only", status: 403, body: []byte("\xef\xbb\xbf \r\n"), want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 403 with an empty body: a proxy or firewall answered, not Stax.ai"},
		{name: "403 plain text", status: 403, body: []byte("Forbidden"), want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 403 with a body that is not JSON: a proxy or firewall answered, not Stax.ai"},
		{name: "403 JSON string", status: 403, body: []byte(`"Forbidden"`), want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 403 with a JSON string: a proxy or firewall answered, not Stax.ai"},
		{name: "403 truncated", status: 403, body: overCap, truncated: true, want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 403 with a body larger than 64 KiB: a proxy or firewall answered, not Stax.ai"},

		// Rule 3: a JSON object that is not in Stax.ai's shape never decides.
		{name: "403 API Gateway JSON", status: 403, h: hdr("Content-Type", jsonCT), body: []byte(`{"message":"Forbidden"}`),
			want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 403 with JSON that is not Stax.ai's (no success, error or authError): a gateway or firewall answered, not Stax.ai; it said: Forbidden"},
		{name: "403 problem details", status: 403, body: []byte(`{"type":"https://problems.example/denied","title":"Access denied","status":403,"detail":"WAF rule 1020"}`),
			want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 403 with JSON that is not Stax.ai's (no success, error or authError): a gateway or firewall answered, not Stax.ai; it said: Access denied"},
		{name: "401 gateway JSON", status: 401, body: []byte(`{"message":"Unauthorized"}`), want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 401 with JSON that is not Stax.ai's (no success, error or authError): a gateway or firewall answered, not Stax.ai; it said: Unauthorized"},
		{name: "401 empty object", status: 401, body: []byte(`{}`), want: domain.OutcomeUndecided, fault: true,
			contains: "a gateway or firewall answered, not Stax.ai"},
		{name: "403 error null is not Stax.ai's", status: 403, body: []byte(`{"error":null,"message":"Forbidden"}`), want: domain.OutcomeUndecided, fault: true,
			contains: "a gateway or firewall answered"},
		{name: "403 success as a number is not Stax.ai's", status: 403, body: []byte(`{"success":0}`), want: domain.OutcomeUndecided, fault: true,
			contains: "a gateway or firewall answered"},
		{name: "403 Spring Boot error JSON", status: 403, body: []byte(`{"timestamp":"2026-12-02T15:00:00Z","status":403,"error":"Forbidden","path":"/"}`),
			want: domain.OutcomeUndecided, fault: true, contains: "a gateway or firewall answered, not Stax.ai"},
		{name: "401 NestJS error JSON", status: 401, body: []byte(`{"statusCode":401,"message":"Unauthorized","error":"Unauthorized"}`),
			want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 401 with JSON that is not Stax.ai's (no success, error or authError): a gateway or firewall answered, not Stax.ai; it said: Unauthorized"},
		{name: "403 Stax.ai error beside a status is still Stax.ai's", status: 403, body: []byte(`{"status":403,"error":"Access denied","authError":false}`),
			want: domain.OutcomeDenied, reason: "HTTP 403: Stax.ai knows the key but denies access; Stax.ai said: Access denied"},
		{name: "403 error with a non-numeric status", status: 403, body: []byte(`{"status":"denied","error":"Team is on a trial plan"}`),
			want: domain.OutcomeDenied, reason: "HTTP 403: Stax.ai knows the key but denies access; Stax.ai said: Team is on a trial plan"},
		{name: "200 JSON without Stax.ai's fields", status: 200, body: []byte(`{"status":"ok"}`), want: domain.OutcomeUndecided, fault: true,
			reason: "HTTP 200 with JSON that is not Stax.ai's (no success, error or authError): something else answered (check the base URL and probe path)"},
		{name: "nested JSON without Stax.ai's fields", status: 200, body: nested, want: domain.OutcomeUndecided, fault: true,
			contains: "something else answered"},

		// Rule 4: 403 with a Stax.ai object is denied.
		{name: "403 JSON", status: 403, body: []byte(`{"success":false,"error":"Team is on a trial plan"}`),
			want: domain.OutcomeDenied, reason: "HTTP 403: Stax.ai knows the key but denies access; Stax.ai said: Team is on a trial plan"},
		{name: "403 with authError (403 wins)", status: 403, body: authBody,
			want: domain.OutcomeDenied, reason: "HTTP 403: Stax.ai knows the key but denies access; Stax.ai said: Invalid authorization request"},
		{name: "403 success false only", status: 403, body: []byte(`{"success":false}`),
			want: domain.OutcomeDenied, reason: "HTTP 403: Stax.ai knows the key but denies access"},
		{name: "403 error object", status: 403, body: []byte(`{"error":{"message":"Admin rights required"}}`),
			want: domain.OutcomeDenied, reason: "HTTP 403: Stax.ai knows the key but denies access; Stax.ai said: Admin rights required"},
		{name: "403 with an invisible message", status: 403, body: []byte(`{"error":"\u200b\u202e \u00ad"}`),
			want: domain.OutcomeDenied, reason: "HTTP 403: Stax.ai knows the key but denies access"},
		{name: "403 JSON with BOM and white space", status: 403, body: append([]byte("\xef\xbb\xbf\r\n "), authBody...),
			want: domain.OutcomeDenied, contains: "denies access"},

		// Rule 5: 401 with a Stax.ai object, or authError at a 2xx, is revoked.
		{name: "401 JSON", status: 401, h: hdr("Content-Type", jsonCT), body: authBody,
			want: domain.OutcomeRevoked, reason: "Stax.ai said: Invalid authorization request (HTTP 401)"},
		{name: "401 JSON without a message", status: 401, body: []byte(`{"success":false,"authError":true}`),
			want: domain.OutcomeRevoked, reason: "HTTP 401 from Stax.ai"},
		{name: "401 JSON with text/html header", status: 401, h: hdr("Content-Type", "text/html"), body: authBody,
			want: domain.OutcomeRevoked, reason: "Stax.ai said: Invalid authorization request (HTTP 401)"},
		{name: "200 authError true", status: 200, body: authBody,
			want: domain.OutcomeRevoked, reason: "Stax.ai said: Invalid authorization request"},
		{name: "200 authError string TRUE", status: 200, body: []byte(`{"success":false,"authError":"TRUE","error":"Invalid authorization request"}`),
			want: domain.OutcomeRevoked, reason: "Stax.ai said: Invalid authorization request"},
		{name: "200 autherror key case-insensitive", status: 200, body: []byte(`{"AUTHERROR":true}`),
			want: domain.OutcomeRevoked, reason: "Stax.ai reported an authorization error (HTTP 200)"},
		{name: "authError true wins over a second spelling", status: 200, body: []byte(`{"authError":false,"AuthError":true}`),
			want: domain.OutcomeRevoked},
		{name: "success true and authError true", status: 200, body: []byte(`{"success":true,"authError":true}`),
			want: domain.OutcomeRevoked},
		{name: "202 authError", status: 202, body: authBody,
			want: domain.OutcomeRevoked, reason: "Stax.ai said: Invalid authorization request (HTTP 202)"},

		// Rule 6: a 2xx Stax.ai object is valid, unless success is false.
		{name: "200 valid JSON", status: 200, h: hdr("Content-Type", jsonCT), body: okBody,
			want: domain.OutcomeValid, reason: "Stax.ai accepted the key"},
		{name: "200 success false without authError", status: 200, body: []byte(`{"success":false,"error":"No stack"}`),
			want: domain.OutcomeUndecided, reason: "Stax.ai answered success: false without an auth error: something failed, not the key; Stax.ai said: No stack"},
		{name: "200 success string false", status: 200, body: []byte(`{"success":"false"}`),
			want: domain.OutcomeUndecided, reason: "Stax.ai answered success: false without an auth error: something failed, not the key"},
		{name: "201 success false", status: 201, body: []byte(`{"success":false,"authError":false}`),
			want: domain.OutcomeUndecided, reason: "Stax.ai answered success: false without an auth error: something failed, not the key (HTTP 201)"},
		{name: "200 authError string false", status: 200, body: []byte(`{"success":true,"authError":"false"}`),
			want: domain.OutcomeValid},
		{name: "200 authError bool false", status: 200, body: []byte(`{"success":true,"authError":false}`),
			want: domain.OutcomeValid},
		{name: "200 error field only", status: 200, body: []byte(`{"error":""}`), want: domain.OutcomeValid},
		{name: "201 JSON", status: 201, body: okBody, want: domain.OutcomeValid, reason: "Stax.ai accepted the key (HTTP 201)"},
		{name: "JSON with text/html header", status: 200, h: hdr("Content-Type", "text/html"), body: okBody,
			want: domain.OutcomeValid},
		{name: "JSON with BOM and white space", status: 200, body: append([]byte("\xef\xbb\xbf \n\t"), okBody...),
			want: domain.OutcomeValid, reason: "Stax.ai accepted the key"},
		{name: "huge numbers", status: 200, body: []byte(`{"success":true,"n":1e999999,"m":-123456789012345678901234567890}`),
			want: domain.OutcomeValid},
		{name: "invalid UTF-8 inside a JSON string", status: 200, body: []byte("{\"success\":true,\"x\":\"\xff\xfe\"}"),
			want: domain.OutcomeValid},
		{name: "body of exactly 64 KiB", status: 200, body: exactCap, want: domain.OutcomeValid},

		// Rule 2 at a 2xx.
		{name: "HTML with application/json header", status: 200, h: hdr("Content-Type", jsonCT), body: htmlPage,
			want: domain.OutcomeUndecided, reason: "HTTP 200 but the body is HTML, not JSON", fault: true},
		{name: "empty body", status: 200, h: hdr("Content-Type", jsonCT),
			want: domain.OutcomeUndecided, reason: "empty response body", fault: true},
		{name: "whitespace body", status: 200, body: []byte(" \r\n\t "),
			want: domain.OutcomeUndecided, reason: "empty response body", fault: true},
		{name: "BOM only", status: 200, body: []byte("\xef\xbb\xbf"),
			want: domain.OutcomeUndecided, reason: "empty response body", fault: true},
		{name: "204 no content", status: 204, want: domain.OutcomeUndecided, reason: "HTTP 204 with an empty response body", fault: true},
		{name: "truncated body", status: 200, body: overCap, truncated: true,
			want: domain.OutcomeUndecided, reason: "response body larger than 64 KiB"},
		{name: "JSON array", status: 200, body: []byte(`[{"success":true}]`),
			want: domain.OutcomeUndecided, reason: "HTTP 200 but the body is a JSON array, not an object"},
		{name: "JSON string", status: 200, body: []byte(`"ok"`),
			want: domain.OutcomeUndecided, reason: "HTTP 200 but the body is a JSON string, not an object"},
		{name: "JSON null", status: 200, body: []byte(`null`), want: domain.OutcomeUndecided, reason: "HTTP 200 but the body is JSON null, not an object"},
		{name: "invalid UTF-8", status: 200, body: []byte("\xff\xfe\xfd garbage"),
			want: domain.OutcomeUndecided, reason: "HTTP 200 but the body is not JSON", fault: true},
		{name: "garbage that starts like JSON", status: 200, body: []byte(`{"success":true,`),
			want: domain.OutcomeUndecided, reason: "HTTP 200 but the body is not JSON", fault: true},
		{name: "JSON with trailing garbage", status: 200, body: []byte(`{"success":true} {}`),
			want: domain.OutcomeUndecided, reason: "HTTP 200 but the body is not JSON", fault: true},
		{name: "nesting beyond the decoder's limit", status: 200, body: tooNested,
			want: domain.OutcomeUndecided, reason: "HTTP 200 but the body is not JSON", fault: true},

		// Rule 7: anything else says what to fix.
		{name: "404 JSON", status: 404, body: []byte(`{"success":false,"error":"Not found"}`),
			want: domain.OutcomeUndecided, reason: "HTTP 404 from Stax.ai: no such endpoint (check the probe path)"},
		{name: "404 HTML", status: 404, body: htmlPage, want: domain.OutcomeUndecided, reason: "HTTP 404 from Stax.ai: no such endpoint (check the probe path)"},
		{name: "404 with authError", status: 404, body: authBody, want: domain.OutcomeUndecided, reason: "HTTP 404 from Stax.ai: no such endpoint (check the probe path)"},
		{name: "400 JSON", status: 400, body: []byte(`{"success":false,"error":"Bad request"}`),
			want: domain.OutcomeUndecided, reason: "HTTP 400 from Stax.ai: it could not parse the request (check the probe path); Stax.ai said: Bad request"},
		{name: "400 with authError", status: 400, body: authBody, want: domain.OutcomeUndecided,
			reason: "HTTP 400 from Stax.ai: it could not parse the request (check the probe path; authError ignored: only a 401 or 2xx answer revokes); Stax.ai said: Invalid authorization request"},
		{name: "410 JSON", status: 410, body: []byte(`{"error":"Gone"}`),
			want: domain.OutcomeUndecided, reason: "HTTP 410 from Stax.ai: the endpoint is gone (check the probe path); Stax.ai said: Gone"},
		{name: "405 JSON", status: 405, body: []byte(`{"success":false}`),
			want: domain.OutcomeUndecided, reason: "HTTP 405 from Stax.ai: method not allowed (check the probe path)"},
		{name: "418 JSON", status: 418, body: []byte(`{"success":false,"error":"teapot"}`),
			want: domain.OutcomeUndecided, reason: "HTTP 418 from Stax.ai: not an answer about the key (check the base URL and probe path); Stax.ai said: teapot"},
		{name: "400 HTML from a proxy", status: 400, body: htmlPage,
			want: domain.OutcomeUndecided, reason: "HTTP 400 from upstream (HTML, not JSON)", fault: true},
		{name: "400 empty", status: 400, want: domain.OutcomeUndecided, reason: "HTTP 400 from upstream (empty body)"},
		{name: "451 gateway JSON", status: 451, body: []byte(`{"message":"blocked"}`),
			want: domain.OutcomeUndecided, reason: "HTTP 451 from upstream (JSON, not in Stax.ai's shape); it said: blocked", fault: true},
		{name: "407 proxy wants credentials", status: 407, body: htmlPage,
			want: domain.OutcomeUndecided, reason: "HTTP 407: a proxy between us and Stax.ai wants credentials (check the network path)", fault: true},
		{name: "status 0", status: 0, want: domain.OutcomeUndecided, reason: "invalid HTTP status 0", fault: true},
		{name: "status 1000", status: 1000, body: okBody, want: domain.OutcomeUndecided, reason: "invalid HTTP status 1000", fault: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := classify(c.status, c.h, c.body, c.truncated, now, nil)
			if r.Outcome != c.want {
				t.Errorf("Outcome = %q, want %q (reason %q)", r.Outcome, c.want, r.Reason)
			}
			if c.reason != "" && r.Reason != c.reason {
				t.Errorf("Reason = %q\n          want %q", r.Reason, c.reason)
			}
			if !strings.Contains(r.Reason, c.contains) {
				t.Errorf("Reason = %q, want it to contain %q", r.Reason, c.contains)
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
	if r.Outcome != domain.OutcomeRevoked {
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

func TestHelpers(t *testing.T) {
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

// readBody is an independent reading of the contract's "JSON object body"
// and of Stax.ai's shape, for the fuzz target to check Classify against.
func readBody(body []byte) (stax, authError bool) {
	var obj map[string]any
	b := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")))
	if len(b) == 0 || b[0] != '{' {
		return false, false
	}
	// Numbers as json.Number: 1e999 is valid JSON, though no float64.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&obj) != nil || obj == nil || dec.Decode(new(any)) != io.EOF {
		return false, false
	}
	truth := func(v any) (val, ok bool) {
		switch v := v.(type) {
		case bool:
			return v, true
		case string:
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
				return true, true
			case "false":
				return false, true
			}
		}
		return false, false
	}
	hasError, echoesStatus := false, false
	for k, v := range obj {
		switch strings.ToLower(k) {
		case "autherror":
			val, ok := truth(v)
			stax = stax || ok
			authError = authError || val
		case "success":
			_, ok := truth(v)
			stax = stax || ok
		case "error":
			hasError = hasError || v != nil
		case "status", "statuscode":
			_, isNumber := v.(json.Number)
			echoesStatus = echoesStatus || isNumber
		}
	}
	return stax || (hasError && !echoesStatus), authError
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
		{401, jsonCT, "", "", string(authBody), false},
		{403, "text/html", "", "", string(htmlPage), false},
		{403, jsonCT, "", "", `{"message":"Forbidden"}`, false},
		{403, "", "", "", "", false},
		{500, jsonCT, "", "", string(authBody), false},
		{503, jsonCT, "60", "", string(authBody), false},
		{429, jsonCT, "5", "", string(authBody), false},
		{302, jsonCT, "", "https://x/y", string(authBody), false},
		{101, "", "", "", string(authBody), false},
		{200, jsonCT, "", "", `{"success":false}`, false},
		{200, jsonCT, "", "", "\xef\xbb\xbf \n" + string(okBody), false},
		{400, jsonCT, "", "", string(authBody), false},
		{200, jsonCT, "", "", `{"success":true,"n":1e999999}`, false},
		{403, jsonCT, "", "", `{"status":403,"error":"Forbidden","path":"/"}`, false},
		{401, jsonCT, "", "", `{"statusCode":401,"error":"Unauthorized","authError":true}`, false},
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
		case domain.OutcomeValid, domain.OutcomeRevoked, domain.OutcomeDenied, domain.OutcomeUndecided:
		default:
			t.Fatalf("Outcome %q is not one of the four", r.Outcome)
		}
		checkReason(t, r.Reason)
		if r.HTTPStatus != status {
			t.Fatalf("HTTPStatus = %d, want %d", r.HTTPStatus, status)
		}
		if strings.HasSuffix(r.Reason, "said:") || strings.HasSuffix(r.Reason, "redirected to") {
			t.Fatalf("Reason ends before what it announces: %q", r.Reason)
		}
		if r.RetryAfter < 0 || r.RetryAfter > maxRetryAfter {
			t.Fatalf("RetryAfter = %v", r.RetryAfter)
		}
		if r.RateLimited != (status == 429) {
			t.Fatalf("RateLimited = %v at status %d", r.RateLimited, status)
		}
		if r.UpstreamFault && r.Outcome != domain.OutcomeUndecided {
			t.Fatalf("UpstreamFault on a decided outcome %q", r.Outcome)
		}
		stax, authError := readBody(body)
		stax = stax && !truncated
		twoxx := status >= 200 && status <= 299
		switch {
		case status >= 500 || status == 429 || status < 200 || (status >= 300 && status <= 399):
			if r.Outcome != domain.OutcomeUndecided {
				t.Fatalf("status %d gave %q", status, r.Outcome)
			}
		case status == 403:
			if (r.Outcome == domain.OutcomeDenied) != stax || (r.Outcome != domain.OutcomeDenied && r.Outcome != domain.OutcomeUndecided) {
				t.Fatalf("403 (Stax.ai's shape %v) gave %q", stax, r.Outcome)
			}
		case status == 401:
			if (r.Outcome == domain.OutcomeRevoked) != stax || (r.Outcome != domain.OutcomeRevoked && r.Outcome != domain.OutcomeUndecided) {
				t.Fatalf("401 (Stax.ai's shape %v) gave %q", stax, r.Outcome)
			}
		case twoxx && stax && authError:
			if r.Outcome != domain.OutcomeRevoked {
				t.Fatalf("authError at %d gave %q", status, r.Outcome)
			}
		case twoxx:
			if r.Outcome == domain.OutcomeRevoked || r.Outcome == domain.OutcomeDenied || (r.Outcome == domain.OutcomeValid && !stax) {
				t.Fatalf("status %d (Stax.ai's shape %v) gave %q: %q", status, stax, r.Outcome, body)
			}
		default:
			if r.Outcome != domain.OutcomeUndecided {
				t.Fatalf("status %d gave %q", status, r.Outcome)
			}
		}
		if !stax && (status == 401 || status == 403) && !r.UpstreamFault {
			t.Fatalf("%d with a body not in Stax.ai's shape is not an upstream fault: %q", status, body)
		}
		if status >= 500 && status <= 599 && !r.UpstreamFault {
			t.Fatalf("status %d is not an upstream fault", status)
		}
	})
}

// Classify decides only on an answer that is recognisably Stax.ai's.
func ExampleClassify() {
	for _, a := range []struct {
		status int
		body   string
	}{
		{200, `{"success":true,"stacks":[]}`},
		{200, `{"success":false,"authError":true,"error":"Invalid authorization request"}`},
		{401, `<html><body>Sign in to the corporate proxy</body></html>`},
		{403, `{"message":"Forbidden"}`},
		{500, `{"success":false,"authError":true,"error":"Invalid authorization request"}`},
	} {
		r := Classify(a.status, nil, []byte(a.body), false)
		fmt.Printf("%d %s fault=%v: %s\n", a.status, r.Outcome, r.UpstreamFault, r.Reason)
	}
	// Output:
	// 200 valid fault=false: Stax.ai accepted the key
	// 200 revoked fault=false: Stax.ai said: Invalid authorization request
	// 401 error fault=true: HTTP 401 with an HTML page: a proxy or firewall answered, not Stax.ai
	// 403 error fault=true: HTTP 403 with JSON that is not Stax.ai's (no success, error or authError): a gateway or firewall answered, not Stax.ai; it said: Forbidden
	// 500 error fault=true: HTTP 500 from Stax.ai (authError ignored: a server fault cannot revoke); Stax.ai said: Invalid authorization request
}
