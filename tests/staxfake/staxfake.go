// Package staxfake is a programmable stand-in for the Stax.ai API, for tests,
// demos and benchmarks.
//
// It is a real HTTP server (on 127.0.0.1 unless told otherwise) so the code
// under test exercises its real transport, timeouts and connection handling.
// Each (email, key) pair can be given a Behavior, one per kind of answer the
// key checker must classify; a whole team (every key of one email) or the
// whole fleet can be overridden at once; and a control API under /_fake/
// lets scripts drive a running fake from outside.
package staxfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behavior names one way the fake answers; each mirrors an answer Stax.ai,
// or something between us and Stax.ai, can give.
type Behavior string

const (
	// Valid answers 200 {"success":true,...}, an accepted key.
	Valid Behavior = "valid"
	// Revoked answers 200 {"success":false,"authError":true,...}, the way
	// the older API reference says Stax.ai rejects a key.
	Revoked Behavior = "revoked"
	// Revoked401 answers 401 with the same body, the newer reference's way.
	Revoked401 Behavior = "revoked401"
	// Denied answers 403: the key is known but not allowed.
	Denied Behavior = "denied"
	// RateLimited answers 429 with Retry-After, to test backoff.
	RateLimited Behavior = "ratelimited"
	// Error500 answers 500 with a JSON error, as a failing API would.
	Error500 Behavior = "error500"
	// BadGateway answers 502 with an HTML page, as a proxy in front would.
	BadGateway Behavior = "bad-gateway"
	// Unavailable answers 503 JSON with Retry-After, as during maintenance.
	Unavailable Behavior = "unavailable"
	// HTML answers 200 with an HTML page, as a captive portal would.
	HTML Behavior = "html"
	// Garbage answers 200 with random bytes that are never JSON.
	Garbage Behavior = "garbage"
	// Empty answers 200 with no body.
	Empty Behavior = "empty"
	// Truncated declares more Content-Length than it sends, then closes the
	// connection, as a dying upstream would.
	Truncated Behavior = "truncated"
	// Huge answers 200 with about 1 MB of JSON, to test body caps.
	Huge Behavior = "huge"
	// Slow answers valid after Options.SlowDelay, to test latency handling.
	Slow Behavior = "slow"
	// Hang never answers; it holds the request until the client leaves or
	// the server closes, to test timeouts.
	Hang Behavior = "hang"
	// Redirect answers 302 to Options.RedirectTo, as an SSO proxy would.
	Redirect Behavior = "redirect"
	// NotFound answers 404 JSON, as for a wrong probe path.
	NotFound Behavior = "notfound"

	// The behaviours below are a hostile or confused path to Stax.ai, as
	// observed in issue 11. Those up to AuthError429 are something other
	// than Stax.ai's verdict and must never turn a key revoked or denied;
	// the echo ones are real auth errors (they revoke) whose text must not
	// carry the key or the email into anything the checker keeps.

	// HTML401 answers 401 with a proxy's HTML sign-in page, as an SSO proxy
	// in front of the API does when it wants its own login.
	HTML401 Behavior = "html-401"
	// CDN403 answers 403 with a CDN's or WAF's HTML block page.
	CDN403 Behavior = "cdn-403"
	// Gateway403 answers 403 {"message":"Forbidden"}, the JSON of AWS API
	// Gateway and similar front doors, which is not Stax.ai's shape.
	Gateway403 Behavior = "gateway-403"
	// Empty403 answers 403 with an empty body, as a firewall does.
	Empty403 Behavior = "empty-403"
	// AuthError500 answers 500 with Stax.ai's auth error body, as an auth
	// backend that is down may.
	AuthError500 Behavior = "authError-500"
	// AuthError503 answers 503 with the auth error body and Retry-After.
	AuthError503 Behavior = "authError-503"
	// AuthError429 answers 429 with the auth error body and Retry-After, as
	// a rate limiter reusing the error shape does.
	AuthError429 Behavior = "authError-429"
	// EchoKeyUpper answers 401 with an auth error whose text echoes the key
	// and the email upper-cased.
	EchoKeyUpper Behavior = "echo-key-upper"
	// EchoKeyZWSP answers 401 with an auth error echoing the key and the
	// email with a zero-width space after every 4 characters, so that no
	// plain substring match can find them.
	EchoKeyZWSP Behavior = "echo-key-zwsp"
	// EchoKeyPrefix answers 401 with an auth error echoing all of the key
	// but its last 4 characters, and the email.
	EchoKeyPrefix Behavior = "echo-key-prefix"
)

