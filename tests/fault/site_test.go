package fault

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	_ "modernc.org/sqlite"

	"github.com/staxkeys/staxkeys/tests/systest"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse battery staple"
	// waitLimit bounds every wait; far longer than a healthy run needs, so only a stuck test
	// reaches it. The outage probe comes 15 s after an outage begins, hence the margin.
	waitLimit = 60 * time.Second
)

// site is one running staxkeys with a logged-in browser and an API token.
type site struct {
	t       *testing.T
	ctx     context.Context
	dir     string
	env     map[string]string
	prog    *systest.Program
	browser *systest.Browser
	api     *systest.API
	// revokedOK are pairs a test revoked on purpose: the cleanup's "nothing revoked" check
	// leaves them out.
	revokedOK []int64
	// badAnswersOK says the test had Stax.ai itself answer revoked (an upstream-wide flip): its
	// checks may say so, as long as no verdict followed.
	badAnswersOK bool
}

// newSite starts the whole program on a fresh data directory, checking keys at apiURL.
// Checks time out after 1 s (short, yet far above a local answer even on a busy CI machine,
// where 200 ms was seen to be exceeded) and come due only when a pair is new or an admin asks
// (the interval is an hour), so every check in a test is one the test caused.
func newSite(t *testing.T, apiURL string, settings map[string]string) *site {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	env := map[string]string{
		"STAXKEYS_DATA_DIR":          dir,
		"STAXKEYS_API_URL":           apiURL,
		"STAXKEYS_CHECK_TIMEOUT":     "1s",
		"STAXKEYS_CHECK_INTERVAL":    "1h",
		"STAXKEYS_CHECK_RATE":        "0",
		"STAXKEYS_CHECK_CONCURRENCY": "4",
		"STAXKEYS_LOG_LEVEL":         "debug",
	}
	for k, v := range settings {
		env[k] = v
	}
	if err := systest.CreateAdmin(ctx, "", env, adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	tok, err := systest.CreateToken(ctx, "", env, "faults")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := systest.Start(ctx, systest.Options{Env: env, Args: []string{"--addr", "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &site{t: t, ctx: ctx, dir: dir, env: env, prog: prog,
		browser: systest.NewBrowser(prog.URL, nil), api: systest.NewAPI(prog.URL, tok, nil)}
	t.Cleanup(func() {
		if err := prog.Stop(); err != nil {
			t.Errorf("the server did not stop cleanly: %v", err)
		}
		s.assertCleanLog()
		if os.Getenv("FAULTTEST_LOG") != "" {
			t.Logf("log:\n%s", prog.Log.String())
		}
		s.assertNothingRevokedOrDenied()
	})
	if err := s.browser.Login(ctx, adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	return s
}

// add registers a pair through the API.
func (s *site) add(label, email, key string) systest.Key {
	s.t.Helper()
	p, err := s.api.Add(s.ctx, label, email, key)
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *site) pairs() []systest.Key {
	s.t.Helper()
	ps, err := s.api.Keys(s.ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	return ps
}

func (s *site) pair(id int64) systest.Key {
	s.t.Helper()
	p, err := s.api.Pair(s.ctx, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

// checkAll presses "Check all" on the dashboard.
func (s *site) checkAll() {
	s.t.Helper()
	if _, err := s.browser.Get(s.ctx, "/"); err != nil {
		s.t.Fatal(err)
	}
	r, err := s.browser.Post(s.ctx, "/keys/check-all", nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if r.Status != http.StatusSeeOther {
		s.t.Fatalf("check all answered %d: %.300s", r.Status, r.Body)
	}
}

// readiness is what /readyz says of the upstream.
type readiness struct {
	HTTPStatus int
	Status     string            `json:"status"`
	Checks     map[string]string `json:"checks"`
	Upstream   struct {
		Outage      bool       `json:"outage"`
		Since       *time.Time `json:"since"`
		PausedUntil *time.Time `json:"paused_until"`
	} `json:"upstream"`
}

func (s *site) readyz() readiness {
	s.t.Helper()
	r, err := s.browser.Get(s.ctx, "/readyz")
	if err != nil {
		s.t.Fatal(err)
	}
	var rd readiness
	if err := json.Unmarshal(r.Body, &rd); err != nil {
		s.t.Fatalf("/readyz is not JSON: %v: %s", err, r.Body)
	}
	rd.HTTPStatus = r.Status
	return rd
}

// dashboard fetches the dashboard and returns its document and how long it took.
func (s *site) dashboard() (*goquery.Document, time.Duration) {
	s.t.Helper()
	r, err := s.browser.Get(s.ctx, "/")
	if err != nil {
		s.t.Fatal(err)
	}
	if r.Status != http.StatusOK {
		s.t.Fatalf("GET / answered %d", r.Status)
	}
	doc, err := r.Doc()
	if err != nil {
		s.t.Fatal(err)
	}
	return doc, r.Elapsed
}

func (s *site) banner(testid string) bool {
	s.t.Helper()
	doc, _ := s.dashboard()
	return doc.Find(`[data-testid="`+testid+`"]`).Length() > 0
}

// waitFor polls cond until it holds, failing the test with what it last said after waitLimit.
func (s *site) waitFor(what string, cond func() (bool, string)) {
	s.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %v for %s; last state: %s\nlog tail:\n%s", waitLimit, what, state, tail(s.prog.Log.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitVerdicts waits until every pair holds want with a last check of outcome.
func (s *site) waitVerdicts(want, outcome string) {
	s.t.Helper()
	s.waitFor(fmt.Sprintf("every pair %s after a %s check", want, outcome), func() (bool, string) {
		ps := s.pairs()
		var state []string
		ok := len(ps) > 0
		for _, p := range ps {
			got := "none"
			if p.LastCheck != nil {
				got = p.LastCheck.Outcome
			}
			state = append(state, fmt.Sprintf("%d:%s/%s", p.ID, p.Verdict, got))
			if p.Verdict != want || got != outcome {
				ok = false
			}
		}
		return ok, strings.Join(state, " ")
	})
}

func (s *site) waitOutage(want bool) {
	s.t.Helper()
	s.waitFor(fmt.Sprintf("/readyz to report outage=%v", want), func() (bool, string) {
		rd := s.readyz()
		return rd.Upstream.Outage == want, fmt.Sprintf("%+v", rd)
	})
}

// assertNothingRevokedOrDenied reads the database itself: no check ever said revoked or
// denied, and no verdict ever changed to either.
func (s *site) assertNothingRevokedOrDenied() {
	s.t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.dir, "staxkeys.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	ok, err := json.Marshal(append([]int64{}, s.revokedOK...))
	if err != nil {
		s.t.Fatal(err)
	}
	const others = " AND pair_id NOT IN (SELECT value FROM json_each(?))"
	for what, q := range map[string]string{
		"checks":  "SELECT count(*) FROM checks WHERE outcome IN ('revoked', 'denied')" + others,
		"events":  "SELECT count(*) FROM events WHERE new_verdict IN ('revoked', 'denied')" + others,
		"pairs":   "SELECT count(*) FROM pairs WHERE verdict IN ('revoked', 'denied') AND id NOT IN (SELECT value FROM json_each(?))",
		"changes": "SELECT count(*) FROM events WHERE old_verdict <> 'pending'" + others,
	} {
		if what == "checks" && s.badAnswersOK {
			continue
		}
		var n int
		if err := db.QueryRow(q, string(ok)).Scan(&n); err != nil {
			s.t.Fatalf("%s: %v", what, err)
		}
		if n != 0 {
			s.t.Errorf("%d %s say revoked or denied, or a verdict changed after it was first decided", n, what)
		}
	}
}

// assertCleanLog fails on server errors and panics in the log: faults upstream are warnings.
func (s *site) assertCleanLog() {
	s.t.Helper()
	for _, line := range strings.Split(s.prog.Log.String(), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "panic") {
			s.t.Errorf("log: %s", line)
		}
	}
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
