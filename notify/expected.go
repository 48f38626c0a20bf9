package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// A key expected dead (deleted at Stax.ai after a leak or a rotation) turns its verdicts'
// meaning round. Stax.ai accepting it is the alarm: a leaked key that works. It alerts once as
// EventStillAccepted on every channel and opens the key's incident on the on-call channels (the
// same dedup key as a revoked key's), then reminds every RevokedReminder like a revoked key.
// Stax.ai refusing it (revoked, or denied) is the good news: EventKeyRetired, which resolves
// that incident and is never a "key revoked" problem alert.
//
// "Once" is kept by the reminders table: the first alert is period 0 of the key's verdict
// reminder anchored where it began to be still accepted (domain.Key.StillAcceptedSince), so a
// restart, a second confirmation or the reminder pass does not send it again. A key expected
// dead holds no other verdict reminder (a retired key reminds nobody), so the two never meet.

// expectedDeadChecked alerts about a check of p, a key expected dead (CheckRecorded).
func (n *Notifier) expectedDeadChecked(p domain.Key, rec store.CheckRecord) {
	if rec.Wide {
		return // the suspicion's resolution speaks for it
	}
	after := p
	after.Verdict, after.VerdictSince, after.VerdictAt = rec.Verdict, rec.VerdictSince, rec.VerdictAt
	stillAccepted := rec.Verdict == domain.Valid && rec.Check.Outcome == domain.OutcomeValid
	// Retired once: revoked → denied (or back) is still the same retirement.
	retired := rec.Event != nil && after.Standing() == domain.StandingRetired &&
		rec.Event.Old != domain.Revoked && rec.Event.Old != domain.Denied
	if !stillAccepted && !retired {
		return
	}
	if stillAccepted && seenStillAccepted(p) {
		// An earlier check already found it still accepted and queued the first alert (or,
		// muted then or lost to a restart, left it to the reminder pass): nothing to do for
		// this one, which spares every later check of the key a config load and two writes.
		return
	}
	if n.muted(p.ID) {
		n.log.Debug("notify: key muted, no alert", "pair_id", p.ID, "standing", string(after.Standing()))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), enqueueTimeout)
	defer cancel()
	if stillAccepted {
		if _, err := n.stillAccepted(ctx, n.Config(ctx), after, n.clock.Now(), 0); err != nil {
			n.log.Error("notify: cannot queue an alert", "event", EventStillAccepted, "err", err)
		}
		return
	}
	e := rec.Event
	a := Alert{Event: EventKeyRetired, At: e.At.UTC(), Key: n.keyRef(after), OldVerdict: string(e.Old),
		NewVerdict: string(e.New), Reason: e.Reason}
	a.Message = retiredMessage(a)
	n.enqueue(a, 0)
}

// seenStillAccepted reports whether p's last check, before the one in hand, already found it
// accepted while it stood still accepted.
func seenStillAccepted(p domain.Key) bool {
	return p.Standing() == domain.StandingStillAccepted && p.LastCheck != nil &&
		p.LastCheck.Outcome == domain.OutcomeValid && !p.LastCheck.At.Before(p.StillAcceptedSince())
}

// expectedDeadConfirmed alerts about key id, expected dead, whose change a resolved upstream
// suspicion confirmed: the suspicion's message names it among the others, but what it means
// for this key (still accepted, or retired) and its incident are its own. The key is read
// again, as the change left it.
func (n *Notifier) expectedDeadConfirmed(id int64) {
	if n.muted(id) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), enqueueTimeout)
	defer cancel()
	k, err := n.db.KeyByID(ctx, id)
	if err != nil {
		n.log.Error("notify: cannot read a key the suspicion confirmed", "pair_id", id, "err", err)
		return
	}
	switch k.Standing() {
	case domain.StandingStillAccepted:
		if _, err := n.stillAccepted(ctx, n.Config(ctx), k, n.clock.Now(), 0); err != nil {
			n.log.Error("notify: cannot queue an alert", "event", EventStillAccepted, "err", err)
		}
	case domain.StandingRetired:
		a := Alert{Event: EventKeyRetired, At: k.VerdictSince.UTC(), Key: n.keyRef(k), NewVerdict: string(k.Verdict)}
		a.Message = retiredMessage(a)
		n.enqueue(a, 0)
	}
}

// stillAccepted queues the still-accepted alert of period (0: the first, at once) for k, a
// key expected dead and still accepted, unless that period's was queued already; the first
// also opens the key's incident. It reports whether it queued anything.
func (n *Notifier) stillAccepted(ctx context.Context, cfg Config, k domain.Key, now time.Time, period int) (bool, error) {
	since := k.StillAcceptedSince().UTC()
	a := Alert{Event: EventStillAccepted, At: now.UTC().Truncate(time.Millisecond), Key: n.keyRef(k),
		NewVerdict: string(domain.Valid), Since: &since}
	a.Message = stillAcceptedMessage(a, period)
	queued, err := n.remind(ctx, cfg, store.Reminder{KeyID: k.ID, Kind: store.ReminderVerdict, Anchor: since, Period: period}, a)
	if err != nil || period > 0 {
		return queued, err
	}
	// Only the first pages; a repeat of the trigger is dropped by the incident state anyway.
	incidents, err := n.enqueueIncidents(ctx, cfg, a)
	if queued || incidents > 0 {
		n.log.Info("notify: alert queued", "event", a.Event, "pair_id", k.ID, "incidents", incidents)
		n.Nudge()
	}
	return queued || incidents > 0, err
}

// stillAcceptedPeriod is which still-accepted alert is due for k at now: 0, the first, until
// a whole reminder period has passed (every, 0: no reminders), then one per period.
func stillAcceptedPeriod(k domain.Key, now time.Time, every time.Duration) int {
	if every <= 0 {
		return 0
	}
	return int(now.Sub(k.StillAcceptedSince()) / every)
}

func stillAcceptedMessage(a Alert, period int) string {
	s := fmt.Sprintf("Stax.ai still accepts key %s, which should be dead (deleted at Stax.ai): accepted since %s.",
		keyName(a.Key), stamp(*a.Since))
	if period > 0 {
		s = fmt.Sprintf("Reminder: Stax.ai still accepts key %s, which should be dead, for %s now (since %s).",
			keyName(a.Key), human(a.At.Sub(*a.Since)), stamp(*a.Since))
	}
	return s + " Delete it at Stax.ai."
}

func retiredMessage(a Alert) string {
	s := fmt.Sprintf("Key retired as expected: Stax.ai no longer accepts %s (%s).", keyName(a.Key), verdictWord(a.NewVerdict))
	if a.Reason != "" {
		s += " " + a.Reason + "."
	}
	return s
}
