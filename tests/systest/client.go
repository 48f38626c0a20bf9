package systest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// RequestTimeout bounds one request of a test client.
const RequestTimeout = 30 * time.Second

// Response is an answer read whole.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Elapsed time.Duration // from sending the request to the end of the body
}

// Location is the redirect target.
func (r *Response) Location() string { return r.Header.Get("Location") }

// Doc parses the body as HTML.
func (r *Response) Doc() (*goquery.Document, error) {
	return goquery.NewDocumentFromReader(bytes.NewReader(r.Body))
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("systest: %d answer is not JSON (%w): %.300s", r.Status, err, r.Body)
	}
	return nil
}

// do sends req and reads the answer whole.
func do(hc *http.Client, req *http.Request) (*Response, error) {
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("systest: read %s %s: %w", req.Method, req.URL.Path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b, Elapsed: time.Since(start)}, nil
}

// NewHTTPClient returns a client that never follows redirects, over rt (a fresh transport if
// nil) and with jar (none if nil).
func NewHTTPClient(rt http.RoundTripper, jar http.CookieJar) *http.Client {
	if rt == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		rt = t
	}
	return &http.Client{
		Transport:     rt,
		Jar:           jar,
		Timeout:       RequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Browser is a browser without JavaScript: a cookie jar, no automatic redirects, and forms
// posted with the CSRF token the last page carried.
type Browser struct {
	Base string
	HTTP *http.Client

	mu   sync.Mutex
	csrf string
}

// NewBrowser returns a browser for the server at base, sending through rt (nil: a fresh
// transport).
func NewBrowser(base string, rt http.RoundTripper) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Base: base, HTTP: NewHTTPClient(rt, jar)}
}

var csrfInput = regexp.MustCompile(`<input type="hidden" name="_csrf" value="([^"]*)"`)

// Do sends req and remembers the CSRF token of an HTML answer.
func (b *Browser) Do(req *http.Request) (*Response, error) {
	r, err := do(b.HTTP, req)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		if m := csrfInput.FindSubmatch(r.Body); m != nil && len(m[1]) > 0 {
			b.mu.Lock()
			b.csrf = html.UnescapeString(string(m[1]))
			b.mu.Unlock()
		}
	}
	return r, nil
}

// Get fetches path without following a redirect.
func (b *Browser) Get(ctx context.Context, path string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.Base+path, nil)
	if err != nil {
		return nil, err
	}
	return b.Do(req)
}

// Token returns the CSRF token of the last page, fetching the login page for one if needed.
func (b *Browser) Token(ctx context.Context) (string, error) {
	b.mu.Lock()
	tok := b.csrf
	b.mu.Unlock()
	if tok != "" {
		return tok, nil
	}
	if _, err := b.Get(ctx, "/login"); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.csrf == "" {
		return "", fmt.Errorf("systest: no page carried a CSRF token")
	}
	return b.csrf, nil
}

// Post posts form to path with the CSRF token, as the page's form would, and does not follow
// the answer.
func (b *Browser) Post(ctx context.Context, path string, form url.Values) (*Response, error) {
	tok, err := b.Token(ctx)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	for k, vs := range form {
		v[k] = vs
	}
	v.Set("_csrf", tok)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.Base+path, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.Do(req)
}

// Setup creates the first admin through the setup page, which also logs the browser in.
func (b *Browser) Setup(ctx context.Context, email, password string) error {
	if _, err := b.Get(ctx, "/setup"); err != nil {
		return err
	}
	r, err := b.Post(ctx, "/setup", url.Values{"email": {email}, "password": {password}, "password2": {password}})
	if err != nil {
		return err
	}
	if r.Status != http.StatusSeeOther {
		return fmt.Errorf("systest: setup answered %d: %.300s", r.Status, r.Body)
	}
	return nil
}

