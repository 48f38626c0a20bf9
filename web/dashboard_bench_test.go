package web_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// benchKeys is how many pairs the dashboard benchmark registers: the target is a page
// at 10,000 pairs within 20 ms of server time.
const (
	benchKeys         = 10000
	benchChecksPerKey = 40 // more than a strip shows, so the query must cut
)

// seedDashboard fills the database behind e with n pairs and their check history in a few bulk
// statements on a connection of its own: one Vault.Add per pair (a sealing and a transaction
// each) would take the benchmark longer to set up than to run. The keys are dummies; the
// dashboard never opens them.
func seedDashboard(tb testing.TB, e *Env, n, checksPerKey int) {
	tb.Helper()
	ctx := context.Background()
	raw, err := sql.Open("sqlite", "file:"+e.DB.Path()+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)")
	if err != nil {
		tb.Fatal(err)
	}
	defer raw.Close()
	base := e.Clock.Now().Add(-time.Duration(checksPerKey) * time.Hour).UnixMilli()
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	// Verdicts spread as a real fleet's would: mostly valid, some revoked, denied and pending,
	// every 17th pair's last check undecided.
	if _, err := tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO pairs (label, email, key_sealed, key_hint, key_fingerprint,
			created_at, updated_at, key_changed_at, verdict, verdict_at, verdict_since, last_valid_at,
			last_check_at, last_outcome, last_reason, last_http_status, last_latency_ms, next_check_at)
		SELECT 'Integration ' || i, 'team' || i || '@example.com', x'00', printf('%04d', i % 10000),
			randomblob(32), ?, ?, ?,
			CASE WHEN i % 50 = 0 THEN 'revoked' WHEN i % 97 = 0 THEN 'denied' WHEN i % 113 = 0 THEN 'pending' ELSE 'valid' END,
			?, ?, ?, ?,
			CASE WHEN i % 17 = 0 THEN 'error' WHEN i % 50 = 0 THEN 'revoked' WHEN i % 97 = 0 THEN 'denied' ELSE 'valid' END,
			'HTTP 200: key accepted', 200, 40 + i % 200, ?
		FROM n`,
		n, base, base, base, base+3600_000, base, base+3600_000, base+int64(checksPerKey)*3600_000, base+int64(checksPerKey+1)*3600_000); err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `WITH RECURSIVE k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < ?)
		INSERT INTO checks (pair_id, at, outcome, http_status, latency_ms, reason)
		SELECT p.id, ? + k.j * 3600000,
			CASE WHEN (p.id + k.j) % 23 = 0 THEN 'error' ELSE 'valid' END,
			CASE WHEN (p.id + k.j) % 23 = 0 THEN 502 ELSE 200 END,
			30 + (p.id * k.j) % 300, 'HTTP 200: key accepted'
		FROM pairs p, k`, checksPerKey, base); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, "ANALYZE"); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkDashboard times GET / (50 pairs a page) at 10,000 pairs through the real handler,
// without the network: the server's own time per page, for the default view and for sorting,
// deep pages, filters and a search. The target is 20 ms. Run it with
//
//	go test ./web -run '^$' -bench Dashboard -benchtime 100x
func BenchmarkDashboard(b *testing.B) {
	e := newTestServer(b)
	c := e.LoggedIn(b)
	seedDashboard(b, e, benchKeys, benchChecksPerKey)
	u, _ := url.Parse(e.TS.URL)
	cookies := c.Jar.Cookies(u)

	for _, bc := range []struct{ name, query string }{
		{"default", "/"},
		{"default,gzip", "/"},
		{"sort=-checked", "/?sort=-checked"},
		{"sort=label,page=100", "/?sort=label&page=100"},
		{"status=valid,page=150", "/?status=valid&page=150"},
		{"status=undecided", "/?status=undecided"},
		{"search", "/?q=integration+99"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			get := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodGet, bc.query, nil)
				if strings.HasSuffix(bc.name, "gzip") {
					req.Header.Set("Accept-Encoding", "gzip") // as a browser asks
				}
				for _, ck := range cookies {
					req.AddCookie(ck)
				}
				w := httptest.NewRecorder()
				e.Server.ServeHTTP(w, req)
				return w
			}
			first := get()
			if first.Code != http.StatusOK {
				b.Fatalf("GET %s: %d %.300s", bc.query, first.Code, first.Body.String())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				get()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64(first.Body.Len()), "page-bytes")
		})
	}
}
