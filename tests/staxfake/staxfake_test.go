package staxfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/staxapi"
)

const (
	testEmail = "Admin@Example.com"
	testKey   = "w3i21te0abcdefghijklmnopqrstuvwxyz012345"
)

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want a 127.0.0.1 address", s.URL())
	}
	return s
}

var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

type answer struct {
	status  int
	header  http.Header
	body    []byte
	readErr error
}

func get(t *testing.T, url, email, key string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if email != "" {
		req.Header.Set("Email", email)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, body, rerr}
}

func jsonObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %q", err, b)
	}
	return m
}

func TestBehaviors(t *testing.T) {
	s := start(t, Options{RetryAfter: 45 * time.Second, SlowDelay: 20 * time.Millisecond, RedirectTo: "https://elsewhere.invalid/login"})
	authErr := func(status int, msg string) func(*testing.T, answer) {
		return func(t *testing.T, a answer) {
			m := jsonObject(t, a.body)
			if m["success"] != false || m["authError"] != true || m["error"] != msg {
				t.Errorf("body = %v", m)
			}
		}
	}
	cases := []struct {
		b      Behavior
		status int
		ctype  string
		check  func(*testing.T, answer)
	}{
		{Valid, 200, "application/json", func(t *testing.T, a answer) {
			if m := jsonObject(t, a.body); m["success"] != true || m["authError"] != nil {
				t.Errorf("body = %v", m)
			}
		}},
		{Slow, 200, "application/json", func(t *testing.T, a answer) { jsonObject(t, a.body) }},
		{Revoked, 200, "application/json", authErr(200, "Invalid authorization request")},
		{Revoked401, 401, "application/json", authErr(401, "Invalid authorization request")},
		{Denied, 403, "application/json", authErr(403, "Access denied")},
		{RateLimited, 429, "application/json", func(t *testing.T, a answer) {
			if got := a.header.Get("Retry-After"); got != "45" {
				t.Errorf("Retry-After = %q, want 45", got)
			}
		}},
		{Error500, 500, "application/json", func(t *testing.T, a answer) {
			if m := jsonObject(t, a.body); m["authError"] != nil {
				t.Errorf("500 body carries authError: %v", m)
			}
		}},
		{BadGateway, 502, "text/html", func(t *testing.T, a answer) {
			if !bytes.HasPrefix(a.body, []byte("<!DOCTYPE html>")) {
				t.Errorf("body = %q", a.body)
			}
		}},
		{Unavailable, 503, "application/json", func(t *testing.T, a answer) {
			if a.header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		}},
		{HTML, 200, "text/html", func(t *testing.T, a answer) {
			if json.Valid(a.body) || !bytes.Contains(a.body, []byte("<html>")) {
				t.Errorf("body = %q", a.body)
			}
		}},
		{Garbage, 200, "application/octet-stream", func(t *testing.T, a answer) {
			if len(a.body) == 0 || json.Valid(a.body) {
				t.Errorf("garbage body is empty or JSON: %q", a.body)
			}
		}},
		{Empty, 200, "application/json", func(t *testing.T, a answer) {
			if len(a.body) != 0 {
				t.Errorf("body = %q", a.body)
			}
		}},
		{Truncated, 200, "application/json", func(t *testing.T, a answer) {
			if !errors.Is(a.readErr, io.ErrUnexpectedEOF) {
				t.Errorf("read error = %v, want unexpected EOF", a.readErr)
			}
			if len(a.body) == 0 {
				t.Error("no partial body before the cut")
			}
		}},
		{Huge, 200, "application/json", func(t *testing.T, a answer) {
			if a.readErr != nil || len(a.body) != 1<<20 || !json.Valid(a.body) {
				t.Errorf("huge: %d bytes, err %v", len(a.body), a.readErr)
			}
		}},
		{Redirect, 302, "", func(t *testing.T, a answer) {
			if got := a.header.Get("Location"); got != "https://elsewhere.invalid/login" {
				t.Errorf("Location = %q", got)
			}
		}},
		{NotFound, 404, "application/json", func(t *testing.T, a answer) { jsonObject(t, a.body) }},
		{HTML401, 401, "text/html", func(t *testing.T, a answer) {
			if json.Valid(a.body) || !bytes.Contains(a.body, []byte("<form")) || a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("sign-in page: %q, WWW-Authenticate %q", a.body, a.header.Get("WWW-Authenticate"))
			}
		}},
		{CDN403, 403, "text/html", func(t *testing.T, a answer) {
			if json.Valid(a.body) || !bytes.Contains(a.body, []byte("blocked")) {
				t.Errorf("block page: %q", a.body)
			}
		}},
		{Gateway403, 403, "application/json", func(t *testing.T, a answer) {
			if m := jsonObject(t, a.body); len(m) != 1 || m["message"] != "Forbidden" {
				t.Errorf("body = %v", m)
			}
		}},
		{Empty403, 403, "", func(t *testing.T, a answer) {
			if len(a.body) != 0 {
				t.Errorf("body = %q", a.body)
			}
		}},
		{AuthError500, 500, "application/json", authErr(500, "Invalid authorization request")},
		{AuthError503, 503, "application/json", func(t *testing.T, a answer) {
			authErr(503, "Invalid authorization request")(t, a)
			if got := a.header.Get("Retry-After"); got != "45" {
				t.Errorf("Retry-After = %q, want 45", got)
			}
		}},
		{AuthError429, 429, "application/json", func(t *testing.T, a answer) {
			authErr(429, "Invalid authorization request")(t, a)
			if got := a.header.Get("Retry-After"); got != "45" {
				t.Errorf("Retry-After = %q, want 45", got)
			}
		}},
		{EchoKeyUpper, 401, "application/json", func(t *testing.T, a answer) {
			key := testKey + string(EchoKeyUpper)
			authErr(401, "Invalid API key "+strings.ToUpper(key)+" for "+strings.ToUpper(testEmail))(t, a)
		}},
		{EchoKeyZWSP, 401, "application/json", func(t *testing.T, a answer) {
			m := jsonObject(t, a.body)
			msg, _ := m["error"].(string)
			key := testKey + string(EchoKeyZWSP)
			if strings.Contains(msg, key[:5]) || strings.ReplaceAll(msg, "\u200b", "") != "Invalid API key "+key+" for "+testEmail {
				t.Errorf("error = %q", msg)
			}
		}},
		{EchoKeyPrefix, 401, "application/json", func(t *testing.T, a answer) {
			key := testKey + string(EchoKeyPrefix)
			authErr(401, "Invalid API key "+key[:len(key)-4]+"**** for "+testEmail)(t, a)
		}},
	}
	for _, c := range cases {
		t.Run(string(c.b), func(t *testing.T) {
			key := testKey + string(c.b)
			s.Set(testEmail, key, c.b)
			a := get(t, s.URL()+"/", testEmail, key)
			if a.status != c.status {
				t.Fatalf("status = %d, want %d", a.status, c.status)
			}
			if c.ctype != "" && !strings.HasPrefix(a.header.Get("Content-Type"), c.ctype) {
				t.Errorf("Content-Type = %q, want %s", a.header.Get("Content-Type"), c.ctype)
			}
			c.check(t, a)
			if n := s.RequestsFor(key); n != 1 {
				t.Errorf("RequestsFor = %d, want 1", n)
			}
		})
	}
	if got, want := len(cases)+1, len(Behaviors()); got != want { // +1: hang has its own test
		t.Errorf("table covers %d behaviours, %d exist", got, want)
	}
}

