package staxapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

const (
	testEmail = "Admin@Example.com"
	testKey   = "w3i21te0abcdefghijklmnopqrstuvwxyz012345"
)

// server starts an httptest server on 127.0.0.1 that is closed with the test.
func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	if !strings.HasPrefix(ts.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want 127.0.0.1", ts.URL)
	}
	return ts
}

func client(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// check runs Check and asserts what holds for every result.
func check(t *testing.T, c *Client, email, key string) Result {
	t.Helper()
	r, err := c.Check(context.Background(), email, key)
	if err != nil {
		t.Fatalf("Check returned an error with a live context: %v", err)
	}
	checkReason(t, r.Reason)
	assertNoSecrets(t, r.Reason, email, key)
	return r
}

func assertNoSecrets(t *testing.T, s, email, key string) {
	t.Helper()
	low := strings.ToLower(s)
	if (strings.TrimSpace(key) != "" && strings.Contains(s, key)) ||
		(strings.TrimSpace(email) != "" && strings.Contains(low, strings.ToLower(email))) {
		t.Errorf("secret leaked into %q", s)
	}
}

func TestCheckSendsHeadersExactly(t *testing.T) {
	type seen struct {
		method, uri string
		header      http.Header
	}
	got := make(chan seen, 1)
	ts := server(t, func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Method, r.RequestURI, r.Header.Clone()}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"success":true}`)
	})
	c := client(t, Config{BaseURL: ts.URL + "/", ProbePath: "/stack/get?stackTag=probe", UserAgent: "staxkeys/1.2.3"})
	r := check(t, c, testEmail, testKey)
	if r.Outcome != domain.OutcomeValid || r.HTTPStatus != 200 || r.Reason != "Stax.ai accepted the key" || r.UpstreamFault {
		t.Errorf("result = %+v", r)
	}
	if r.Latency <= 0 {
		t.Errorf("Latency = %v", r.Latency)
	}
	s := <-got
	if s.method != http.MethodGet || s.uri != "/stack/get?stackTag=probe" {
		t.Errorf("request = %s %s", s.method, s.uri)
	}
	want := map[string]string{
		"Email":         testEmail,
		"Authorization": "Bearer " + testKey,
		"User-Agent":    "staxkeys/1.2.3",
		"Accept":        "application/json",
	}
	for k, v := range want {
		if vs := s.header[k]; len(vs) != 1 || vs[0] != v {
			t.Errorf("header %s = %q, want exactly %q", k, vs, v)
		}
	}
}

func TestCheckDefaultUserAgent(t *testing.T) {
	ua := make(chan string, 1)
	ts := server(t, func(w http.ResponseWriter, r *http.Request) {
		ua <- r.UserAgent()
		_, _ = io.WriteString(w, `{}`)
	})
	check(t, client(t, Config{BaseURL: ts.URL}), testEmail, testKey)
	if got := <-ua; got != DefaultUserAgent {
		t.Errorf("User-Agent = %q", got)
	}
}

func TestCheckDoesNotFollowRedirects(t *testing.T) {
	var stolen atomic.Int64
	other := server(t, func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		_, _ = io.WriteString(w, `{"success":true}`)
	})
	ts := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	})
	r := check(t, client(t, Config{BaseURL: ts.URL}), testEmail, testKey)
	if r.Outcome != domain.OutcomeUndecided || r.HTTPStatus != 302 || r.UpstreamFault {
		t.Errorf("result = %+v", r)
	}
	if !strings.Contains(r.Reason, "redirected to "+other.URL+"/steal") {
		t.Errorf("Reason = %q, want the Location named", r.Reason)
	}
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}

	// A relative Location is reported as the absolute URL it points to.
	rel := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/login")
		w.WriteHeader(http.StatusMovedPermanently)
	})
	r = check(t, client(t, Config{BaseURL: rel.URL}), testEmail, testKey)
	if !strings.Contains(r.Reason, "redirected to "+rel.URL+"/login") {
		t.Errorf("Reason = %q", r.Reason)
	}
}

func TestCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	ts := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before ts.Close
	c := client(t, Config{BaseURL: ts.URL, Timeout: 50 * time.Millisecond})
	begin := time.Now()
	r := check(t, c, testEmail, testKey)
	if el := time.Since(begin); el < 50*time.Millisecond || el > 10*time.Second {
		t.Errorf("Check took %v with a 50ms timeout", el)
	}
	if r.Outcome != domain.OutcomeUndecided || r.Reason != "timed out after 50ms" || !r.UpstreamFault || r.HTTPStatus != 0 {
		t.Errorf("result = %+v", r)
	}
}

func TestCheckTimeoutWhileReadingBody(t *testing.T) {
	release := make(chan struct{})
	ts := server(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"success":`)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	r := check(t, client(t, Config{BaseURL: ts.URL, Timeout: 50 * time.Millisecond}), testEmail, testKey)
	if r.Outcome != domain.OutcomeUndecided || r.HTTPStatus != 200 || !r.UpstreamFault ||
		r.Reason != "HTTP 200, then timed out after 50ms reading the body" {
		t.Errorf("result = %+v", r)
	}
}

func TestCheckConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := check(t, client(t, Config{BaseURL: "http://" + addr}), testEmail, testKey)
	if r.Outcome != domain.OutcomeUndecided || r.Reason != "connection refused" || !r.UpstreamFault || r.HTTPStatus != 0 {
		t.Errorf("result = %+v", r)
	}
}

func TestCheckConnectionClosedWithoutAnswer(t *testing.T) {
	ts := server(t, func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	r := check(t, client(t, Config{BaseURL: ts.URL}), testEmail, testKey)
	if r.Outcome != domain.OutcomeUndecided || !r.UpstreamFault || r.HTTPStatus != 0 {
		t.Errorf("result = %+v", r)
	}
}

// countingTransport counts the body bytes the client actually consumed.
type countingTransport struct{ n atomic.Int64 }

func (ct *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		resp.Body = &countingBody{resp.Body, &ct.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func TestCheckGiganticBodyReadOnlyToCap(t *testing.T) {
	const size = 10 << 20
	ts := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(size))
		chunk := strings.Repeat("x", 64<<10)
		if _, err := io.WriteString(w, `{"success":true,"pad":"`); err != nil {
			return
		}
		for written := 0; written < size-32; written += len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return // the client hung up, as it should
			}
		}
	})
	ct := &countingTransport{}
	r := check(t, client(t, Config{BaseURL: ts.URL, Transport: ct}), testEmail, testKey)
	if r.Outcome != domain.OutcomeUndecided || r.Reason != "response body larger than 64 KiB" || r.HTTPStatus != 200 {
		t.Errorf("result = %+v", r)
	}
	if n := ct.n.Load(); n > MaxBody+1 {
		t.Errorf("read %d body bytes, want at most %d", n, MaxBody+1)
	}
}

// TestCheckCutBodyAt401Undecided: a 401 whose body breaks off is not a JSON
// object, so it decides nothing; a proxy dying mid-page looks the same.
func TestCheckCutBodyAt401Undecided(t *testing.T) {
	ts := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"authErr`)
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	})
	r := check(t, client(t, Config{BaseURL: ts.URL}), testEmail, testKey)
	if r.Outcome != domain.OutcomeUndecided || r.HTTPStatus != 401 || !r.UpstreamFault ||
		r.Reason != "HTTP 401, then the connection broke before the whole body arrived" {
		t.Errorf("result = %+v", r)
	}
}

func TestCheckContextCancelled(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	ts := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	c := client(t, Config{BaseURL: ts.URL, Timeout: time.Minute})

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Check(ctx, testEmail, testKey); !errors.Is(err, context.Canceled) {
		t.Errorf("already cancelled: err = %v", err)
	}
	if hits.Load() != 0 {
		t.Error("a request was sent with a cancelled context")
	}

	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		for hits.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	r, err := c.Check(ctx, testEmail, testKey)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled mid-request: err = %v, result %+v", err, r)
	}
	if !strings.HasPrefix(err.Error(), "staxapi: ") {
		t.Errorf("error %q lacks the package prefix", err)
	}
	assertNoSecrets(t, err.Error(), testEmail, testKey)
}

