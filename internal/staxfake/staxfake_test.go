package staxfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
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

func TestPairMatchingAndDefault(t *testing.T) {
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
	if _, err := ParseBehavior("valid!"); err == nil || !strings.HasPrefix(err.Error(), "staxfake: ") {
		t.Errorf("ParseBehavior(bad) error = %v", err)
	}
}
