package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/store"
)

// probeCacheFor is how long a database probe result is reused, so a monitor polling /healthz
// thousands of times a second costs one query a second.
const probeCacheFor = time.Second

// probeCache remembers the last database probe. The answer is read without a lock, so the
// thousands of /healthz requests a second between two probes never queue behind each other;
// the mutex only makes sure one request at a time asks the database.
type probeCache struct {
	mu   sync.Mutex
	last atomic.Pointer[probeResult]
}

type probeResult struct {
	at         time.Time
	dbErr      error
	migrations bool
}

// probe returns the database's health, asking it at most once a second (by s.Now, so tests can
// move past the cache).
func (s *Server) probe(ctx context.Context) (dbErr error, migrationsCurrent bool) {
	pc := &s.probes
	now := s.Now()
	if r := pc.last.Load(); r != nil && now.Sub(r.at) < probeCacheFor {
		return r.dbErr, r.migrations
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if r := pc.last.Load(); r != nil && now.Sub(r.at) < probeCacheFor {
		return r.dbErr, r.migrations // another request probed while this one waited
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r := &probeResult{at: now}
	r.dbErr = s.db.Ping(ctx)
	if r.dbErr == nil {
		r.migrations, r.dbErr = s.db.MigrationsCurrent(ctx)
	}
	pc.last.Store(r)
	return r.dbErr, r.migrations
}

var (
	healthOK   = []byte(`{"status":"ok"}` + "\n")
	healthFail = []byte(`{"status":"fail","failing":["database"]}` + "\n")
)

// The headers of /healthz, built once: Header().Set would canonicalise the name and allocate a
// new slice on every request. net/http only reads them.
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
	hdrNoSniff = []string{"nosniff"}
	hdrCSP     = []string{contentSecurityPolicy}
)

// serveHealthz answers GET /healthz (liveness) outside the router: it is polled constantly,
// so it skips routing, sessions and request logging, and writes a canned body.
func (s *Server) serveHealthz(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = hdrJSON
	h["Cache-Control"] = hdrNoStore
	h["X-Content-Type-Options"] = hdrNoSniff
	h["Content-Security-Policy"] = hdrCSP
	if dbErr, _ := s.probe(r.Context()); dbErr != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write(healthFail)
		return
	}
	w.Write(healthOK)
}

// handleReadyz serves GET /readyz: ready when the database answers, the master key is loaded,
// migrations are current and the checker has finished a cycle lately (or is in its first).
func (s *Server) handleReadyz(c echo.Context) error {
	checks := map[string]string{"database": "ok", "master_key": "ok", "migrations": "ok", "checker": "ok"}
	ok := true
	fail := func(name, why string) { checks[name], ok = why, false }

	dbErr, migrationsCurrent := s.probe(c.Request().Context())
	switch {
	case dbErr != nil:
		fail("database", "not answering")
		fail("migrations", "unknown: the database is not answering")
	case !migrationsCurrent:
		fail("migrations", "pending migrations")
	}
	if !s.cfg.MasterKeyLoaded {
		fail("master_key", "not loaded")
	}
	upstream := map[string]any{"outage": false, "since": nil}
	if s.checker == nil || !s.cfg.CheckerEnabled {
		checks["checker"] = "disabled"
	} else {
		st := s.checker.Status()
		now := s.Now()
		limit := 2 * st.EffectiveInterval
		switch {
		case !st.Running:
			fail("checker", "not running")
		case st.Outage || st.Paused(now):
			// The checker is holding back on purpose (Stax.ai is down or asked us to slow
			// down): that is reported under "upstream", not as staxkeys being unready.
		case st.LastCycleAt.IsZero() && now.Sub(st.Started) > limit:
			fail("checker", "no cycle finished since start")
		case !st.LastCycleAt.IsZero() && now.Sub(st.LastCycleAt) > limit:
			fail("checker", "last cycle finished "+now.Sub(st.LastCycleAt).Round(time.Second).String()+" ago")
		}
		if st.Outage {
			upstream = map[string]any{"outage": true, "since": st.OutageSince}
		}
		if st.Paused(now) {
			upstream["paused_until"] = st.PausedUntil
		}
	}
	status, word := http.StatusOK, "ok"
	if !ok {
		status, word = http.StatusServiceUnavailable, "fail"
	}
	return c.JSON(status, map[string]any{"status": word, "checks": checks, "upstream": upstream})
}

// handleHealthKeys serves GET /healthz/keys for monitors that alert on keys: 503 while any pair
// is revoked or denied. Counts are public; ids and labels of the failing pairs need a token.
func (s *Server) handleHealthKeys(c echo.Context) error {
	ctx := c.Request().Context()
	authorized := false
	if tok, ok := bearer(c.Request()); ok {
		if _, err := s.authenticateToken(c, tok); err != nil {
			var he *echo.HTTPError
			if errors.As(err, &he) {
				return err
			}
			return s.healthKeysDown(c, err)
		}
		authorized = true
	}
	counts, err := s.db.CountPairs(ctx)
	if err != nil {
		return s.healthKeysDown(c, err)
	}
	body := map[string]any{"counts": countsJSON(counts)}
	bad := counts.Revoked + counts.Denied
	if authorized {
		type problem struct {
			ID      int64         `json:"id"`
			Label   string        `json:"label"`
			Verdict store.Verdict `json:"verdict"`
		}
		problems := []problem{}
		for _, v := range []store.Verdict{store.Revoked, store.Denied} {
			page, err := s.db.ListPairs(ctx, store.PairQuery{Status: string(v), Sort: "label"})
			if err != nil {
				return s.healthKeysDown(c, err)
			}
			for _, p := range page.Pairs {
				problems = append(problems, problem{ID: p.ID, Label: p.Label, Verdict: p.Verdict})
			}
		}
		body["problems"] = problems
	}
	status := http.StatusOK
	body["status"] = "ok"
	if bad > 0 {
		status = http.StatusServiceUnavailable
		body["status"] = "fail"
	}
	return c.JSON(status, body)
}

// healthKeysDown answers /healthz/keys when the database fails: a monitor gets JSON naming the
// database, as from /healthz, rather than the HTML error page; the cause goes to the log.
func (s *Server) healthKeysDown(c echo.Context, err error) error {
	s.log.Error("health of keys: database", slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
		slog.String("error", err.Error()))
	return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "fail", "failing": []string{"database"}})
}

func countsJSON(c store.StatusCounts) map[string]int {
	return map[string]int{"pending": c.Pending, "valid": c.Valid, "revoked": c.Revoked, "denied": c.Denied,
		"undecided": c.Undecided, "total": c.Total}
}
