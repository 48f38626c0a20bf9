package activity_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/activity"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// TestRecorderKeepsIncidents: a suspicion and a long pause, as the checker reports them,
// become one feed entry each, with how they were settled.
func TestRecorderKeepsIncidents(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := activity.NewRecorder(db, nil)
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := domain.Suspicion{From: domain.Valid, To: domain.Revoked, Since: t0, At: t0, Count: 12, Reason: "authError"}
	r.SuspicionChanged(s)
	s.Resolved, s.At, s.Confirmed, s.Cleared = true, t0.Add(30*time.Minute), make([]domain.Key, 2), make([]domain.Key, 10)
	r.SuspicionChanged(s)
	r.PauseChanged(true, t0.Add(2*time.Hour), t0.Add(time.Hour), "HTTP 429")
	r.PauseChanged(false, t0.Add(2*time.Hour), t0.Add(2*time.Hour), "")

	feed, total, err := db.ListActivity(ctx, domain.ActivityQuery{})
	if err != nil || total != 2 {
		t.Fatalf("feed %+v (%v), want 2 entries", feed, err)
	}
	pause, sus := feed[0], feed[1]
	if pause.Kind != domain.ActivityPause || !pause.At.Equal(t0.Add(time.Hour)) || !pause.Ended.Equal(t0.Add(2*time.Hour)) || pause.Reason != "HTTP 429" {
		t.Errorf("pause %+v", pause)
	}
	if sus.Kind != domain.ActivitySuspicion || !sus.Ended.Equal(t0.Add(30*time.Minute)) ||
		!strings.Contains(sus.Detail, "12 keys valid → revoked: 2 confirmed, 10 answered as before") {
		t.Errorf("suspicion %+v", sus)
	}
}
