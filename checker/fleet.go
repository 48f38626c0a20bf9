package checker

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
)

// This file holds the fleet-wide rules: what the answers of many keys, taken together, say that
// no single answer can. Three questions share one window of recent answers (Config.Window):
//
//   - Is Stax.ai down? Only when upstream faults come from several teams (OutageTeams, or every
//     team when there are fewer), make up most of the answers since the last decided one, and a
//     cross-check of keys of other teams faults too. One broken key, or one team's, is shown as
//     "check failing" on its own row instead.
//   - Is Stax.ai rate limiting everyone? A 429 postpones its own team's checks; only 429s from
//     several teams pause every check. Retry-After is capped at MaxRetryAfter.
//   - Did many keys really change at once? When SuspectKeys or more keys change the same way
//     and they are most of the keys that answered since the first change, the change is
//     suspected to be Stax.ai's or the network's: the members are held for SuspectHold, with
//     one announcement at the start and one at the resolution.
//
// Cross-checks make both the outage and the suspicion rules fast and hard to fool: when a few
// answers look bad, a few other keys are asked at once, and their answers are the evidence.

// crossWait is how long a change waits for the cross-checks it asked for before it is decided
// without them.
const crossWait = 30 * time.Second

// crossKeys is how many other keys a cross-check asks; crossBudget caps the cross-checks asked
// per Window, so a flapping upstream cannot turn them into load.
const (
	crossKeys   = 3
	crossBudget = 12
)

// maxRecent bounds the answers the fleet-wide rules look at.
const maxRecent = 2048

// seen is one answer as the fleet-wide rules see it.
type seen struct {
	at      time.Time
	pair    int64
	team    string
	fault   bool
	decided bool
	limited bool
}

// change is the first answer of a pair that disagreed with its verdict.
type change struct {
	at   time.Time
	pair domain.Key
	to   domain.Verdict
}

// memberState is where a suspicion's member stands.
type memberState int

const (
	memberHeld memberState = iota
	memberConfirmed
	memberCleared
)

type member struct {
	pair  domain.Key
	state memberState
}

// suspicion is the checker's working copy of a domain.Suspicion.
type suspicion struct {
	from, to  domain.Verdict
	since     time.Time
	holdUntil time.Time // members are asked again from then on
	resolveBy time.Time // members still undecided then are given up on
	members   map[int64]*member
	reason    string
}

// fleet is the checker's fleet-wide state, guarded by Checker.mu.
type fleet struct {
	recent      []seen               // within Window, oldest first, at most maxRecent
	changes     map[int64]change     // by pair: each pair's pending change, within Window
	teams       int                  // distinct team emails among the pairs, as last counted (up to OutageTeams)
	teamPause   map[string]time.Time // a team's checks wait for its 429's Retry-After
	cross       map[int64]time.Time  // pairs asked to cross-check, not answered yet
	crossAsked  []time.Time
	outageXAt   time.Time // when the last outage cross-check was asked
	outageXNeed int       // without a scheduler: the faults that must come in before an outage
	outageX     []int64   // the keys of other teams asked before calling an outage; empty: none to ask
	probeHint   time.Duration
	longPause   bool // observers were told of a long pause that has not ended yet
	sus         *suspicion
}

func (f *fleet) prune(now time.Time, window time.Duration) {
	cut := now.Add(-window)
	i := 0
	for i < len(f.recent) && f.recent[i].at.Before(cut) {
		i++
	}
	// The rules need the last answers, not all of a busy window: a fleet checked at a
	// thousand a second must not make every answer cost a scan of 120,000.
	i = max(i, len(f.recent)-maxRecent)
	if i > 0 {
		f.recent = f.recent[i:]
		if cap(f.recent) > 4*maxRecent && len(f.recent) < cap(f.recent)/4 {
			f.recent = slices.Clone(f.recent)
		}
	}
	for id, ch := range f.changes {
		if ch.at.Before(cut) {
			delete(f.changes, id)
		}
	}
	f.crossAsked = slices.DeleteFunc(f.crossAsked, func(t time.Time) bool { return t.Before(cut) })
	for id, at := range f.cross {
		if now.Sub(at) > crossWait {
			delete(f.cross, id)
		}
	}
	for team, until := range f.teamPause {
		if !now.Before(until) {
			delete(f.teamPause, team)
		}
	}
}

