package checker

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// fleetEnv registers n valid keys, each of its own team, and starts a scheduler that has
// checked them all once.
func fleetEnv(t *testing.T, n int, cfg Config) (*env, *Checker, *recordingObserver, []testKey) {
	t.Helper()
	e := newEnv(t, staxfake.Options{RetryAfter: 2 * time.Minute})
	var pairs []testKey
	for i := range n {
		pairs = append(pairs, e.add(t, i, staxfake.Valid))
	}
	obs := &recordingObserver{}
	c := e.checker(cfg, nil)
	c.AddObserver(obs)
	start(t, c)
	e.runUntil(t, t0.Add(time.Minute))
	for _, p := range pairs {
		if got := e.pair(t, p.ID); got.Verdict != domain.Valid {
			t.Fatalf("pair %d after the first round: %s", p.ID, got.Verdict)
		}
	}
	return e, c, obs, pairs
}

func events(recs []store.CheckRecord) (own, wide int) {
	for _, r := range recs {
		switch {
		case r.Event != nil && r.Wide:
			wide++
		case r.Event != nil && r.Event.Old != domain.Pending:
			own++
		}
	}
	return own, wide
}

// TestUpstreamWideFlipIsOneSuspicionThatClears: every key answers revoked at once, then goes
// back: no verdict changes, one suspicion begins and clears.
func TestUpstreamWideFlipIsOneSuspicionThatClears(t *testing.T) {
	e, c, obs, pairs := fleetEnv(t, 20, testConfig())
	e.fake.SetAll(staxfake.Revoked401)
	// Keys come due one at a time, as in life: the first changed answer cross-checks others.
	e.runUntil(t, e.clock.Now().Add(15*time.Minute+time.Minute))
	st := c.Status()
	if st.Suspicion == nil || st.Suspicion.To != domain.Revoked {
		t.Fatalf("status suspicion %+v, want a held change to revoked", st.Suspicion)
	}
	e.fake.SetAll(staxfake.Valid)
	e.runUntil(t, e.clock.Now().Add(30*time.Minute))

	recs, _, sus := obs.snapshot()
	if own, wide := events(recs); own != 0 || wide != 0 {
		t.Errorf("%d own and %d wide verdict changes, want none", own, wide)
	}
	if len(sus) != 2 || sus[0].Resolved || !sus[1].Resolved {
		t.Fatalf("suspicion notifications %+v, want a start and a resolution", sus)
	}
	if len(sus[1].Confirmed) != 0 || len(sus[1].Cleared) < 4 {
		t.Errorf("resolution: %d confirmed, %d cleared; want 0 and every member", len(sus[1].Confirmed), len(sus[1].Cleared))
	}
	if c.Status().Suspicion != nil {
		t.Error("suspicion still shown after its resolution")
	}
	for _, p := range pairs {
		if got := e.pair(t, p.ID); got.Verdict != domain.Valid {
			t.Errorf("pair %d: %s, want valid", p.ID, got.Verdict)
		}
	}
}

