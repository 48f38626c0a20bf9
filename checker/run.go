package checker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock"
	"github.com/staxkeys/staxkeys/store"
)

// retryAfterDBError is how long the scheduler waits after failing to read its schedule.
const retryAfterDBError = 5 * time.Second

// Run is the scheduler. It checks each pair when it comes due, at most Concurrency at once and
// at most Rate per second, pauses everything after a 429, probes gently through an outage, and
// prunes old checks hourly. It returns nil once ctx is done and every check it started has
// ended; checks cut short by ctx write nothing.
//
// The scheduler sleeps on the clock only once its own checks have landed, and then holds one
// wait (its next wake-up), plus one per check waiting for the rate cap. With a clocktest.Fake,
// BlockUntil(ctx, 1) after the Update of the last expected check therefore means "settled".
func (c *Checker) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("checker: already running")
	}
	defer c.running.Store(false)

	var wg sync.WaitGroup
	defer wg.Wait()

	now := c.clock.Now()
	c.mu.Lock()
	c.started = now
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.started = time.Time{}
		c.mu.Unlock()
	}()

	c.prune(ctx, now)
	nextPrune := now.Add(pruneEvery)
	if err := c.refreshKeyCount(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("checker: start: %w", err)
	}
	if err := c.resumeSuspicion(ctx, now); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("checker: start: %w", err)
	}
	if err := c.spreadOverdue(ctx, now); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("checker: start: %w", err)
	}
	st := c.Status()
	c.log.Info("checker: started", "pairs", st.Keys, "interval", st.Interval, "concurrency", c.cfg.Concurrency,
		"rate", st.Rate, "effective_interval", st.EffectiveInterval)
	if st.Stretched {
		c.log.Warn("checker: interval stretched by the rate cap", "note", st.StretchNote())
	}

	// Due pairs are read in batches of about two per slot rather than one query per check;
	// a batch is dropped whenever something else may have moved the schedule (a nudge, a
	// check the scheduler did not start) and whenever its first pair is not due yet, and
	// only a fresh query tells how long to sleep.
	//
	// While a full batch runs down, the next one is read ahead (prefetch), leaving out the
	// pairs in flight and those still in the batch, so the scheduler rarely holds a slot
	// through a query while answers arrive (in a 10,000-key cycle it cut the mean time from
	// an answer to its slot's next request by 10-35 %, and its 90th percentile by 20-40 %).
	var (
		batch    []domain.Key
		batchGen uint64
		full     bool          // the batch filled its limit: more pairs may be due behind it
		ahead    chan prefetch // the read-ahead under way, if any
	)
	limit := 2 * c.cfg.Concurrency
	for ctx.Err() == nil {
		now := c.clock.Now()
		c.hb.beat(now) // readiness: the loop is alive (heartbeat.go)
		if !now.Before(nextPrune) {
			c.prune(ctx, now)
			nextPrune = now.Add(pruneEvery)
			c.recount(ctx)
		}
		select {
		case <-c.nudge:
			c.recount(ctx)
		default:
		}
		c.settle(now)
		c.endLongPause(now)
		if until, ok := c.paused(now); ok {
			// No check starts until the pause ends; nudges wait too.
			clock.Sleep(ctx, c.clock, until.Sub(now))
			continue
		}
		if c.inOutage() {
			c.probeOutage(ctx)
			continue
		}

		// Take a slot before choosing a pair, so the pair is read just before its check.
		if err := c.acquireSlot(ctx); err != nil {
			break
		}
		if _, ok := c.paused(c.clock.Now()); ok || c.inOutage() {
			// The answer that freed the slot began a pause or an outage.
			c.releaseSlot()
			continue
		}
		// Read before the query: checks that finish after it signal a finish not yet seen.
		busy, seen := c.flow()
		now = c.clock.Now() // the wait for a slot may have been long
		// A batch left over from an earlier turn only serves to start pairs that are due: it
		// was read while other checks were in flight, so it lacks their pairs, whose next
		// checks (a confirmation's re-check five seconds on) may come before its first. When
		// its first pair is not due, the scheduler is about to wait, and what it waits for
		// must come from a query made after the snapshot above.
		if gen := c.schedGen.Load(); len(batch) == 0 || gen != batchGen || batch[0].NextCheckAt.After(now) {
			var next []domain.Key
			var err error
			read := false
			if ahead != nil {
				// Only an exhausted batch is followed by its read-ahead, and only to start
				// pairs that are due, read in the same generation of the schedule.
				if len(batch) == 0 {
					pf := <-ahead
					if pf.err == nil && pf.gen == gen && len(pf.keys) > 0 && !pf.keys[0].NextCheckAt.After(now) {
						next, read = pf.keys, true
						c.readAhead.Add(1)
					}
				}
				ahead = nil
			}
			if !read {
				next, err = c.db.NextKeys(ctx, c.inflight.ids(), limit)
			}
			if err != nil {
				c.releaseSlot()
				if ctx.Err() == nil {
					c.log.Error("checker: cannot read the schedule", "err", err)
					clock.Sleep(ctx, c.clock, retryAfterDBError)
				}
				continue
			}
			batch, batchGen, full = next, gen, len(next) == limit
		}
		next := batch
		if len(next) == 0 || next[0].NextCheckAt.After(now) {
			batch = nil
			c.releaseSlot()
			if busy > 0 {
				// Nothing more to start: wait for the checks in flight to land, since
				// they move their pairs' next checks. Sleeping on the clock only once
				// they have keeps every clock wait of the scheduler a settled one, which
				// is also what lets tests step a clocktest.Fake exactly.
				c.idle(ctx, 0, seen)
				continue
			}
			c.mu.Lock()
			c.lastCycleAt = now
			c.mu.Unlock()
			c.releaseMemoryAfterBurst()
			wake := nextPrune
			if len(next) > 0 && next[0].NextCheckAt.Before(wake) {
				wake = next[0].NextCheckAt
			}
			if d := wake.Sub(c.clock.Now()); d > 0 {
				c.idle(ctx, d, seen)
			}
			continue
		}
		p := next[0]
		batch = batch[1:]
		if !c.inflight.tryAdd(p.ID) {
			// CheckNow or RunCycle took it since the query.
			c.releaseSlot()
			continue
		}
		if err := c.admit(ctx, modeScheduled); err != nil {
			c.releaseSlot()
			c.inflight.remove(p.ID)
			continue
		}
		c.flowMu.Lock()
		c.dispatched++
		c.flowMu.Unlock()
		wg.Go(func() { c.scheduled(ctx, p) })
		if full && ahead == nil && len(batch) == limit/2 {
			ahead = c.startReadAhead(ctx, &wg, batch, batchGen, limit)
		}
	}
	return nil
}

