package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/views"
)

// keepAliveEvery is how often an idle event stream sends a comment (proxies drop silent
// connections). A variable so tests can shorten it.
var keepAliveEvery = 25 * time.Second

// sessionCheckEvery is how often an event stream re-reads its session, so that it ends within
// a second of a logout, a password change, the admin's removal or the session's expiry, in this
// process or another (the command line). One read by primary key per open dashboard.
const sessionCheckEvery = 500 * time.Millisecond

// summaryEvery bounds how often the summary cards are re-sent while many checks finish.
const summaryEvery = 2 * time.Second

// keyChanged tells the checker a pair needs checking soon.
func (s *Server) keyChanged(int64) {
	if s.checker != nil {
		s.checker.Nudge()
	}
}

// checkerInfo is what the pages show of the checker as a whole.
func (s *Server) checkerInfo() views.CheckerInfo {
	info := views.CheckerInfo{Enabled: s.cfg.CheckerEnabled}
	if s.checker == nil {
		info.Enabled = false
		return info
	}
	st := s.checker.Status()
	info.Outage, info.OutageSince, info.PausedUntil = st.Outage, st.OutageSince, st.PausedUntil
	info.Stretched = st.StretchNote()
	info.TeamsPaused = st.TeamsPaused
	if sus := st.Suspicion; sus != nil {
		info.Suspicion = &views.Suspicion{From: sus.From, To: sus.To, Since: sus.Since, Keys: sus.Count}
	}
	return info
}

// handleKeyCheck serves POST /keys/:id/check: check now, then show the fresh row (htmx) or
// go back to the page the button was on.
func (s *Server) handleKeyCheck(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	updated, err := s.keys.CheckNow(c.Request().Context(), principalOf(c), p.ID)
	var paused *checker.PausedError
	switch {
	case errors.As(err, &paused):
		if paused.Team {
			s.flash(c, "error", "Stax.ai asked us to slow down for this key's team; its checks resume at "+paused.Until.UTC().Format("15:04:05")+" UTC. Other teams' keys are checked as usual.")
		} else {
			s.flash(c, "error", "Stax.ai asked us to slow down; checks resume at "+paused.Until.UTC().Format("15:04:05")+" UTC.")
		}
		updated = p
	case errors.Is(err, store.ErrStale):
		s.flash(c, "error", "The key changed during the check; it will be checked again shortly.")
		updated = p
	case err != nil:
		return err
	}
	if c.Request().Header.Get("HX-Request") != "" {
		return s.renderRow(c, updated)
	}
	if c.FormValue("back") == "list" {
		return redirect(c, "/")
	}
	return redirect(c, "/keys/"+strconv.FormatInt(p.ID, 10))
}

func (s *Server) renderRow(c echo.Context, p domain.Key) error {
	row, err := s.keyRow(c.Request().Context(), p, s.Now(), csrfToken(c), roleOf(c).Allows(domain.RoleEditor))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, row)
}

// keyRow is p's dashboard row as a page or a live update draws it: its strip of recent
// checks, the keys sharing its key, and its mute.
func (s *Server) keyRow(ctx context.Context, p domain.Key, now time.Time, csrf string, canEdit bool) (templ.Component, error) {
	strips, err := s.strips(ctx, []domain.Key{p})
	if err != nil {
		return nil, err
	}
	dups, err := s.db.SharedKeys(ctx, []int64{p.ID})
	if err != nil {
		return nil, err
	}
	m, muted, err := s.keys.MuteOf(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return views.KeyRow(p, strips[p.ID], dups[p.ID], muteOrNil(m, muted), now, csrf, canEdit), nil
}

// handleCheckAll serves POST /keys/check-all: every pair becomes due, under the usual limits.
func (s *Server) handleCheckAll(c echo.Context) error {
	if err := s.keys.CheckAll(c.Request().Context(), principalOf(c)); err != nil {
		return err
	}
	s.flash(c, "ok", "Every key is queued for a check; rows update as answers arrive.")
	return redirect(c, "/")
}

// EndStreams ends every open live-update stream (GET /events), and any opened after it, the way
// a stream ends with its session: the handler returns and the response ends cleanly, and the
// browser's EventSource reconnects after the stream's retry delay, to whatever serves by then.
// serve registers it with http.Server.RegisterOnShutdown: Shutdown waits for requests in
// flight to finish, and these streams never would. Safe to call more than once.
func (s *Server) EndStreams() {
	s.endStreamsOnce.Do(func() { close(s.streamsEnd) })
}

// handleEvents serves GET /events: a server-sent event stream that re-renders a row (event
// "pair-<id>"), a pair page's status ("status-<id>"), the summary cards ("summary") and the
// checker banner ("checker") as checks finish, so the dashboard is live without reloads.
// ?ids= limits row updates to the pairs the page shows; ?status= and ?tag= are the dashboard's
// filters, kept by the cards it re-sends. It ends when the client leaves, with
// the session, or at shutdown (EndStreams).
func (s *Server) handleEvents(c echo.Context) error {
	if s.checker == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "The checker is not available.")
	}
	var want map[int64]bool // nil: every pair
	if c.QueryParams().Has("ids") {
		want = parseIDs(c.QueryParam("ids"))
	}
	updates, stop := s.checker.Subscribe()
	defer stop()

	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	w.Flush()

	ctx := c.Request().Context()
	csrf, canEdit := csrfToken(c), roleOf(c).Allows(domain.RoleEditor)
	tag := domain.NormalizeTag(c.QueryParam("tag")) // the cards count the dashboard's tag filter
	sess, _ := c.Get(ctxSession).(store.Session)
	keepAlive := time.NewTicker(keepAliveEvery)
	defer keepAlive.Stop()
	sessionCheck := time.NewTicker(sessionCheckEvery)
	defer sessionCheck.Stop()
	summary := time.NewTimer(summaryEvery)
	summary.Stop()
	summaryPending := false
	var buf bytes.Buffer
	send := func(event string, comp templ.Component) error {
		buf.Reset()
		if err := comp.Render(ctx, &buf); err != nil {
			return err
		}
		writeEvent(w, event, buf.Bytes())
		w.Flush()
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.streamsEnd:
			return nil // the server is shutting down: end the stream, as with the session
		case <-sessionCheck.C:
			row, err := s.db.SessionByHash(ctx, sess.IDHash)
			if err != nil || s.expired(row, s.Now()) {
				return nil // logged out, removed or expired: end the stream
			}
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			w.Flush()
		case <-summary.C:
			summaryPending = false
			counts, err := s.db.CountKeysTagged(ctx, tag)
			if err != nil {
				s.log.Warn("live summary", slog.String("error", err.Error()))
				continue
			}
			if err := send("summary", views.SummaryCards(counts, c.QueryParam("status"), tag)); err != nil {
				return err
			}
		case u, ok := <-updates:
			if !ok {
				return nil
			}
			if !summaryPending {
				summaryPending = true
				summary.Reset(summaryEvery)
			}
			if u.KeyID == 0 {
				if err := send("checker", views.OutageBanner(s.checkerInfo(), s.Now())); err != nil {
					return err
				}
				continue
			}
			if want != nil && !want[u.KeyID] {
				continue
			}
			p, err := s.db.KeyByID(ctx, u.KeyID)
			if errors.Is(err, domain.ErrNotFound) {
				continue
			}
			if err != nil {
				s.log.Warn("live update", slog.Int64("pair_id", u.KeyID), slog.String("error", err.Error()))
				continue
			}
			now := s.Now()
			row, err := s.keyRow(ctx, p, now, csrf, canEdit)
			if err != nil {
				s.log.Warn("live update", slog.Int64("pair_id", u.KeyID), slog.String("error", err.Error()))
				continue
			}
			id := strconv.FormatInt(p.ID, 10)
			if err := send("pair-"+id, row); err != nil {
				return err
			}
			if err := send("status-"+id, views.StatusCell(p, now)); err != nil {
				return err
			}
		}
	}
}