func TestCheckNeverLeaksSecrets(t *testing.T) {
	email, key := "Secret.Admin@Example.com", "k3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3yk3y0"
	echo := func(r *http.Request) string {
		return "key " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") +
			" of " + strings.ToUpper(r.Header.Get("Email"))
	}
	handlers := map[string]http.HandlerFunc{
		"200 authError echo": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"authError":true,"error":%q}`, echo(r))
		},
		"401 echo": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":%q}`, echo(r))
		},
		"403 echo": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			fmt.Fprintf(w, `{"error":%q}`, echo(r))
		},
		"500 echo": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			fmt.Fprintf(w, `{"error":%q}`, echo(r))
		},
		"redirect echo": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "https://evil.invalid/?key="+
				strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+"&email="+r.Header.Get("Email"))
			w.WriteHeader(302)
		},
		"html echo": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			fmt.Fprintf(w, "<html>%s</html>", echo(r))
		},
		"long prefix then echo": func(w http.ResponseWriter, r *http.Request) {
			// The secret straddles the cut point of the upstream text.
			fmt.Fprintf(w, `{"authError":true,"error":%q}`, strings.Repeat("y", 80)+echo(r))
		},
		"echo upper-cased": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":%q}`, strings.ToUpper(echo(r)))
		},
		"echo split by zero-width spaces": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":%q}`, strings.Join(strings.Split(echo(r), ""), "\u200b"))
		},
		"echo of all but the last 4": func(w http.ResponseWriter, r *http.Request) {
			k := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			w.WriteHeader(403)
			fmt.Fprintf(w, `{"error":"key %s**** is not allowed"}`, k[:len(k)-4])
		},
		"redirect echo upper-cased": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "https://evil.invalid/?k="+
				strings.ToUpper(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")))
			w.WriteHeader(302)
		},
		"redirect echo split by zero-width spaces": func(w http.ResponseWriter, r *http.Request) {
			k := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			w.Header().Set("Location", "/sso/"+strings.Join(strings.Split(k, ""), "\u200b")+"?e="+strings.Join(strings.Split(r.Header.Get("Email"), ""), "%E2%80%8B"))
			w.WriteHeader(302)
		},
		"redirect echo split by encoded zero-width spaces, and a stray %": func(w http.ResponseWriter, r *http.Request) {
			k := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			w.Header().Set("Location", "/%zz/"+strings.Join(strings.Split(k, ""), "%e2%80%8b")+"%")
			w.WriteHeader(302)
		},
		"gateway echo with soft hyphens": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			fmt.Fprintf(w, `{"message":%q}`, strings.Join(strings.Split(echo(r), ""), "\u00ad"))
		},
	}
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			ts := server(t, h)
			r := check(t, client(t, Config{BaseURL: ts.URL}), email, key) // check asserts no leak
			// Read as an admin would, also with percent-encoding undone.
			for _, read := range []string{r.Reason, percentDecoded(r.Reason)} {
				if run := leakedRun(read, "", key); run != "" {
					t.Fatalf("%q of the key leaked: %q", run, r.Reason)
				}
				if run := leakedRun(read, "", email); run != "" {
					t.Fatalf("%q of the email leaked: %q", run, r.Reason)
				}
			}
		})
	}
}