// prefetch is a batch of due pairs read ahead, with the schedule's generation it was read in.
type prefetch struct {
	keys []domain.Key
	gen  uint64
	err  error
}

// startReadAhead reads the batch after rest (what is left of the current one, read in gen) in the
// background. It leaves out the pairs in flight and those in rest, which are dispatched, and
// then in flight, before the read-ahead is used: no pair can be started twice.
func (c *Checker) startReadAhead(ctx context.Context, wg *sync.WaitGroup, rest []domain.Key, gen uint64, limit int) chan prefetch {
	skip := c.inflight.ids()
	for _, k := range rest {
		skip = append(skip, k.ID)
	}
	ch := make(chan prefetch, 1)
	wg.Go(func() {
		keys, err := c.db.NextKeys(ctx, skip, limit)
		ch <- prefetch{keys: keys, gen: gen, err: err}
	})
	return ch
}

// scheduled runs one check the scheduler dispatched; it owns p's in-flight entry and a slot.
func (c *Checker) scheduled(ctx context.Context, p domain.Key) {
	_, _, err := c.run(ctx, p, c.releaseSlot)
	if err != nil && ctx.Err() == nil && !errors.Is(err, store.ErrStale) {
		// The answer could not be written, so the pair is still due: keep it out of the
		// schedule for a while rather than asking Stax.ai again at once.
		clock.Sleep(ctx, c.clock, writeFailCooldown)
	}
	c.finishFlow(p.ID, true)
}