func TestKeyMatchingAndDefault(t *testing.T) {
	s := start(t, Options{})
	s.Set(testEmail, testKey, Valid)
	cases := []struct {
		name, email, key string
		status           int
		authError        bool
	}{
		{"registered pair", testEmail, testKey, 200, false},
		{"email case-insensitive", strings.ToUpper(testEmail), testKey, 200, false},
		{"other email", "other@example.com", testKey, 200, true},
		{"other key", testEmail, strings.ToUpper(testKey), 200, true},
	}
	for _, c := range cases {
		a := get(t, s.URL()+"/", c.email, c.key)
		m := jsonObject(t, a.body)
		if a.status != c.status || (m["authError"] == true) != c.authError {
			t.Errorf("%s: status %d body %v", c.name, a.status, m)
		}
	}

	d := start(t, Options{Default: Denied})
	if a := get(t, d.URL()+"/", testEmail, testKey); a.status != 403 {
		t.Errorf("Default denied: status %d", a.status)
	}
	if _, err := Start(Options{Default: "nonsense"}); err == nil {
		t.Error("Start accepted an unknown default behaviour")
	}
}

func TestMissingHeaders(t *testing.T) {
	s := start(t, Options{Default: Valid})
	for _, c := range []struct{ name, email, auth string }{
		{"no headers", "", ""},
		{"no email", "", "Bearer " + testKey},
		{"no authorization", testEmail, ""},
		{"basic scheme", testEmail, "Basic abc"},
		{"empty bearer", testEmail, "Bearer "},
	} {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/", nil)
		if c.email != "" {
			req.Header.Set("Email", c.email)
		}
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		if resp.StatusCode != 401 || m["authError"] != true || m["error"] != "Missing authorization" {
			t.Errorf("%s: status %d body %s", c.name, resp.StatusCode, body)
		}
	}
	// Lower-case scheme is still a bearer token.
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/", nil)
	req.Header.Set("email", testEmail)
	req.Header.Set("authorization", "bearer "+testKey)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("lower-case headers: status %d", resp.StatusCode)
	}
}

