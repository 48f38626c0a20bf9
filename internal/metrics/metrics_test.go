package metrics_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/internal/metrics"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func openStore(t *testing.T) (*store.DB, *secret.Keyring) {
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
	return db, secret.NewKeyring(mk)
}

// scrape serves m over a real HTTP server and reads one scrape into "name{labels}" → value.
func scrape(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	ts := httptest.NewServer(m.Handler())
	defer ts.Close()
	res, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", res.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestDeliveryMetrics: a real notifier sending to a receiver on 127.0.0.1 that fails: every
// failed try is counted by channel, the last one also as given up, and the delivery log's
// gauges follow the queue; a receiver that recovers counts as sent.
func TestDeliveryMetrics(t *testing.T) {
	db, keys := openStore(t)
	var failing atomic.Bool
	failing.Store(true)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
		}
	}))
	defer recv.Close()
	if !strings.HasPrefix(recv.URL, "http://127.0.0.1:") {
		t.Fatalf("receiver at %s, not 127.0.0.1", recv.URL)
	}
	clock := clocktest.NewFake(t0)
	db.Now = clock.Now
	m := metrics.New(db, nil, metrics.Options{Version: "test", CacheFor: -1, Now: clock.Now})
	loopback, err := notify.ParsePolicy("127.0.0.1/32") // the receiver's address, refused by default
	if err != nil {
		t.Fatal(err)
	}
	n := notify.New(db, keys, notify.Options{
		Env:         notify.Config{WebhookURL: recv.URL + "/hook?token=s3cr3t-token", WebhookSecret: "a-webhook-secret-of-32-characters"},
		Allow:       loopback,
		Clock:       clock,
		MaxAttempts: 2,
		BackoffBase: time.Minute,
	})
	n.OnAttempt(m.DeliveryAttempted)
	expect := func(when string, want map[string]float64) {
		t.Helper()
		got := scrape(t, m)
		for name, w := range want {
			if g, ok := got[name]; !ok || g != w {
				t.Errorf("%s: %s = %v (present %v), want %v", when, name, g, ok, w)
			}
		}
	}
	const (
		failures = `staxkeys_delivery_failures_total{channel="webhook"}`
		givenUp  = `staxkeys_deliveries_given_up_total{channel="webhook"}`
		sent     = `staxkeys_deliveries_sent_total{channel="webhook"}`
		pending  = `staxkeys_deliveries{channel="webhook",status="pending"}`
		failed   = `staxkeys_deliveries{channel="webhook",status="failed"}`
		sentLog  = `staxkeys_deliveries{channel="webhook",status="sent"}`
	)
	expect("before any alert", map[string]float64{failures: 0, givenUp: 0, sent: 0, pending: 0, failed: 0,
		`staxkeys_delivery_failures_total{channel="slack"}`: 0, `staxkeys_deliveries{channel="email",status="pending"}`: 0})

	ctx := context.Background()
	n.OutageChanged(true, t0, t0, "502 from Stax.ai")
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	expect("after a failed try", map[string]float64{failures: 1, givenUp: 0, sent: 0, pending: 1, failed: 0})

	clock.Advance(time.Minute)
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	expect("after the last try", map[string]float64{failures: 2, givenUp: 1, sent: 0, pending: 0, failed: 1})

	failing.Store(false)
	n.OutageChanged(false, t0, clock.Now(), "")
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	expect("after a delivery went out", map[string]float64{failures: 2, givenUp: 1, sent: 1, pending: 0, failed: 1, sentLog: 1})

	body := scrapeText(t, m)
	for _, secret := range []string{"s3cr3t-token", recv.URL} {
		if strings.Contains(body, secret) {
			t.Errorf("the scrape shows %q", secret)
		}
	}
}