func TestCheckRefusesControlCharacters(t *testing.T) {
	var hits atomic.Int64
	ts := server(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	c := client(t, Config{BaseURL: ts.URL})
	for _, p := range [][2]string{
		{"a@example.com\r\nX-Evil: 1", testKey},
		{testEmail, testKey + "\n"},
		{testEmail, "k\x00ey"},
		{"", testKey},
		{testEmail, " "},
	} {
		r := check(t, c, p[0], p[1])
		if r.Outcome != domain.OutcomeUndecided || r.UpstreamFault || !strings.Contains(r.Reason, "not sent") {
			t.Errorf("%q: result = %+v", p, r)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests were sent", hits.Load())
	}
}

func TestNew(t *testing.T) {
	good := []Config{
		{},
		{BaseURL: "http://127.0.0.1:8080"},
		{BaseURL: "https://api.stax.ai/", ProbePath: "/tpa/plan/list"},
		{BaseURL: "http://127.0.0.1:1/prefix", ProbePath: "/x?y=1", Timeout: time.Second},
	}
	for _, cfg := range good {
		if _, err := New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
	c := client(t, Config{BaseURL: "http://127.0.0.1:1/prefix/", ProbePath: "/x"})
	if c.url != "http://127.0.0.1:1/prefix/x" || c.timeout != DefaultTimeout {
		t.Errorf("url %q timeout %v", c.url, c.timeout)
	}
	if c := client(t, Config{}); c.url != "https://api.stax.ai/" {
		t.Errorf("default url %q", c.url)
	}
	bad := []Config{
		{BaseURL: "api.stax.ai"},
		{BaseURL: "/relative"},
		{BaseURL: "ftp://api.stax.ai"},
		{BaseURL: "https://"},
		{BaseURL: "http://user:pass@127.0.0.1"},
		{BaseURL: "http://127.0.0.1?x=1"},
		{BaseURL: "http://127.0.0.1", ProbePath: "stack/get"},
		{BaseURL: "http://127.0.0.1", ProbePath: "/a\nb"},
		{BaseURL: "http://127.0.0.1", Timeout: -time.Second},
		{BaseURL: "http://127.0.0.1", UserAgent: "x\r\ny"},
		{BaseURL: "http://[::1"},
	}
	for _, cfg := range bad {
		_, err := New(cfg)
		if err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
			continue
		}
		if !strings.HasPrefix(err.Error(), "staxapi: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
}

// TestCheckAgainstFake runs every behaviour of the project's fake through the
// real client, so the fake and the classifier agree on the contract.
func TestCheckAgainstFake(t *testing.T) {
	fake, err := staxfake.Start(staxfake.Options{SlowDelay: 10 * time.Millisecond, RetryAfter: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	c := client(t, Config{BaseURL: fake.URL(), Timeout: 2 * time.Second})
	want := map[staxfake.Behavior]struct {
		outcome domain.Outcome
		status  int
		reason  string
		fault   bool
	}{
		staxfake.Valid:       {domain.OutcomeValid, 200, "Stax.ai accepted the key", false},
		staxfake.Slow:        {domain.OutcomeValid, 200, "Stax.ai accepted the key", false},
		staxfake.Revoked:     {domain.OutcomeRevoked, 200, "Stax.ai said: Invalid authorization request", false},
		staxfake.Revoked401:  {domain.OutcomeRevoked, 401, "Stax.ai said: Invalid authorization request (HTTP 401)", false},
		staxfake.Denied:      {domain.OutcomeDenied, 403, "HTTP 403: Stax.ai knows the key but denies access; Stax.ai said: Access denied", false},
		staxfake.RateLimited: {domain.OutcomeUndecided, 429, "rate limited by Stax.ai (retry after 7s)", false},
		staxfake.Error500:    {domain.OutcomeUndecided, 500, "HTTP 500 from Stax.ai", true},
		staxfake.BadGateway:  {domain.OutcomeUndecided, 502, "HTTP 502 from upstream (HTML, not JSON)", true},
		staxfake.Unavailable: {domain.OutcomeUndecided, 503, "HTTP 503 from Stax.ai (retry after 7s)", true},
		staxfake.HTML:        {domain.OutcomeUndecided, 200, "HTTP 200 but the body is HTML, not JSON", true},
		staxfake.Garbage:     {domain.OutcomeUndecided, 200, "HTTP 200 but the body is not JSON", true},
		staxfake.Empty:       {domain.OutcomeUndecided, 200, "empty response body", true},
		staxfake.Truncated:   {domain.OutcomeUndecided, 200, "HTTP 200, then the connection broke", true},
		staxfake.Huge:        {domain.OutcomeUndecided, 200, "response body larger than 64 KiB", false},
		staxfake.Redirect:    {domain.OutcomeUndecided, 302, "HTTP 302: redirected to https://sso.proxy.invalid/login", false},
		staxfake.NotFound:    {domain.OutcomeUndecided, 404, "HTTP 404", false},

		staxfake.HTML401:       {domain.OutcomeUndecided, 401, "HTTP 401 with an HTML page: a proxy or firewall answered, not Stax.ai", true},
		staxfake.CDN403:        {domain.OutcomeUndecided, 403, "HTTP 403 with an HTML page: a proxy or firewall answered, not Stax.ai", true},
		staxfake.Gateway403:    {domain.OutcomeUndecided, 403, "a gateway or firewall answered, not Stax.ai; it said: Forbidden", true},
		staxfake.Empty403:      {domain.OutcomeUndecided, 403, "HTTP 403 with an empty body: a proxy or firewall answered, not Stax.ai", true},
		staxfake.AuthError500:  {domain.OutcomeUndecided, 500, "authError ignored: a server fault cannot revoke", true},
		staxfake.AuthError503:  {domain.OutcomeUndecided, 503, "(retry after 7s; authError ignored: a server fault cannot revoke)", true},
		staxfake.AuthError429:  {domain.OutcomeUndecided, 429, "rate limited by Stax.ai (retry after 7s; authError ignored: a rate limit cannot revoke)", false},
		staxfake.EchoKeyUpper:  {domain.OutcomeRevoked, 401, "Stax.ai said: Invalid API key [key] for [email] (HTTP 401)", false},
		staxfake.EchoKeyZWSP:   {domain.OutcomeRevoked, 401, "Stax.ai said: Invalid API key [key] for [email] (HTTP 401)", false},
		staxfake.EchoKeyPrefix: {domain.OutcomeRevoked, 401, "Stax.ai said: Invalid API key [key]**** for [email] (HTTP 401)", false},
	}
	for i, b := range staxfake.Behaviors() {
		if b == staxfake.Hang {
			continue // below, with a short timeout
		}
		w, ok := want[b]
		if !ok {
			t.Errorf("no expectation for fake behaviour %q", b)
			continue
		}
		key := fmt.Sprintf("k%039d", i)
		fake.Set(testEmail, key, b)
		r := check(t, c, testEmail, key)
		if r.Outcome != w.outcome || r.HTTPStatus != w.status || !strings.Contains(r.Reason, w.reason) || r.UpstreamFault != w.fault {
			t.Errorf("%s: result = %+v, want %+v", b, r, w)
		}
	}

	// An unknown pair gets the fake's default, which is what Stax.ai says.
	if r := check(t, c, "nobody@example.com", testKey); r.Outcome != domain.OutcomeRevoked {
		t.Errorf("unknown pair: %+v", r)
	}

	fake.Set(testEmail, testKey, staxfake.Hang)
	short := client(t, Config{BaseURL: fake.URL(), Timeout: 50 * time.Millisecond})
	if r := check(t, short, testEmail, testKey); r.Outcome != domain.OutcomeUndecided || r.Reason != "timed out after 50ms" {
		t.Errorf("hang: %+v", r)
	}
}

// TestCheckConcurrent shares one Client across many goroutines (run with
// -race) and checks that they really overlap at the server.
func TestCheckConcurrent(t *testing.T) {
	fake, err := staxfake.Start(staxfake.Options{Latency: 20 * time.Millisecond, Default: staxfake.Valid})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fake.Close() })
	c := client(t, Config{BaseURL: fake.URL()})
	const n = 50
	var wg sync.WaitGroup
	var valid atomic.Int64
	for i := range n {
		wg.Go(func() {
			r, err := c.Check(context.Background(), fmt.Sprintf("team%d@example.com", i), fmt.Sprintf("key%037d", i))
			if err == nil && r.Outcome == domain.OutcomeValid {
				valid.Add(1)
			}
		})
	}
	wg.Wait()
	if valid.Load() != n || fake.Requests() != n {
		t.Errorf("valid %d, requests %d, want %d", valid.Load(), fake.Requests(), n)
	}
	if fake.MaxConcurrent() < 2 {
		t.Errorf("MaxConcurrent = %d: checks did not overlap", fake.MaxConcurrent())
	}
}