func TestSetAllAndLatency(t *testing.T) {
	s := start(t, Options{})
	s.Set(testEmail, testKey, Valid)
	s.SetAll(BadGateway)
	if a := get(t, s.URL()+"/", testEmail, testKey); a.status != 502 {
		t.Errorf("SetAll: status %d", a.status)
	}
	s.SetAll("")
	if a := get(t, s.URL()+"/", testEmail, testKey); a.status != 200 {
		t.Errorf("after clearing SetAll: status %d", a.status)
	}
	s.SetLatency(80 * time.Millisecond)
	begin := time.Now()
	get(t, s.URL()+"/", testEmail, testKey)
	if el := time.Since(begin); el < 80*time.Millisecond {
		t.Errorf("latency not applied: answered in %v", el)
	}
}

func TestCountersAndHeaders(t *testing.T) {
	s := start(t, Options{Latency: 30 * time.Millisecond})
	s.Set(testEmail, testKey, Valid)
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { get(t, s.URL()+"/", testEmail, testKey) })
	}
	wg.Wait()
	if got := s.Requests(); got != n {
		t.Errorf("Requests = %d, want %d", got, n)
	}
	if got := s.RequestsFor(testKey); got != n {
		t.Errorf("RequestsFor = %d, want %d", got, n)
	}
	if got := s.RequestsFor("never-seen"); got != 0 {
		t.Errorf("RequestsFor unknown = %d", got)
	}
	// With 30ms of latency and 20 parallel requests, at least two overlap.
	if got := s.MaxConcurrent(); got < 2 || got > n {
		t.Errorf("MaxConcurrent = %d, want between 2 and %d", got, n)
	}
	h := s.LastHeaders(testKey)
	if h.Get("Email") != testEmail || h.Get("Authorization") != "Bearer "+testKey {
		t.Errorf("LastHeaders = %v", h)
	}
	h.Set("Email", "mutated")
	if s.LastHeaders(testKey).Get("Email") != testEmail {
		t.Error("LastHeaders returned the stored map, not a copy")
	}
	if s.LastHeaders("never-seen") != nil {
		t.Error("LastHeaders for an unseen key is not nil")
	}
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := noRedirect.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestControlAPI(t *testing.T) {
	s := start(t, Options{})
	ctl := s.URL() + "/_fake/"

	if st, m := post(t, ctl+"keys", `{"email":"a@example.com","key":"k1","behavior":"denied"}`); st != 200 {
		t.Fatalf("POST keys: %d %v", st, m)
	}
	if a := get(t, s.URL()+"/", "A@example.com", "k1"); a.status != 403 {
		t.Errorf("key set via control API: status %d", a.status)
	}
	for _, bad := range []string{`{"email":"a@example.com","key":"k1","behavior":"nope"}`, `{"key":"k1"}`, `not json`, `{"email":"a","key":"b","extra":1}`} {
		if st, _ := post(t, ctl+"keys", bad); st != 400 {
			t.Errorf("POST keys %s: status %d, want 400", bad, st)
		}
	}

	if st, _ := post(t, ctl+"all", `{"behavior":"unavailable"}`); st != 200 {
		t.Fatalf("POST all: %d", st)
	}
	if a := get(t, s.URL()+"/", "a@example.com", "k1"); a.status != 503 {
		t.Errorf("after all=unavailable: status %d", a.status)
	}
	if st, _ := post(t, ctl+"all", `{"behavior":""}`); st != 200 {
		t.Fatalf("clear all: %d", st)
	}
	if a := get(t, s.URL()+"/", "a@example.com", "k1"); a.status != 403 {
		t.Errorf("after clearing all: status %d", a.status)
	}

	if st, _ := post(t, ctl+"latency", `{"latency":"60ms"}`); st != 200 {
		t.Fatalf("POST latency: %d", st)
	}
	begin := time.Now()
	get(t, s.URL()+"/", "a@example.com", "k1")
	if el := time.Since(begin); el < 60*time.Millisecond {
		t.Errorf("latency via control API not applied: %v", el)
	}
	if st, _ := post(t, ctl+"latency", `{"latency":"soon"}`); st != 400 {
		t.Errorf("bad latency: status %d", st)
	}

	resp, err := noRedirect.Get(ctl + "stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Requests      int64 `json:"requests"`
		MaxConcurrent int64 `json:"max_concurrent"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if stats.Requests != 4 || stats.MaxConcurrent != 1 {
		t.Errorf("stats = %+v, want 4 requests (control calls not counted), max 1", stats)
	}
	if a := get(t, ctl+"nope", "", ""); a.status != 404 {
		t.Errorf("unknown control endpoint: %d", a.status)
	}
}

func TestCloseReleasesHang(t *testing.T) {
	s, err := Start(Options{Default: Hang})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/", nil)
		req.Header.Set("Email", testEmail)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := (&http.Client{}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Wait until the handler is really hanging.
	deadline := time.Now().Add(5 * time.Second)
	for s.Requests() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("hang answered before Close")
	case <-time.After(50 * time.Millisecond):
	}
	closed := make(chan struct{})
	go func() { _ = s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a request hung")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("the hanging request got an answer instead of an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the hanging request was not released by Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestHangReleasedByClient(t *testing.T) {
	s := start(t, Options{Default: Hang})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/", nil)
	req.Header.Set("Email", testEmail)
	req.Header.Set("Authorization", "Bearer "+testKey)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("hang answered")
	}
	// The handler notices the client left; in-flight drops back to zero.
	deadline := time.Now().Add(5 * time.Second)
	for s.inFlight.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := s.inFlight.Load(); n != 0 {
		t.Errorf("in flight after client left: %d", n)
	}
}

func TestParseBehavior(t *testing.T) {
	for _, b := range Behaviors() {
		if got, err := ParseBehavior(" " + strings.ToUpper(string(b)) + " "); err != nil || got != b {
			t.Errorf("ParseBehavior(%q) = %q, %v", b, got, err)
		}
	}
	if b, err := ParseBehavior("AUTHERROR-500"); err != nil || b != AuthError500 {
		t.Errorf("ParseBehavior(AUTHERROR-500) = %q, %v", b, err)
	}
	if _, err := ParseBehavior("valid!"); err == nil || !strings.HasPrefix(err.Error(), "staxfake: ") {
		t.Errorf("ParseBehavior(bad) error = %v", err)
	}
}

// fakeClient is the project's real checker client pointed at the fake, so
// the fake's answers are classified exactly as the program will.
func fakeClient(t *testing.T, s *Server) *staxapi.Client {
	t.Helper()
	c, err := staxapi.New(staxapi.Config{BaseURL: s.URL(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkWith(t *testing.T, c *staxapi.Client, email, key string) staxapi.Result {
	t.Helper()
	r, err := c.Check(context.Background(), email, key)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return r
}

// TestHostileBehaviorsClassified ties the fake to the classifier: every
// hostile behaviour, answered for real over HTTP, is classified by staxapi
// as the contract says, and never revokes or denies a key.
func TestHostileBehaviorsClassified(t *testing.T) {
	s := start(t, Options{RetryAfter: 45 * time.Second})
	c := fakeClient(t, s)
	const (
		email = "Ops.Admin@Example.com"
		key   = "w3i21te0abcdefghijklmnopqrstuvwxyz012345"
	)
	cases := []struct {
		b           Behavior
		status      int
		fault       bool
		rateLimited bool
		retryAfter  time.Duration
		reason      string
	}{
		{HTML401, 401, true, false, 0, "HTTP 401 with an HTML page: a proxy or firewall answered, not Stax.ai"},
		{CDN403, 403, true, false, 0, "HTTP 403 with an HTML page: a proxy or firewall answered, not Stax.ai"},
		{Gateway403, 403, true, false, 0, "HTTP 403 with JSON that is not Stax.ai's (no success, error or authError): a gateway or firewall answered, not Stax.ai; it said: Forbidden"},
		{Empty403, 403, true, false, 0, "HTTP 403 with an empty body: a proxy or firewall answered, not Stax.ai"},
		{AuthError500, 500, true, false, 0, "HTTP 500 from Stax.ai (authError ignored: a server fault cannot revoke); Stax.ai said: Invalid authorization request"},
		{AuthError503, 503, true, false, 45 * time.Second, "HTTP 503 from Stax.ai (retry after 45s; authError ignored: a server fault cannot revoke); Stax.ai said: Invalid authorization request"},
		{AuthError429, 429, false, true, 45 * time.Second, "rate limited by Stax.ai (retry after 45s; authError ignored: a rate limit cannot revoke)"},
	}
	for _, tc := range cases {
		t.Run(string(tc.b), func(t *testing.T) {
			s.Set(email, key, tc.b)
			r := checkWith(t, c, email, key)
			if r.Outcome != domain.OutcomeUndecided || r.HTTPStatus != tc.status || r.UpstreamFault != tc.fault ||
				r.RateLimited != tc.rateLimited || r.RetryAfter != tc.retryAfter || r.Reason != tc.reason {
				t.Errorf("result = %+v\nwant status %d fault %v rateLimited %v retryAfter %v reason %q",
					r, tc.status, tc.fault, tc.rateLimited, tc.retryAfter, tc.reason)
			}
		})
	}

	// The echoes are real auth errors at 401, so they revoke; what they
	// quote keeps none of the key or the email, however altered.
	for _, b := range []Behavior{EchoKeyUpper, EchoKeyZWSP, EchoKeyPrefix} {
		t.Run(string(b), func(t *testing.T) {
			s.Set(email, key, b)
			r := checkWith(t, c, email, key)
			want := "Stax.ai said: Invalid API key [key] for [email] (HTTP 401)"
			if b == EchoKeyPrefix {
				want = "Stax.ai said: Invalid API key [key]**** for [email] (HTTP 401)"
			}
			if r.Outcome != domain.OutcomeRevoked || r.HTTPStatus != 401 || r.Reason != want {
				t.Errorf("result = %+v, want revoked with reason %q", r, want)
			}
		})
	}
}

// TestSetAllEveryBehavior flips the whole fleet to each behaviour, through
// SetAll and through the control API, and checks that every key then gets
// exactly what a key set to that behaviour alone gets.
func TestSetAllEveryBehavior(t *testing.T) {
	s := start(t, Options{SlowDelay: time.Millisecond})
	c := fakeClient(t, s)
	type seen struct {
		outcome domain.Outcome
		status  int
		fault   bool
	}
	look := func(email, key string) seen {
		r := checkWith(t, c, email, key)
		return seen{r.Outcome, r.HTTPStatus, r.UpstreamFault}
	}
	for i, b := range Behaviors() {
		if b == Hang {
			continue // TestCloseReleasesHang
		}
		t.Run(string(b), func(t *testing.T) {
			single := fmt.Sprintf("single%02d", i) + testKey
			s.Set(testEmail, single, b)
			want := look(testEmail, single)

			s.Set("a@example.com", "fleet-a"+testKey, Valid)
			s.SetTeam("b@example.com", Denied)
			s.SetAll(b)
			for _, p := range [][2]string{{"a@example.com", "fleet-a" + testKey}, {"b@example.com", "fleet-b" + testKey}, {"nobody@example.com", "fleet-c" + testKey}} {
				if got := look(p[0], p[1]); got != want {
					t.Errorf("SetAll(%s): %s got %+v, want %+v", b, p[0], got, want)
				}
			}
			s.SetAll("")
			s.SetTeam("b@example.com", "")

			if st, m := post(t, s.URL()+"/_fake/all", `{"behavior":"`+strings.ToUpper(string(b))+`"}`); st != 200 {
				t.Fatalf("POST /_fake/all %s: %d %v", b, st, m)
			}
			if got := look("a@example.com", "fleet-a"+testKey); got != want {
				t.Errorf("control API all=%s: got %+v, want %+v", b, got, want)
			}
			if st, _ := post(t, s.URL()+"/_fake/all", `{"behavior":""}`); st != 200 {
				t.Fatal("clearing all failed")
			}
			if got := look("a@example.com", "fleet-a"+testKey); got.outcome != domain.OutcomeValid {
				t.Errorf("after clearing all: %+v", got)
			}

			// And the per-key control endpoint accepts the name too.
			viaCtl := fmt.Sprintf("ctl%02d", i) + testKey
			if st, m := post(t, s.URL()+"/_fake/keys", `{"email":"`+testEmail+`","key":"`+viaCtl+`","behavior":"`+string(b)+`"}`); st != 200 {
				t.Fatalf("POST /_fake/keys %s: %d %v", b, st, m)
			}
			if got := look(testEmail, viaCtl); got != want {
				t.Errorf("control API keys=%s: got %+v, want %+v", b, got, want)
			}
		})
	}
}

// TestSetTeam: one team's keys all answer 429 with Retry-After while other
// teams answer as registered, the way Stax.ai may count limits per team.
func TestSetTeam(t *testing.T) {
	s := start(t, Options{RetryAfter: 20 * time.Second})
	c := fakeClient(t, s)
	const teamA, teamB = "team-a@example.com", "team-b@example.com"
	keys := map[string][]string{
		teamA: {"a1" + testKey, "a2" + testKey},
		teamB: {"b1" + testKey, "b2" + testKey},
	}
	for email, ks := range keys {
		for _, k := range ks {
			s.Set(email, k, Valid)
		}
	}
	s.SetTeam(strings.ToUpper(teamA), RateLimited)
	for _, k := range append(keys[teamA], "unregistered"+testKey) {
		r := checkWith(t, c, teamA, k)
		if r.Outcome != domain.OutcomeUndecided || !r.RateLimited || r.RetryAfter != 20*time.Second || r.UpstreamFault {
			t.Errorf("team A key %s: %+v, want rate limited with Retry-After 20s", k[:2], r)
		}
	}
	for _, k := range keys[teamB] {
		if r := checkWith(t, c, teamB, k); r.Outcome != domain.OutcomeValid {
			t.Errorf("team B key %s: %+v, want valid", k[:2], r)
		}
	}

	// SetAll wins over a team; clearing it brings the team override back.
	s.SetAll(Error500)
	if r := checkWith(t, c, teamA, keys[teamA][0]); r.HTTPStatus != 500 {
		t.Errorf("SetAll over SetTeam: %+v", r)
	}
	s.SetAll("")
	if r := checkWith(t, c, teamA, keys[teamA][0]); !r.RateLimited {
		t.Errorf("after clearing SetAll: %+v", r)
	}

	// Through the control API, and cleared with "".
	if st, m := post(t, s.URL()+"/_fake/team", `{"email":"TEAM-B@example.com","behavior":"gateway-403"}`); st != 200 {
		t.Fatalf("POST /_fake/team: %d %v", st, m)
	}
	if r := checkWith(t, c, teamB, keys[teamB][1]); r.HTTPStatus != 403 || r.Outcome != domain.OutcomeUndecided || !r.UpstreamFault {
		t.Errorf("team B after gateway-403: %+v", r)
	}
	for _, body := range []string{`{"email":"` + teamA + `","behavior":""}`, `{"email":"` + teamB + `"}`} {
		if st, m := post(t, s.URL()+"/_fake/team", body); st != 200 {
			t.Fatalf("clearing a team: %d %v", st, m)
		}
	}
	for email, ks := range keys {
		for _, k := range ks {
			if r := checkWith(t, c, email, k); r.Outcome != domain.OutcomeValid {
				t.Errorf("%s after clearing: %+v", email, r)
			}
		}
	}
	for _, bad := range []string{`{"behavior":"valid"}`, `{"email":" ","behavior":"valid"}`, `{"email":"a@example.com","behavior":"nope"}`, `{"email":"a@example.com","key":"k"}`, `[]`} {
		if st, m := post(t, s.URL()+"/_fake/team", bad); st != 400 || m["error"] == nil {
			t.Errorf("POST /_fake/team %s: %d %v, want 400 with an error", bad, st, m)
		}
	}
}
