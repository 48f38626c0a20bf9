package checker

import (
	"reflect"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
)

func TestDecide(t *testing.T) {
	now := t0.Add(time.Hour)
	earlier := t0.Add(-24 * time.Hour)
	keyChanged := t0.Add(-48 * time.Hour)
	const interval = 15 * time.Minute

	pending := domain.Key{ID: 7, KeyChangedAt: keyChanged, Verdict: domain.Pending}
	established := func(v domain.Verdict) domain.Key {
		return domain.Key{ID: 7, KeyChangedAt: keyChanged, Verdict: v, VerdictAt: earlier, VerdictSince: earlier,
			LastValidAt: earlier}
	}
	withCandidate := func(p domain.Key, v domain.Verdict, n int) domain.Key {
		p.Candidate, p.CandidateCount = v, n
		return p
	}
	withFailures := func(p domain.Key, n int) domain.Key {
		p.Failures = n
		return p
	}

	valid := staxapi.Result{Outcome: domain.OutcomeValid, Reason: "Stax.ai accepted the key", HTTPStatus: 200, Latency: 80 * time.Millisecond}
	revoked := staxapi.Result{Outcome: domain.OutcomeRevoked, Reason: "Stax.ai said: Invalid authorization request", HTTPStatus: 200, Latency: 90 * time.Millisecond}
	denied := staxapi.Result{Outcome: domain.OutcomeDenied, Reason: "HTTP 403", HTTPStatus: 403}
	fault := staxapi.Result{Outcome: domain.OutcomeUndecided, Reason: "HTTP 500 from Stax.ai", HTTPStatus: 500, UpstreamFault: true}
	limited := staxapi.Result{Outcome: domain.OutcomeUndecided, Reason: "rate limited", HTTPStatus: 429, RateLimited: true, RetryAfter: 45 * time.Second}
	limitedNoHint := staxapi.Result{Outcome: domain.OutcomeUndecided, Reason: "rate limited", HTTPStatus: 429, RateLimited: true}
	limitedDecided := staxapi.Result{Outcome: domain.OutcomeRevoked, Reason: "auth error on a 429", HTTPStatus: 429, RateLimited: true, RetryAfter: 20 * time.Minute}

	confirm := func(n int) func(*Config) { return func(c *Config) { c.Confirm = n } }
	half := func() float64 { return 0.5 }

	tests := []struct {
		name string
		p    domain.Key
		r    staxapi.Result
		cfg  func(*Config)
		eff  time.Duration // 0: interval
		rnd  func() float64
		// want edits the "nothing changed" record: the pair's state as it was, the check
		// filled in, no next check.
		want func(r *store.CheckRecord)
	}{
		{
			name: "first verdict valid is taken at once",
			p:    pending, r: valid,
			want: func(r *store.CheckRecord) {
				r.Verdict, r.VerdictAt, r.VerdictSince, r.LastValidAt = domain.Valid, now, now, now
				r.Event = &domain.Event{KeyID: 7, At: now, Old: domain.Pending, New: domain.Valid, Reason: valid.Reason}
				r.NextCheckAt = now.Add(interval)
			},
		},
		{
			name: "a new key's first revoked is only a candidate, re-checked after ConfirmDelay",
			p:    pending, r: revoked, cfg: confirm(3),
			want: func(r *store.CheckRecord) {
				r.Candidate, r.CandidateCount = domain.Revoked, 1
				r.NextCheckAt = now.Add(5 * time.Second)
			},
		},
		{
			name: "a new key's revoked is confirmed by the second agreeing answer",
			p:    withCandidate(pending, domain.Revoked, 1), r: revoked,
			want: func(r *store.CheckRecord) {
				r.Verdict, r.VerdictAt, r.VerdictSince = domain.Revoked, now, now
				r.Event = &domain.Event{KeyID: 7, At: now, Old: domain.Pending, New: domain.Revoked, Reason: revoked.Reason}
				r.Candidate, r.CandidateCount = "", 0
				r.NextCheckAt = now.Add(interval)
			},
		},
		{
			name: "a new key's first denied is a candidate and resets failures",
			p:    withFailures(pending, 4), r: denied,
			want: func(r *store.CheckRecord) {
				r.Candidate, r.CandidateCount = domain.Denied, 1
				r.Failures, r.NextCheckAt = 0, now.Add(5*time.Second)
			},
		},
		{
			name: "a new key whose revoked is contradicted by valid takes valid at once and counts a flap",
			p:    withCandidate(pending, domain.Revoked, 1), r: valid,
			want: func(r *store.CheckRecord) {
				r.Verdict, r.VerdictAt, r.VerdictSince, r.LastValidAt = domain.Valid, now, now, now
				r.Event = &domain.Event{KeyID: 7, At: now, Old: domain.Pending, New: domain.Valid, Reason: valid.Reason}
				r.Candidate, r.CandidateCount, r.Flaps = "", 0, 1
				r.NextCheckAt = now.Add(interval)
			},
		},
		{
			name: "steady answers forget the flaps",
			p:    func() domain.Key { p := established(domain.Valid); p.Flaps, p.Steady = 4, 2; return p }(), r: valid,
			want: func(r *store.CheckRecord) {
				r.VerdictAt, r.LastValidAt = now, now
				r.Flaps, r.Steady = 0, 3
				r.NextCheckAt = now.Add(interval)
			},
		},
		{
			name: "a decided answer ends the failing streak",
			p:    func() domain.Key { p := withFailures(established(domain.Valid), 3); p.FailingSince = earlier; return p }(), r: valid,
			want: func(r *store.CheckRecord) {
				r.VerdictAt, r.LastValidAt = now, now
				r.Failures, r.FailingSince, r.Steady = 0, time.Time{}, 1
				r.NextCheckAt = now.Add(interval)
			},
		},
		{
			name: "Retry-After is capped at MaxRetryAfter",
			p:    established(domain.Valid), r: staxapi.Result{Outcome: domain.OutcomeUndecided, HTTPStatus: 429, RateLimited: true, RetryAfter: 24 * time.Hour},
			want: func(r *store.CheckRecord) {
				r.Failures = 1
				r.NextCheckAt = now.Add(time.Hour)
			},
		},
		{
			name: "pending stays pending on an undecided answer",
			p:    pending, r: fault,
			want: func(r *store.CheckRecord) {
				r.Failures, r.NextCheckAt = 1, now.Add(30*time.Second)
			},
		},
		{
			name: "agreeing answer confirms, clears the candidate and the failures",
			p:    withFailures(withCandidate(established(domain.Valid), domain.Revoked, 1), 2), r: valid,
			want: func(r *store.CheckRecord) {
				r.VerdictAt, r.LastValidAt = now, now
				r.Candidate, r.CandidateCount, r.Failures = "", 0, 0
				r.Flaps = 1 // the candidate was contradicted
				r.NextCheckAt = now.Add(interval)
			},
		},
		{
			name: "different answer becomes a candidate, re-checked after ConfirmDelay",
			p:    established(domain.Valid), r: revoked,
			want: func(r *store.CheckRecord) {
				r.Candidate, r.CandidateCount = domain.Revoked, 1
				r.NextCheckAt = now.Add(5 * time.Second)
			},
		},
		{
			name: "second agreeing answer changes the verdict with Confirm 2",
			p:    withCandidate(established(domain.Valid), domain.Revoked, 1), r: revoked,
			want: func(r *store.CheckRecord) {
				r.Verdict, r.VerdictAt, r.VerdictSince = domain.Revoked, now, now
				r.Event = &domain.Event{KeyID: 7, At: now, Old: domain.Valid, New: domain.Revoked, Reason: revoked.Reason}
				r.Candidate, r.CandidateCount = "", 0
				r.NextCheckAt = now.Add(interval)
			},
		},
		{
			name: "second agreeing answer is not enough with Confirm 3",
			p:    withCandidate(established(domain.Valid), domain.Revoked, 1), r: revoked, cfg: confirm(3),
			want: func(r *store.CheckRecord) {
				r.Candidate, r.CandidateCount = domain.Revoked, 2
				r.NextCheckAt = now.Add(5 * time.Second)
			},
		},
		{
			name: "third agreeing answer changes the verdict with Confirm 3",
			p:    withCandidate(established(domain.Denied), domain.Valid, 2), r: valid, cfg: confirm(3),
			want: func(r *store.CheckRecord) {
				r.Verdict, r.VerdictAt, r.VerdictSince, r.LastValidAt = domain.Valid, now, now, now
				r.Event = &domain.Event{KeyID: 7, At: now, Old: domain.Denied, New: domain.Valid, Reason: valid.Reason}
				r.Candidate, r.CandidateCount = "", 0
				r.NextCheckAt = now.Add(interval)
			},
		},
		{
			name: "Confirm 1 changes at once",
			p:    established(domain.Valid), r: denied, cfg: confirm(1),
			want: func(r *store.CheckRecord) {
				r.Verdict, r.VerdictAt, r.VerdictSince = domain.Denied, now, now
				r.Event = &domain.Event{KeyID: 7, At: now, Old: domain.Valid, New: domain.Denied, Reason: denied.Reason}
				r.NextCheckAt = now.Add(interval)
			},
		},
		{
			name: "another different answer restarts the candidate",
			p:    withCandidate(established(domain.Valid), domain.Revoked, 1), r: denied,
			want: func(r *store.CheckRecord) {
				r.Candidate, r.CandidateCount, r.Flaps = domain.Denied, 1, 1
				r.NextCheckAt = now.Add(5 * time.Second)
			},
		},
		{
			name: "undecided neither confirms nor resets a candidate",
			p:    withCandidate(established(domain.Valid), domain.Revoked, 1), r: fault,
			want: func(r *store.CheckRecord) {
				r.Failures, r.NextCheckAt = 1, now.Add(30*time.Second)
			},
		},
		{
			name: "undecided never overwrites a revoked verdict",
			p:    withFailures(established(domain.Revoked), 1), r: fault,
			want: func(r *store.CheckRecord) {
				r.Failures, r.NextCheckAt = 2, now.Add(time.Minute)
			},
		},
		{
			name: "backoff doubles: third failure waits 2m",
			p:    withFailures(established(domain.Valid), 2), r: fault,
			want: func(r *store.CheckRecord) {
				r.Failures, r.NextCheckAt = 3, now.Add(2*time.Minute)
			},
		},
		{
			name: "backoff is capped at the interval",
			p:    withFailures(established(domain.Valid), 5), r: fault,
			want: func(r *store.CheckRecord) {
				r.Failures, r.NextCheckAt = 6, now.Add(interval) // 30s·2^5 = 16m > 15m
			},
		},
		{
			name: "backoff after very many failures stays capped",
			p:    withFailures(established(domain.Valid), 10_000), r: fault,
			want: func(r *store.CheckRecord) {
				r.Failures, r.NextCheckAt = 10_001, now.Add(interval)
			},
		},
		{
			name: "backoff is capped at the stretched interval",
			p:    withFailures(established(domain.Valid), 7), r: fault, eff: 42 * time.Minute,
			want: func(r *store.CheckRecord) {
				r.Failures, r.NextCheckAt = 8, now.Add(42*time.Minute)
			},
		},
		{
			name: "429 waits for Retry-After",
			p:    established(domain.Valid), r: limited,
			want: func(r *store.CheckRecord) {
				r.Failures, r.NextCheckAt = 1, now.Add(45*time.Second)
			},
		},
		{
			name: "429 without Retry-After waits 60s",
			p:    established(domain.Valid), r: limitedNoHint,
			want: func(r *store.CheckRecord) {
				r.Failures, r.NextCheckAt = 1, now.Add(60*time.Second)
			},
		},
		{
			name: "a key that keeps getting 429 backs off on its own beyond Retry-After",
			p:    withFailures(established(domain.Valid), 3), r: limitedNoHint,
			want: func(r *store.CheckRecord) {
				r.Failures, r.NextCheckAt = 4, now.Add(4*time.Minute)
			},
		},
		{
			name: "a decided 429 still waits for Retry-After",
			p:    withCandidate(established(domain.Valid), domain.Revoked, 1), r: limitedDecided,
			want: func(r *store.CheckRecord) {
				r.Verdict, r.VerdictAt, r.VerdictSince = domain.Revoked, now, now
				r.Event = &domain.Event{KeyID: 7, At: now, Old: domain.Valid, New: domain.Revoked, Reason: limitedDecided.Reason}
				r.Candidate, r.CandidateCount = "", 0
				r.NextCheckAt = now.Add(20 * time.Minute)
			},
		},
		{
			name: "jitter low end: rnd 0 gives 0.9 of the interval",
			p:    established(domain.Valid), r: valid, rnd: func() float64 { return 0 },
			want: func(r *store.CheckRecord) {
				r.VerdictAt, r.LastValidAt, r.Steady = now, now, 1
				r.NextCheckAt = now.Add(interval * 9 / 10)
			},
		},
		{
			name: "jitter high end: rnd 1 gives 1.1 of the interval",
			p:    established(domain.Valid), r: valid, rnd: func() float64 { return 1 },
			want: func(r *store.CheckRecord) {
				r.VerdictAt, r.LastValidAt, r.Steady = now, now, 1
				r.NextCheckAt = now.Add(interval * 11 / 10)
			},
		},
		{
			name: "jitter follows the stretched interval",
			p:    established(domain.Revoked), r: revoked, eff: 42 * time.Minute,
			want: func(r *store.CheckRecord) {
				r.VerdictAt, r.Steady = now, 1
				r.NextCheckAt = now.Add(42 * time.Minute)
			},
		},
		{
			name: "LastValidAt moves on a valid candidate too",
			p:    established(domain.Revoked), r: valid,
			want: func(r *store.CheckRecord) {
				r.LastValidAt = now
				r.Candidate, r.CandidateCount = domain.Valid, 1
				r.NextCheckAt = now.Add(5 * time.Second)
			},
		},
		{
			name: "LastValidAt stays on a revoked answer",
			p:    established(domain.Valid), r: revoked, cfg: confirm(1),
			want: func(r *store.CheckRecord) {
				r.Verdict, r.VerdictAt, r.VerdictSince = domain.Revoked, now, now
				r.Event = &domain.Event{KeyID: 7, At: now, Old: domain.Valid, New: domain.Revoked, Reason: revoked.Reason}
				r.Candidate, r.CandidateCount = "", 0
				r.NextCheckAt = now.Add(interval)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			eff := tt.eff
			if eff == 0 {
				eff = interval
			}
			rnd := tt.rnd
			if rnd == nil {
				rnd = half
			}
			got := Decide(tt.p, tt.r, now, cfg, eff, rnd)

			want := store.CheckRecord{
				Check: domain.Check{KeyID: 7, At: now, Outcome: domain.Outcome(tt.r.Outcome),
					HTTPStatus: tt.r.HTTPStatus, Latency: tt.r.Latency, Reason: tt.r.Reason},
				KeyChangedAt: keyChanged, FromVerdict: tt.p.Verdict,
				Verdict: tt.p.Verdict, VerdictAt: tt.p.VerdictAt, VerdictSince: tt.p.VerdictSince,
				LastValidAt: tt.p.LastValidAt, Failures: tt.p.Failures,
				Candidate: tt.p.Candidate, CandidateCount: tt.p.CandidateCount,
				Flaps: tt.p.Flaps, Steady: tt.p.Steady, FailingSince: tt.p.FailingSince,
			}
			if _, decided := verdictOf(domain.Outcome(tt.r.Outcome)); !decided && want.FailingSince.IsZero() {
				want.FailingSince = now // an undecided answer starts a failing streak
			}
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decide:\n got %+v\nwant %+v", got, want)
				if got.Event != nil || want.Event != nil {
					t.Errorf("event: got %+v, want %+v", got.Event, want.Event)
				}
			}
		})
	}
}

