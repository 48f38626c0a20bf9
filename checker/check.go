package checker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
)

// mode says how a check reacts to a pause or an outage.
type mode int

const (
	modeScheduled mode = iota // Run's checks: step back (errHold) and let the scheduler wait
	modeProbe                 // the scheduler's single outage probe
	modeNow                   // CheckNow: *PausedError while paused; goes through an outage
	modeCycle                 // RunCycle: waits out a pause; stops on an outage (ErrOutage)
)

// writeFailCooldown keeps a pair whose check could not be written off the schedule for a while,
// so a failing database does not turn into a tight loop of requests to Stax.ai.
const writeFailCooldown = 30 * time.Second

// admit lets a check start: it applies the pause and outage rules for m and takes a token from
// the rate limiter, waiting on the clock as needed.
func (c *Checker) admit(ctx context.Context, m mode) error {
	took := c.lim == nil
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := c.clock.Now()
		if until, ok := c.paused(now); ok {
			switch m {
			case modeNow:
				return &PausedError{Until: until}
			case modeCycle:
				if !clock.Sleep(ctx, c.clock, until.Sub(now)) {
					return ctx.Err()
				}
				continue
			default:
				return errHold
			}
		}
		if c.inOutage() {
			switch m {
			case modeScheduled:
				return errHold
			case modeCycle:
				return ErrOutage
			}
		}
		if took {
			return nil
		}
		r := c.lim.ReserveN(now, 1)
		if !r.OK() {
			return errors.New("checker: rate limiter refused a reservation")
		}
		if d := r.DelayFrom(now); d > 0 && !clock.Sleep(ctx, c.clock, d) {
			r.CancelAt(c.clock.Now())
			return ctx.Err()
		}
		// Loop once more: a pause or an outage may have begun during the wait.
		took = true
	}
}

// run checks p once: it opens the key, asks Stax.ai, decides, hands the slot back (release,
// called exactly once on every path) and records, then tells the subscribers. The caller holds
// p in the in-flight set and a slot, and was admitted. The error is the context's when the
// check was abandoned (nothing is written), store.ErrStale when the pair changed meanwhile (the
// answer is dropped and the scheduler nudged), or a write failure.
func (c *Checker) run(ctx context.Context, p domain.Key, release func()) (store.CheckRecord, staxapi.Result, error) {
	released := false
	free := func() {
		if !released {
			released = true
			release()
		}
	}
	defer free()
	var res staxapi.Result
	key, kerr := c.keys.Key(p)
	if kerr != nil {
		c.log.Error("checker: cannot open a stored key", "pair_id", p.ID, "err", kerr)
		res = staxapi.Result{Outcome: domain.OutcomeUndecided,
			Reason: "the stored key could not be opened (was the master key changed?); nothing was sent"}
	} else {
		var err error
		if res, err = c.probe.Check(ctx, p.Email, key); err != nil {
			return store.CheckRecord{}, staxapi.Result{}, err
		}
	}
	now := c.clock.Now()
	if kerr == nil {
		c.observe(p, res, now)
	}
	rec := Decide(p, res, now, c.cfg, c.effective(), c.rnd)
	if kerr == nil {
		rec = c.correlate(p, rec, now)
	}
	// The answer is in: the next request to Stax.ai need not wait for this one's write.
	free()
	if err := c.writer.write(rec); err != nil {
		if errors.Is(err, store.ErrStale) {
			c.log.Debug("checker: pair changed during its check; answer dropped", "pair_id", p.ID)
			c.Nudge()
		} else {
			c.log.Error("checker: cannot record a check", "pair_id", p.ID, "err", err)
		}
		return rec, res, err
	}
	if c.log.Enabled(ctx, slog.LevelDebug) {
		c.log.LogAttrs(ctx, slog.LevelDebug, "checker: checked",
			slog.Int64("pair_id", p.ID), slog.String("outcome", string(rec.Check.Outcome)),
			slog.Int("status", res.HTTPStatus), slog.Duration("latency", res.Latency))
	}
	if e := rec.Event; e != nil {
		c.log.Info("checker: verdict changed", "pair_id", p.ID, "old", e.Old, "new", e.New, "reason", e.Reason)
	}
	c.publish(Update{KeyID: p.ID, Verdict: rec.Verdict, Outcome: rec.Check.Outcome, At: now})
	for _, o := range c.observers {
		o.CheckRecorded(p, rec)
	}
	c.recorded.Add(1)
	return rec, res, nil
}