// TestUpstreamWideChangeThatHoldsIsConfirmedOnce: when every key stays revoked through the
// longer hold, the members' changes are confirmed, marked Wide, in one resolution.
func TestUpstreamWideChangeThatHoldsIsConfirmedOnce(t *testing.T) {
	e, c, obs, pairs := fleetEnv(t, 8, testConfig())
	e.fake.SetAll(staxfake.Revoked)
	if err := e.db.MakeDue(context.Background(), []int64{pairs[0].ID}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	c.Nudge()
	e.waitRequests(t, pairs[0].key, 2)
	e.runUntil(t, e.clock.Now().Add(40*time.Minute))
	recs, _, sus := obs.snapshot()
	own, wide := events(recs)
	if len(sus) != 2 || !sus[1].Resolved {
		t.Fatalf("suspicion notifications %+v, want a start and a resolution", sus)
	}
	if own != 0 || wide != len(sus[1].Confirmed) || wide < 4 {
		t.Errorf("%d own and %d wide changes, %d confirmed members; want 0 own, every member wide", own, wide, len(sus[1].Confirmed))
	}
	for _, p := range sus[1].Confirmed {
		if got := e.pair(t, p.ID); got.Verdict != domain.Revoked {
			t.Errorf("confirmed member %d: %s", p.ID, got.Verdict)
		}
	}
}

// TestSingleRevocationIsConfirmedPromptly: one key revoked among many healthy ones changes
// after one re-check, on its own, without a suspicion.
func TestSingleRevocationIsConfirmedPromptly(t *testing.T) {
	e, c, obs, pairs := fleetEnv(t, 10, testConfig())
	p := pairs[3]
	e.fake.Set(p.email, p.key, staxfake.Revoked401)
	revokedAt := e.clock.Now()
	if err := e.db.MakeDue(context.Background(), []int64{p.ID}, revokedAt); err != nil {
		t.Fatal(err)
	}
	c.Nudge()
	e.waitRequests(t, p.key, 2)
	e.runUntil(t, revokedAt.Add(time.Minute))
	recs, _, sus := obs.snapshot()
	if len(sus) != 0 {
		t.Fatalf("suspicions %+v, want none", sus)
	}
	var ev *domain.Event
	for _, r := range recs {
		if r.Event != nil && r.Event.KeyID == p.ID {
			ev = r.Event
		}
	}
	if ev == nil || ev.New != domain.Revoked || ev.Old != domain.Valid {
		t.Fatalf("no valid→revoked event for the revoked key (events %+v)", ev)
	}
	// One re-check after ConfirmDelay, with the cross-checks answered in between.
	if took := ev.At.Sub(revokedAt); took > 10*time.Second {
		t.Errorf("confirmed %s after the change, want within ConfirmDelay and a cross-check wait", took)
	}
	if got := e.pair(t, pairs[0].ID); got.Verdict != domain.Valid {
		t.Errorf("a healthy key became %s", got.Verdict)
	}
}

// TestFewBrokenKeysAreNotAnOutage: three keys of three teams keep answering 500 while the
// rest answer 200: no outage, the three show as failing, the rest keep being checked.
func TestFewBrokenKeysAreNotAnOutage(t *testing.T) {
	e, c, obs, pairs := fleetEnv(t, 20, testConfig())
	for _, p := range pairs[:3] {
		e.fake.Set(p.email, p.key, staxfake.Error500)
	}
	ids := []int64{pairs[0].ID, pairs[1].ID, pairs[2].ID}
	if err := e.db.MakeDue(context.Background(), ids, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	c.Nudge()
	began := e.clock.Now()
	for _, p := range pairs[:3] {
		e.waitRequests(t, p.key, 2)
	}
	e.runUntil(t, began.Add(20*time.Minute))
	_, outages, _ := obs.snapshot()
	if len(outages) != 0 || c.Status().Outage {
		t.Fatalf("outage notifications %v, want none", outages)
	}
	for _, p := range pairs[:3] {
		got := e.pair(t, p.ID)
		if got.Verdict != domain.Valid || got.Failures < 3 || !got.FailingSince.Equal(began) {
			t.Errorf("broken pair %d: %s, %d failures, failing since %s", p.ID, got.Verdict, got.Failures, got.FailingSince)
		}
	}
	for _, p := range pairs[3:] {
		if got := e.pair(t, p.ID); got.LastCheck == nil || got.LastCheck.At.Before(began) {
			t.Errorf("healthy pair %d not checked since the faults began", p.ID)
		}
	}
}

// TestOutageProbeHonoursRetryAfter: a 503 with Retry-After paces the gentle probes.
func TestOutageProbeHonoursRetryAfter(t *testing.T) {
	e, c, _, pairs := fleetEnv(t, 5, testConfig())
	e.fake.SetAll(staxfake.Unavailable) // 503 with Retry-After: 2m
	if err := c.CheckAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		e.waitRequests(t, p.key, 2)
	}
	e.blocked(t, 1)
	if !c.Status().Outage {
		t.Fatal("no outage with every key answering 503")
	}
	if d, _ := e.clock.NextWait(); d != 2*time.Minute {
		t.Errorf("next probe in %s, want the 503's Retry-After of 2m", d)
	}
}

// TestSuspicionSurvivesRestart: a checker restarted while a suspicion holds its members
// resumes it, so they are not each confirmed and alerted on their own.
func TestSuspicionSurvivesRestart(t *testing.T) {
	e, c, _, pairs := fleetEnv(t, 8, testConfig())
	e.fake.SetAll(staxfake.Revoked401)
	if err := c.CheckAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		e.waitRequests(t, p.key, 2)
	}
	e.runUntil(t, e.clock.Now().Add(time.Minute))
	if c.Status().Suspicion == nil {
		t.Fatal("no suspicion with every key revoked at once")
	}
	c2 := e.checker(testConfig(), nil)
	obs := &recordingObserver{}
	c2.AddObserver(obs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c2.Run(ctx) }() // beside the first: only its start-up is under test
	defer func() { cancel(); <-done }()
	e.blocked(t, 2)
	st := c2.Status()
	if st.Suspicion == nil || st.Suspicion.Count < 4 {
		t.Fatalf("the restarted checker shows suspicion %+v, want the held members", st.Suspicion)
	}
}

