package checker

import (
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
)

// defaultRetryAfter is how long a 429 without a usable Retry-After parks the checker.
const defaultRetryAfter = 60 * time.Second

// flapClear is how many steady answers in a row (agreeing with the verdict, no change pending)
// forget a pair's contradicted changes.
const flapClear = 3

// Decide is the status model: given a pair as it stood before a check, the check's answer and
// the time it arrived, it returns everything the check changes. It is pure, so each rule can
// be table-tested; rnd supplies the jitter in [0, 1).
//
//   - An undecided answer never changes the verdict: it counts a failure and backs off
//     exponentially from BackoffBase, capped at the effective interval; after a 429 the next
//     check waits for Retry-After (capped at MaxRetryAfter) or the backoff, whichever is later.
//   - A pending pair takes a first answer of valid at once: nothing is lost by believing it.
//   - Every other change, a new key's first revoked or denied included, becomes a candidate,
//     re-checked after ConfirmDelay, and replaces the verdict once Confirm agreeing answers
//     came in a row.
//   - An answer agreeing with the verdict confirms it and contradicts any candidate. A pair
//     whose candidates keep being contradicted is flapping (domain.Key.Flapping): it keeps its
//     last confirmed verdict until flapClear steady answers in a row.
//
// The checker may still hold back a change Decide confirmed, when many keys change the same
// way at once (see correlator).
func Decide(p domain.Key, r staxapi.Result, now time.Time, cfg Config, effInterval time.Duration, rnd func() float64) store.CheckRecord {
	cfg = cfg.withDefaults()
	if effInterval <= 0 {
		effInterval = cfg.Interval
	}
	rec := store.CheckRecord{
		Check: domain.Check{
			KeyID:      p.ID,
			At:         now,
			Outcome:    outcomeOf(r.Outcome),
			HTTPStatus: r.HTTPStatus,
			Latency:    r.Latency,
			Reason:     r.Reason,
		},
		KeyChangedAt:   p.KeyChangedAt,
		FromVerdict:    p.Verdict,
		Verdict:        p.Verdict,
		VerdictAt:      p.VerdictAt,
		VerdictSince:   p.VerdictSince,
		LastValidAt:    p.LastValidAt,
		Failures:       p.Failures,
		Candidate:      p.Candidate,
		CandidateCount: p.CandidateCount,
		Flaps:          p.Flaps,
		Steady:         p.Steady,
		FailingSince:   p.FailingSince,
	}
	if rec.Verdict == "" {
		rec.Verdict = domain.Pending
	}

	var retryAt time.Time
	if r.RateLimited {
		retryAt = now.Add(cfg.retryAfter(r.RetryAfter))
	}

	answer, decided := verdictOf(rec.Check.Outcome)
	if !decided {
		rec.Failures++
		if rec.FailingSince.IsZero() {
			rec.FailingSince = now
		}
		rec.NextCheckAt = now.Add(backoff(cfg.BackoffBase, rec.Failures, effInterval))
		if retryAt.After(rec.NextCheckAt) {
			rec.NextCheckAt = retryAt
		}
		return rec
	}

	rec.Failures, rec.FailingSince = 0, time.Time{}
	if answer == domain.Valid {
		rec.LastValidAt = now
	}
	next := now.Add(jitter(effInterval, rnd))
	switch {
	case rec.Verdict == domain.Pending && answer == domain.Valid:
		if rec.Candidate != "" {
			rec.Flaps++
		}
		rec.Event = &domain.Event{KeyID: p.ID, At: now, Old: domain.Pending, New: answer, Reason: r.Reason}
		rec.Verdict, rec.VerdictAt, rec.VerdictSince = answer, now, now
		rec.Candidate, rec.CandidateCount, rec.Steady = "", 0, 0
	case answer == rec.Verdict:
		rec.VerdictAt = now
		if rec.Candidate != "" {
			rec.Flaps++
			rec.Steady = 0
		} else if rec.Steady++; rec.Steady >= flapClear {
			rec.Flaps = 0
		}
		rec.Candidate, rec.CandidateCount = "", 0
	default:
		if rec.Candidate == answer {
			rec.CandidateCount++
		} else {
			if rec.Candidate != "" {
				rec.Flaps++
			}
			rec.Candidate, rec.CandidateCount = answer, 1
		}
		rec.Steady = 0
		if rec.CandidateCount >= cfg.Confirm {
			rec.Event = &domain.Event{KeyID: p.ID, At: now, Old: rec.Verdict, New: answer, Reason: r.Reason}
			rec.Verdict, rec.VerdictAt, rec.VerdictSince = answer, now, now
			rec.Candidate, rec.CandidateCount, rec.Flaps = "", 0, 0
		} else {
			next = now.Add(cfg.ConfirmDelay)
		}
	}
	// A 429 can still carry a decided body; the pair then waits for Retry-After all the same.
	if retryAt.After(next) {
		next = retryAt
	}
	rec.NextCheckAt = next
	return rec
}

// holdChange takes back the change rec confirmed for p: the verdict stays as it was, the
// candidate stays confirmed-but-held, and the pair is asked again at until. The next agreeing
// answer after that confirms the change.
func holdChange(p domain.Key, rec store.CheckRecord, until time.Time) store.CheckRecord {
	if rec.Event == nil {
		return rec
	}
	rec.Candidate, rec.CandidateCount = rec.Event.New, max(rec.CandidateCount, 1)
	if p.Candidate == rec.Event.New {
		rec.CandidateCount = max(p.CandidateCount+1, 1)
	}
	rec.Verdict, rec.VerdictAt, rec.VerdictSince = p.Verdict, p.VerdictAt, p.VerdictSince
	if rec.Verdict == "" {
		rec.Verdict = domain.Pending
	}
	rec.LastValidAt, rec.Flaps = p.LastValidAt, p.Flaps
	rec.Event = nil
	rec.NextCheckAt = until
	return rec
}

// retryAfter is how long a 429 keeps a pair (or a team, or every check) back: Stax.ai's hint,
// a default without one, never more than MaxRetryAfter.
func (c Config) retryAfter(hint time.Duration) time.Duration {
	if hint <= 0 {
		hint = defaultRetryAfter
	}
	return min(hint, c.MaxRetryAfter)
}

// outcomeOf maps the client's outcome to the stored one; anything unknown decided nothing.
func outcomeOf(o domain.Outcome) domain.Outcome {
	switch o {
	case domain.OutcomeValid:
		return domain.OutcomeValid
	case domain.OutcomeRevoked:
		return domain.OutcomeRevoked
	case domain.OutcomeDenied:
		return domain.OutcomeDenied
	}
	return domain.OutcomeUndecided
}

func verdictOf(o domain.Outcome) (domain.Verdict, bool) {
	switch o {
	case domain.OutcomeValid:
		return domain.Valid, true
	case domain.OutcomeRevoked:
		return domain.Revoked, true
	case domain.OutcomeDenied:
		return domain.Denied, true
	}
	return "", false
}

// backoff is base·2^(failures-1), capped; doubling stops at the cap so it cannot overflow.
func backoff(base time.Duration, failures int, ceiling time.Duration) time.Duration {
	d := base
	for i := 1; i < failures && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// jitter spreads checks over ±10% of the interval so pairs added together drift apart.
func jitter(interval time.Duration, rnd func() float64) time.Duration {
	f := 0.5
	if rnd != nil {
		f = min(max(rnd(), 0), 1)
	}
	return time.Duration(float64(interval) * (0.9 + 0.2*f))
}