// Behaviors lists every known Behavior, for help texts and validation.
func Behaviors() []Behavior {
	return []Behavior{Valid, Revoked, Revoked401, Denied, RateLimited, Error500, BadGateway,
		Unavailable, HTML, Garbage, Empty, Truncated, Huge, Slow, Hang, Redirect, NotFound,
		HTML401, CDN403, Gateway403, Empty403, AuthError500, AuthError503, AuthError429,
		EchoKeyUpper, EchoKeyZWSP, EchoKeyPrefix}
}

// ParseBehavior accepts a behaviour name from a flag, a CSV file or the
// control API, where a typo must be reported rather than silently served.
// Case does not matter ("autherror-500" is AuthError500).
func ParseBehavior(s string) (Behavior, error) {
	t := strings.TrimSpace(s)
	for _, k := range Behaviors() {
		if strings.EqualFold(t, string(k)) {
			return k, nil
		}
	}
	return "", fmt.Errorf("staxfake: unknown behavior %q", s)
}

// Options configures Start. The zero value is a usable fake.
type Options struct {
	// Addr is where to listen; "" means 127.0.0.1:0, so tests never expose
	// the fake beyond the machine.
	Addr string
	// Latency is added to every API answer, to make a local fake behave
	// like a distant API in demos and benchmarks.
	Latency time.Duration
	// RetryAfter is sent with ratelimited and unavailable; default 30s.
	RetryAfter time.Duration
	// SlowDelay is how long slow waits before answering valid; default 2s.
	SlowDelay time.Duration
	// RedirectTo is the Location of redirect; the default is an https URL
	// under .invalid, which can never resolve even if a client followed it.
	RedirectTo string
	// Default answers unknown pairs; default Revoked, which is what Stax.ai
	// answers for a key it does not know.
	Default Behavior
}

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	opts     Options
	ln       net.Listener
	srv      *http.Server
	closing  chan struct{}
	once     sync.Once
	closeErr error
	serveWG  sync.WaitGroup

	// handlers is guarded by hmu so that no handler can Add after Close
	// has started to Wait (a WaitGroup rule); handlers only take the read
	// lock, so they do not contend with each other.
	hmu      sync.RWMutex
	stopped  bool
	handlers sync.WaitGroup

	mu    sync.RWMutex
	pairs map[pair]Behavior
	teams map[string]Behavior // lower-cased email -> behaviour for all its keys

	all     atomic.Pointer[Behavior]
	latency atomic.Int64

	requests    atomic.Int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	perKey      sync.Map // key -> *keyStats
}

type pair struct{ email, key string }

type keyStats struct {
	n    atomic.Int64
	last atomic.Pointer[http.Header]
}