// TestDecideFlapping feeds an upstream that alternates: no answer is ever confirmed, so no
// event is produced and the verdict stands.
func TestDecideFlapping(t *testing.T) {
	cfg := DefaultConfig()
	p := domain.Key{ID: 1, Verdict: domain.Valid, VerdictAt: t0, VerdictSince: t0}
	answers := []domain.Outcome{domain.OutcomeRevoked, domain.OutcomeValid, domain.OutcomeRevoked, domain.OutcomeValid,
		domain.OutcomeDenied, domain.OutcomeValid, domain.OutcomeRevoked, domain.OutcomeUndecided, domain.OutcomeValid, domain.OutcomeRevoked}
	now := t0
	for i, o := range answers {
		now = now.Add(5 * time.Second)
		rec := Decide(p, staxapi.Result{Outcome: o}, now, cfg, cfg.Interval, nil)
		if rec.Event != nil {
			t.Fatalf("answer %d (%s) produced event %+v", i, o, rec.Event)
		}
		if rec.Verdict != domain.Valid || !rec.VerdictSince.Equal(t0) {
			t.Fatalf("answer %d (%s): verdict %s since %s", i, o, rec.Verdict, rec.VerdictSince)
		}
		p = apply(p, rec)
	}
	if p.CandidateCount != 1 || p.Candidate != domain.Revoked {
		t.Errorf("candidate after the flapping: %s×%d, want revoked×1", p.Candidate, p.CandidateCount)
	}
	if !p.Flapping() {
		t.Errorf("flaps %d: the pair should show as flapping", p.Flaps)
	}
	// Steady answers clear it again.
	for i := range flapClear + 1 {
		now = now.Add(time.Minute)
		p = apply(p, Decide(p, staxapi.Result{Outcome: domain.OutcomeValid}, now, cfg, cfg.Interval, nil))
		if i == 0 && !p.Flapping() {
			t.Error("the answer that contradicts the last candidate must not clear flapping yet")
		}
	}
	if p.Flapping() || p.Flaps != 0 {
		t.Errorf("after %d steady answers flaps is %d, want 0", flapClear, p.Flaps)
	}
}

