package checker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/activity"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

func TestNudgeChecksNewKeyPromptly(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	c := e.checker(testConfig(), nil)
	ch, unsub := c.Subscribe()
	defer unsub()
	start(t, c)
	e.blocked(t, 1) // idle: no pairs yet

	p := e.add(t, 1, staxfake.Valid)
	c.Nudge()
	u := updates(t, ch, 1)[0]
	if u.KeyID != p.ID || u.Verdict != domain.Valid || u.Outcome != domain.OutcomeValid || !u.At.Equal(t0) {
		t.Errorf("update %+v, want pair %d valid at %s", u, p.ID, t0)
	}
	got := e.pair(t, p.ID)
	if got.Verdict != domain.Valid || !got.NextCheckAt.Equal(t0.Add(15*time.Minute)) {
		t.Errorf("pair after check: %s, next %s", got.Verdict, got.NextCheckAt)
	}
	if n := e.fake.RequestsFor(p.key); n != 1 {
		t.Errorf("%d requests for the key, want 1", n)
	}
	if !e.clock.Now().Equal(t0) {
		t.Error("the check needed the clock to move")
	}
	e.blocked(t, 1)
	if st := c.Status(); !st.LastCycleAt.Equal(t0) || st.Keys != 1 || !st.Running || !st.Started.Equal(t0) {
		t.Errorf("status %+v", st)
	}
}