// Login logs the browser in.
func (b *Browser) Login(ctx context.Context, email, password string) error {
	if _, err := b.Get(ctx, "/login"); err != nil {
		return err
	}
	r, err := b.Post(ctx, "/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return err
	}
	if r.Status != http.StatusSeeOther {
		return fmt.Errorf("systest: login answered %d: %.300s", r.Status, r.Body)
	}
	return nil
}

// API is a client of the JSON API with a bearer token.
type API struct {
	Base, Token string
	HTTP        *http.Client
}

// NewAPI returns an API client for the server at base, sending through rt (nil: a fresh
// transport).
func NewAPI(base, token string, rt http.RoundTripper) *API {
	return &API{Base: base, Token: token, HTTP: NewHTTPClient(rt, nil)}
}

// Do sends a request with body marshalled as JSON (none if nil).
func (a *API) Do(ctx context.Context, method, path string, body any) (*Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	return do(a.HTTP, req)
}

// Key is a pair as the JSON API shows it.
type Key struct {
	ID        int64  `json:"id"`
	Label     string `json:"label"`
	Email     string `json:"email"`
	KeyHint   string `json:"key_hint"`
	Verdict   string `json:"verdict"`
	LastCheck *struct {
		At         time.Time `json:"at"`
		Outcome    string    `json:"outcome"`
		Reason     string    `json:"reason"`
		HTTPStatus int       `json:"http_status"`
	} `json:"last_check"`
}

// Add registers a pair and returns it; any answer but 201 is an error.
func (a *API) Add(ctx context.Context, label, email, key string) (Key, error) {
	r, err := a.Do(ctx, http.MethodPost, "/api/v1/keys", map[string]string{"label": label, "email": email, "key": key})
	if err != nil {
		return Key{}, err
	}
	if r.Status != http.StatusCreated {
		return Key{}, fmt.Errorf("systest: POST /api/v1/keys answered %d: %.300s", r.Status, r.Body)
	}
	var p Key
	return p, r.JSON(&p)
}

// Pair fetches one pair.
func (a *API) Pair(ctx context.Context, id int64) (Key, error) {
	r, err := a.Do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/keys/%d", id), nil)
	if err != nil {
		return Key{}, err
	}
	if r.Status != http.StatusOK {
		return Key{}, fmt.Errorf("systest: GET /api/v1/keys/%d answered %d: %.300s", id, r.Status, r.Body)
	}
	var p Key
	return p, r.JSON(&p)
}

// Keys lists every pair (up to 1000).
func (a *API) Keys(ctx context.Context) ([]Key, error) {
	r, err := a.Do(ctx, http.MethodGet, "/api/v1/keys?sort=added&limit=1000", nil)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, fmt.Errorf("systest: GET /api/v1/keys answered %d: %.300s", r.Status, r.Body)
	}
	var page struct {
		Keys []Key `json:"keys"`
	}
	return page.Keys, r.JSON(&page)
}

// Check asks for a check now and returns the answer as it is (200 with the pair, 429 while
// paused, ...).
func (a *API) Check(ctx context.Context, id int64) (*Response, Key, error) {
	r, err := a.Do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/keys/%d/check", id), nil)
	if err != nil {
		return nil, Key{}, err
	}
	var p Key
	if r.Status == http.StatusOK {
		err = r.JSON(&p)
	}
	return r, p, err
}

// Exchange is one request and its answer as a Recorder saw them.
type Exchange struct {
	Method, URL string
	Status      int
	Header      http.Header // the answer's
	Body        []byte      // the answer's
}

// Recorder is a RoundTripper that keeps a copy of every answer, headers and body, so a test
// can search everything the server ever said.
type Recorder struct {
	Next http.RoundTripper

	mu        sync.Mutex
	exchanges []Exchange
}

// RoundTrip sends req through Next and records the answer.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	next := r.Next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	r.exchanges = append(r.exchanges, Exchange{Method: req.Method, URL: req.URL.String(), Status: resp.StatusCode, Header: resp.Header.Clone(), Body: b})
	r.mu.Unlock()
	return resp, nil
}

// Exchanges returns what was recorded so far.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.exchanges...)
}
