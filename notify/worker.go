package notify

import (
	"context"
	"errors"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock"
	"github.com/staxkeys/staxkeys/store"
)

// batch is how many due deliveries one query takes.
const batch = 20

// retryAfterDBError is how long the worker waits after failing to read its queue.
const retryAfterDBError = 5 * time.Second

// pruneEvery is how often old sent and failed deliveries are deleted.
const pruneEvery = time.Hour

// Run is the delivery worker. It sends every due delivery (on start, whatever a previous run
// left pending), retries failures with exponential backoff up to MaxAttempts, queues
// reminders every ReminderEvery and prunes the log hourly. It returns nil once ctx is done and
// the delivery in hand has been recorded.
func (n *Notifier) Run(ctx context.Context) error {
	if c, err := n.db.CountDeliveries(ctx); err == nil && c.Pending > 0 {
		n.log.Info("notify: resuming pending deliveries", "pending", c.Pending)
	}
	now := n.clock.Now()
	nextReminder, nextPrune := now, now
	for ctx.Err() == nil {
		now = n.clock.Now()
		if !now.Before(nextPrune) {
			n.prune(ctx, now)
			nextPrune = now.Add(pruneEvery)
		}
		if !now.Before(nextReminder) {
			n.EndExpiredMutes(ctx)
			if err := n.CheckReminders(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("notify: cannot look for reminders", "err", err)
			}
			nextReminder = now.Add(n.opts.ReminderEvery)
		}
		wake := earlier(nextReminder, nextPrune)
		if _, err := n.DeliverDue(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			n.log.Error("notify: cannot read the delivery queue", "err", err)
			wake = earlier(wake, n.clock.Now().Add(retryAfterDBError))
		} else if next, err := n.db.NextDeliveryAt(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			n.log.Error("notify: cannot read the delivery queue", "err", err)
			wake = earlier(wake, n.clock.Now().Add(retryAfterDBError))
		} else if !next.IsZero() && next.Before(wake) {
			wake = next
		}
		n.wait(ctx, wake.Sub(n.clock.Now()))
	}
	return nil
}

// wait sleeps up to d on the clock, or until a nudge or ctx ends.
func (n *Notifier) wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	// A nudge already waiting is taken before a timer is set, so that a test stepping a fake
	// clock only ever sees the worker's settled waits.
	select {
	case <-n.nudge:
		return
	case <-ctx.Done():
		return
	default:
	}
	tick, stop := clock.Timer(n.clock, d)
	defer stop()
	select {
	case <-tick:
	case <-n.nudge:
	case <-ctx.Done():
	}
}

// DeliverDue makes one try at every delivery due now and records each outcome; it returns
// how many it tried. A try that fails is retried after BackoffBase·2^(attempts-1), capped at
// BackoffMax, until MaxAttempts tries have failed; then the delivery is marked failed.
func (n *Notifier) DeliverDue(ctx context.Context) (int, error) {
	n.sendMu.Lock()
	defer n.sendMu.Unlock()
	tried := 0
	// A delivery whose outcome could not be written is still due; seen keeps this pass from
	// trying it again and again.
	seen := map[int64]bool{}
	for ctx.Err() == nil {
		due, err := n.db.DueDeliveries(ctx, n.clock.Now(), batch)
		if err != nil {
			return tried, err
		}
		fresh := due[:0]
		for _, d := range due {
			if !seen[d.ID] {
				fresh = append(fresh, d)
			}
		}
		if len(fresh) == 0 {
			break
		}
		cfg := n.Config(ctx)
		for _, d := range fresh {
			if ctx.Err() != nil {
				break
			}
			if seen[d.ID] {
				continue // it went out in the group of one tried before it in this batch
			}
			seen[d.ID] = true
			for _, id := range n.attempt(ctx, cfg, d) {
				seen[id] = true
			}
			tried++
		}
	}
	return tried, ctx.Err()
}

// attempt sends d once, with the deliveries grouped with it, and records the outcome on all
// of them; it returns the grouped deliveries' ids. The record is written even when ctx ends
// during the try, so a send that did happen is not repeated for nothing.
func (n *Notifier) attempt(ctx context.Context, cfg Config, d domain.Delivery) (grouped []int64) {
	msg, grouped := n.group(ctx, d)
	sctx, cancel := context.WithTimeout(ctx, n.opts.SendTimeout)
	err := n.send(sctx, cfg, msg)
	cancel()
	now := n.clock.Now()
	a := store.DeliveryAttempt{At: now}
	attempts := d.Attempts + 1
	if err != nil {
		if ctx.Err() != nil {
			// Cut short by shutdown: not the receiver's fault, and not a try.
			return
		}
		var p permanent
		a.Err = truncate(err.Error(), 300)
		a.Final = errors.As(err, &p) || attempts >= n.opts.MaxAttempts
		a.Next = now.Add(n.backoff(attempts))
		n.log.Warn("notify: delivery failed", "delivery_id", d.ID, "channel", d.Channel, "event", d.Event,
			"grouped", len(grouped), "attempt", attempts, "final", a.Final, "err", a.Err)
	} else {
		n.log.Info("notify: delivered", "delivery_id", d.ID, "channel", d.Channel, "event", d.Event,
			"grouped", len(grouped), "attempt", attempts)
	}
	// A group's one try is a try on each of its deliveries, as the log records it.
	for range 1 + len(grouped) {
		for _, f := range n.attempted {
			f(d.Channel, err == nil, a.Final)
		}
	}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), enqueueTimeout)
	defer wcancel()
	var rerr error
	if len(grouped) == 0 {
		rerr = n.db.RecordAttempt(wctx, d.ID, a)
	} else {
		rerr = n.db.RecordGroupAttempt(wctx, d.ID, grouped, a)
	}
	if rerr != nil && !errors.Is(rerr, domain.ErrNotFound) {
		n.log.Error("notify: cannot record a delivery attempt", "delivery_id", d.ID, "grouped", len(grouped), "err", rerr)
	}
	return grouped
}