func TestRateLimitHoldsBackOnlyItsTeam(t *testing.T) {
	e := newEnv(t, staxfake.Options{RetryAfter: 30 * time.Second})
	a := e.add(t, 1, staxfake.RateLimited)
	b := e.add(t, 2, staxfake.Valid)
	d := e.add(t, 3, staxfake.Valid)
	// A second key of a's team waits with it.
	mate, err := e.vault.Add(context.Background(), keys.Input{Label: "mate", Email: strings.ToUpper(a.email), Key: "k-mate-0000000000000000000000000000000000"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.checker(testConfig(), nil)
	ch, unsub := c.Subscribe()
	defer unsub()
	start(t, c)

	// The 429, and the other teams checked at once; the 429's team waits. (Results are stored
	// in group commits, so their updates may come in any order.)
	got := map[int64]domain.Outcome{}
	for _, u := range updates(t, ch, 3) {
		got[u.KeyID] = u.Outcome
	}
	if got[a.ID] != domain.OutcomeUndecided || got[b.ID] != domain.OutcomeValid || got[d.ID] != domain.OutcomeValid {
		t.Fatalf("updates %v, want the 429 of pair %d and pairs %d and %d of other teams valid", got, a.ID, b.ID, d.ID)
	}
	e.blocked(t, 1)
	until := t0.Add(30 * time.Second)
	st := c.Status()
	if st.Paused(t0) || st.TeamsPaused != 1 {
		t.Errorf("status: paused %v, teams paused %d; want no global pause and one team held back", st.Paused(t0), st.TeamsPaused)
	}
	if p := e.pair(t, mate.ID); !p.NextCheckAt.Equal(until) || p.LastCheck != nil {
		t.Errorf("the team mate is due %s (checked %v), want %s", p.NextCheckAt, p.LastCheck != nil, until)
	}
	if _, _, err := c.checkNow(context.Background(), mate.ID); !errors.Is(err, ErrPaused) {
		t.Errorf("CheckNow of the held-back team: %v, want ErrPaused", err)
	}
	if _, _, err := c.checkNow(context.Background(), b.ID); err != nil {
		t.Errorf("CheckNow of another team during its pause: %v", err)
	}
	if n := e.fake.Requests(); n != 4 {
		t.Errorf("%d requests, want 4 (the 429, two other teams, one check now)", n)
	}
}

func TestRateLimitFromSeveralTeamsPausesEveryCheck(t *testing.T) {
	e := newEnv(t, staxfake.Options{RetryAfter: 365 * 24 * time.Hour})
	for i := range 3 {
		e.add(t, i, staxfake.RateLimited)
	}
	ok := e.add(t, 9, staxfake.Valid)
	var obs recordingObserver
	c := e.checker(testConfig(), nil)
	c.AddObserver(&obs)
	ch, unsub := c.Subscribe()
	defer unsub()
	start(t, c)
	for _, u := range updates(t, ch, 3) {
		if u.KeyID == ok.ID {
			t.Fatalf("the healthy key was checked before three teams' 429s: %+v", u)
		}
	}
	e.blocked(t, 1)
	// The hint of a year is capped at MaxRetryAfter (1h).
	st := c.Status()
	if want := t0.Add(time.Hour); !st.PausedUntil.Equal(want) {
		t.Errorf("paused until %s, want %s", st.PausedUntil, want)
	}
	if n := e.fake.Requests(); n != 3 {
		t.Errorf("%d requests during the pause, want 3", n)
	}
	if got := obs.pauses(); len(got) != 1 || !got[0] {
		t.Errorf("pause notifications %v, want one start", got)
	}
	e.fake.SetAll(staxfake.Valid)
	e.clock.Advance(time.Hour)
	updates(t, ch, 1)
	e.blocked(t, 1)
	if got := obs.pauses(); len(got) != 2 || got[1] {
		t.Errorf("pause notifications %v, want a start and an end", got)
	}
}

func TestStartSpreadsOverdueKeys(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	cfg := testConfig()
	cfg.Interval = 10 * time.Minute
	ctx := context.Background()

	// Ten pairs checked long ago whose next checks all passed while staxkeys was down,
	// pair i the most overdue, and one pair never checked.
	var checked []testKey
	for i := range 10 {
		p := e.add(t, i, staxfake.Valid)
		at := t0.Add(-2*time.Hour - time.Duration(i)*time.Minute)
		rec := Decide(p.Key, staxapi.Result{Outcome: domain.OutcomeValid}, at, cfg, cfg.Interval, nil)
		if err := e.db.RecordCheck(ctx, rec); err != nil {
			t.Fatal(err)
		}
		checked = append(checked, p)
	}
	fresh := e.add(t, 10, staxfake.Valid)

	c := e.checker(cfg, nil)
	ch, unsub := c.Subscribe()
	defer unsub()
	start(t, c)
	// The never-checked pair and the most overdue one are due at once; the rest wait.
	// They run side by side, so either may finish first.
	got := updates(t, ch, 2)
	if ids := []int64{got[0].KeyID, got[1].KeyID}; !slices.Contains(ids, fresh.ID) || !slices.Contains(ids, checked[9].ID) {
		t.Errorf("first checks %+v, want keys %d and %d", got, fresh.ID, checked[9].ID)
	}
	e.blocked(t, 1)
	if n := e.fake.Requests(); n != 2 {
		t.Errorf("%d requests at start-up, want 2 (no burst)", n)
	}
	// The other nine are spaced a tenth of the interval apart, most overdue first.
	for i := range 9 {
		want := t0.Add(time.Duration(9-i) * time.Minute)
		if next := e.pair(t, checked[i].ID).NextCheckAt; !next.Equal(want) {
			t.Errorf("pair %d next check at +%s, want +%s", i, next.Sub(t0), want.Sub(t0))
		}
	}
	// And each comes when its time does, one at a time.
	e.clock.Advance(time.Minute)
	if u := updates(t, ch, 1)[0]; u.KeyID != checked[8].ID {
		t.Errorf("after a minute checked %d, want %d", u.KeyID, checked[8].ID)
	}
	e.blocked(t, 1)
	if n := e.fake.Requests(); n != 3 {
		t.Errorf("%d requests after a minute, want 3", n)
	}
}

func TestBackoffAfterUndecided(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	p := e.add(t, 1, staxfake.Error500)
	cfg := testConfig()
	cfg.Interval, cfg.BackoffBase, cfg.OutageAfter = 2*time.Minute, 30*time.Second, 1000
	c := e.checker(cfg, nil)
	ch, unsub := c.Subscribe()
	defer unsub()
	start(t, c)

	for i, gap := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 2 * time.Minute} {
		updates(t, ch, 1)
		got := e.pair(t, p.ID)
		now := e.clock.Now()
		if got.Failures != i+1 || !got.NextCheckAt.Equal(now.Add(gap)) || got.Verdict != domain.Pending {
			t.Fatalf("after failure %d: failures %d, next +%s (want +%s), verdict %s",
				i+1, got.Failures, got.NextCheckAt.Sub(now), gap, got.Verdict)
		}
		e.blocked(t, 1)
		if d, _ := e.clock.NextWait(); d != gap {
			t.Fatalf("after failure %d the scheduler sleeps %s, want %s", i+1, d, gap)
		}
		e.clock.Advance(gap)
	}
	updates(t, ch, 1)
	if n := len(e.checks(t, p.ID)); n != 5 {
		t.Errorf("%d check rows, want 5", n)
	}
	if n := len(e.events(t, p.ID)); n != 0 {
		t.Errorf("%d events from undecided checks, want 0", n)
	}
}

func TestConfirmationRecheckAfterConfirmDelay(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	p := e.add(t, 1, staxfake.Valid)
	cfg := testConfig()
	c := e.checker(cfg, nil)
	ch, unsub := c.Subscribe()
	defer unsub()
	start(t, c)
	updates(t, ch, 1)

	e.fake.Set(p.email, p.key, staxfake.Revoked)
	e.blocked(t, 1)
	e.clock.Advance(15 * time.Minute)
	if u := updates(t, ch, 1)[0]; u.Outcome != domain.OutcomeRevoked || u.Verdict != domain.Valid {
		t.Fatalf("first revoked answer: %+v, want verdict still valid", u)
	}
	got := e.pair(t, p.ID)
	recheck := e.clock.Now().Add(5 * time.Second)
	if got.Candidate != domain.Revoked || got.CandidateCount != 1 || !got.NextCheckAt.Equal(recheck) {
		t.Errorf("candidate %s×%d, next %s, want revoked×1 at %s", got.Candidate, got.CandidateCount, got.NextCheckAt, recheck)
	}
	e.blocked(t, 1)
	if d, _ := e.clock.NextWait(); d != 5*time.Second {
		t.Errorf("re-check planned in %s, want 5s", d)
	}
	e.clock.Advance(5 * time.Second)
	if u := updates(t, ch, 1)[0]; u.Verdict != domain.Revoked {
		t.Fatalf("second revoked answer: %+v, want verdict revoked", u)
	}
	evs := e.events(t, p.ID)
	if len(evs) != 2 || evs[0].Old != domain.Valid || evs[0].New != domain.Revoked || !evs[0].At.Equal(recheck) {
		t.Errorf("events %+v, want valid→revoked at %s", evs, recheck)
	}
}

func TestOutageProbesGentlyThenRecovers(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	var pairs []testKey
	for i := range 5 {
		pairs = append(pairs, e.add(t, i, staxfake.Valid))
	}
	c := e.checker(testConfig(), nil)
	c.AddObserver(activity.NewRecorder(e.db, nil))
	ch, unsub := c.Subscribe()
	defer unsub()
	all, unsubAll := c.Subscribe()
	defer unsubAll()
	start(t, c)
	updates(t, ch, 5)
	e.blocked(t, 1)

	e.fake.SetAll(staxfake.Error500)
	if err := c.CheckAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Faults from three teams, then a cross-check of two other teams' keys that fault too,
	// make the outage.
	updates(t, ch, 5)
	e.blocked(t, 1)
	st := c.Status()
	if !st.Outage || !st.OutageSince.Equal(t0) {
		t.Fatalf("status after five faults: outage %v since %s", st.Outage, st.OutageSince)
	}
	if n := e.fake.Requests(); n != 10 {
		t.Fatalf("%d requests, want 5 + 5", n)
	}

	// One probe at a time, 15s then 30s apart; then the API answers again.
	for i, delay := range []time.Duration{15 * time.Second, 30 * time.Second} {
		if d, _ := e.clock.NextWait(); d != delay {
			t.Fatalf("probe %d planned in %s, want %s", i+1, d, delay)
		}
		e.clock.Advance(delay)
		updates(t, ch, 1)
		e.blocked(t, 1)
		if n := e.fake.Requests(); n != int64(11+i) {
			t.Fatalf("%d requests after probe %d, want %d", n, i+1, 11+i)
		}
	}
	if d, _ := e.clock.NextWait(); d != time.Minute {
		t.Fatalf("third probe planned in %s, want 1m", d)
	}
	e.fake.SetAll("")
	e.clock.Advance(time.Minute)
	updates(t, ch, 5) // the probe, then the four pairs that came due meanwhile
	e.blocked(t, 1)
	if st := c.Status(); st.Outage {
		t.Error("outage not over after a good answer")
	}
	if n := e.fake.Requests(); n != 17 {
		t.Errorf("%d requests in all, want 17", n)
	}
	var global int
	for len(all) > 0 {
		if u := <-all; u.KeyID == 0 {
			global++
		}
	}
	if global != 2 {
		t.Errorf("%d checker-wide updates, want 2 (outage start and end)", global)
	}
	// The activity feed has the outage, from its first fault to the good answer.
	feed, _, err := e.db.ListActivity(context.Background(), domain.ActivityQuery{Kinds: []domain.ActivityKind{domain.ActivityOutage}})
	if err != nil || len(feed) != 1 || !feed[0].At.Equal(t0) || !feed[0].Ended.Equal(e.clock.Now()) {
		t.Errorf("outages in the feed %+v (%v), want one from %s to %s", feed, err, t0, e.clock.Now())
	}
	for _, p := range pairs {
		got := e.pair(t, p.ID)
		if got.Verdict != domain.Valid || got.Failures != 0 {
			t.Errorf("pair %d after the outage: %s, %d failures", p.ID, got.Verdict, got.Failures)
		}
		if evs := e.events(t, p.ID); len(evs) != 1 || evs[0].New != domain.Valid {
			t.Errorf("pair %d events %+v, want only pending→valid", p.ID, evs)
		}
	}
}

func TestRateCap(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	for i := range 4 {
		e.add(t, i, staxfake.Valid)
	}
	cfg := testConfig()
	cfg.Concurrency, cfg.Rate = 4, 2
	c := e.checker(cfg, nil)
	ch, unsub := c.Subscribe()
	defer unsub()
	start(t, c)

	// The first check goes at once; each further one waits for its token, 500ms apart,
	// though all four are due and four could run at once.
	updates(t, ch, 1)
	for i := 2; i <= 4; i++ {
		e.blocked(t, 1)
		if d, _ := e.clock.NextWait(); d != 500*time.Millisecond {
			t.Fatalf("check %d waits %s for the rate cap, want 500ms", i, d)
		}
		if n := e.fake.Requests(); n != int64(i-1) {
			t.Fatalf("%d requests before check %d's token, want %d", n, i, i-1)
		}
		e.clock.Advance(500 * time.Millisecond)
		updates(t, ch, 1)
	}
}

func TestConcurrencyBound(t *testing.T) {
	e := newEnv(t, staxfake.Options{Latency: 20 * time.Millisecond, Default: staxfake.Valid})
	e.seed(t, 40)
	cfg := testConfig()
	cfg.Concurrency = 4
	c := e.checker(cfg, nil)
	ch, unsub := c.Subscribe()
	defer unsub()
	start(t, c)

	// The scheduler, a cycle and admins' CheckNow all share the one bound.
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := c.RunCycle(context.Background()); err != nil {
			t.Error(err)
		}
	})
	for id := int64(1); id <= 8; id++ {
		wg.Go(func() {
			if _, _, err := c.checkNow(context.Background(), id); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	updates(t, ch, 40) // at least the scheduler's or the cycle's 40
	if mc := e.fake.MaxConcurrent(); mc > 4 || mc < 1 {
		t.Errorf("fake saw up to %d requests at once, want 1..4", mc)
	}
}

func TestStretchedInterval(t *testing.T) {
	tests := []struct {
		pairs    int
		rate     float64
		eff      time.Duration
		note     string
		interval time.Duration
	}{
		{pairs: 1800, rate: 2, eff: 15 * time.Minute, interval: 15 * time.Minute},
		{pairs: 1801, rate: 2, eff: 900500 * time.Millisecond, interval: 15 * time.Minute,
			note: "1,800 keys fit in 15m at 2/s; checking every 16m"},
		{pairs: 5000, rate: 2, eff: 2500 * time.Second, interval: 15 * time.Minute,
			note: "1,800 keys fit in 15m at 2/s; checking every 42m"},
		{pairs: 1_000_000, rate: 0, eff: 15 * time.Minute, interval: 15 * time.Minute},
		{pairs: 100_000, rate: 10, eff: 10_000 * time.Second, interval: 15 * time.Minute,
			note: "9,000 keys fit in 15m at 10/s; checking every 2h47m"},
		{pairs: 100, rate: 0.5, eff: 200 * time.Second, interval: time.Minute,
			note: "30 keys fit in 1m at 0.5/s; checking every 4m"},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.Interval, cfg.Rate = tt.interval, tt.rate
		c := New(nil, nil, nil, cfg, clocktest.NewFake(t0), nil)
		c.setKeyCount(tt.pairs)
		st := c.Status()
		if st.EffectiveInterval != tt.eff || st.Stretched != (tt.note != "") || st.StretchNote() != tt.note {
			t.Errorf("%d pairs at %v/s in %s: effective %s, stretched %v, note %q; want %s, %q",
				tt.pairs, tt.rate, tt.interval, st.EffectiveInterval, st.Stretched, st.StretchNote(), tt.eff, tt.note)
		}
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1800: "1,800",
		123456: "123,456", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := fmtCount(n); got != want {
			t.Errorf("fmtCount(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", 45 * time.Second: "45s", 1500 * time.Millisecond: "2s",
		15 * time.Minute: "15m", 2500 * time.Second: "42m", time.Hour: "1h", 150 * time.Minute: "2h30m",
		48 * time.Hour: "2d", 50 * time.Hour: "2d2h"} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// blockingProbe wraps the real client and reports each check as it starts.
type blockingProbe struct {
	inner   Prober
	entered chan int64
	emails  map[string]int64
}

func (b *blockingProbe) Check(ctx context.Context, email, key string) (staxapi.Result, error) {
	b.entered <- b.emails[email]
	return b.inner.Check(ctx, email, key)
}

func TestShutdownDuringHangingChecks(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	probe := &blockingProbe{inner: e.api, entered: make(chan int64, 10), emails: map[string]int64{}}
	var pairs []testKey
	for i := range 5 {
		p := e.add(t, i, staxfake.Hang)
		pairs = append(pairs, p)
		probe.emails[p.email] = p.ID
	}
	cfg := testConfig()
	cfg.Concurrency = 3
	c := e.checker(cfg, probe)
	stop := start(t, c)
	for range 3 {
		select {
		case <-probe.entered:
		case <-time.After(waitLimit):
			t.Fatal("checks did not start")
		}
	}

	began := time.Now()
	stop() // fails the test if Run errs or hangs
	// The client's timeout is 30s: returning well within it means the checks were cancelled.
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("Run took %s to return", took)
	}
	for _, p := range pairs {
		if cs := e.checks(t, p.ID); len(cs) != 0 {
			t.Errorf("pair %d has %d check rows after shutdown, want 0", p.ID, len(cs))
		}
		if got := e.pair(t, p.ID); got.Verdict != domain.Pending || got.LastCheck != nil {
			t.Errorf("pair %d: verdict %s, last check %+v", p.ID, got.Verdict, got.LastCheck)
		}
	}
	if n := c.Status().InFlight; n != 0 {
		t.Errorf("%d checks still in flight", n)
	}
}

func TestCheckNow(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	p := e.add(t, 1, staxfake.Denied)
	c := e.checker(testConfig(), nil)
	ctx := context.Background()
	defer e.drive(t)() // a new key's denied is confirmed by a re-check, after ConfirmDelay

	got, res, err := c.checkNow(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.fake.RequestsFor(p.key); n != 2 {
		t.Errorf("%d requests, want 2: the first bad answer of a new key is confirmed", n)
	}
	if res.Outcome != domain.OutcomeDenied || res.HTTPStatus != 403 {
		t.Errorf("result %+v, want denied 403", res)
	}
	if got.Verdict != domain.Denied || got.LastCheck == nil || got.LastCheck.Outcome != domain.OutcomeDenied {
		t.Errorf("pair after CheckNow: %+v", got)
	}
	if _, _, err := c.checkNow(ctx, 999); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("CheckNow of an unknown pair: %v, want ErrNotFound", err)
	}
}

func TestCheckNowConfirmsInline(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	p := e.add(t, 1, staxfake.Valid)
	c := e.checker(testConfig(), nil)
	ctx := context.Background()
	if got, _, err := c.checkNow(ctx, p.ID); err != nil || got.Verdict != domain.Valid {
		t.Fatalf("first CheckNow: %v, %v", got.Verdict, err)
	}

	e.fake.Set(p.email, p.key, staxfake.Revoked)
	type answer struct {
		p   domain.Key
		res staxapi.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		got, res, err := c.checkNow(ctx, p.ID)
		done <- answer{got, res, err}
	}()
	e.blocked(t, 1) // waiting ConfirmDelay before the re-check
	if d, _ := e.clock.NextWait(); d != 5*time.Second {
		t.Errorf("re-check planned in %s, want 5s", d)
	}
	e.clock.Advance(5 * time.Second)
	a := <-done
	if a.err != nil || a.p.Verdict != domain.Revoked || a.res.Outcome != domain.OutcomeRevoked {
		t.Fatalf("confirmed CheckNow: verdict %s, outcome %s, err %v", a.p.Verdict, a.res.Outcome, a.err)
	}
	if n := e.fake.RequestsFor(p.key); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if evs := e.events(t, p.ID); len(evs) != 2 || evs[0].New != domain.Revoked {
		t.Errorf("events %+v", evs)
	}
}

func TestRunCycleCoversEveryKeyOnce(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	behaviours := []staxfake.Behavior{staxfake.Valid, staxfake.Revoked, staxfake.Denied}
	verdicts := []domain.Verdict{domain.Valid, domain.Revoked, domain.Denied}
	var pairs []testKey
	for i := range 20 {
		pairs = append(pairs, e.add(t, i, behaviours[i%3]))
	}
	cfg := testConfig()
	cfg.Concurrency = 4
	var logs bytes.Buffer
	c := New(e.db, e.vault, e.api, cfg, e.clock, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer e.drive(t)()

	for round := 1; round <= 2; round++ {
		res, err := c.RunCycle(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(pairs) {
			t.Fatalf("round %d: %d results, want %d", round, len(res), len(pairs))
		}
		for i, p := range pairs {
			r := res[i]
			if r.Err != nil || r.Key.ID != p.ID || r.Key.Verdict != verdicts[i%3] || string(r.Result.Outcome) != string(verdicts[i%3]) {
				t.Errorf("round %d pair %d: %+v", round, p.ID, r)
			}
			// A new key's revoked or denied is confirmed by a second request.
			want := int64(round)
			if verdicts[i%3] != domain.Valid {
				want++
			}
			if n := e.fake.RequestsFor(p.key); n != want {
				t.Errorf("round %d pair %d: %d requests, want %d", round, p.ID, n, want)
			}
		}
	}
	out := logs.String()
	if !strings.Contains(out, "pair_id=") || !strings.Contains(out, "outcome=revoked") {
		t.Errorf("debug log lacks per-check lines:\n%s", out)
	}
	for _, p := range pairs {
		if strings.Contains(out, p.email) || strings.Contains(out, p.key) {
			t.Fatalf("the log contains an email or a key:\n%s", out)
		}
	}
}

func TestRunCycleStopsOnOutage(t *testing.T) {
	e := newEnv(t, staxfake.Options{Default: staxfake.BadGateway})
	e.seed(t, 10)
	c := e.checker(testConfig(), nil)
	res, err := c.RunCycle(context.Background())
	if !errors.Is(err, ErrOutage) {
		t.Fatalf("RunCycle: %v, want ErrOutage", err)
	}
	// Three teams' faults, then two other teams' keys cross-checked.
	if n := e.fake.Requests(); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
	var checked, skipped int
	for _, r := range res {
		switch {
		case r.Err == nil && r.Result.UpstreamFault:
			checked++
		case errors.Is(r.Err, ErrOutage):
			skipped++
		default:
			t.Errorf("result %+v", r)
		}
	}
	if checked != 5 || skipped != 5 {
		t.Errorf("%d checked, %d skipped; want 5 and 5", checked, skipped)
	}
}

// editingProbe replaces the pair's key while its first check is in flight.
type editingProbe struct {
	inner Prober
	edit  func()
	once  sync.Once
}

func (p *editingProbe) Check(ctx context.Context, email, key string) (staxapi.Result, error) {
	p.once.Do(p.edit)
	return p.inner.Check(ctx, email, key)
}

func TestKeyEditedDuringCheckDropsTheAnswer(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	p := e.add(t, 1, staxfake.Valid)
	newKey := "n" + strings.Repeat("7", 39)
	e.fake.Set(p.email, newKey, staxfake.Revoked)
	probe := &editingProbe{inner: e.api, edit: func() {
		e.clock.Advance(time.Second) // the edit comes after the check began
		if _, err := e.vault.Update(context.Background(), p.ID, keys.Input{Label: "x", Email: p.email, Key: newKey}); err != nil {
			t.Error(err)
		}
	}}
	c := e.checker(testConfig(), probe)
	ch, unsub := c.Subscribe()
	defer unsub()
	start(t, c)

	// The answer for the old key is dropped; the nudge brings a check of the new one, whose
	// first revoked is confirmed by a re-check.
	if u := updates(t, ch, 1)[0]; u.KeyID != p.ID || u.Outcome != domain.OutcomeRevoked || u.Verdict != domain.Pending {
		t.Errorf("update %+v, want the new key's first answer, not yet confirmed", u)
	}
	e.blocked(t, 1)
	e.clock.Advance(5 * time.Second)
	if u := updates(t, ch, 1)[0]; u.KeyID != p.ID || u.Verdict != domain.Revoked {
		t.Errorf("update %+v, want the new key's confirmed verdict", u)
	}
	if cs := e.checks(t, p.ID); len(cs) != 2 || cs[0].Outcome != domain.OutcomeRevoked || cs[1].Outcome != domain.OutcomeRevoked {
		t.Errorf("checks %+v, want only the new key's two", cs)
	}
	if e.fake.RequestsFor(p.key) != 1 || e.fake.RequestsFor(newKey) != 2 {
		t.Errorf("requests: old key %d, new key %d; want 1 and 2", e.fake.RequestsFor(p.key), e.fake.RequestsFor(newKey))
	}
	if evs := e.events(t, p.ID); len(evs) != 1 || evs[0].New != domain.Revoked {
		t.Errorf("events %+v, want only pending→revoked", evs)
	}
}

func TestPruneAtStartAndHourly(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	p := e.add(t, 1, staxfake.Valid)
	ctx := context.Background()
	cfg := testConfig()
	cfg.HistoryDays = 90
	// Three checks: too old already, old within the hour, recent. None makes the pair due.
	for _, age := range []time.Duration{91 * 24 * time.Hour, 90*24*time.Hour - 30*time.Minute, time.Hour} {
		at := t0.Add(-age)
		rec := Decide(p.Key, staxapi.Result{Outcome: domain.OutcomeValid}, at, cfg, cfg.Interval, nil)
		rec.NextCheckAt = t0.Add(48 * time.Hour)
		if err := e.db.RecordCheck(ctx, rec); err != nil {
			t.Fatal(err)
		}
		p.Key = apply(p.Key, rec)
	}
	c := e.checker(cfg, nil)
	start(t, c)
	e.blocked(t, 1)
	if n := len(e.checks(t, p.ID)); n != 2 {
		t.Fatalf("%d checks after the start-up prune, want 2", n)
	}
	if d, _ := e.clock.NextWait(); d != time.Hour {
		t.Fatalf("next wake-up in %s, want 1h (the hourly prune)", d)
	}
	e.clock.Advance(time.Hour)
	e.blocked(t, 1)
	if n := len(e.checks(t, p.ID)); n != 1 {
		t.Errorf("%d checks after the hourly prune, want 1", n)
	}
	if n := len(e.events(t, p.ID)); n != 1 {
		t.Errorf("%d events, want 1: events are never pruned", n)
	}
}

func TestSlowSubscriberDoesNotStallChecks(t *testing.T) {
	e := newEnv(t, staxfake.Options{Default: staxfake.Valid})
	e.seed(t, 300)
	cfg := testConfig()
	cfg.Concurrency = 8
	c := e.checker(cfg, nil)
	slow, unsubSlow := c.Subscribe() // never read
	fast, unsub := c.Subscribe()
	var got int
	var wg sync.WaitGroup
	wg.Go(func() {
		for range fast {
			got++
		}
	})
	if _, err := c.RunCycle(context.Background()); err != nil {
		t.Fatal(err)
	}
	unsub()
	wg.Wait()
	if got == 0 || got > 300 {
		t.Errorf("the reading subscriber got %d updates, want 1..300", got)
	}
	if n := len(slow); n != cap(slow) {
		t.Errorf("slow subscriber holds %d updates, want a full buffer of %d", n, cap(slow))
	}
	unsubSlow()
	unsubSlow() // twice is harmless
	if _, ok := <-fast; ok {
		t.Error("channel still open after unsubscribe")
	}
}

func TestRunTwiceFails(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	c := e.checker(testConfig(), nil)
	start(t, c)
	e.blocked(t, 1)
	if err := c.Run(context.Background()); err == nil {
		t.Error("a second Run started")
	}
}

// The scheduler reads the next batch of due pairs while the current one runs down. Through a
// cycle of many batches, with nudges throwing read-aheads away at random, every pair is
// still asked about exactly once and never more than Concurrency at once.
func TestReadAheadStartsEachPairOnce(t *testing.T) {
	const n, conc = 400, 2
	e := newEnv(t, staxfake.Options{Default: staxfake.Valid})
	var ks []testKey
	for i := range n {
		ks = append(ks, e.add(t, i, staxfake.Valid))
	}
	cfg := testConfig()
	cfg.Concurrency, cfg.Rate = conc, 0
	c := e.checker(cfg, nil)
	stopNudging := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stopNudging:
				return
			case <-time.After(7 * time.Millisecond):
				c.Nudge()
			}
		}
	})
	start(t, c)
	deadline := time.Now().Add(waitLimit)
	for e.fake.Requests() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stopNudging)
	wg.Wait()
	e.blocked(t, 1)
	if got := e.fake.Requests(); got != n {
		t.Fatalf("fake saw %d requests, want %d", got, n)
	}
	for _, k := range ks {
		if got := e.fake.RequestsFor(k.key); got != 1 {
			t.Errorf("pair %d asked about %d times, want once", k.ID, got)
		}
		if p := e.pair(t, k.ID); p.LastCheck == nil {
			t.Errorf("pair %d has no stored check", k.ID)
		}
	}
	if mc := e.fake.MaxConcurrent(); mc > conc {
		t.Errorf("fake saw %d requests at once, want at most %d", mc, conc)
	}
	if c.readAhead.Load() == 0 {
		t.Error("no batch came from a read-ahead: the test did not exercise it")
	}
}

// startRecorder notes when each request to Stax.ai began, by key.
type startRecorder struct {
	next Prober
	mu   sync.Mutex
	at   map[string]time.Time
}

func (s *startRecorder) Check(ctx context.Context, email, key string) (staxapi.Result, error) {
	s.mu.Lock()
	s.at[key] = time.Now()
	s.mu.Unlock()
	return s.next.Check(ctx, email, key)
}

// stampObserver notes when each pair's check was stored.
type stampObserver struct {
	recordingObserver
	mu sync.Mutex
	at map[int64]time.Time
}

func (o *stampObserver) CheckRecorded(k domain.Key, rec store.CheckRecord) {
	o.mu.Lock()
	o.at[k.ID] = time.Now()
	o.mu.Unlock()
}

// A check's slot is free while its answer waits for the group commit, and `staxkeys check`
// uses it: with one slot, the second key's request goes out before the first key's answer is
// stored. (With as many workers as slots, each worker waited for its own commit before its
// next request, and each slot sat idle through the writer's gather window.)
func TestRunCycleUsesTheSlotWhileAnAnswerIsWritten(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	a := e.add(t, 1, staxfake.Valid)
	b := e.add(t, 2, staxfake.Valid)
	cfg := testConfig()
	cfg.Concurrency = 1
	rec := &startRecorder{next: e.api, at: map[string]time.Time{}}
	c := e.checker(cfg, rec)
	// The writer holds a result until every check in flight has one queued beside it, so the
	// first answer is stored only once the second check has begun, if it begins at all.
	c.writer.gather = time.Minute
	obs := &stampObserver{at: map[int64]time.Time{}}
	c.AddObserver(obs)
	defer e.drive(t)()
	res, err := c.RunCycle(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("results %+v", res)
	}
	if got := e.fake.MaxConcurrent(); got != 1 {
		t.Errorf("fake saw %d requests at once, want 1", got)
	}
	first, second := a, b
	if rec.at[b.key].Before(rec.at[a.key]) {
		first, second = b, a
	}
	if stored, began := obs.at[first.ID], rec.at[second.key]; !began.Before(stored) {
		t.Errorf("the second request began %s after the first answer was stored; want it to use the slot while that answer waits", began.Sub(stored))
	}
}
