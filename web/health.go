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

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
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

// serveHealthz answers GET /healthz outside the router: it is polled constantly, so it skips
// routing, sessions and request logging, and writes a canned body. It fails when the database
// does not answer or is no longer the file opened at start (deleted, replaced).
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

// readyCache remembers the last readiness probe of the database and master key, like
// probeCache, so a probe polled often costs one round of queries a second.
type readyCache struct {
	mu   sync.Mutex
	last atomic.Pointer[readyResult]
}

type readyResult struct {
	at                              time.Time
	database, migrations, masterKey string // "ok" or why not
}

// readyWriteTimeout bounds the write probe: a database that cannot take a write lock within it
// (another process holding it, a stuck disk) makes the server unready rather than slow.
const readyWriteTimeout = 2 * time.Second

// readiness probes what /readyz needs of the database, at most once a second.
func (s *Server) readiness(ctx context.Context) *readyResult {
	rc := &s.ready
	now := s.Now()
	if r := rc.last.Load(); r != nil && now.Sub(r.at) < probeCacheFor {
		return r
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r := rc.last.Load(); r != nil && now.Sub(r.at) < probeCacheFor {
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, readyWriteTimeout)
	defer cancel()
	r := &readyResult{at: now, database: "ok", migrations: "ok", masterKey: "ok"}
	defer rc.last.Store(r)
	unknown := "unknown: the database is not usable"
	if err := s.db.Ping(ctx); err != nil {
		switch {
		case errors.Is(err, store.ErrFileGone):
			r.database = "the database file is gone from its path"
		case errors.Is(err, store.ErrFileReplaced):
			r.database = "the database file was replaced by another file"
		default:
			r.database = "not answering"
		}
		r.migrations, r.masterKey = unknown, unknown
		s.log.Warn("readiness: database", slog.String("error", err.Error()))
		return r
	}
	if err := s.db.CheckSchema(ctx); err != nil {
		r.database, r.migrations, r.masterKey = "not a staxkeys database: tables are missing", unknown, unknown
		s.log.Warn("readiness: database", slog.String("error", err.Error()))
		return r
	}
	if err := s.db.CheckWrite(ctx); err != nil {
		r.database = "does not accept a write within " + readyWriteTimeout.String()
		s.log.Warn("readiness: database", slog.String("error", err.Error()))
	}
	if current, err := s.db.MigrationsCurrent(ctx); err != nil {
		r.migrations = "unknown: cannot read the migration state"
	} else if !current {
		r.migrations = "pending migrations"
	}
	switch {
	case !s.cfg.MasterKeyLoaded:
		r.masterKey = "not loaded"
	case s.cfg.MasterKeyCheck != nil:
		if err := s.cfg.MasterKeyCheck(ctx); err != nil {
			r.masterKey = "does not open this database"
			s.log.Warn("readiness: master key", slog.String("error", err.Error()))
		}
	}
	return r
}

// Drain makes /readyz answer 503 from now on, so a load balancer or Kubernetes stops sending
// traffic while the server still answers what is in flight; serve calls it on SIGTERM, waits
// STAXKEYS_SHUTDOWN_DRAIN, then shuts down.
func (s *Server) Drain() { s.draining.Store(true) }

// handleLivez serves GET /livez: the process is alive and serving HTTP. It asks nothing else,
// so a liveness probe never restarts staxkeys for a dependency a restart would not fix.
func (s *Server) handleLivez(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz serves GET /readyz: ready when the database is the file opened at start, has
// staxkeys' schema and accepts a write within readyWriteTimeout, migrations are current, the
// master key opens it, the checker's loop is alive by its heartbeat, and the server is not
// draining for shutdown. An upstream outage or pause is reported beside, without making
// staxkeys unready: restarting or unrouting it would not help.
func (s *Server) handleReadyz(c echo.Context) error {
	r := s.readiness(c.Request().Context())
	checks := map[string]string{"database": r.database, "master_key": r.masterKey, "migrations": r.migrations,
		"checker": "ok", "shutdown": "ok"}
	ok := r.database == "ok" && r.masterKey == "ok" && r.migrations == "ok"
	fail := func(name, why string) { checks[name], ok = why, false }
	if s.draining.Load() {
		fail("shutdown", "draining")
	}
	upstream := map[string]any{"outage": false, "since": nil}
	if s.checker == nil || !s.cfg.CheckerEnabled {
		checks["checker"] = "disabled"
	} else {
		st := s.checker.Status()
		switch {
		case !st.Running:
			fail("checker", "not running")
		case !st.Alive(st.At):
			beat := st.Heartbeat
			if beat.IsZero() {
				beat = st.Started
			}
			fail("checker", "no heartbeat for "+st.At.Sub(beat).Round(time.Second).String()+": the scheduler loop is stuck")
		}
		now := s.Now()
		if st.Outage {
			upstream = map[string]any{"outage": true, "since": st.OutageSince}
		}
		if st.Paused(now) {
			upstream["paused_until"] = st.PausedUntil
			if st.PausedUntil.Sub(now) > checker.LongPause {
				// Nothing is being watched for a while: say so in words, not only a time.
				upstream["paused"] = "Stax.ai's rate limiting pauses every check until " + st.PausedUntil.UTC().Format(time.RFC3339)
			}
		}
		if st.TeamsPaused > 0 {
			upstream["teams_rate_limited"] = st.TeamsPaused
		}
		if sus := st.Suspicion; sus != nil {
			upstream["suspected_change"] = map[string]any{"from": sus.From, "to": sus.To, "since": sus.Since, "keys": sus.Count}
		}
	}
	status, word := http.StatusOK, "ok"
	if !ok {
		status, word = http.StatusServiceUnavailable, "fail"
	}
	return c.JSON(status, map[string]any{"status": word, "checks": checks, "upstream": upstream})
}

// handleHealthKeys serves GET /healthz/keys for monitors that alert on keys: 503 while any pair
// that should work is revoked or denied, or any pair that should be dead (deleted at Stax.ai)
// is still accepted: the standings that are problems (domain.Standing.Problem). Counts are public; ids and labels of the failing pairs need a token.
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
	counts, err := s.db.CountKeys(ctx)
	if err != nil {
		return s.healthKeysDown(c, err)
	}
	body := map[string]any{"counts": countsJSON(counts)}
	bad := counts.Problems()
	if authorized {
		type problem struct {
			ID       int64           `json:"id"`
			Label    string          `json:"label"`
			Verdict  domain.Verdict  `json:"verdict"`
			Standing domain.Standing `json:"standing"`
		}
		problems := []problem{}
		for _, st := range []domain.Standing{domain.StandingRevoked, domain.StandingDenied, domain.StandingStillAccepted} {
			page, err := s.db.ListKeys(ctx, domain.KeyQuery{Status: string(st), Sort: "label"})
			if err != nil {
				return s.healthKeysDown(c, err)
			}
			for _, p := range page.Keys {
				problems = append(problems, problem{ID: p.ID, Label: p.Label, Verdict: p.Verdict, Standing: p.Standing()})
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

func countsJSON(c domain.StatusCounts) map[string]int {
	return map[string]int{"pending": c.Pending, "valid": c.Valid, "revoked": c.Revoked, "denied": c.Denied,
		"undecided": c.Undecided, "total": c.Total, "still_accepted": c.StillAccepted, "retired": c.RetiredRevoked + c.RetiredDenied}
}
