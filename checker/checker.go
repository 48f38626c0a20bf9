// Package checker decides, on schedule and politely, whether each registered key still works,
// and records why.
//
// One Checker serves three callers that share its limits: Run (the background scheduler),
// CheckNow (an admin's "check now") and RunCycle (the `staxkeys check` command). All of them
// respect one concurrency bound, one global request rate, the pause a 429 imposes and the
// in-flight set that keeps a pair from being checked twice at once. Decide holds the status
// model, free of I/O.
package checker

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
)

// Prober asks the Stax.ai API about one pair; *staxapi.Client is one. Its error is non-nil only
// when ctx ended, and then nothing was learnt.
type Prober interface {
	Check(ctx context.Context, email, key string) (staxapi.Result, error)
}

// KeyOpener opens a pair's sealed key; *keys.Vault is one.
type KeyOpener interface {
	Key(domain.Key) (string, error)
}

// Config tunes the checker. Zero fields take the defaults of DefaultConfig, except Rate,
// whose zero means no cap.
type Config struct {
	Interval     time.Duration // how often each pair is checked
	Concurrency  int           // checks in flight at once
	Rate         float64       // checks per second at most; 0 means no cap
	Confirm      int           // agreeing answers in a row needed to change an established verdict
	ConfirmDelay time.Duration // wait before re-checking a pair whose answer changed
	BackoffBase  time.Duration // first wait after an undecided check, doubling per failure
	HistoryDays  int           // raw checks older than this are pruned; events are kept
	OutageAfter  int           // upstream faults, with no decided answer among them, that may mean an outage
	// OutageTeams is how many distinct teams must see those faults (or every team, when there
	// are fewer): one broken key, or one team's, is not an outage.
	OutageTeams int
	// Window is how far back the checker looks when it asks whether answers are correlated:
	// faults for an outage, changes for an upstream-wide suspicion, 429s for a global pause.
	Window time.Duration
	// SuspectKeys is how many keys changing the same way within Window (and most of those
	// checked since the first change) make an upstream-wide suspicion.
	SuspectKeys int
	// SuspectHold is how long a suspected upstream-wide change is held before its keys are
	// asked again to confirm it.
	SuspectHold time.Duration
	// MaxRetryAfter caps Stax.ai's Retry-After: a broken proxy's absurd hint must not stop
	// the checks for a day.
	MaxRetryAfter time.Duration
}

