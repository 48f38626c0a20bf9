package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/apitoken"
	"github.com/staxkeys/staxkeys/internal/clock"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/internal/metrics"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
	"github.com/staxkeys/staxkeys/web"
)

// waitLimit bounds every wait on the server or the checker: far longer than anything takes,
// so it only fails a test that is really stuck.
const waitLimit = 20 * time.Second

// t0 is where the fake clocks of these tests start, the same instant as Env's clock.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// API keys of these tests; none may ever appear in a response or the log.
const (
	apiKeyA = "sk_live_APIKEY_alpha_0123456789"
	apiKeyB = "sk_live_APIKEY_bravo_ABCDEFGHIJ"
	apiKeyC = "sk_live_APIKEY_charlie_zyxwvut"
)

// checkedEnv is an Env whose server has the real key checker, asking a real fake Stax.ai on
// 127.0.0.1, and Prometheus metrics fed by the checker, as internal/cli/serve.go wires them.
type checkedEnv struct {
	*Env
	Fake    *staxfake.Server
	Checker *checker.Checker
	// CheckerClock is the checker's clock when checkedOptions.FakeClock is set, else nil.
	CheckerClock *clocktest.Fake
}

// checkedOptions changes how newCheckedEnv builds the server.
type checkedOptions struct {
	// FakeClock puts the checker on a clocktest.Fake and the server and store on Env.Clock,
	// both starting at t0 and moved apart by the test. Otherwise everything runs on real time
	// and Env.Clock is nil.
	FakeClock bool
	// MetricsToken guards /metrics when set.
	MetricsToken string
	// CheckerOff and NoMasterKey set the web.Config flags /readyz reports.
	CheckerOff, NoMasterKey bool
	// MasterKeyCheck is web.Config.MasterKeyCheck.
	MasterKeyCheck func(context.Context) error
	// CheckTimeout bounds one check; default 2s.
	CheckTimeout time.Duration
	// PageConcurrency is web.Config.PageConcurrency.
	PageConcurrency int
	// Alerts wires in the alerting (the settings and deliveries pages), as serve does.
	Alerts bool
}

func newCheckedEnv(t testing.TB, o checkedOptions) *checkedEnv {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	ring := secret.NewKeyring(mk)
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	if o.CheckTimeout == 0 {
		o.CheckTimeout = 2 * time.Second
	}
	client, err := staxapi.New(staxapi.Config{BaseURL: fake.URL(), Timeout: o.CheckTimeout, UserAgent: "staxkeys/test"})
	if err != nil {
		t.Fatal(err)
	}

	e := &checkedEnv{
		Env: &Env{
			DB: db, Vault: keys.New(db, ring), Ring: ring, Log: &SyncBuffer{},
			Config: web.Config{
				SessionHashKey:  ring.DeriveKey("session cookie hash", 32),
				SessionBlockKey: ring.DeriveKey("session cookie block", 32),
				Version:         "test",
				CheckerEnabled:  !o.CheckerOff,
				MasterKeyLoaded: !o.NoMasterKey,
				MasterKeyCheck:  o.MasterKeyCheck,
				PageConcurrency: o.PageConcurrency,
			},
		},
		Fake: fake,
	}
	log := slog.New(slog.NewTextHandler(e.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	now := time.Now
	var clk clock.Clock
	if o.FakeClock {
		e.CheckerClock = clocktest.NewFake(t0)
		e.Clock = &Clock{t: t0}
		clk, now = e.CheckerClock, e.Clock.Now
	}
	db.Now = now
	cfg := checker.DefaultConfig()
	cfg.ConfirmDelay = 10 * time.Millisecond // the confirming re-check comes at once
	e.Checker = checker.New(db, e.Vault, client, cfg, clk, log)
	mopts := metrics.Options{Version: "test", CacheFor: -1} // each scrape reads the tables afresh
	if e.CheckerClock != nil {
		mopts.Now = e.CheckerClock.Now
	}
	mets := metrics.New(db, e.Checker.Status, mopts)
	e.Checker.AddObserver(mets)
	webOpts := []web.Option{web.WithChecker(e.Checker), web.WithMetrics(mets.Handler(), o.MetricsToken)}
	if o.Alerts {
		webOpts = append(webOpts, web.WithNotifier(notify.New(db, ring, notify.Options{Allow: allowLoopback, Clock: clk})))
	}
	e.Server = web.New(e.Config, db, e.services(log, e.Checker), log, webOpts...)
	e.Server.Now = now
	e.TS = httptest.NewServer(e.Server)
	t.Cleanup(e.TS.Close)
	return e
}

// run starts the checker's scheduler until the test ends.
func (e *checkedEnv) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Checker.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("checker Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("the checker did not stop")
		}
	})
}

