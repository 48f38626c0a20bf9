// Package activity keeps the record of what the checker reports about Stax.ai as a whole
// (outages, suspected upstream-wide changes, long rate-limit pauses), which the activity feed
// shows beside the keys' verdict changes and the alerts. The keys' own changes are stored by
// the checker already; this adds the incidents, which were only logged and alerted before.
package activity

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// writeTimeout bounds one incident write: observers run in the checker's stride.
const writeTimeout = 5 * time.Second

// Recorder hears the checker (it is a checker.Observer) and records its incidents.
type Recorder struct {
	db  *store.DB
	log *slog.Logger
}

// NewRecorder returns a Recorder writing to db; a nil log discards.
func NewRecorder(db *store.DB, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{db: db, log: log}
}

// CheckRecorded is nothing to the feed: a key's verdict change is already in the store.
func (r *Recorder) CheckRecorded(domain.Key, store.CheckRecord) {}

// OutageChanged records an outage's beginning or end.
func (r *Recorder) OutageChanged(down bool, since, at time.Time, reason string) {
	if down {
		r.begin(domain.ActivityOutage, since, reason, "")
		return
	}
	r.end(domain.ActivityOutage, since, at, reason, fmt.Sprintf("lasted %s", at.Sub(since).Round(time.Second)))
}

// SuspicionChanged records a suspected upstream-wide change, and how it was settled.
func (r *Recorder) SuspicionChanged(s domain.Suspicion) {
	if !s.Resolved {
		r.begin(domain.ActivitySuspicion, s.Since, s.Reason, fmt.Sprintf("%s %s → %s, held for a longer confirmation", keys(s.Count), s.From, s.To))
		return
	}
	r.end(domain.ActivitySuspicion, s.Since, s.At, s.Reason,
		fmt.Sprintf("%s %s → %s: %d confirmed, %d answered as before", keys(s.Count), s.From, s.To, len(s.Confirmed), len(s.Cleared)))
}

// PauseChanged records a long pause of every check for Stax.ai's rate limit.
func (r *Recorder) PauseChanged(paused bool, until, at time.Time, reason string) {
	if paused {
		r.begin(domain.ActivityPause, at, reason, "every check paused until "+until.UTC().Format(time.RFC3339))
		return
	}
	r.end(domain.ActivityPause, at, at, reason, "")
}

func (r *Recorder) begin(kind domain.ActivityKind, at time.Time, reason, detail string) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := r.db.BeginIncident(ctx, kind, at, reason, detail); err != nil {
		r.log.Error("activity: cannot record an incident", slog.String("kind", string(kind)), slog.String("error", err.Error()))
	}
}

func (r *Recorder) end(kind domain.ActivityKind, began, at time.Time, reason, detail string) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := r.db.EndIncident(ctx, kind, began, at, reason, detail); err != nil {
		r.log.Error("activity: cannot record an incident's end", slog.String("kind", string(kind)), slog.String("error", err.Error()))
	}
}

func keys(n int) string {
	if n == 1 {
		return "1 key"
	}
	return fmt.Sprintf("%d keys", n)
}