// TestDecideFlappingNewKey: a new key whose answers alternate is neither stuck on its first
// bad answer nor confirmed revoked; it takes valid and shows as flapping.
func TestDecideFlappingNewKey(t *testing.T) {
	cfg := DefaultConfig()
	p := domain.Key{ID: 1, Verdict: domain.Pending}
	now := t0
	for i, o := range []domain.Outcome{domain.OutcomeRevoked, domain.OutcomeValid, domain.OutcomeRevoked, domain.OutcomeValid, domain.OutcomeRevoked, domain.OutcomeValid, domain.OutcomeRevoked} {
		now = now.Add(5 * time.Second)
		rec := Decide(p, staxapi.Result{Outcome: o}, now, cfg, cfg.Interval, nil)
		if rec.Event != nil && rec.Event.New != domain.Valid {
			t.Fatalf("answer %d (%s) confirmed %s", i, o, rec.Event.New)
		}
		p = apply(p, rec)
	}
	if p.Verdict != domain.Valid || !p.Flapping() {
		t.Errorf("verdict %s, flaps %d: want valid and flapping", p.Verdict, p.Flaps)
	}
}

// TestDecideJitterBounds checks the whole range of rnd, and that out-of-range values are
// clamped rather than scheduling outside ±10%.
func TestDecideJitterBounds(t *testing.T) {
	cfg := DefaultConfig()
	p := domain.Key{ID: 1, Verdict: domain.Valid}
	lo, hi := t0.Add(cfg.Interval*9/10), t0.Add(cfg.Interval*11/10)
	for _, f := range []float64{-1, 0, 0.01, 0.25, 0.5, 0.99, 1, 2} {
		rec := Decide(p, staxapi.Result{Outcome: domain.OutcomeValid}, t0, cfg, cfg.Interval, func() float64 { return f })
		if rec.NextCheckAt.Before(lo) || rec.NextCheckAt.After(hi) {
			t.Errorf("rnd %v: next check %s outside [%s, %s]", f, rec.NextCheckAt, lo, hi)
		}
	}
}
