package web_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// TestHealthz: liveness answers a fixed body, cheaply, and names the database when it fails.
func TestHealthz(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{FakeClock: true})
	api := e.API(t, "")
	r := api.Do(http.MethodGet, "/healthz", "").Expect(http.StatusOK)
	if string(r.Body) != `{"status":"ok"}`+"\n" {
		t.Errorf("body %q", r.Body)
	}
	for name, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := r.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	// The database is asked at most once a second, however often /healthz is polled.
	e.DB.Close()
	for range 50 {
		api.Do(http.MethodGet, "/healthz", "").Expect(http.StatusOK)
	}
	e.Clock.Advance(time.Second)
	r = api.Do(http.MethodGet, "/healthz", "").Expect(http.StatusServiceUnavailable)
	if string(r.Body) != `{"status":"fail","failing":["database"]}`+"\n" {
		t.Errorf("body %q", r.Body)
	}
	// Only GET is answered outside the router.
	if r := api.Do(http.MethodPost, "/healthz", ""); r.Status == http.StatusOK {
		t.Error("POST /healthz answered 200")
	}
}

// TestReadyz: ready only when the database is the one opened, with its schema, and takes a
// write, the master key opens it, migrations are current, the checker's loop beats and the
// server is not draining; an upstream outage is reported beside, without making staxkeys unready.
func TestReadyz(t *testing.T) {
	type body struct {
		status   int
		checks   map[string]any
		upstream map[string]any
	}
	get := func(t *testing.T, e *checkedEnv) body {
		t.Helper()
		r := e.API(t, "").Do(http.MethodGet, "/readyz", "")
		m := r.Object()
		want := "ok"
		if r.Status != http.StatusOK {
			want = "fail"
		}
		if m["status"] != want {
			t.Errorf("status %d with body status %v", r.Status, m["status"])
		}
		checks, _ := m["checks"].(map[string]any)
		upstream, _ := m["upstream"].(map[string]any)
		for _, k := range []string{"database", "master_key", "migrations", "checker", "shutdown"} {
			if _, ok := checks[k]; !ok {
				t.Errorf("checks lack %q: %s", k, r.Body)
			}
		}
		return body{r.Status, checks, upstream}
	}
	running := func(t *testing.T, o checkedOptions) *checkedEnv {
		o.FakeClock = true
		e := newCheckedEnv(t, o)
		e.run(t)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := e.CheckerClock.BlockUntil(ctx, 1); err != nil { // the scheduler is idle
			t.Fatal(err)
		}
		return e
	}

	t.Run("ready", func(t *testing.T) {
		e := running(t, checkedOptions{})
		b := get(t, e)
		if b.status != http.StatusOK || b.upstream["outage"] != false {
			t.Fatalf("%+v", b)
		}
		for k, v := range b.checks {
			if v != "ok" {
				t.Errorf("%s: %v", k, v)
			}
		}
	})

	// An empty server's scheduler sleeps until the hourly prune; readiness used to go 503 half
	// an hour in ("last cycle finished 31m ago"). With Watch beating, it stays ready all hour.
	t.Run("empty server stays ready", func(t *testing.T) {
		e := running(t, checkedOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go e.Checker.Watch(ctx, time.Second, nil)
		for step := range 6 * 60 { // an hour in heartbeat steps
			blockUntil(t, e.CheckerClock, 2) // the scheduler and Watch, both asleep
			e.CheckerClock.Advance(checker.HeartbeatEvery)
			e.Clock.Advance(checker.HeartbeatEvery)
			if step%30 == 29 { // every 5 minutes
				waitBeat(t, e)
				if b := get(t, e); b.status != http.StatusOK {
					t.Fatalf("%v into an empty server's hour: %+v", time.Duration(step+1)*checker.HeartbeatEvery, b)
				}
			}
		}
	})

	// A loop that does not turn (stuck, or asleep with nothing to wake it) stops being ready
	// after checker.HeartbeatStale.
	t.Run("no heartbeat", func(t *testing.T) {
		e := running(t, checkedOptions{})
		e.CheckerClock.Advance(checker.HeartbeatStale + time.Minute)
		e.Clock.Advance(checker.HeartbeatStale + time.Minute)
		b := get(t, e)
		if b.status != http.StatusServiceUnavailable || !strings.HasPrefix(b.checks["checker"].(string), "no heartbeat for 3m0s") {
			t.Errorf("%+v", b)
		}
		if b.checks["database"] != "ok" {
			t.Errorf("database %v", b.checks["database"])
		}
	})

	t.Run("draining", func(t *testing.T) {
		e := running(t, checkedOptions{})
		e.Server.Drain()
		b := get(t, e)
		if b.status != http.StatusServiceUnavailable || b.checks["shutdown"] != "draining" || b.checks["database"] != "ok" {
			t.Errorf("%+v", b)
		}
		// Alive and healthy all the same: a drain must not make Kubernetes restart the pod.
		e.API(t, "").Do(http.MethodGet, "/livez", "").Expect(http.StatusOK)
		e.API(t, "").Do(http.MethodGet, "/healthz", "").Expect(http.StatusOK)
	})

	t.Run("master key does not open the database", func(t *testing.T) {
		e := running(t, checkedOptions{MasterKeyCheck: func(context.Context) error { return errors.New("wrong key") }})
		b := get(t, e)
		if b.status != http.StatusServiceUnavailable || b.checks["master_key"] != "does not open this database" {
			t.Errorf("%+v", b)
		}
	})

	t.Run("database replaced", func(t *testing.T) {
		e := running(t, checkedOptions{})
		other := filepath.Join(filepath.Dir(e.DB.Path()), "other.db")
		odb, err := store.Open(context.Background(), other)
		if err != nil {
			t.Fatal(err)
		}
		odb.Close()
		if err := os.Rename(other, e.DB.Path()); err != nil {
			t.Fatal(err)
		}
		b := get(t, e)
		if b.status != http.StatusServiceUnavailable || b.checks["database"] != "the database file was replaced by another file" {
			t.Errorf("%+v", b)
		}
		e.API(t, "").Do(http.MethodGet, "/healthz", "").Expect(http.StatusServiceUnavailable)
	})

	t.Run("database deleted", func(t *testing.T) {
		e := running(t, checkedOptions{})
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(e.DB.Path() + suffix)
		}
		b := get(t, e)
		if b.status != http.StatusServiceUnavailable || b.checks["database"] != "the database file is gone from its path" {
			t.Errorf("%+v", b)
		}
		e.API(t, "").Do(http.MethodGet, "/healthz", "").Expect(http.StatusServiceUnavailable)
		e.API(t, "").Do(http.MethodGet, "/livez", "").Expect(http.StatusOK)
		if _, err := os.Stat(e.DB.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the probes re-created the deleted database: %v", err)
		}
	})

	t.Run("checker not running", func(t *testing.T) {
		e := newCheckedEnv(t, checkedOptions{FakeClock: true})
		b := get(t, e)
		if b.status != http.StatusServiceUnavailable || b.checks["checker"] != "not running" {
			t.Errorf("%+v", b)
		}
	})

	t.Run("checker turned off", func(t *testing.T) {
		e := newCheckedEnv(t, checkedOptions{FakeClock: true, CheckerOff: true})
		b := get(t, e)
		if b.status != http.StatusOK || b.checks["checker"] != "disabled" {
			t.Errorf("%+v", b)
		}
	})

	t.Run("master key not loaded", func(t *testing.T) {
		e := running(t, checkedOptions{NoMasterKey: true})
		b := get(t, e)
		if b.status != http.StatusServiceUnavailable || b.checks["master_key"] != "not loaded" {
			t.Errorf("%+v", b)
		}
	})

	t.Run("database down", func(t *testing.T) {
		e := running(t, checkedOptions{})
		get(t, e)
		e.DB.Close()
		e.Clock.Advance(2 * time.Second)
		b := get(t, e)
		if b.status != http.StatusServiceUnavailable || b.checks["database"] != "not answering" {
			t.Errorf("%+v", b)
		}
	})

	t.Run("upstream outage", func(t *testing.T) {
		e := running(t, checkedOptions{})
		p := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
		e.Fake.SetAll(staxfake.BadGateway)
		for range 3 {
			e.checkNow(t, p.ID)
		}
		b := get(t, e)
		if b.status != http.StatusOK || b.upstream["outage"] != true || b.checks["checker"] != "ok" {
			t.Fatalf("%+v", b)
		}
		if since, err := time.Parse(time.RFC3339, b.upstream["since"].(string)); err != nil || !since.Equal(t0) {
			t.Errorf("outage since %v (%v), want %s", b.upstream["since"], err, t0)
		}
		// An outage is no reason to call the checker stale: it is holding back on purpose.
		e.Clock.Advance(time.Hour)
		e.CheckerClock.Advance(time.Hour)
		if b := get(t, e); b.status != http.StatusOK {
			t.Errorf("an hour into the outage: %+v", b)
		}
	})

	t.Run("paused by a 429", func(t *testing.T) {
		e := newCheckedEnv(t, checkedOptions{FakeClock: true})
		p := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.RateLimited)
		updates, stop := e.Checker.Subscribe()
		defer stop()
		e.run(t) // checks the new pair at once and meets the 429
		deadline := time.After(waitLimit)
		for checked := false; !checked; {
			select {
			case u := <-updates:
				checked = u.KeyID == p.ID
			case <-deadline:
				t.Fatal("the scheduler did not check the new pair")
			}
		}
		b := get(t, e)
		if until, _ := b.upstream["paused_until"].(string); until != t0.Add(30*time.Second).Format(time.RFC3339) {
			t.Errorf("paused_until %v: %+v", b.upstream["paused_until"], b)
		}
	})
}