// apply returns p as rec leaves it.
func apply(p domain.Key, rec store.CheckRecord) domain.Key {
	chk := rec.Check
	p.LastCheck = &chk
	p.Verdict, p.VerdictAt, p.VerdictSince = rec.Verdict, rec.VerdictAt, rec.VerdictSince
	p.LastValidAt, p.NextCheckAt, p.Failures = rec.LastValidAt, rec.NextCheckAt, rec.Failures
	p.Candidate, p.CandidateCount = rec.Candidate, rec.CandidateCount
	p.Flaps, p.Steady, p.FailingSince = rec.Flaps, rec.Steady, rec.FailingSince
	return p
}

// release ends p's turn in the in-flight set and lets the scheduler look again.
func (c *Checker) release(id int64) {
	c.finishFlow(id, false)
}

// finishFlow takes id out of the in-flight set and counts the finish, all at once as the
// scheduler sees it, then wakes the scheduler.
func (c *Checker) finishFlow(id int64, dispatched bool) {
	c.flowMu.Lock()
	c.inflight.remove(id)
	c.finished++
	if dispatched {
		c.dispatched--
	} else {
		c.schedGen.Add(1) // a check the scheduler did not start moved its pair's next check
	}
	c.flowMu.Unlock()
	c.signalDone()
}

// flow returns how many of the scheduler's checks are in flight and how many checks have
// finished, as one snapshot.
func (c *Checker) flow() (dispatched int, finished uint64) {
	c.flowMu.Lock()
	defer c.flowMu.Unlock()
	return c.dispatched, c.finished
}

func (c *Checker) finishedCount() uint64 {
	_, n := c.flow()
	return n
}

// checkConfirmed checks pair id and, while the answer is an unconfirmed candidate, re-checks
// it after ConfirmDelay until the verdict is confirmed or contradicted. The caller holds id in
// the in-flight set. It returns the pair as the last recorded check left it and that check's
// result. Once one answer is in, a pause or an outage ends the loop quietly and the
// scheduler finishes the confirmation.
func (c *Checker) checkConfirmed(ctx context.Context, id int64, m mode) (domain.Key, staxapi.Result, error) {
	p, err := c.db.KeyByID(ctx, id)
	if err != nil {
		return domain.Key{}, staxapi.Result{}, err
	}
	c.mu.Lock()
	counted := c.fleet.teams > 0
	c.mu.Unlock()
	if !counted {
		// Without a scheduler nobody counted the teams yet; the fleet-wide rules need them.
		if err := c.refreshKeyCount(ctx); err != nil {
			return p, staxapi.Result{}, err
		}
	}
	var (
		last  staxapi.Result
		have  bool
		stale int
	)
	for attempt := 0; ; attempt++ {
		if until, ok := c.teamPaused(p.Email, c.clock.Now()); ok {
			// This key's team is held back by Stax.ai's 429; other teams go on.
			switch {
			case have:
				return p, last, nil
			case m == modeNow:
				return p, last, &PausedError{Until: until, Team: true}
			case !clock.Sleep(ctx, c.clock, until.Sub(c.clock.Now())):
				return p, last, ctx.Err()
			}
			continue
		}
		if err := c.acquireSlot(ctx); err != nil {
			return p, last, err
		}
		if err := c.admit(ctx, m); err != nil {
			c.releaseSlot()
			if have && (errors.Is(err, ErrPaused) || errors.Is(err, ErrOutage)) {
				return p, last, nil
			}
			return p, last, err
		}
		rec, res, err := c.run(ctx, p, c.releaseSlot)
		if errors.Is(err, store.ErrStale) && stale < 2 {
			// Edited while in flight: check the pair as it is now.
			stale++
			if p, err = c.db.KeyByID(ctx, id); err != nil {
				return domain.Key{}, last, err
			}
			continue
		}
		if err != nil {
			return p, last, err
		}
		p, last, have = apply(p, rec), res, true
		if p.CandidateCount == 0 || attempt >= c.cfg.Confirm+2 {
			return p, last, nil
		}
		if !clock.Sleep(ctx, c.clock, c.cfg.ConfirmDelay) {
			return p, last, ctx.Err()
		}
	}
}

