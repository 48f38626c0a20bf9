package checker

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// t0 is the fake clock's start: UTC and whole milliseconds, as the store keeps times.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// waitLimit guards every wait in the tests: far longer than anything should take, so it
// fails only a test that is really stuck, never a slow machine.
const waitLimit = 20 * time.Second

// env is a checker's world: a real database and vault, a real fake Stax.ai and a fake clock.
type env struct {
	db    *store.DB
	vault *keys.Vault
	fake  *staxfake.Server
	api   *staxapi.Client
	clock *clocktest.Fake
}

func mustOpenStore(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "t.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func newEnv(tb testing.TB, opts staxfake.Options) *env {
	tb.Helper()
	db := mustOpenStore(tb)
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		tb.Fatal(err)
	}
	fake, err := staxfake.Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fake.Close() })
	api, err := staxapi.New(staxapi.Config{BaseURL: fake.URL(), Timeout: 30 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	clk := clocktest.NewFake(t0)
	db.Now = clk.Now
	return &env{db: db, vault: keys.New(db, secret.NewKeyring(mk)), fake: fake, api: api, clock: clk}
}

// testConfig is DefaultConfig with the rate cap off and room for tests to set what they need.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Concurrency = 1
	return cfg
}

// checker builds a Checker over e with jitter fixed at its middle, so next checks are exact.
func (e *env) checker(cfg Config, probe Prober) *Checker {
	if probe == nil {
		probe = e.api
	}
	c := New(e.db, e.vault, probe, cfg, e.clock, slog.New(slog.DiscardHandler))
	c.rnd = func() float64 { return 0.5 }
	return c
}

type testKey struct {
	domain.Key
	email, key string
}

func pairInput(i int) keys.Input {
	return keys.Input{
		Label: fmt.Sprintf("team %d", i),
		Email: fmt.Sprintf("admin%d@team%d.example.com", i, i),
		Key:   fmt.Sprintf("k%039d", i),
	}
}

// add registers pair i with the vault and gives it behaviour b at the fake.
func (e *env) add(tb testing.TB, i int, b staxfake.Behavior) testKey {
	tb.Helper()
	in := pairInput(i)
	p, err := e.vault.Add(context.Background(), in)
	if err != nil {
		tb.Fatal(err)
	}
	e.fake.Set(in.Email, in.Key, b)
	return testKey{Key: p, email: in.Email, key: in.Key}
}

// seed registers n pairs through keys.Add. Every Add is its own transaction on the one
// writer connection, so several goroutines overlap the sealing and fingerprinting with the
// writes; the fake answers unknown pairs with its Default behaviour.
func (e *env) seed(tb testing.TB, n int) {
	tb.Helper()
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if _, err := e.vault.Add(context.Background(), pairInput(i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

func (e *env) pair(tb testing.TB, id int64) domain.Key {
	tb.Helper()
	p, err := e.db.KeyByID(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func (e *env) checks(tb testing.TB, id int64) []domain.Check {
	tb.Helper()
	cs, err := e.db.ListChecks(context.Background(), id, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	return cs
}

func (e *env) events(tb testing.TB, id int64) []domain.Event {
	tb.Helper()
	es, err := e.db.ListEvents(context.Background(), id, 1000)
	if err != nil {
		tb.Fatal(err)
	}
	return es
}

// start runs c.Run until the test ends (or stop is called) and fails the test if Run errs.
func start(t *testing.T, c *Checker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitLimit):
				t.Errorf("Run did not return within %s of cancel", waitLimit)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// blocked waits until n goroutines wait on the fake clock.
func (e *env) blocked(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.clock.BlockUntil(ctx, n); err != nil {
		t.Fatalf("waiting for %d goroutines on the clock: %v (now %d)", n, err, e.clock.Waiters())
	}
}

// updates collects pair updates (ignoring checker-wide ones) until n arrived.
func updates(t *testing.T, ch <-chan Update, n int) []Update {
	t.Helper()
	var got []Update
	deadline := time.After(waitLimit)
	for len(got) < n {
		select {
		case u := <-ch:
			if u.KeyID != 0 {
				got = append(got, u)
			}
		case <-deadline:
			t.Fatalf("got %d of %d updates: %+v", len(got), n, got)
		}
	}
	return got
}

// drive advances the fake clock to each wait as it appears, until stop is called: for tests of
// CheckNow and RunCycle, whose confirmations wait on the clock, with no scheduler running.
func (e *env) drive(t *testing.T) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			if d, ok := e.clock.NextWait(); ok {
				e.clock.Advance(max(d, 0))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// recordingObserver keeps what the checker told its observers.
type recordingObserver struct {
	mu          sync.Mutex
	records     []store.CheckRecord
	outages     []bool
	suspicions  []domain.Suspicion
	pauseEvents []bool
}

func (o *recordingObserver) CheckRecorded(_ domain.Key, rec store.CheckRecord) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.records = append(o.records, rec)
}

func (o *recordingObserver) OutageChanged(down bool, _, _ time.Time, _ string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outages = append(o.outages, down)
}

func (o *recordingObserver) SuspicionChanged(s domain.Suspicion) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.suspicions = append(o.suspicions, s)
}

func (o *recordingObserver) PauseChanged(paused bool, _, _ time.Time, _ string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pauseEvents = append(o.pauseEvents, paused)
}

func (o *recordingObserver) pauses() []bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.pauseEvents)
}

func (o *recordingObserver) snapshot() ([]store.CheckRecord, []bool, []domain.Suspicion) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.records), slices.Clone(o.outages), slices.Clone(o.suspicions)
}

// runUntil steps the fake clock from one settled scheduler wait to the next until end, so a
// scenario of minutes runs in milliseconds and every check lands before time moves on.
func (e *env) runUntil(t *testing.T, end time.Time) {
	t.Helper()
	for {
		e.blocked(t, 1)
		d, ok := e.clock.NextWait()
		if !ok || e.clock.Now().Add(d).After(end) {
			if rest := end.Sub(e.clock.Now()); rest > 0 {
				e.clock.Advance(rest)
			}
			e.blocked(t, 1)
			return
		}
		e.clock.Advance(d)
	}
}

// waitRequests waits (in real time, bounded by waitLimit) until the fake has had at least n
// requests for key: for tests that wake the scheduler with a nudge rather than the clock.
func (e *env) waitRequests(t *testing.T, key string, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for e.fake.RequestsFor(key) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests for a key, want %d", e.fake.RequestsFor(key), n)
		}
		time.Sleep(time.Millisecond)
	}
}