// DefaultConfig returns the checker's defaults.
func DefaultConfig() Config {
	return Config{
		Interval:      15 * time.Minute,
		Concurrency:   4,
		Rate:          0,
		Confirm:       2,
		ConfirmDelay:  5 * time.Second,
		BackoffBase:   30 * time.Second,
		HistoryDays:   90,
		OutageAfter:   3,
		OutageTeams:   3,
		Window:        2 * time.Minute,
		SuspectKeys:   3,
		SuspectHold:   10 * time.Minute,
		MaxRetryAfter: time.Hour,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Interval <= 0 {
		c.Interval = d.Interval
	}
	if c.Concurrency < 1 {
		c.Concurrency = d.Concurrency
	}
	if c.Rate < 0 {
		c.Rate = 0
	}
	if c.Confirm < 1 {
		c.Confirm = d.Confirm
	}
	if c.ConfirmDelay <= 0 {
		c.ConfirmDelay = d.ConfirmDelay
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = d.BackoffBase
	}
	if c.HistoryDays < 1 {
		c.HistoryDays = d.HistoryDays
	}
	if c.OutageAfter < 1 {
		c.OutageAfter = d.OutageAfter
	}
	if c.OutageTeams < 1 {
		c.OutageTeams = d.OutageTeams
	}
	if c.Window <= 0 {
		c.Window = d.Window
	}
	if c.SuspectKeys < 2 {
		c.SuspectKeys = d.SuspectKeys
	}
	if c.SuspectHold <= 0 {
		c.SuspectHold = d.SuspectHold
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = d.MaxRetryAfter
	}
	return c
}

// Outage probing: the first probe after probeFirst, doubling up to probeMax.
const (
	probeFirst = 15 * time.Second
	probeMax   = 5 * time.Minute
)

// pruneEvery is how often old raw checks are deleted.
const pruneEvery = time.Hour

// writeTimeout bounds the write of a finished check.
const writeTimeout = 10 * time.Second

// ErrPaused is matched (errors.Is) by the *PausedError CheckNow returns while the checker is
// paused after a 429.
var ErrPaused = errors.New("checker: paused after a rate limit")

// PausedError says until when the checker is paused after Stax.ai answered 429.
type PausedError struct {
	Until time.Time
	// Team is set when only this key's team is held back (its own 429s), not every check.
	Team bool
}

func (e *PausedError) Error() string {
	if e.Team {
		return "checker: this key's team is rate limited by Stax.ai until " + e.Until.UTC().Format(time.RFC3339)
	}
	return "checker: paused after a rate limit until " + e.Until.UTC().Format(time.RFC3339)
}

// Is makes errors.Is(err, ErrPaused) hold.
func (e *PausedError) Is(target error) bool { return target == ErrPaused }

// ErrOutage is returned by RunCycle when Stax.ai looks down: it stops rather than send every
// remaining pair into the outage.
var ErrOutage = errors.New("checker: the Stax.ai API looks down")

// errHold means a scheduled check must not start now (paused, or an outage began); the pair
// stays due and the scheduler comes back to it.
var errHold = errors.New("checker: hold")

// Update tells a subscriber that something changed. KeyID 0 is a checker-wide change
// (outage start or end, a pause): read Status for the details.
type Update struct {
	KeyID   int64
	Verdict domain.Verdict
	Outcome domain.Outcome
	At      time.Time
}

// KeyResult is what RunCycle found for one pair. Err is set when the pair could not be
// checked (it changed meanwhile, the cycle stopped on an outage or shutdown); Result is then
// empty.
type KeyResult struct {
	Key    domain.Key
	Result staxapi.Result
	Err    error
}

// Checker checks registered pairs against the Stax.ai API.
type Checker struct {
	db    *store.DB
	keys  KeyOpener
	probe Prober
	cfg   Config
	clock clock.Clock
	log   *slog.Logger
	rnd   func() float64
	lim   *rate.Limiter // nil when Rate is 0

	slots     chan struct{} // concurrency bound, shared by every caller
	writer    writer        // stores finished checks in group commits
	inflight  inflightSet
	nudge     chan struct{}
	schedGen  atomic.Uint64 // moves whenever the schedule may have moved under the scheduler
	done      chan struct{} // a check finished and left the in-flight set
	running   atomic.Bool
	recorded  atomic.Int64 // checks recorded since memory was last handed back
	readAhead atomic.Int64 // batches the scheduler took from a read-ahead, for tests and benchmarks
	// flowMu guards a consistent view of dispatched (the scheduler's own checks in flight)
	// and finished (checks that left the in-flight set), so the scheduler can tell a finish
	// it has not seen from one it has.
	flowMu     sync.Mutex
	dispatched int
	finished   uint64

	mu          sync.Mutex
	pausedUntil time.Time
	outage      bool
	outageSince time.Time
	probeDelay  time.Duration
	pairs       int
	effInterval time.Duration
	lastCycleAt time.Time
	started     time.Time
	fleet       fleet

	subMu sync.Mutex
	subs  map[chan Update]struct{}

	observers []Observer // set before Run; read without locking

	hb heartbeat // the scheduler loop's last turn (heartbeat.go)
}

// Observer hears about every recorded check and every start and end of an upstream outage:
// metrics and notifications hang off it. Calls are synchronous, so an Observer must be quick.
type Observer interface {
	// CheckRecorded is called after a check of p was stored; rec.Event is set on a verdict change.
	CheckRecorded(p domain.Key, rec store.CheckRecord)
	// OutageChanged is called when an outage begins (down=true) or ends.
	OutageChanged(down bool, since, at time.Time, reason string)
	// SuspicionChanged is called when many keys change the same way at once (an upstream-wide
	// change is suspected, s.Resolved false) and once more when that is settled either way.
	SuspicionChanged(s domain.Suspicion)
	// PauseChanged is called when Stax.ai's rate limiting pauses every check for longer than
	// LongPause (paused=true), and when that pause ends.
	PauseChanged(paused bool, until, at time.Time, reason string)
}

// LongPause is how long a pause of every check must last before observers hear of it: a short
// pause is routine politeness, a long one means nothing is being watched.
const LongPause = 5 * time.Minute

// AddObserver registers o. Call it before Run, CheckNow or RunCycle.
func (c *Checker) AddObserver(o Observer) { c.observers = append(c.observers, o) }

// New returns a Checker; nothing runs until Run, CheckNow or RunCycle. A nil clock means the
// real one, a nil log discards.
func New(db *store.DB, keys KeyOpener, probe Prober, cfg Config, clk clock.Clock, log *slog.Logger) *Checker {
	cfg = cfg.withDefaults()
	if clk == nil {
		clk = clock.System{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Checker{
		db:          db,
		keys:        keys,
		probe:       probe,
		cfg:         cfg,
		clock:       clk,
		log:         log,
		rnd:         rand.Float64,
		slots:       make(chan struct{}, cfg.Concurrency),
		inflight:    inflightSet{m: map[int64]chan struct{}{}},
		nudge:       make(chan struct{}, 1),
		done:        make(chan struct{}, 1),
		probeDelay:  probeFirst,
		effInterval: cfg.Interval,
		subs:        map[chan Update]struct{}{},
		writer:      writer{db: db, gather: gatherWindow},
	}
	c.writer.inFlight = c.inflight.len
	if cfg.Rate > 0 {
		// A burst of one: requests are spaced evenly, never bunched.
		c.lim = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	return c
}

// Nudge tells the scheduler that pairs may have become due (added, edited, re-keyed), so it
// looks now rather than at its next planned wake-up. It never blocks.
func (c *Checker) Nudge() {
	c.schedGen.Add(1)
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

func (c *Checker) signalDone() {
	select {
	case c.done <- struct{}{}:
	default:
	}
}

// Subscribe returns a channel of live updates and a function that ends the subscription (and
// closes the channel). Sends never block: a subscriber that falls more than a buffer behind
// loses updates rather than slowing the checks, so treat an update as "go and look".
func (c *Checker) Subscribe() (<-chan Update, func()) {
	ch := make(chan Update, 256)
	c.subMu.Lock()
	c.subs[ch] = struct{}{}
	c.subMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			c.subMu.Lock()
			delete(c.subs, ch)
			close(ch)
			c.subMu.Unlock()
		})
	}
}

func (c *Checker) publish(u Update) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for ch := range c.subs {
		select {
		case ch <- u:
		default:
		}
	}
}

// effective returns the interval in force: the configured one, stretched when the rate cap
// cannot get through every pair within it.
func (c *Checker) effective() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.effInterval
}