// TestSlotFreeBeforeTheWrite: with the database's write lock held by another connection, the
// scheduler still sends the next checks (one slot, three due keys): a check gives its slot
// back once its answer is classified, and its pair stays in flight until the write lands.
func TestSlotFreeBeforeTheWrite(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	var pairs []testKey
	for i := range 3 {
		pairs = append(pairs, e.add(t, i, staxfake.Valid))
	}
	later := map[int64]time.Time{}
	for _, p := range pairs {
		later[p.ID] = t0.Add(30 * time.Minute) // before the hourly prune, a write
	}
	if err := e.db.Reschedule(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	c := e.checker(testConfig(), nil)
	ch, unsub := c.Subscribe()
	defer unsub()
	start(t, c)
	e.blocked(t, 1) // started, and asleep until the keys come due

	blocker, err := sql.Open("sqlite", e.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	conn, err := blocker.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30 * time.Minute)
	began := time.Now()
	for _, p := range pairs {
		e.waitRequests(t, p.key, 1) // all three asked while the first write still waits
	}
	t.Logf("three checks sent in %s with the write lock held", time.Since(began))
	if n := c.Status().InFlight; n != 3 {
		t.Errorf("%d pairs in flight, want 3 until their results are stored", n)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	updates(t, ch, 3)
	t.Logf("stored %s after the lock was released", time.Since(began))
	for _, p := range pairs {
		if got := e.pair(t, p.ID); got.Verdict != domain.Valid {
			t.Errorf("pair %d: %s after the lock was released", p.ID, got.Verdict)
		}
	}
}

// TestSettledChangesAreNoEvidence: after a suspicion clears, a single key's real revocation
// minutes later is confirmed on its own, not counted with the changes that went back.
func TestSettledChangesAreNoEvidence(t *testing.T) {
	cfg := testConfig()
	cfg.SuspectHold = 20 * time.Second // so the revocation comes within the window of the flip
	e, c, obs, pairs := fleetEnv(t, 8, cfg)
	e.fake.SetAll(staxfake.Revoked401)
	if err := c.CheckAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		e.waitRequests(t, p.key, 2)
	}
	e.runUntil(t, e.clock.Now().Add(10*time.Second))
	e.fake.SetAll("")
	e.runUntil(t, e.clock.Now().Add(30*time.Second)) // past the hold: every member cleared
	if _, _, sus := obs.snapshot(); len(sus) != 2 {
		t.Fatalf("%d suspicion notifications, want a start and a resolution", len(sus))
	}
	p := pairs[2]
	asked := e.fake.RequestsFor(p.key)
	e.fake.Set(p.email, p.key, staxfake.Revoked401)
	if err := e.db.MakeDue(context.Background(), []int64{p.ID}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	c.Nudge()
	e.waitRequests(t, p.key, asked+1)
	e.runUntil(t, e.clock.Now().Add(time.Minute))
	if _, _, sus := obs.snapshot(); len(sus) != 2 {
		t.Errorf("%d suspicion notifications, want still 2: one key's revocation is no suspicion", len(sus))
	}
	if got := e.pair(t, p.ID); got.Verdict != domain.Revoked {
		t.Errorf("the revoked key is %s (candidate %s×%d, %d requests, last %+v)", got.Verdict, got.Candidate, got.CandidateCount, e.fake.RequestsFor(p.key), got.LastCheck)
	}
}