// addKey registers a pair through the vault and gives it behaviour b at the fake.
func (e *checkedEnv) addKey(t testing.TB, label, email, key string, b staxfake.Behavior) domain.Key {
	t.Helper()
	p, err := e.Vault.Add(context.Background(), keys.Input{Label: label, Email: email, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	e.Fake.Set(email, key, b)
	return p
}

// checkNow checks pair id at once, as "Check now" does, and returns the pair afterwards.
func (e *checkedEnv) checkNow(t testing.TB, id int64) domain.Key {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	p, err := e.Checker.CheckNow(ctx, id)
	if err != nil {
		t.Fatalf("CheckNow(%d): %v", id, err)
	}
	return p
}

// token mints an API token directly in the store: a viewer token when readOnly, else an
// admin token (the two kinds from before roles).
func (e *Env) token(t testing.TB, name string, readOnly bool) string {
	t.Helper()
	role := domain.RoleAdmin
	if readOnly {
		role = domain.RoleViewer
	}
	return e.roleToken(t, name, role)
}

// roleToken mints an API token with role directly in the store.
func (e *Env) roleToken(t testing.TB, name string, role domain.Role) string {
	t.Helper()
	tok, _, err := apitoken.Create(context.Background(), e.DB, name, role, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// apiClient calls the JSON API with a bearer token; every body it receives is recorded for
// AssertNeverShown.
type apiClient struct {
	t     testing.TB
	env   *Env
	hc    *http.Client
	token string
}

func (e *Env) API(t testing.TB, token string) *apiClient {
	return &apiClient{t: t, env: e, hc: e.NewClient(t).HTTP, token: token}
}

// apiResp is an answer with its body read.
type apiResp struct {
	t      testing.TB
	req    string
	Status int
	Header http.Header
	Body   []byte
}

// Do sends method path with body (as JSON when not empty); hdr are name, value pairs that
// replace the defaults ("" removes one).
func (a *apiClient) Do(method, path, body string, hdr ...string) *apiResp {
	a.t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.env.TS.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return &apiResp{t: a.t, req: method + " " + path, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Expect fails the test unless the answer has the status.
func (r *apiResp) Expect(status int) *apiResp {
	r.t.Helper()
	if r.Status != status {
		r.t.Fatalf("%s: status %d, want %d; body: %.500s", r.req, r.Status, status, r.Body)
	}
	return r
}

// Object decodes a JSON object answer.
func (r *apiResp) Object() map[string]any {
	r.t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		r.t.Fatalf("%s: Content-Type %q, want JSON; body: %.300s", r.req, ct, r.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		r.t.Fatalf("%s: body is not a JSON object: %v: %.300s", r.req, err, r.Body)
	}
	return m
}

// ExpectError checks the error shape {"error": "...", "fields": {...}}: the status, a message,
// and, when field is given, a message for that field.
func (r *apiResp) ExpectError(status int, field string) map[string]any {
	r.t.Helper()
	r.Expect(status)
	m := r.Object()
	if msg, _ := m["error"].(string); msg == "" {
		r.t.Errorf("%s: no error message in %s", r.req, r.Body)
	}
	for k := range m {
		if k != "error" && k != "fields" {
			r.t.Errorf("%s: unexpected member %q in the error %s", r.req, k, r.Body)
		}
	}
	if field != "" {
		fields, _ := m["fields"].(map[string]any)
		if msg, _ := fields[field].(string); msg == "" {
			r.t.Errorf("%s: the error does not name the field %q: %s", r.req, field, r.Body)
		}
	}
	return m
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var (
	keyMembers   = []string{"created_at", "email", "id", "key_hint", "label", "last_check", "muted", "tags", "updated_at", "verdict", "verdict_at"}
	checkMembers = []string{"at", "http_status", "latency_ms", "outcome", "reason"}
)

// assertKeyShape checks that m is exactly the documented pair representation.
func assertKeyShape(t testing.TB, m map[string]any) {
	t.Helper()
	if got := keysOf(m); !slices.Equal(got, keyMembers) {
		t.Fatalf("pair members %v, want %v", got, keyMembers)
	}
	if _, ok := m["id"].(float64); !ok {
		t.Errorf("id %v is not a number", m["id"])
	}
	for _, k := range []string{"label", "email", "key_hint", "verdict"} {
		if _, ok := m[k].(string); !ok {
			t.Errorf("%s %v is not a string", k, m[k])
		}
	}
	if v := m["verdict"]; !slices.Contains([]any{"pending", "valid", "revoked", "denied"}, v) {
		t.Errorf("verdict %v", v)
	}
	for _, k := range []string{"created_at", "updated_at"} {
		s, _ := m[k].(string)
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			t.Errorf("%s %v is not an RFC 3339 time", k, m[k])
		}
	}
	if va := m["verdict_at"]; va != nil {
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(va)); err != nil {
			t.Errorf("verdict_at %v is neither null nor a time", va)
		}
	}
	if lc := m["last_check"]; lc != nil {
		c, ok := lc.(map[string]any)
		if !ok {
			t.Fatalf("last_check %v is neither null nor an object", lc)
		}
		assertCheckShape(t, c)
	}
}

func assertCheckShape(t testing.TB, c map[string]any) {
	t.Helper()
	if got := keysOf(c); !slices.Equal(got, checkMembers) {
		t.Fatalf("check members %v, want %v", got, checkMembers)
	}
	if o := c["outcome"]; !slices.Contains([]any{"valid", "revoked", "denied", "error"}, o) {
		t.Errorf("outcome %v", o)
	}
	for _, k := range []string{"http_status", "latency_ms"} {
		if _, ok := c[k].(float64); !ok {
			t.Errorf("%s %v is not a number", k, c[k])
		}
	}
}

func idOf(m map[string]any) int64 { f, _ := m["id"].(float64); return int64(f) }

// TestAPIKeys drives every endpoint of the JSON API through a key's life, checking the exact
// representation, and that no key leaves the server.
func TestAPIKeys(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{})
	rw := e.token(t, "automation", false)
	api := e.API(t, rw)

	list := api.Do(http.MethodGet, "/api/v1/keys", "").Expect(http.StatusOK).Object()
	if string(mustJSON(t, list["keys"])) != "[]" || list["total"] != 0.0 || list["limit"] != 100.0 || list["offset"] != 0.0 {
		t.Fatalf("empty list = %v, want keys [], total 0, limit 100, offset 0", list)
	}

	e.Fake.Set("billing@acme.com", apiKeyA, staxfake.Valid)
	e.Fake.Set("ops@acme.com", apiKeyB, staxfake.Denied)
	r := api.Do(http.MethodPost, "/api/v1/keys", `{"label":"Billing","email":"billing@acme.com","key":"`+apiKeyA+`"}`).Expect(http.StatusCreated)
	a := r.Object()
	assertKeyShape(t, a)
	if a["label"] != "Billing" || a["email"] != "billing@acme.com" || a["key_hint"] != apiKeyA[len(apiKeyA)-4:] ||
		a["verdict"] != "pending" || a["verdict_at"] != nil || a["last_check"] != nil {
		t.Errorf("created pair %v", a)
	}
	if loc := r.Header.Get("Location"); loc != "/api/v1/keys/"+strconv.FormatInt(idOf(a), 10) {
		t.Errorf("Location %q", loc)
	}
	// A charset parameter is still JSON.
	b := api.Do(http.MethodPost, "/api/v1/keys", `{"email":"ops@acme.com","key":"`+apiKeyB+`"}`,
		"Content-Type", "application/json; charset=utf-8").Expect(http.StatusCreated).Object()
	if b["label"] != "" {
		t.Errorf("label of a pair created without one: %v", b["label"])
	}
	idA, idB := strconv.FormatInt(idOf(a), 10), strconv.FormatInt(idOf(b), 10)

	t.Run("get", func(t *testing.T) {
		api := e.API(t, rw)
		got := api.Do(http.MethodGet, "/api/v1/keys/"+idA, "").Expect(http.StatusOK).Object()
		assertKeyShape(t, got)
		if !jsonEqual(t, got, a) {
			t.Errorf("GET = %v, want what POST answered %v", got, a)
		}
	})

	t.Run("check", func(t *testing.T) {
		api := e.API(t, rw)
		got := api.Do(http.MethodPost, "/api/v1/keys/"+idA+"/check", "").Expect(http.StatusOK).Object()
		assertKeyShape(t, got)
		lc, _ := got["last_check"].(map[string]any)
		if got["verdict"] != "valid" || got["verdict_at"] == nil || lc["outcome"] != "valid" || lc["http_status"] != float64(200) {
			t.Errorf("after a check: %v", got)
		}
		got = api.Do(http.MethodPost, "/api/v1/keys/"+idB+"/check", "").Expect(http.StatusOK).Object()
		if lc, _ := got["last_check"].(map[string]any); got["verdict"] != "denied" || lc["http_status"] != float64(403) {
			t.Errorf("after a check of a denied key: %v", got)
		}
		if n := e.Fake.RequestsFor(apiKeyA); n != 1 {
			t.Errorf("%d requests to the fake for key A, want 1", n)
		}
		// The headers reached Stax.ai exactly as stored.
		h := e.Fake.LastHeaders(apiKeyA)
		if h.Get("Authorization") != "Bearer "+apiKeyA || h.Get("Email") != "billing@acme.com" {
			t.Errorf("the fake saw Authorization %q, Email %q", h.Get("Authorization"), h.Get("Email"))
		}
	})

	t.Run("checks", func(t *testing.T) {
		api := e.API(t, rw)
		api.Do(http.MethodPost, "/api/v1/keys/"+idA+"/check", "").Expect(http.StatusOK)
		got := api.Do(http.MethodGet, "/api/v1/keys/"+idA+"/checks", "").Expect(http.StatusOK).Object()
		if keys := keysOf(got); !slices.Equal(keys, []string{"checks"}) {
			t.Fatalf("members %v", keys)
		}
		checks, _ := got["checks"].([]any)
		if len(checks) != 2 {
			t.Fatalf("%d checks, want 2: %s", len(checks), mustJSON(t, got))
		}
		var times []time.Time
		for _, c := range checks {
			m := c.(map[string]any)
			assertCheckShape(t, m)
			if m["outcome"] != "valid" || m["http_status"] != float64(200) {
				t.Errorf("check %v", m)
			}
			at, _ := time.Parse(time.RFC3339Nano, m["at"].(string))
			times = append(times, at)
		}
		if times[0].Before(times[1]) {
			t.Errorf("checks not newest first: %v", times)
		}
		one := api.Do(http.MethodGet, "/api/v1/keys/"+idA+"/checks?limit=1", "").Expect(http.StatusOK).Object()
		if n := len(one["checks"].([]any)); n != 1 {
			t.Errorf("limit=1 gave %d checks", n)
		}
		for _, bad := range []string{"0", "1001", "x", "-1"} {
			api.Do(http.MethodGet, "/api/v1/keys/"+idA+"/checks?limit="+bad, "").ExpectError(http.StatusUnprocessableEntity, "limit")
		}
	})

	t.Run("list", func(t *testing.T) {
		api := e.API(t, rw)
		got := api.Do(http.MethodGet, "/api/v1/keys", "").Expect(http.StatusOK).Object()
		keys, _ := got["keys"].([]any)
		if len(keys) != 2 || got["total"] != float64(2) {
			t.Fatalf("list %s", mustJSON(t, got))
		}
		for _, k := range keys {
			assertKeyShape(t, k.(map[string]any))
		}
		for q, want := range map[string][]int64{
			"?status=valid": {idOf(a)}, "?status=denied": {idOf(b)}, "?status=revoked": nil,
			"?q=OPS": {idOf(b)}, "?sort=label": {idOf(b), idOf(a)}, "?sort=-label": {idOf(a), idOf(b)},
			"?sort=label&limit=1": {idOf(b)}, "?sort=label&limit=1&offset=1": {idOf(a)},
		} {
			got := api.Do(http.MethodGet, "/api/v1/keys"+q, "").Expect(http.StatusOK).Object()
			var ids []int64
			for _, k := range got["keys"].([]any) {
				ids = append(ids, idOf(k.(map[string]any)))
			}
			if !slices.Equal(ids, want) {
				t.Errorf("GET /api/v1/keys%s = %v, want %v", q, ids, want)
			}
		}
		for q, field := range map[string]string{"?status=bogus": "status", "?sort=bogus": "sort", "?limit=x": "limit",
			"?limit=0": "limit", "?limit=1001": "limit", "?offset=-1": "offset"} {
			api.Do(http.MethodGet, "/api/v1/keys"+q, "").ExpectError(http.StatusUnprocessableEntity, field)
		}
	})

	t.Run("status", func(t *testing.T) {
		api := e.API(t, rw)
		got := api.Do(http.MethodGet, "/api/v1/status", "").Expect(http.StatusOK).Object()
		counts, _ := got["counts"].(map[string]any)
		want := map[string]any{"pending": 0.0, "valid": 1.0, "revoked": 0.0, "denied": 1.0, "undecided": 0.0, "total": 2.0}
		if !jsonEqual(t, counts, want) {
			t.Errorf("counts %v, want %v", counts, want)
		}
		chk, _ := got["checker"].(map[string]any)
		if chk["outage"] != false || chk["running"] != false || chk["interval_seconds"] != 900.0 {
			t.Errorf("checker %v", chk)
		}
	})

	t.Run("patch", func(t *testing.T) {
		api := e.API(t, rw)
		before := api.Do(http.MethodGet, "/api/v1/keys/"+idA, "").Expect(http.StatusOK).Object()
		got := api.Do(http.MethodPatch, "/api/v1/keys/"+idA, `{"label":"Billing (EU)"}`).Expect(http.StatusOK).Object()
		assertKeyShape(t, got)
		if got["label"] != "Billing (EU)" || got["email"] != before["email"] || got["verdict"] != "valid" ||
			got["key_hint"] != before["key_hint"] || got["last_check"] == nil {
			t.Errorf("after a label change: %v", got)
		}
		if e.storedKey(t, idOf(a)) != apiKeyA {
			t.Error("a label change touched the key")
		}
		// A new key starts over: pending, a new hint, and it is what the vault opens.
		got = api.Do(http.MethodPatch, "/api/v1/keys/"+idA, `{"key":" `+apiKeyC+` "}`).Expect(http.StatusOK).Object()
		if got["verdict"] != "pending" || got["key_hint"] != apiKeyC[len(apiKeyC)-4:] || got["label"] != "Billing (EU)" {
			t.Errorf("after a key change: %v", got)
		}
		if k := e.storedKey(t, idOf(a)); k != apiKeyC {
			t.Errorf("the vault opens %q, want the new key", k)
		}
		api.Do(http.MethodPatch, "/api/v1/keys/"+idA, `{"key":"  "}`).ExpectError(http.StatusUnprocessableEntity, "key")
		api.Do(http.MethodPatch, "/api/v1/keys/"+idA, `{"email":"nope"}`).ExpectError(http.StatusUnprocessableEntity, "email")
		// Taking another pair's email and key is a conflict.
		api.Do(http.MethodPatch, "/api/v1/keys/"+idA, `{"email":"ops@acme.com","key":"`+apiKeyB+`"}`).
			ExpectError(http.StatusConflict, "key")
		// An empty patch changes nothing.
		same := api.Do(http.MethodPatch, "/api/v1/keys/"+idA, `{}`).Expect(http.StatusOK).Object()
		if same["label"] != "Billing (EU)" || same["email"] != "billing@acme.com" {
			t.Errorf("after an empty patch: %v", same)
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		api := e.API(t, rw)
		api.Do(http.MethodPost, "/api/v1/keys", `{"email":"OPS@acme.com","key":"`+apiKeyB+`"}`).ExpectError(http.StatusConflict, "key")
	})

	t.Run("delete", func(t *testing.T) {
		api := e.API(t, rw)
		r := api.Do(http.MethodDelete, "/api/v1/keys/"+idB, "").Expect(http.StatusNoContent)
		if len(r.Body) != 0 {
			t.Errorf("204 with a body: %q", r.Body)
		}
		api.Do(http.MethodGet, "/api/v1/keys/"+idB, "").ExpectError(http.StatusNotFound, "")
		api.Do(http.MethodDelete, "/api/v1/keys/"+idB, "").ExpectError(http.StatusNotFound, "")
		if n := api.Do(http.MethodGet, "/api/v1/keys", "").Expect(http.StatusOK).Object()["total"]; n != 1.0 {
			t.Errorf("total %v after the delete", n)
		}
	})

	t.Run("unknown id", func(t *testing.T) {
		api := e.API(t, rw)
		for _, path := range []string{"/api/v1/keys/999", "/api/v1/keys/0", "/api/v1/keys/-1", "/api/v1/keys/abc", "/api/v1/keys/1e3"} {
			api.Do(http.MethodGet, path, "").ExpectError(http.StatusNotFound, "")
			api.Do(http.MethodPatch, path, `{"label":"x"}`).ExpectError(http.StatusNotFound, "")
			api.Do(http.MethodDelete, path, "").ExpectError(http.StatusNotFound, "")
			api.Do(http.MethodPost, path+"/check", "").ExpectError(http.StatusNotFound, "")
			api.Do(http.MethodGet, path+"/checks", "").ExpectError(http.StatusNotFound, "")
		}
		api.Do(http.MethodGet, "/api/v1/nothing", "").ExpectError(http.StatusNotFound, "")
		// An unrouted method: echo's catch-all of the group answers 404 rather than 405.
		if r := api.Do(http.MethodPut, "/api/v1/keys/"+idA, `{}`); r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed {
			t.Errorf("PUT: status %d", r.Status)
		} else {
			r.ExpectError(r.Status, "")
		}
	})

	// Every body and the whole log (request lines, checker lines at debug level) stay free of
	// keys and tokens.
	e.AssertNeverShown(t, apiKeyA, apiKeyB, apiKeyC, rw)
	if !strings.Contains(e.Log.String(), `msg=request method=POST path=/api/v1/keys status=201`) {
		t.Errorf("no request line for the POST in the log:\n%s", e.Log.String())
	}
}

// TestAPIAuthentication covers who may call the API: no token, bad tokens, revoked tokens and
// read-only tokens, and tokens made in the UI.
func TestAPIAuthentication(t *testing.T) {
	// A fake clock, so the bad-token throttle can be aged out between cases.
	e := newCheckedEnv(t, checkedOptions{FakeClock: true})
	rw := e.token(t, "automation", false)
	ro := e.token(t, "grafana", true)
	revoked := e.token(t, "old script", false)
	tokens, err := e.DB.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DB.RevokeToken(context.Background(), tokens[0].ID); err != nil { // newest first: "old script"
		t.Fatal(err)
	}
	p := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	id := strconv.FormatInt(p.ID, 10)

	endpoints := []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/keys", ""},
		{http.MethodPost, "/api/v1/keys", `{"email":"new@acme.com","key":"` + apiKeyB + `"}`},
		{http.MethodGet, "/api/v1/keys/" + id, ""},
		{http.MethodPatch, "/api/v1/keys/" + id, `{"label":"x"}`},
		{http.MethodDelete, "/api/v1/keys/" + id, ""},
		{http.MethodPost, "/api/v1/keys/" + id + "/check", ""},
		{http.MethodGet, "/api/v1/keys/" + id + "/checks", ""},
		{http.MethodGet, "/api/v1/status", ""},
	}
	wrong := apitoken.Scheme + strings.Repeat("A", 43) // well formed, never issued
	for _, tc := range []struct {
		name, header string
	}{
		{"no token", ""},
		{"wrong token", "Bearer " + wrong},
		{"malformed token", "Bearer not-a-token"},
		{"revoked token", "Bearer " + revoked},
		{"token with a changed character", "Bearer " + rw[:len(rw)-1] + flip(rw[len(rw)-1])},
		{"basic auth", "Basic dXNlcjpwYXNz"},
		{"empty bearer", "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.Clock.Advance(16 * time.Minute) // past the bad-token throttle of the case before
			api := e.API(t, "")
			for _, ep := range endpoints {
				r := api.Do(ep.method, ep.path, ep.body, "Authorization", tc.header)
				r.ExpectError(http.StatusUnauthorized, "")
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s %s: WWW-Authenticate %q", ep.method, ep.path, r.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	if _, err := e.DB.KeyByID(context.Background(), p.ID); err != nil {
		t.Fatalf("a refused request changed something: %v", err)
	}

	t.Run("read-only token", func(t *testing.T) {
		api := e.API(t, ro)
		for _, ep := range endpoints {
			r := api.Do(ep.method, ep.path, ep.body)
			if ep.method == http.MethodGet {
				r.Expect(http.StatusOK)
			} else {
				r.ExpectError(http.StatusForbidden, "")
			}
		}
		got, err := e.DB.KeyByID(context.Background(), p.ID)
		if err != nil || got.Label != "Billing" || got.LastCheck != nil {
			t.Errorf("a read-only token changed the pair: %+v, %v", got, err)
		}
		if n, _ := e.DB.CountKeys(context.Background()); n.Total != 1 {
			t.Errorf("%d pairs after read-only writes", n.Total)
		}
	})

	t.Run("read-write token", func(t *testing.T) {
		api := e.API(t, rw)
		for _, ep := range endpoints {
			want := map[string]int{http.MethodGet: http.StatusOK, http.MethodPost: http.StatusOK, http.MethodPatch: http.StatusOK, http.MethodDelete: http.StatusNoContent}[ep.method]
			if ep.path == "/api/v1/keys" && ep.method == http.MethodPost {
				want = http.StatusCreated
			}
			if ep.method == http.MethodDelete {
				continue // keep the pair for the calls after it; delete is covered in TestAPIKeys
			}
			api.Do(ep.method, ep.path, ep.body).Expect(want)
		}
		tokens, _ := e.DB.ListTokens(context.Background())
		for _, tk := range tokens {
			if tk.Name == "automation" && tk.LastUsedAt.IsZero() {
				t.Error("the token's use was not recorded")
			}
		}
	})

	t.Run("token made in the UI", func(t *testing.T) {
		c := e.LoggedIn(t)
		page := c.Submit("/tokens", url.Values{"name": {"made in UI"}, "read_only": {"1"}, "your_password": {AdminPassword}}).Expect(http.StatusCreated)
		tok := strings.TrimSpace(page.TestID("new-token").Find("code").Text())
		if !strings.HasPrefix(tok, apitoken.Scheme) {
			t.Fatalf("no token on the page: %q", page.Text("new-token"))
		}
		if cc := page.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("the token page has Cache-Control %q", cc)
		}
		api := e.API(t, tok)
		api.Do(http.MethodGet, "/api/v1/status", "").Expect(http.StatusOK)
		api.Do(http.MethodPost, "/api/v1/keys/"+id+"/check", "").ExpectError(http.StatusForbidden, "")
		// The list shows the token's prefix, never the token.
		list := c.Get("/tokens").Expect(http.StatusOK)
		if strings.Contains(list.HTML, tok) {
			t.Error("the token list shows a whole token")
		}
		if n := list.TestID("token-row").Length(); n != 4 {
			t.Errorf("%d token rows, want 4", n)
		}
		var newest domain.Token
		if all, _ := e.DB.ListTokens(context.Background()); len(all) > 0 {
			newest = all[0]
		}
		submitForm(t, c, list, fmt.Sprintf(`form[action="/tokens/%d/revoke"]`, newest.ID), nil).ExpectRedirect("/tokens")
		api.Do(http.MethodGet, "/api/v1/status", "").ExpectError(http.StatusUnauthorized, "")
	})

	e.AssertNeverShown(t, apiKeyA, apiKeyB, rw, ro, revoked)
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestAPIBodies sends every kind of wrong body; each answer names what to fix, and nothing is
// stored.
func TestAPIBodies(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{})
	api := e.API(t, e.token(t, "automation", false))
	p := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	patchPath := "/api/v1/keys/" + strconv.FormatInt(p.ID, 10)
	good := `"email":"new@acme.com","key":"` + apiKeyB + `"`

	for _, tc := range []struct {
		name   string
		body   string
		ctype  string // "" means application/json
		status int
		field  string
	}{
		{"label not a string", `{"label":5,` + good + `}`, "", 422, "label"},
		{"email not a string", `{"email":["a@b.co"],"key":"` + apiKeyB + `"}`, "", 422, "email"},
		{"key an object", `{"email":"new@acme.com","key":{"k":"v"}}`, "", 422, "key"},
		{"key a boolean", `{"email":"new@acme.com","key":true}`, "", 422, "key"},
		{"unknown field", `{"labl":"x",` + good + `}`, "", 422, "labl"},
		{"duplicate member", `{"label":"a","label":"b",` + good + `}`, "", 422, "label"},
		{"duplicate key member", `{` + good + `,"key":"` + apiKeyC + `"}`, "", 422, "key"},
		{"missing key", `{"email":"new@acme.com"}`, "", 422, "key"},
		{"missing email", `{"key":"` + apiKeyB + `"}`, "", 422, "email"},
		{"bad email", `{"email":"not an email","key":"` + apiKeyB + `"}`, "", 422, "email"},
		{"header injection in the email", `{"email":"a@b.co\r\nX-Evil: 1","key":"` + apiKeyB + `"}`, "", 422, "email"},
		{"short key", `{"email":"new@acme.com","key":"short"}`, "", 422, "key"},
		{"key with a space", `{"email":"new@acme.com","key":"sk_live with space 123"}`, "", 422, "key"},
		{"label too long", `{"label":"` + strings.Repeat("x", 101) + `",` + good + `}`, "", 422, "label"},
		{"trailing data", `{` + good + `} {}`, "", 400, ""},
		{"trailing garbage", `{` + good + `}x`, "", 400, ""},
		{"array", `[{` + good + `}]`, "", 400, ""},
		{"string", `"hello"`, "", 400, ""},
		{"JSON null", `null`, "", 400, ""},
		{"empty body", ``, "", 400, ""},
		{"invalid JSON", `{"email": }`, "", 400, ""},
		{"unterminated", `{` + good, "", 400, ""},
		{"invalid UTF-8 in a value", "{\"label\":\"\xff\"," + good + "}", "", 422, "label"},
		{"null", `{"label":null,` + good + `}`, "", 422, "label"},
		{"number for the key", `{"email":"new@acme.com","key":1234567890123456789}`, "", 422, "key"},
		{"text/plain", `{` + good + `}`, "text/plain", 415, ""},
		{"form", `email=new%40acme.com`, "application/x-www-form-urlencoded", 415, ""},
		{"no content type", `{` + good + `}`, "-", 415, ""},
		{"just over 64 KiB", `{"label":"` + strings.Repeat("x", 64<<10) + `",` + good + `}`, "", 413, ""},
		{"over the server's body limit", `{"label":"` + strings.Repeat("x", 300<<10) + `"}`, "", 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := e.API(t, api.token)
			ct := "application/json"
			switch tc.ctype {
			case "-":
				ct = ""
			case "":
			default:
				ct = tc.ctype
			}
			api.Do(http.MethodPost, "/api/v1/keys", tc.body, "Content-Type", ct).ExpectError(tc.status, tc.field)
			if tc.status == 422 && tc.field != "" && (tc.field == "label" || tc.name == "unknown field" || strings.HasPrefix(tc.name, "duplicate")) {
				// PATCH reads bodies the same way.
				api.Do(http.MethodPatch, patchPath, tc.body, "Content-Type", ct).ExpectError(tc.status, tc.field)
			}
		})
	}
	if n, _ := e.DB.CountKeys(context.Background()); n.Total != 1 {
		t.Errorf("%d pairs after refused bodies, want 1", n.Total)
	}
	if got, _ := e.DB.KeyByID(context.Background(), p.ID); got.Label != "Billing" || got.Email != "billing@acme.com" {
		t.Errorf("a refused PATCH changed the pair: %+v", got)
	}
	// Exactly 64 KiB is still accepted (the label check then refuses the label, not the size).
	body := `{"label":"` + strings.Repeat("x", 64<<10-len(`{"label":""}`)) + `"}`
	if len(body) != 64<<10 {
		t.Fatalf("body is %d bytes", len(body))
	}
	api.Do(http.MethodPatch, patchPath, body).ExpectError(http.StatusUnprocessableEntity, "label")
	e.AssertNeverShown(t, apiKeyA, apiKeyB, apiKeyC)
}

// TestAPIBadTokenFlood: after many bad tokens from one address, the API answers 429 with
// Retry-After to everyone there until the failures age out.
func TestAPIBadTokenFlood(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{FakeClock: true})
	good := e.token(t, "automation", false)
	bad := e.API(t, apitoken.Scheme+strings.Repeat("b", 43))
	for i := range 20 {
		if r := bad.Do(http.MethodGet, "/api/v1/keys", ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("bad token %d: status %d, want 401", i+1, r.Status)
		}
	}
	for _, tok := range []string{apitoken.Scheme + strings.Repeat("b", 43), good} {
		r := e.API(t, tok).Do(http.MethodGet, "/api/v1/keys", "")
		r.ExpectError(http.StatusTooManyRequests, "")
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 16*60 {
			t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
		}
	}
	// /healthz/keys is no way around it.
	r := e.API(t, good).Do(http.MethodGet, "/healthz/keys", "")
	r.ExpectError(http.StatusTooManyRequests, "")
	// Health endpoints without a token still answer.
	e.API(t, "").Do(http.MethodGet, "/healthz/keys", "").Expect(http.StatusOK)

	e.Clock.Advance(16 * time.Minute)
	e.API(t, good).Do(http.MethodGet, "/api/v1/keys", "").Expect(http.StatusOK)
}

// TestAPIDatabaseDown closes the database under the running server: the API answers a JSON
// 500 that tells nothing of the cause, the log has it, and /healthz says 503 once its cached
// probe (one second) runs out.
func TestAPIDatabaseDown(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{FakeClock: true})
	tok := e.token(t, "automation", false)
	api := e.API(t, tok)
	api.Do(http.MethodGet, "/api/v1/keys", "").Expect(http.StatusOK)
	api.Do(http.MethodGet, "/healthz", "").Expect(http.StatusOK)
	if err := e.DB.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/keys", ""},
		{http.MethodPost, "/api/v1/keys", `{"email":"a@acme.com","key":"` + apiKeyA + `"}`},
		{http.MethodGet, "/api/v1/status", ""},
	} {
		r := api.Do(ep.method, ep.path, ep.body)
		r.ExpectError(http.StatusInternalServerError, "")
		for _, internal := range []string{"sql", "database is closed", "store:"} {
			if bytes.Contains(r.Body, []byte(internal)) {
				t.Errorf("%s %s shows %q: %s", ep.method, ep.path, internal, r.Body)
			}
		}
		if r.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", ep.method, ep.path)
		}
	}
	if !strings.Contains(e.Log.String(), "database is closed") {
		t.Errorf("the cause is not logged:\n%s", e.Log.String())
	}

	// Within the second the cached probe still says ok; after it, 503 names the database.
	api.Do(http.MethodGet, "/healthz", "").Expect(http.StatusOK)
	e.Clock.Advance(1100 * time.Millisecond)
	r := api.Do(http.MethodGet, "/healthz", "").Expect(http.StatusServiceUnavailable)
	if got := r.Object(); got["status"] != "fail" || !slices.Contains(got["failing"].([]any), any("database")) {
		t.Errorf("/healthz = %s", r.Body)
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonEqual compares two values as JSON documents.
func jsonEqual(t testing.TB, a, b any) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(mustJSON(t, a), &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mustJSON(t, b), &y); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(mustJSON(t, x), mustJSON(t, y))
}

// TestAPICheckWhilePaused: after Stax.ai answered 429 the checker pauses, and a check asked for
// meanwhile answers 429 with the Retry-After left, by the server's clock.
func TestAPICheckWhilePaused(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{FakeClock: true})
	api := e.API(t, e.token(t, "automation", false))
	p := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.RateLimited)
	path := "/api/v1/keys/" + itoa(p.ID) + "/check"

	got := api.Do(http.MethodPost, path, "").Expect(http.StatusOK).Object()
	lc, _ := got["last_check"].(map[string]any)
	if got["verdict"] != "pending" || lc["outcome"] != "error" || lc["http_status"] != 429.0 {
		t.Errorf("after a 429: %v", got)
	}
	r := api.Do(http.MethodPost, path, "")
	r.ExpectError(http.StatusTooManyRequests, "")
	if ra := r.Header.Get("Retry-After"); ra != "31" {
		t.Errorf("Retry-After %q, want 31 (30 s left, rounded up)", ra)
	}
	st, _ := api.Do(http.MethodGet, "/api/v1/status", "").Expect(http.StatusOK).Object()["checker"].(map[string]any)
	if st["paused_until"] != t0.Add(30*time.Second).Format(time.RFC3339) {
		t.Errorf("paused_until %v", st["paused_until"])
	}
	if n := e.Fake.Requests(); n != 1 {
		t.Errorf("%d requests reached Stax.ai during the pause, want 1", n)
	}

	e.Clock.Advance(31 * time.Second)
	e.CheckerClock.Advance(31 * time.Second)
	e.Fake.Set("billing@acme.com", apiKeyA, staxfake.Valid)
	if got := api.Do(http.MethodPost, path, "").Expect(http.StatusOK).Object(); got["verdict"] != "valid" {
		t.Errorf("after the pause: %v", got)
	}
}