// Start listens and serves in the background until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 30 * time.Second
	}
	if opts.SlowDelay <= 0 {
		opts.SlowDelay = 2 * time.Second
	}
	if opts.RedirectTo == "" {
		opts.RedirectTo = "https://sso.proxy.invalid/login"
	}
	if opts.Default == "" {
		opts.Default = Revoked
	}
	if _, err := ParseBehavior(string(opts.Default)); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("staxfake: listen: %w", err)
	}
	s := &Server{
		opts:    opts,
		ln:      ln,
		closing: make(chan struct{}),
		pairs:   make(map[pair]Behavior),
		teams:   make(map[string]Behavior),
	}
	s.latency.Store(int64(opts.Latency))

	mux := http.NewServeMux()
	mux.HandleFunc("POST /_fake/keys", s.ctlKeys)
	mux.HandleFunc("POST /_fake/all", s.ctlAll)
	mux.HandleFunc("POST /_fake/team", s.ctlTeam)
	mux.HandleFunc("POST /_fake/latency", s.ctlLatency)
	mux.HandleFunc("GET /_fake/stats", s.ctlStats)
	mux.HandleFunc("/_fake/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "unknown control endpoint; see POST /_fake/keys, /_fake/team, /_fake/all, /_fake/latency, GET /_fake/stats"})
	})
	mux.HandleFunc("/", s.serveAPI)

	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
	}
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the base URL to give the checker, without a trailing slash.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server, releases hanging and sleeping handlers and waits
// for them, so a test that closes the fake leaks no goroutines.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.hmu.Lock()
		s.stopped = true
		s.hmu.Unlock()
		close(s.closing)
		s.closeErr = s.srv.Close()
		s.serveWG.Wait()
		s.handlers.Wait()
	})
	return s.closeErr
}

// Set gives a registered pair its behaviour. The email is compared
// case-insensitively, as mail systems do; the key exactly.
func (s *Server) Set(email, key string, b Behavior) {
	s.mu.Lock()
	s.pairs[pair{strings.ToLower(email), key}] = b
	s.mu.Unlock()
}

// SetTeam overrides every key of one team email (compared
// case-insensitively), registered or not, while other teams answer as
// before: SetTeam(email, RateLimited) is one team hitting its rate limit,
// since Stax.ai may count limits per team. "" clears the override. SetAll
// still wins over it.
func (s *Server) SetTeam(email string, b Behavior) {
	e := strings.ToLower(strings.TrimSpace(email))
	s.mu.Lock()
	if b == "" {
		delete(s.teams, e)
	} else {
		s.teams[e] = b
	}
	s.mu.Unlock()
}

// SetAll overrides every pair and team at once, to stage a whole-API outage
// or a change in the network path; "" clears the override.
func (s *Server) SetAll(b Behavior) {
	if b == "" {
		s.all.Store(nil)
		return
	}
	s.all.Store(&b)
}

// SetLatency changes the delay added to every API answer.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// Requests counts API requests served; control API calls are not counted so
// that a benchmark can poll stats without skewing them.
func (s *Server) Requests() int64 { return s.requests.Load() }

// RequestsFor counts API requests that carried this key.
func (s *Server) RequestsFor(key string) int64 {
	if v, ok := s.perKey.Load(key); ok {
		return v.(*keyStats).n.Load()
	}
	return 0
}

// MaxConcurrent is the highest number of API requests in flight at once,
// for testing a checker's concurrency limits.
func (s *Server) MaxConcurrent() int64 { return s.maxInFlight.Load() }

// LastHeaders returns a copy of the headers of the last API request that
// carried this key, or nil if none did.
func (s *Server) LastHeaders(key string) http.Header {
	if v, ok := s.perKey.Load(key); ok {
		if h := v.(*keyStats).last.Load(); h != nil {
			return h.Clone()
		}
	}
	return nil
}

func (s *Server) behaviorFor(email, key string) Behavior {
	if b := s.all.Load(); b != nil {
		return *b
	}
	s.mu.RLock()
	b, ok := s.teams[strings.ToLower(email)]
	if !ok {
		b, ok = s.pairs[pair{strings.ToLower(email), key}]
	}
	s.mu.RUnlock()
	if !ok {
		return s.opts.Default
	}
	return b
}

// wait sleeps d unless the client leaves or the server closes first; it
// reports whether the full delay elapsed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.hmu.RLock()
	if s.stopped {
		s.hmu.RUnlock()
		return
	}
	s.handlers.Add(1)
	s.hmu.RUnlock()
	defer s.handlers.Done()
	s.requests.Add(1)
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxInFlight.Load()
		if n <= m || s.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}

	email := strings.TrimSpace(r.Header.Get("Email"))
	key, hasBearer := bearer(r.Header.Get("Authorization"))
	if key != "" {
		v, _ := s.perKey.LoadOrStore(key, new(keyStats))
		ks := v.(*keyStats)
		ks.n.Add(1)
		h := r.Header.Clone()
		ks.last.Store(&h)
	}

	if !s.wait(r.Context(), time.Duration(s.latency.Load())) {
		abort()
	}
	if !hasBearer || email == "" {
		writeJSON(w, http.StatusUnauthorized, authErrorBody("Missing authorization"))
		return
	}
	s.answer(w, r, s.behaviorFor(email, key), email, key)
}