// writeEvent writes one server-sent event; each line of data gets its own "data:" prefix.
func writeEvent(w http.ResponseWriter, event string, data []byte) {
	fmt.Fprintf(w, "event: %s\n", event)
	for _, line := range bytes.Split(data, []byte("\n")) {
		w.Write([]byte("data: "))
		w.Write(line)
		w.Write([]byte("\n"))
	}
	w.Write([]byte("\n"))
}

// parseIDs reads "1,2,3" (at most 500 ids).
func parseIDs(s string) map[int64]bool {
	out := map[int64]bool{}
	for _, part := range strings.Split(s, ",") {
		if id, err := strconv.ParseInt(part, 10, 64); err == nil && id > 0 {
			out[id] = true
		}
		if len(out) >= 500 {
			break
		}
	}
	return out
}

// handleAPIKeyCheck serves POST /api/v1/keys/:id/check: checks now and returns the result.
func (s *Server) handleAPIKeyCheck(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	updated, err := s.keys.CheckNow(c.Request().Context(), principalOf(c), p.ID)
	var paused *checker.PausedError
	if errors.As(err, &paused) {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(paused.Until.Sub(s.Now()).Seconds())+1))
		if paused.Team {
			return echo.NewHTTPError(http.StatusTooManyRequests, "Stax.ai rate-limited this key's team; its checks resume at "+paused.Until.UTC().Format(time.RFC3339))
		}
		return echo.NewHTTPError(http.StatusTooManyRequests, "Stax.ai rate-limited the checker; checks resume at "+paused.Until.UTC().Format(time.RFC3339))
	}
	if errors.Is(err, store.ErrStale) {
		return echo.NewHTTPError(http.StatusConflict, "the key changed during the check; try again")
	}
	if err != nil {
		return err
	}
	out, err := s.apiKeyOf(c, updated)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// handleAPIStatus serves GET /api/v1/status: counts per verdict and the checker's state.
func (s *Server) handleAPIStatus(c echo.Context) error {
	counts, err := s.db.CountKeys(c.Request().Context())
	if err != nil {
		return err
	}
	body := map[string]any{"counts": countsJSON(counts)}
	if s.checker != nil {
		st := s.checker.Status()
		var since, last, paused *time.Time
		if st.Outage {
			since = &st.OutageSince
		}
		if !st.LastCycleAt.IsZero() {
			last = &st.LastCycleAt
		}
		if st.Paused(s.Now()) {
			paused = &st.PausedUntil
		}
		body["checker"] = map[string]any{
			"running": st.Running, "outage": st.Outage, "outage_since": since, "paused_until": paused,
			"last_cycle_at": last, "interval_seconds": st.Interval.Seconds(),
			"effective_interval_seconds": st.EffectiveInterval.Seconds(), "rate_per_second": st.Rate,
			"note": st.StretchNote(),
		}
	}
	return c.JSON(http.StatusOK, body)
}

// handleMetrics serves GET /metrics, behind a bearer token when one is configured.
func (s *Server) handleMetrics(c echo.Context) error {
	if s.metricsToken != "" {
		tok, ok := bearer(c.Request())
		if !ok || !constantTimeEqual(tok, s.metricsToken) {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="staxkeys metrics"`)
			return c.JSON(http.StatusUnauthorized, apiError{Error: "a metrics token is required"})
		}
	}
	s.metrics.ServeHTTP(c.Response(), c.Request())
	return nil
}
