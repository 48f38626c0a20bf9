package checker

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// Status is a snapshot of the checker for the dashboard and the health page.
type Status struct {
	Running     bool      // Run is active
	Started     time.Time // when Run started; zero if it is not running
	Outage      bool      // Stax.ai looks down: only gentle probes are sent
	OutageSince time.Time // the first of the upstream faults that made the outage
	PausedUntil time.Time // after a 429 no check starts before this; may be in the past
	LastCycleAt time.Time // the last time the scheduler was caught up (no pair overdue)
	Heartbeat   time.Time // the scheduler loop's last turn; see Alive
	At          time.Time // the checker's clock when the snapshot was taken

	Keys              int
	Interval          time.Duration // as configured
	EffectiveInterval time.Duration // Interval, or longer when the rate cap cannot fit every pair in it
	Rate              float64       // checks per second; 0 means no cap
	Stretched         bool          // EffectiveInterval > Interval
	InFlight          int           // checks running now

	// TeamsPaused counts the teams whose checks wait for their own 429's Retry-After.
	TeamsPaused int
	// Suspicion is the upstream-wide change being held, nil when there is none.
	Suspicion *domain.Suspicion
}

// Paused reports whether checks are paused at now.
func (s Status) Paused(now time.Time) bool { return now.Before(s.PausedUntil) }

// StretchNote explains a stretched interval, as in "1,800 keys fit in 15m at 2/s; checking
// every 42m"; it is "" when the interval is not stretched.
func (s Status) StretchNote() string {
	if !s.Stretched || s.Rate <= 0 {
		return ""
	}
	fit := int64(math.Floor(s.Interval.Seconds()*s.Rate + 1e-9))
	return fmtCount(fit) + " keys fit in " + fmtDuration(s.Interval) + " at " + fmtRate(s.Rate) +
		"; checking every " + fmtDuration(s.EffectiveInterval)
}

// Status returns a snapshot. It reads no database: Pairs is as of the scheduler's last count.
func (c *Checker) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{
		Running:           c.running.Load(),
		Started:           c.started,
		Outage:            c.outage,
		OutageSince:       c.outageSince,
		PausedUntil:       c.pausedUntil,
		LastCycleAt:       c.lastCycleAt,
		Heartbeat:         c.hb.last(),
		At:                c.clock.Now(),
		Keys:              c.pairs,
		Interval:          c.cfg.Interval,
		EffectiveInterval: c.effInterval,
		Rate:              c.cfg.Rate,
		InFlight:          c.inflight.len(),
	}
	now := c.clock.Now()
	for _, until := range c.fleet.teamPause {
		if now.Before(until) {
			s.TeamsPaused++
		}
	}
	if sus := c.fleet.sus; sus != nil {
		s.Suspicion = &domain.Suspicion{From: sus.from, To: sus.to, Since: sus.since, At: now, Count: len(sus.members), Reason: sus.reason}
	}
	s.Stretched = s.EffectiveInterval > s.Interval
	return s
}

// fmtCount writes n with thousands separators: 1800 → "1,800".
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtRate writes a rate as "2/s", "0.5/s".
func fmtRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) + "/s" }

// fmtDuration writes an interval the way people say it, rounding up so a promise of
// "every 42m" is never broken by 41m40s: "45s", "15m", "42m", "1h", "2h30m", "2d".
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Minute:
		return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10) + "s"
	case d < time.Hour:
		return strconv.FormatInt(int64(math.Ceil(d.Minutes())), 10) + "m"
	case d < 48*time.Hour:
		m := int64(math.Ceil(d.Minutes()))
		h, m := m/60, m%60
		if m == 0 {
			return strconv.FormatInt(h, 10) + "h"
		}
		return strconv.FormatInt(h, 10) + "h" + strconv.FormatInt(m, 10) + "m"
	default:
		h := int64(math.Ceil(d.Hours()))
		if h%24 == 0 {
			return strconv.FormatInt(h/24, 10) + "d"
		}
		return strconv.FormatInt(h/24, 10) + "d" + strconv.FormatInt(h%24, 10) + "h"
	}
}