// abort drops the connection without an answer: a request cut short by
// Close must fail at the client, not look like an empty 200.
func abort() { panic(http.ErrAbortHandler) }

// bearer extracts the token; the scheme is case-insensitive per RFC 9110.
func bearer(v string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

func authErrorBody(msg string) map[string]any {
	return map[string]any{"success": false, "authError": true, "error": msg}
}

const badGatewayPage = `<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title></head>
<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>
`

const signInPage = `<!DOCTYPE html>
<html><head><title>Sign in</title></head>
<body><h1>Sign in to continue</h1>
<form method="post" action="/oauth2/sign_in"><input name="username"><input name="password" type="password">
<button>Sign in</button></form></body></html>
`

const blockPage = `<!DOCTYPE html>
<html><head><title>Attention Required! | Access denied</title></head>
<body><h1>Sorry, you have been blocked</h1><p>This website is using a security service to protect
itself from online attacks.</p><p>Ray ID: 8c0ffee15bad</p></body></html>
`

// splitEvery puts sep after every n runes of s, as a hostile upstream hides
// an echo from a plain substring search.
func splitEvery(s, sep string, n int) string {
	var b strings.Builder
	for i, r := range []rune(s) {
		if i > 0 && i%n == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	return b.String()
}

const portalPage = `<!DOCTYPE html>
<html><head><title>Sign in to the network</title></head>
<body><h1>Welcome</h1><p>Please accept the terms of use to continue.</p></body></html>
`

func (s *Server) answer(w http.ResponseWriter, r *http.Request, b Behavior, email, key string) {
	retryAfter := strconv.FormatInt(int64((s.opts.RetryAfter+time.Second-1)/time.Second), 10)
	switch b {
	case Valid:
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Welcome to the Stax.ai API"})
	case Revoked:
		writeJSON(w, http.StatusOK, authErrorBody("Invalid authorization request"))
	case Revoked401:
		writeJSON(w, http.StatusUnauthorized, authErrorBody("Invalid authorization request"))
	case Denied:
		writeJSON(w, http.StatusForbidden, authErrorBody("Access denied"))
	case RateLimited:
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"success": false, "error": "Too many requests"})
	case Error500:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"success": false, "error": "Internal server error"})
	case BadGateway:
		writeText(w, http.StatusBadGateway, "text/html; charset=utf-8", badGatewayPage)
	case Unavailable:
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"success": false, "error": "Service unavailable"})
	case HTML:
		writeText(w, http.StatusOK, "text/html; charset=utf-8", portalPage)
	case Garbage:
		buf := make([]byte, 512)
		for i := range buf {
			buf[i] = byte(rand.Uint32())
		}
		buf[0] = 0xff // never valid JSON, never HTML
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(buf)
	case Empty:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	case Truncated:
		part := []byte(`{"success":true,"message":"this body is cut sh`)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(part)+1000))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(part)
		// Flush, then hijack so the connection closes now, short of the
		// declared length.
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		if hj, ok := w.(http.Hijacker); ok {
			if conn, bw, err := hj.Hijack(); err == nil {
				_ = bw.Flush()
				_ = conn.Close()
			}
		}
	case Huge:
		writeHuge(w)
	case Slow:
		if !s.wait(r.Context(), s.opts.SlowDelay) {
			abort()
		}
		s.answer(w, r, Valid, email, key)
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		abort()
	case Redirect:
		w.Header().Set("Location", s.opts.RedirectTo)
		writeJSON(w, http.StatusFound, map[string]any{"success": false, "error": "Moved"})
	case NotFound:
		writeJSON(w, http.StatusNotFound, map[string]any{"success": false, "error": "Not found"})
	case HTML401:
		w.Header().Set("WWW-Authenticate", `Basic realm="corporate proxy"`)
		writeText(w, http.StatusUnauthorized, "text/html; charset=utf-8", signInPage)
	case CDN403:
		writeText(w, http.StatusForbidden, "text/html; charset=utf-8", blockPage)
	case Gateway403:
		w.Header().Set("X-Amzn-Errortype", "ForbiddenException")
		writeJSON(w, http.StatusForbidden, map[string]any{"message": "Forbidden"})
	case Empty403:
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusForbidden)
	case AuthError500:
		writeJSON(w, http.StatusInternalServerError, authErrorBody("Invalid authorization request"))
	case AuthError503:
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, authErrorBody("Invalid authorization request"))
	case AuthError429:
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusTooManyRequests, authErrorBody("Invalid authorization request"))
	case EchoKeyUpper:
		writeJSON(w, http.StatusUnauthorized, authErrorBody("Invalid API key "+strings.ToUpper(key)+" for "+strings.ToUpper(email)))
	case EchoKeyZWSP:
		writeJSON(w, http.StatusUnauthorized, authErrorBody("Invalid API key "+splitEvery(key, "\u200b", 4)+" for "+splitEvery(email, "\u200b", 4)))
	case EchoKeyPrefix:
		k := []rune(key)
		writeJSON(w, http.StatusUnauthorized, authErrorBody("Invalid API key "+string(k[:max(0, len(k)-4)])+"**** for "+email))
	default:
		writeText(w, http.StatusInternalServerError, "text/plain; charset=utf-8", "staxfake: unknown behavior\n")
	}
}