func scrapeText(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// TestStatusGauges: the pause, per-team pause and suspicion gauges follow the checker's status
// as it is at each scrape (a status value stands in for a checker in those states, which take
// many keys and minutes of answers to reach; web's tests drive the real outage and 429 pause).
func TestStatusGauges(t *testing.T) {
	db, _ := openStore(t)
	var st atomic.Pointer[checker.Status]
	st.Store(&checker.Status{Running: true})
	clock := clocktest.NewFake(t0)
	m := metrics.New(db, func() checker.Status { return *st.Load() }, metrics.Options{CacheFor: -1, Now: clock.Now})
	steps := []struct {
		name   string
		status checker.Status
		want   map[string]float64
	}{
		{"idle", checker.Status{Running: true}, map[string]float64{"staxkeys_checker_running": 1,
			"staxkeys_upstream_suspicion": 0, "staxkeys_upstream_suspicion_keys": 0, "staxkeys_teams_paused": 0,
			"staxkeys_checker_paused": 0, "staxkeys_checker_paused_until_timestamp_seconds": 0}},
		{"a suspicion of 3 keys", checker.Status{Running: true, Suspicion: &domain.Suspicion{From: domain.Valid, To: domain.Revoked,
			Since: t0, At: t0, Count: 3}}, map[string]float64{"staxkeys_upstream_suspicion": 1, "staxkeys_upstream_suspicion_keys": 3}},
		{"two teams paused", checker.Status{Running: true, TeamsPaused: 2}, map[string]float64{"staxkeys_teams_paused": 2,
			"staxkeys_upstream_suspicion": 0, "staxkeys_checker_paused": 0}},
		{"every check paused", checker.Status{Running: true, PausedUntil: t0.Add(time.Minute)}, map[string]float64{
			"staxkeys_checker_paused": 1, "staxkeys_checker_paused_until_timestamp_seconds": float64(t0.Add(time.Minute).Unix())}},
		{"a pause in the past", checker.Status{PausedUntil: t0.Add(-time.Second)}, map[string]float64{
			"staxkeys_checker_paused": 0, "staxkeys_checker_running": 0}},
	}
	for _, step := range steps {
		st.Store(&step.status)
		got := scrape(t, m)
		for name, want := range step.want {
			if g, ok := got[name]; !ok || g != want {
				t.Errorf("%s: %s = %v (present %v), want %v", step.name, name, g, ok, want)
			}
		}
	}
}

// TestDatabaseDown: when the database cannot be read the scrape still answers, with
// staxkeys_database_up 0 and no per-key series rather than stale ones.
func TestDatabaseDown(t *testing.T) {
	db, _ := openStore(t)
	m := metrics.New(db, nil, metrics.Options{CacheFor: -1})
	if got := scrape(t, m)["staxkeys_database_up"]; got != 1 {
		t.Fatalf("database_up %v with the database open", got)
	}
	db.Close()
	got := scrape(t, m)
	if got["staxkeys_database_up"] != 0 {
		t.Errorf("database_up %v with the database closed", got["staxkeys_database_up"])
	}
	if _, ok := got["staxkeys_build_info"+buildLabels(got)]; !ok {
		t.Error("no build_info while the database is down")
	}
}

// buildLabels finds build_info's label set in a scrape.
func buildLabels(m map[string]float64) string {
	for name := range m {
		if rest, ok := strings.CutPrefix(name, "staxkeys_build_info"); ok {
			return rest
		}
	}
	return "{missing}"
}

// BenchmarkScrape: one scrape of a server with 2,000 keys, as Prometheus would see it, read
// from the database each time (read) or within the cache's time (cached): the series count and
// the body size are reported.
func BenchmarkScrape(b *testing.B) {
	const n = 2000
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "staxkeys.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		b.Fatal(err)
	}
	v := keys.New(db, secret.NewKeyring(mk))
	for i := range n {
		if _, err := v.Add(ctx, keys.Input{Email: "team" + strconv.Itoa(i) + "@example.com",
			Key: "sk_live_APIKEY_bench_" + strconv.Itoa(1_000_000+i)}); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name     string
		cacheFor time.Duration
	}{{"read", -1}, {"cached", time.Hour}} {
		b.Run(bc.name, func(b *testing.B) {
			m := metrics.New(db, func() checker.Status { return checker.Status{Running: true} }, metrics.Options{CacheFor: bc.cacheFor})
			h := m.Handler()
			var size, series int
			b.ResetTimer()
			for range b.N {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
				size = rec.Body.Len()
				series = 0
				for _, line := range strings.Split(rec.Body.String(), "\n") {
					if strings.HasPrefix(line, "staxkeys_") {
						series++
					}
				}
			}
			b.ReportMetric(float64(series), "staxkeys-series")
			b.ReportMetric(float64(size)/1024, "KiB/scrape")
		})
	}
}