// CheckNow checks pair id at once, under the same concurrency bound and rate cap as the
// scheduler, waiting first if the pair is already being checked. When the answer differs from
// an established verdict it re-checks after ConfirmDelay until the change is confirmed or
// contradicted, so the admin sees the settled verdict. It returns the key afterwards; a
// *PausedError (errors.Is ErrPaused) while a 429 pause is on, and domain.ErrNotFound for an
// unknown key.
func (c *Checker) CheckNow(ctx context.Context, id int64) (domain.Key, error) {
	p, _, err := c.checkNow(ctx, id)
	return p, err
}

// checkNow is CheckNow, also returning the last check's result.
func (c *Checker) checkNow(ctx context.Context, id int64) (domain.Key, staxapi.Result, error) {
	if until, ok := c.paused(c.clock.Now()); ok {
		return domain.Key{}, staxapi.Result{}, &PausedError{Until: until}
	}
	if err := c.inflight.add(ctx, id); err != nil {
		return domain.Key{}, staxapi.Result{}, err
	}
	p, res, err := c.checkConfirmed(ctx, id, modeNow)
	c.release(id)
	if err != nil {
		return p, res, fmt.Errorf("checker: check pair %d: %w", id, err)
	}
	if fresh, err := c.db.KeyByID(ctx, id); err == nil {
		p = fresh
	}
	return p, res, nil
}

// CheckAll makes every pair due now; the scheduler then works through them under the usual
// limits, most overdue first.
func (c *Checker) CheckAll(ctx context.Context) error {
	if _, err := c.db.MakeAllDue(ctx, c.clock.Now()); err != nil {
		return fmt.Errorf("checker: check all: %w", err)
	}
	c.Nudge()
	return nil
}

// QueueChecks makes pairs ids due now, as CheckAll does every pair: the scheduler then checks
// them under the usual concurrency bound and rate cap, so any number may be asked for at once
// without the caller waiting on Stax.ai.
func (c *Checker) QueueChecks(ctx context.Context, ids []int64) error {
	if err := c.db.MakeDue(ctx, ids, c.clock.Now()); err != nil {
		return fmt.Errorf("checker: queue checks: %w", err)
	}
	c.Nudge()
	return nil
}

// RunCycle checks every pair once, whatever its schedule, with the usual concurrency bound and
// rate cap, confirming changed answers inline; each check is recorded like any other. It is
// the `staxkeys check` command. It waits out a 429 pause, but stops when Stax.ai looks down:
// the pairs not reached then carry ErrOutage, and so does the returned error. Pairs deleted
// during the cycle are left out of the results, which are in id order.
func (c *Checker) RunCycle(ctx context.Context) ([]KeyResult, error) {
	ids, err := c.db.KeyIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("checker: cycle: %w", err)
	}
	c.setKeyCount(len(ids))
	results := make([]KeyResult, len(ids))
	var (
		next   atomic.Int64
		outage atomic.Bool
		wg     sync.WaitGroup
	)
	// Twice as many workers as slots: a worker waits for its check's group commit (up to
	// gatherWindow) after handing its slot back, and with only C workers each slot sat idle
	// through that wait (10,000 keys: 1.22× the floor with C workers, against 1.06× before the
	// group commit). The slots, not the workers, bound the requests in flight.
	for range min(2*c.cfg.Concurrency, len(ids)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				id := ids[i]
				if outage.Load() {
					results[i] = c.unchecked(id, ErrOutage)
					continue
				}
				if err := c.inflight.add(ctx, id); err != nil {
					results[i] = c.unchecked(id, err)
					continue
				}
				p, res, err := c.checkConfirmed(ctx, id, modeCycle)
				c.release(id)
				if errors.Is(err, ErrOutage) {
					outage.Store(true)
				}
				if p.ID == 0 {
					p.ID = id
				}
				results[i] = KeyResult{Key: p, Result: res, Err: err}
			}
		})
	}
	wg.Wait()

	out := results[:0]
	for _, r := range results {
		if !errors.Is(r.Err, domain.ErrNotFound) {
			out = append(out, r)
		}
	}
	switch {
	case ctx.Err() != nil:
		return out, fmt.Errorf("checker: cycle: %w", ctx.Err())
	case outage.Load():
		return out, fmt.Errorf("checker: cycle stopped: %w", ErrOutage)
	}
	return out, nil
}

// unchecked is the result for a pair the cycle did not check: the pair as stored (so a caller
// still sees its label and standing verdict) with the reason.
func (c *Checker) unchecked(id int64, why error) KeyResult {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	p, err := c.db.KeyByID(ctx, id)
	if err != nil {
		p = domain.Key{ID: id}
	}
	return KeyResult{Key: p, Err: why}
}