// writeHuge streams about 1 MB so the fake itself stays small in memory
// while the client sees a body far over any sane cap.
func writeHuge(w http.ResponseWriter) {
	const size = 1 << 20
	head := []byte(`{"success":true,"data":"`)
	tail := []byte(`"}`)
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(head); err != nil {
		return
	}
	for left := size - len(head) - len(tail); left > 0; {
		n := min(left, len(chunk))
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		left -= n
	}
	_, _ = w.Write(tail)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"success":false,"error":"staxfake: encoding failed"}`)
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeText(w http.ResponseWriter, status int, ctype, body string) {
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// Control API. Bodies are small JSON objects; errors come back as
// {"error": "..."} with status 400 so a shell script sees what it got wrong.

func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "staxfake: bad JSON body: " + err.Error()})
		return false
	}
	return true
}

func (s *Server) ctlKeys(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Key      string `json:"key"`
		Behavior string `json:"behavior"`
	}
	if !decodeControl(w, r, &in) {
		return
	}
	if in.Email == "" || in.Key == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "staxfake: email and key are required"})
		return
	}
	if in.Behavior == "" {
		in.Behavior = string(Valid)
	}
	b, err := ParseBehavior(in.Behavior)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	s.Set(in.Email, in.Key, b)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) ctlTeam(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Behavior string `json:"behavior"`
	}
	if !decodeControl(w, r, &in) {
		return
	}
	if strings.TrimSpace(in.Email) == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "staxfake: email is required"})
		return
	}
	var b Behavior
	if in.Behavior != "" {
		var err error
		if b, err = ParseBehavior(in.Behavior); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
	}
	s.SetTeam(in.Email, b)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) ctlAll(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Behavior string `json:"behavior"`
	}
	if !decodeControl(w, r, &in) {
		return
	}
	var b Behavior
	if in.Behavior != "" {
		var err error
		if b, err = ParseBehavior(in.Behavior); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
	}
	s.SetAll(b)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) ctlLatency(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Latency string `json:"latency"`
	}
	if !decodeControl(w, r, &in) {
		return
	}
	d, err := time.ParseDuration(in.Latency)
	if err != nil || d < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "staxfake: latency must be a duration like \"50ms\""})
		return
	}
	s.SetLatency(d)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) ctlStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"requests":       s.Requests(),
		"max_concurrent": s.MaxConcurrent(),
		"in_flight":      s.inFlight.Load(),
	})
}