func (c *Checker) setKeyCount(n int) {
	c.mu.Lock()
	c.pairs = n
	c.effInterval = effectiveInterval(c.cfg.Interval, c.cfg.Rate, n)
	c.mu.Unlock()
}

func (c *Checker) refreshKeyCount(ctx context.Context) error {
	n, err := c.db.KeyCount(ctx)
	if err != nil {
		return err
	}
	teams, err := c.db.TeamCount(ctx, c.cfg.OutageTeams) // the rules need no more than that many
	if err != nil {
		return err
	}
	c.setKeyCount(n)
	c.mu.Lock()
	c.fleet.teams = teams
	c.mu.Unlock()
	return nil
}

// effectiveInterval is max(interval, pairs/rate): below the rate cap every pair fits in the
// interval; above it the interval stretches instead of the schedule falling ever further behind.
func effectiveInterval(interval time.Duration, perSecond float64, pairs int) time.Duration {
	if perSecond <= 0 || pairs <= 0 {
		return interval
	}
	need := time.Duration(float64(pairs) / perSecond * float64(time.Second))
	return max(interval, need)
}

func (c *Checker) paused(now time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pausedUntil, now.Before(c.pausedUntil)
}

func (c *Checker) inOutage() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outage
}

// inflightSet holds the pairs being checked; each entry's channel closes when its check ends,
// so a caller that must check that pair too can wait for it.
type inflightSet struct {
	mu sync.Mutex
	m  map[int64]chan struct{}
}

func (s *inflightSet) tryAdd(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.m[id]; busy {
		return false
	}
	s.m[id] = make(chan struct{})
	return true
}

// add waits until id is free, then takes it.
func (s *inflightSet) add(ctx context.Context, id int64) error {
	for {
		s.mu.Lock()
		ch, busy := s.m[id]
		if !busy {
			s.m[id] = make(chan struct{})
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *inflightSet) remove(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.m[id]; ok {
		close(ch)
		delete(s.m, id)
	}
}

func (s *inflightSet) ids() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int64, 0, len(s.m))
	for id := range s.m {
		out = append(out, id)
	}
	return out
}

func (s *inflightSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (c *Checker) acquireSlot(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Checker) releaseSlot() { <-c.slots }

// burstChecks is how many checks make a burst worth handing memory back after.
const burstChecks = 1000

// releaseMemoryAfterBurst returns the heap a large cycle left behind to the OS once the
// scheduler has caught up. The Go runtime would do it too, but over minutes; an idle monitor
// should look idle at once. Small cycles skip it, so this costs one GC per large cycle.
func (c *Checker) releaseMemoryAfterBurst() {
	if c.recorded.Load() >= burstChecks {
		c.recorded.Store(0)
		debug.FreeOSMemory()
	}
}