// backoff is the wait after the attempts-th failed try.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.opts.BackoffBase
	for i := 1; i < attempts && d < n.opts.BackoffMax; i++ {
		d *= 2
	}
	return min(d, n.opts.BackoffMax)
}

func (n *Notifier) prune(ctx context.Context, now time.Time) {
	k, err := n.db.PruneDeliveries(ctx, now.Add(-n.opts.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		n.log.Error("notify: cannot prune old deliveries", "err", err)
	case k > 0:
		n.log.Info("notify: pruned old deliveries", "deliveries", k)
	}
}

// CheckReminders queues the reminders due now: for each key revoked or denied for at least
// RevokedReminder (a key expected dead instead reminds while Stax.ai still accepts it), and
// each key set at least RotationReminderDays ago, one per whole period elapsed since, so a
// reminder goes out once per period however often it is looked for. A still-accepted key's
// first alert is sent here too if its check's was missed (a restart, a mute since lifted).
func (n *Notifier) CheckReminders(ctx context.Context) error {
	cfg := n.Config(ctx)
	rotation := time.Duration(cfg.RotationReminderDays) * 24 * time.Hour
	if len(cfg.Channels()) == 0 {
		return nil
	}
	var pairs []domain.Key
	var err error
	if cfg.RevokedReminder <= 0 && rotation <= 0 {
		// No reminders: only the still-accepted keys' first alerts, off an index.
		var page domain.KeyPage
		page, err = n.db.ListKeys(ctx, domain.KeyQuery{Status: string(domain.StandingStillAccepted)})
		pairs = page.Keys
	} else {
		pairs, err = n.db.AllKeys(ctx)
	}
	if err != nil {
		return err
	}
	now := n.clock.Now().UTC().Truncate(time.Millisecond)
	mutes, err := n.db.ActiveMutes(ctx, now)
	if err != nil {
		return err
	}
	queued := 0
	for _, p := range pairs {
		if _, muted := mutes[p.ID]; muted {
			// Its reminders wait: the period's reminder is queued once it is unmuted.
			n.log.Debug("notify: key muted, no reminder", "pair_id", p.ID)
			continue
		}
		if p.Standing() == domain.StandingStillAccepted {
			// The first alert too, should the check's own have been missed (a restart, a mute).
			ok, err := n.stillAccepted(ctx, cfg, p, now, stillAcceptedPeriod(p, now, cfg.RevokedReminder))
			if err != nil {
				return err
			}
			queued += btoi(ok)
		}
		if st := p.Standing(); cfg.RevokedReminder > 0 && (st == domain.StandingRevoked || st == domain.StandingDenied) && !p.VerdictSince.IsZero() {
			if period := int(now.Sub(p.VerdictSince) / cfg.RevokedReminder); period >= 1 {
				since := p.VerdictSince
				a := Alert{Event: EventVerdictReminder, At: now, Key: n.keyRef(p), NewVerdict: string(p.Verdict), Since: &since}
				a.Message = verdictReminderMessage(a)
				ok, err := n.remind(ctx, cfg, store.Reminder{KeyID: p.ID, Kind: store.ReminderVerdict, Anchor: since, Period: period}, a)
				if err != nil {
					return err
				}
				queued += btoi(ok)
			}
		}
		if rotation > 0 && !p.KeyChangedAt.IsZero() {
			if period := int(now.Sub(p.KeyChangedAt) / rotation); period >= 1 {
				since := p.KeyChangedAt
				a := Alert{Event: EventRotationReminder, At: now, Key: n.keyRef(p), NewVerdict: string(p.Verdict), Since: &since}
				a.Message = rotationReminderMessage(a, int(now.Sub(since)/(24*time.Hour)))
				ok, err := n.remind(ctx, cfg, store.Reminder{KeyID: p.ID, Kind: store.ReminderRotation, Anchor: since, Period: period}, a)
				if err != nil {
					return err
				}
				queued += btoi(ok)
			}
		}
	}
	if queued > 0 {
		n.log.Info("notify: reminders queued", "reminders", queued)
		n.Nudge()
	}
	return nil
}

// EndExpiredMutes ends the mutes whose until has passed and records each end in the audit
// trail (Options.Audit). The worker calls it on every reminder pass (ReminderEvery); a mute or
// unmute of the key may notice first (keys.Service), and whichever does records it, once.
// Whether a key is muted never waits for it: a mute holds only until its until.
func (n *Notifier) EndExpiredMutes(ctx context.Context) {
	ended, err := n.db.EndExpiredMutes(ctx, n.clock.Now())
	if err != nil {
		if ctx.Err() == nil {
			n.log.Error("notify: cannot end expired mutes", "err", err)
		}
		return
	}
	n.opts.Audit.MutesExpired(ctx, ended)
}

func (n *Notifier) remind(ctx context.Context, cfg Config, r store.Reminder, a Alert) (bool, error) {
	ds, err := deliveriesFor(cfg, a, 0)
	if err != nil {
		return false, err
	}
	return n.db.EnqueueReminder(ctx, a.At, r, ds)
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