// idle waits up to d (for ever when d is 0) for a nudge, a check finishing after the
// scheduler's last look (seen), or shutdown. A finish it already saw does not wake it, so
// its clock wait is not cut short for nothing.
func (c *Checker) idle(ctx context.Context, d time.Duration, seen uint64) {
	var tick <-chan time.Time
	if d > 0 {
		ch, stop := clock.Timer(c.clock, d)
		defer stop()
		tick = ch
	}
	for {
		select {
		case <-tick:
			return
		case <-c.nudge:
			c.recount(ctx)
			return
		case <-c.done:
			if c.finishedCount() != seen {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// probeOutage sends the outage's next gentle probe: one check of the most overdue pair after
// the current probe delay, which doubles (up to probeMax) while Stax.ai stays down.
func (c *Checker) probeOutage(ctx context.Context) {
	c.mu.Lock()
	// A 503's Retry-After paces the probes too.
	delay := max(c.probeDelay, c.fleet.probeHint)
	c.mu.Unlock()
	if !clock.Sleep(ctx, c.clock, delay) || !c.inOutage() {
		return
	}
	if _, ok := c.paused(c.clock.Now()); ok {
		return
	}
	if err := c.acquireSlot(ctx); err != nil {
		return
	}
	next, err := c.db.NextKeys(ctx, c.inflight.ids(), 1)
	if err != nil || len(next) == 0 {
		c.releaseSlot()
		if err != nil && ctx.Err() == nil {
			c.log.Error("checker: cannot read the schedule", "err", err)
		}
		return
	}
	p := next[0]
	if !c.inflight.tryAdd(p.ID) {
		c.releaseSlot()
		return
	}
	defer c.release(p.ID)
	if err := c.admit(ctx, modeProbe); err != nil {
		c.releaseSlot()
		return
	}
	c.log.Debug("checker: outage probe", "pair_id", p.ID)
	if _, _, err := c.run(ctx, p, c.releaseSlot); err != nil {
		return
	}
	c.mu.Lock()
	if c.outage {
		c.probeDelay = min(2*c.probeDelay, probeMax)
	}
	c.mu.Unlock()
}

// recount refreshes the pair count and with it the effective interval.
func (c *Checker) recount(ctx context.Context) {
	before := c.Status()
	if err := c.refreshKeyCount(ctx); err != nil {
		if ctx.Err() == nil {
			c.log.Error("checker: cannot count pairs", "err", err)
		}
		return
	}
	if after := c.Status(); after.Stretched && after.EffectiveInterval != before.EffectiveInterval {
		c.log.Warn("checker: interval stretched by the rate cap", "note", after.StretchNote())
	}
}

// spreadOverdue spaces the pairs already checked whose next check passed while staxkeys was
// not running evenly over one effective interval from now, most overdue first, so a restart
// does not send a burst. Never-checked pairs (next check 0) and pairs awaiting confirmation
// stay due at once. It is one statement on ids and times: no pair, and no sealed key, is loaded.
func (c *Checker) spreadOverdue(ctx context.Context, now time.Time) error {
	eff := c.effective()
	n, err := c.db.SpreadOverdue(ctx, now, eff)
	if err != nil {
		return err
	}
	if n > 0 {
		c.log.Info("checker: spread overdue checks over one interval", "pairs", n, "interval", eff)
	}
	return nil
}

// prune deletes raw checks older than HistoryDays; verdict events stay.
func (c *Checker) prune(ctx context.Context, now time.Time) {
	n, err := c.db.PruneChecks(ctx, now.AddDate(0, 0, -c.cfg.HistoryDays))
	switch {
	case err != nil && ctx.Err() == nil:
		c.log.Error("checker: cannot prune old checks", "err", err)
	case n > 0:
		c.log.Info("checker: pruned old checks", "checks", n, "days", c.cfg.HistoryDays)
	}
}