// outageXConfirmed reports whether the outage cross-check is in: every key asked faulted
// among the answers since the last decided one (or there was nobody to ask).
func (f *fleet) outageXConfirmed(tail []seen) bool {
	if f.outageX == nil {
		return false
	}
	faulted := map[int64]bool{}
	for _, s := range tail {
		if s.fault {
			faulted[s.pair] = true
		}
	}
	for _, id := range f.outageX {
		if !faulted[id] {
			return false
		}
	}
	return true
}

// crossWaiting reports whether cross-checks asked for are still out.
func (f *fleet) crossWaiting() bool { return len(f.cross) > 0 }

// teamOf is the key the per-team rules use: the email, case-folded.
func teamOf(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// teamPaused says until when pairs of email wait for their team's 429.
func (c *Checker) teamPaused(email string, now time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.fleet.teamPause[teamOf(email)]
	return until, ok && now.Before(until)
}

// observe updates the fleet-wide state from one answer of p. It may pause a team or every
// check, begin or end an outage, and ask for cross-checks; what must happen outside the lock
// (logs, observers, database) runs after it is released.
func (c *Checker) observe(p domain.Key, r staxapi.Result, now time.Time) {
	var note []func()
	team := teamOf(p.Email)
	_, decided := verdictOf(outcomeOf(r.Outcome))
	c.mu.Lock()
	f := &c.fleet
	f.prune(now, c.cfg.Window)
	f.recent = append(f.recent, seen{at: now, pair: p.ID, team: team, fault: r.UpstreamFault, decided: decided, limited: r.RateLimited})
	delete(f.cross, p.ID)

	if r.RateLimited {
		note = append(note, c.rateLimitedLocked(team, r, now)...)
	}
	if r.UpstreamFault {
		if r.RetryAfter > 0 {
			f.probeHint = c.cfg.retryAfter(r.RetryAfter)
		}
		if !c.outage {
			note = append(note, c.outageRuleLocked(now, r.Reason)...)
		}
	} else if c.outage {
		since := c.outageSince
		c.outage, c.outageSince, f.probeHint = false, time.Time{}, 0
		note = append(note, func() {
			c.log.Info("checker: Stax.ai answers again; outage over", "since", since, "lasted", now.Sub(since))
			c.publish(Update{At: now})
			for _, o := range c.observers {
				o.OutageChanged(false, since, now, r.Reason)
			}
		})
	}
	c.mu.Unlock()
	for _, fn := range note {
		fn()
	}
	if len(note) > 0 {
		// A pause, an outage or a cross-check may begin with an answer the scheduler did not
		// ask for (Check now, a cycle from the CLI): wake it, so it acts at once rather than
		// after its current sleep.
		c.Nudge()
	}
}

// rateLimitedLocked holds back team after a 429, and every check when 429s came from several
// teams within the window.
func (c *Checker) rateLimitedLocked(team string, r staxapi.Result, now time.Time) []func() {
	var note []func()
	f := &c.fleet
	ra := c.cfg.retryAfter(r.RetryAfter)
	until := now.Add(ra)
	if until.After(f.teamPause[team]) {
		if f.teamPause == nil {
			f.teamPause = map[string]time.Time{}
		}
		f.teamPause[team] = until
		note = append(note, func() {
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			defer cancel()
			n, err := c.db.PostponeTeam(ctx, team, until)
			if err != nil {
				c.log.Error("checker: cannot postpone a rate-limited team's checks", "err", err)
				return
			}
			c.log.Warn("checker: rate limited by Stax.ai; holding back this team's checks", "keys", n, "until", until, "retry_after", ra)
		})
	}
	teams := map[string]bool{}
	for _, s := range f.recent {
		if s.limited {
			teams[s.team] = true
		}
	}
	if len(teams) < min(c.cfg.OutageTeams, max(f.teams, 1)) || !until.After(c.pausedUntil) {
		return note
	}
	c.pausedUntil = until
	long := ra > LongPause && !f.longPause
	if long {
		f.longPause = true
	}
	n := len(teams)
	note = append(note, func() {
		c.log.Warn("checker: rate limited by Stax.ai for several teams; pausing every check", "teams", n, "until", until, "retry_after", ra)
		c.publish(Update{At: now})
		if long {
			for _, o := range c.observers {
				o.PauseChanged(true, until, now, r.Reason)
			}
		}
	})
	return note
}

// endLongPause tells observers that a long pause they heard of is over.
func (c *Checker) endLongPause(now time.Time) {
	c.mu.Lock()
	ended := c.fleet.longPause && !now.Before(c.pausedUntil)
	if ended {
		c.fleet.longPause = false
	}
	until := c.pausedUntil
	c.mu.Unlock()
	if !ended {
		return
	}
	c.log.Info("checker: the pause for Stax.ai's rate limit is over; checks resume")
	c.publish(Update{At: now})
	for _, o := range c.observers {
		o.PauseChanged(false, until, now, "")
	}
}

// outageRuleLocked applies the outage rule after a fault: enough faults, from enough teams,
// most of the answers since the last decided one, and none of the cross-checks decided.
func (c *Checker) outageRuleLocked(now time.Time, reason string) []func() {
	f := &c.fleet
	last := -1
	for i, s := range f.recent {
		if s.decided {
			last = i
		}
	}
	tail := f.recent[last+1:]
	faults, others := 0, 0
	teams := map[string]bool{}
	var first time.Time
	for _, s := range tail {
		if s.fault {
			if faults == 0 {
				first = s.at
			}
			faults++
			teams[s.team] = true
		} else {
			others++
		}
	}
	need := min(c.cfg.OutageTeams, max(f.teams, 1))
	if faults < c.cfg.OutageAfter || len(teams) < need || faults*5 < (faults+others)*4 {
		return nil
	}
	if f.crossWaiting() {
		return nil
	}
	if faults < f.outageXNeed {
		return nil // a cycle's next keys are the cross-check
	}
	if f.crossWaiting() {
		return nil
	}
	if !f.outageXConfirmed(tail) && (f.outageXNeed == 0 || faults < f.outageXNeed) {
		if !f.outageXAt.IsZero() && now.Sub(f.outageXAt) <= c.cfg.Window {
			// The last cross-check got a decided answer: Stax.ai is up for other keys.
			return nil
		}
		// Before calling Stax.ai down, ask keys of other teams: a decided answer from any of
		// them says it is up, and these keys are what is broken.
		f.outageXAt, f.outageXNeed, f.outageX = now, 0, nil
		skipTeams := slices.Collect(maps.Keys(teams))
		verdicts := []domain.Verdict{domain.Valid, domain.Revoked, domain.Denied, domain.Pending}
		return []func(){func() {
			ids, scheduled := c.crossCheck(verdicts, nil, skipTeams, 2, now)
			c.mu.Lock()
			var note []func()
			switch {
			case !scheduled:
				// No scheduler to ask: the cycle's next two keys must fault too.
				c.fleet.outageXNeed = faults + 2
			case len(ids) > 0:
				c.fleet.outageX = ids
			default:
				// Nobody else to ask: the faults are the whole evidence.
				c.fleet.outageX = []int64{}
				if !c.outage {
					note = c.outageRuleLocked(now, reason)
				}
			}
			c.mu.Unlock()
			for _, fn := range note {
				fn()
			}
		}}
	}
	c.outage, c.outageSince, c.probeDelay = true, first, probeFirst
	f.outageX, f.outageXAt, f.outageXNeed = nil, time.Time{}, 0 // the next outage asks afresh
	n, nt := faults, len(teams)
	return []func(){func() {
		c.log.Warn("checker: Stax.ai looks down; probing gently until it answers",
			"since", first, "faults", n, "teams", nt, "last_reason", reason)
		c.publish(Update{At: now})
		for _, o := range c.observers {
			o.OutageChanged(true, first, now, reason)
		}
	}}
}

// crossCheck makes up to n pairs holding one of verdicts, outside skip and skipTeams, due now,
// within the cross-check budget, and returns them. Only the scheduler checks pairs made due, so
// without it (a cycle of `staxkeys check`, which asks every key anyway) it asks none and
// scheduled is false.
func (c *Checker) crossCheck(verdicts []domain.Verdict, skip []int64, skipTeams []string, n int, now time.Time) (ids []int64, scheduled bool) {
	if !c.running.Load() {
		return nil, false
	}
	c.mu.Lock()
	n = min(n, crossBudget-len(c.fleet.crossAsked))
	for id := range c.fleet.cross {
		skip = append(skip, id)
	}
	c.mu.Unlock()
	if n <= 0 {
		return nil, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	ids, err := c.db.CrossCheckCandidates(ctx, verdicts, skip, skipTeams, n)
	if err == nil {
		err = c.db.MakeDue(ctx, ids, now)
	}
	if err != nil {
		c.log.Error("checker: cannot ask for cross-checks", "err", err)
		return nil, true
	}
	if len(ids) == 0 {
		return nil, true
	}
	c.mu.Lock()
	if c.fleet.cross == nil {
		c.fleet.cross = map[int64]time.Time{}
	}
	for _, id := range ids {
		c.fleet.cross[id] = now
		c.fleet.crossAsked = append(c.fleet.crossAsked, now)
	}
	c.mu.Unlock()
	c.log.Debug("checker: cross-checking other keys", "keys", len(ids))
	c.Nudge()
	return ids, true
}

// correlate applies the suspicion rule to a decision: it may hold back the change rec
// confirms, or mark it Wide when it confirms a suspicion's member. It runs after observe.
func (c *Checker) correlate(p domain.Key, rec store.CheckRecord, now time.Time) store.CheckRecord {
	var note []func()
	c.mu.Lock()
	rec, note = c.correlateLocked(p, rec, now)
	// A change this pair no longer shows (confirmed, contradicted or replaced by another) is
	// no longer evidence that many keys are changing together; a held one still is.
	if ch, ok := c.fleet.changes[p.ID]; ok && ch.to != rec.Candidate {
		delete(c.fleet.changes, p.ID)
	}
	c.mu.Unlock()
	for _, fn := range note {
		fn()
	}
	return rec
}

func (c *Checker) correlateLocked(p domain.Key, rec store.CheckRecord, now time.Time) (store.CheckRecord, []func()) {
	f := &c.fleet
	from := p.Verdict
	if from == "" {
		from = domain.Pending
	}
	_, decided := verdictOf(rec.Check.Outcome)
	confirming := rec.Event != nil && !(rec.Event.Old == domain.Pending && rec.Event.New == domain.Valid)
	newCandidate := rec.Candidate != "" && rec.Candidate != p.Candidate
	to := rec.Candidate
	if confirming {
		to = rec.Event.New
	}

	if s := f.sus; s != nil {
		if m, ok := s.members[p.ID]; ok {
			m.pair = p
			switch {
			case confirming && to == s.to && now.Before(s.holdUntil):
				rec = holdChange(p, rec, s.holdUntil)
			case confirming && to == s.to:
				rec.Wide, m.state = true, memberConfirmed
			case rec.Candidate == s.to:
				rec.NextCheckAt = later(rec.NextCheckAt, s.holdUntil)
			case decided:
				m.state = memberCleared
			}
			return rec, c.settleLocked(now)
		}
		if (confirming || newCandidate) && to == s.to && now.Before(s.holdUntil) {
			s.members[p.ID] = &member{pair: p}
			if confirming {
				rec = holdChange(p, rec, s.holdUntil)
			} else {
				rec.NextCheckAt = later(rec.NextCheckAt, s.holdUntil)
			}
			return rec, nil
		}
	}

	var note []func()
	if newCandidate {
		if f.changes == nil {
			f.changes = map[int64]change{}
		}
		f.changes[p.ID] = change{at: now, pair: p, to: rec.Candidate}
		if len(f.crossAsked) < crossBudget {
			ask := []domain.Verdict{from}
			if from == domain.Pending {
				ask = []domain.Verdict{domain.Valid}
			}
			// Ask keys that have not changed; a wide flip spends the budget in its first answers.
			skip := make([]int64, 0, min(len(f.changes), 4*crossBudget))
			for id := range f.changes {
				if len(skip) == cap(skip) {
					break
				}
				skip = append(skip, id)
			}
			note = append(note, func() { c.crossCheck(ask, skip, nil, crossKeys, now) })
		}
	}
	if !confirming {
		return rec, note
	}
	if f.crossWaiting() && p.CandidateCount < c.cfg.Confirm {
		// Other keys are being asked whether they see the same: decide once they answered,
		// one ConfirmDelay later (once only, so a cross-check that never runs cannot stall it).
		return holdChange(p, rec, now.Add(c.cfg.ConfirmDelay)), note
	}
	members := map[int64]domain.Key{p.ID: p}
	start := now
	for _, ch := range f.changes {
		if ch.to == to {
			members[ch.pair.ID] = ch.pair
			if ch.at.Before(start) {
				start = ch.at
			}
		}
	}
	answered := map[int64]bool{}
	for _, s := range f.recent {
		if s.decided && !s.at.Before(start) {
			answered[s.pair] = true
		}
	}
	if len(members) < c.cfg.SuspectKeys || 2*len(members) <= len(answered) {
		return rec, note
	}
	s := &suspicion{from: from, to: to, since: start, holdUntil: now.Add(c.cfg.SuspectHold),
		resolveBy: now.Add(2 * c.cfg.SuspectHold), members: map[int64]*member{}, reason: rec.Check.Reason}
	for id, mp := range members {
		s.members[id] = &member{pair: mp}
	}
	f.sus = s
	snap := s.snapshot(now, false)
	c.log.Warn("checker: many keys changed the same way at once; holding the change as suspected upstream-wide",
		"keys", len(members), "answered", len(answered), "from", from, "to", to, "hold_until", s.holdUntil)
	note = append(note, func() {
		c.publish(Update{At: now})
		for _, o := range c.observers {
			o.SuspicionChanged(snap)
		}
	})
	return holdChange(p, rec, s.holdUntil), note
}

// resumeSuspicion rebuilds, at start, a suspicion a restart interrupted: its members are still
// held candidates in the database. Without it each would be confirmed, and alert, on its own.
func (c *Checker) resumeSuspicion(ctx context.Context, now time.Time) error {
	held, err := c.db.HeldKeys(ctx, c.cfg.Confirm)
	if err != nil {
		return err
	}
	byTo := map[domain.Verdict][]domain.Key{}
	for _, p := range held {
		byTo[p.Candidate] = append(byTo[p.Candidate], p)
	}
	var best []domain.Key
	for _, ps := range byTo {
		if len(ps) > len(best) {
			best = ps
		}
	}
	if len(best) < c.cfg.SuspectKeys {
		return nil
	}
	s := &suspicion{from: best[0].Verdict, to: best[0].Candidate, since: now, holdUntil: now.Add(c.cfg.SuspectHold),
		resolveBy: now.Add(2 * c.cfg.SuspectHold), members: map[int64]*member{}}
	ids := make(map[int64]time.Time, len(best))
	for _, p := range best {
		s.members[p.ID] = &member{pair: p}
		ids[p.ID] = s.holdUntil
	}
	if err := c.db.Reschedule(ctx, ids); err != nil {
		return err
	}
	c.mu.Lock()
	c.fleet.sus = s
	c.mu.Unlock()
	c.log.Warn("checker: resumed a suspected upstream-wide change held before the restart", "keys", len(best), "to", s.to, "hold_until", s.holdUntil)
	return nil
}

// settleLocked resolves the suspicion once every member is confirmed or cleared, or once it is
// past resolveBy (members still undecided then go back to the ordinary rules).
func (c *Checker) settleLocked(now time.Time) []func() {
	s := c.fleet.sus
	if s == nil {
		return nil
	}
	open := 0
	for _, m := range s.members {
		if m.state == memberHeld {
			open++
		}
	}
	if open > 0 && now.Before(s.resolveBy) {
		return nil
	}
	c.fleet.sus = nil
	snap := s.snapshot(now, true)
	return []func(){func() {
		c.log.Info("checker: suspected upstream-wide change resolved",
			"confirmed", len(snap.Confirmed), "cleared", len(snap.Cleared), "unsettled", open)
		c.publish(Update{At: now})
		for _, o := range c.observers {
			o.SuspicionChanged(snap)
		}
	}}
}

// settle is settleLocked for the scheduler's loop, so a suspicion whose members never answer
// still ends.
func (c *Checker) settle(now time.Time) {
	c.mu.Lock()
	note := c.settleLocked(now)
	c.mu.Unlock()
	for _, fn := range note {
		fn()
	}
}

// snapshot is the Suspicion observers and pages see, members in id order.
func (s *suspicion) snapshot(now time.Time, resolved bool) domain.Suspicion {
	out := domain.Suspicion{From: s.from, To: s.to, Since: s.since, At: now, Resolved: resolved, Reason: s.reason, Count: len(s.members)}
	for _, id := range slices.Sorted(maps.Keys(s.members)) {
		m := s.members[id]
		out.Members = append(out.Members, m.pair)
		if !resolved {
			continue
		}
		if m.state == memberConfirmed {
			out.Confirmed = append(out.Confirmed, m.pair)
		} else {
			out.Cleared = append(out.Cleared, m.pair)
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