// TestHealthKeys: /healthz/keys fails while a key is revoked or denied; counts are public, ids
// and labels need a token, and nothing shows an email or a key.
func TestHealthKeys(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{})
	tok := e.token(t, "monitor", true)
	anon, authed := e.API(t, ""), e.API(t, tok)
	counts := func(m map[string]any) string {
		c, _ := m["counts"].(map[string]any)
		var parts []string
		for _, k := range []string{"pending", "valid", "revoked", "denied", "undecided", "total"} {
			parts = append(parts, k+"="+strconv.Itoa(int(c[k].(float64))))
		}
		return strings.Join(parts, " ")
	}

	m := anon.Do(http.MethodGet, "/healthz/keys", "").Expect(http.StatusOK).Object()
	if got := counts(m); got != "pending=0 valid=0 revoked=0 denied=0 undecided=0 total=0" || m["status"] != "ok" {
		t.Errorf("empty: %v", m)
	}

	a := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	b := e.addKey(t, "Ops", "ops@acme.com", apiKeyB, staxfake.Valid)
	later := e.addKey(t, "Later", "later@acme.com", apiKeyC, staxfake.Valid)
	e.checkNow(t, a.ID)
	e.checkNow(t, b.ID)
	m = anon.Do(http.MethodGet, "/healthz/keys", "").Expect(http.StatusOK).Object()
	if got := counts(m); got != "pending=1 valid=2 revoked=0 denied=0 undecided=0 total=3" {
		t.Errorf("all good: %s", got)
	}
	if _, ok := m["problems"]; ok {
		t.Error("problems listed without a token")
	}
	m = authed.Do(http.MethodGet, "/healthz/keys", "").Expect(http.StatusOK).Object()
	if ps, _ := m["problems"].([]any); ps == nil || len(ps) != 0 {
		t.Errorf("problems %v, want []", m["problems"])
	}

	// b is revoked at Stax.ai; a is denied (admin demoted).
	e.Fake.Set("ops@acme.com", apiKeyB, staxfake.Revoked401)
	e.Fake.Set("billing@acme.com", apiKeyA, staxfake.Denied)
	for _, id := range []int64{a.ID, b.ID} {
		if p := e.checkNow(t, id); p.Verdict == "valid" { // confirmed by a quick second answer
			t.Fatalf("pair %d still valid: %+v", id, p)
		}
	}
	r := anon.Do(http.MethodGet, "/healthz/keys", "").Expect(http.StatusServiceUnavailable)
	m = r.Object()
	if got := counts(m); got != "pending=1 valid=0 revoked=1 denied=1 undecided=0 total=3" || m["status"] != "fail" {
		t.Errorf("with problems: %s %v", got, m["status"])
	}
	if _, ok := m["problems"]; ok {
		t.Error("problems listed without a token")
	}
	m = authed.Do(http.MethodGet, "/healthz/keys", "").Expect(http.StatusServiceUnavailable).Object()
	want := `[{"id":` + strconv.FormatInt(b.ID, 10) + `,"label":"Ops","standing":"revoked","verdict":"revoked"},{"id":` + strconv.FormatInt(a.ID, 10) + `,"label":"Billing","standing":"denied","verdict":"denied"}]`
	if got := string(mustJSON(t, m["problems"])); got != want {
		t.Errorf("problems %s, want %s", got, want)
	}

	// Ops, revoked, was declared dead: retired, no longer a problem. Later, declared dead too,
	// is still accepted: the worst problem, listed last (after the verdicts of keys that should work).
	for _, id := range []int64{b.ID, later.ID} {
		if _, err := e.DB.SetExpected(context.Background(), id, domain.ExpectRevoked); err != nil {
			t.Fatal(err)
		}
	}
	e.checkNow(t, later.ID)
	m = authed.Do(http.MethodGet, "/healthz/keys", "").Expect(http.StatusServiceUnavailable).Object()
	want = `[{"id":` + strconv.FormatInt(a.ID, 10) + `,"label":"Billing","standing":"denied","verdict":"denied"},{"id":` + strconv.FormatInt(later.ID, 10) + `,"label":"Later","standing":"still_accepted","verdict":"valid"}]`
	if got := string(mustJSON(t, m["problems"])); got != want {
		t.Errorf("problems with keys declared dead %s, want %s", got, want)
	}
	if c := m["counts"].(map[string]any); c["still_accepted"] != 1.0 || c["retired"] != 1.0 {
		t.Errorf("counts with keys declared dead %v", c)
	}
	e.Fake.Set("later@acme.com", apiKeyC, staxfake.Revoked401)
	e.Fake.Set("billing@acme.com", apiKeyA, staxfake.Valid)
	e.checkNow(t, later.ID)
	e.checkNow(t, a.ID)
	m = authed.Do(http.MethodGet, "/healthz/keys", "").Expect(http.StatusOK).Object()
	if c := m["counts"].(map[string]any); c["still_accepted"] != 0.0 || c["retired"] != 2.0 || m["status"] != "ok" {
		t.Errorf("every key declared dead retired, the others valid: %v", m)
	}

	// A bad or revoked token is refused rather than silently treated as none.
	anon.Do(http.MethodGet, "/healthz/keys", "", "Authorization", "Bearer sk_"+strings.Repeat("x", 43)).ExpectError(http.StatusUnauthorized, "")
	tokens, _ := e.DB.ListTokens(context.Background())
	e.DB.RevokeToken(context.Background(), tokens[0].ID)
	authed.Do(http.MethodGet, "/healthz/keys", "").ExpectError(http.StatusUnauthorized, "")

	// Every health answer is free of emails and keys.
	for _, path := range []string{"/healthz", "/readyz", "/healthz/keys"} {
		anon.Do(http.MethodGet, path, "")
	}
	e.AssertNeverShown(t, apiKeyA, apiKeyB, apiKeyC, "acme.com", tok)

	// With the database gone, /healthz/keys answers JSON naming it, like /healthz.
	e.DB.Close()
	r = anon.Do(http.MethodGet, "/healthz/keys", "").Expect(http.StatusServiceUnavailable)
	if got := string(r.Body); !strings.Contains(got, `"failing":["database"]`) {
		t.Errorf("body %s", got)
	}
}

// BenchmarkHealthz polls /healthz over real loopback connections with keep-alive, as a busy
// monitor or load balancer would; it reports requests per second.
func BenchmarkHealthz(b *testing.B) {
	e := newTestServer(b)
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := e.TS.URL + "/healthz"
	var failed atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16) // 16 × GOMAXPROCS clients
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				failed.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d requests failed", n)
	}
}

// BenchmarkHealthzHandler measures the handler alone, without the network.
func BenchmarkHealthzHandler(b *testing.B) {
	e := newTestServer(b)
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			e.Server.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code)
			}
		}
	})
}

func blockUntil(t *testing.T, c *clocktest.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := c.BlockUntil(ctx, n); err != nil {
		t.Fatalf("waiting for %d sleepers on the checker's clock: %v", n, err)
	}
}

// waitBeat waits until the checker's loop has beaten at its clock's present time.
func waitBeat(t *testing.T, e *checkedEnv) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for st := e.Checker.Status(); st.Heartbeat.Before(st.At); st = e.Checker.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat at %v: %+v", st.At, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
