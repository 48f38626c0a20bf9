package notify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// A Notifier hears the checker. The assertion lives here, not in notify, so that notify's own
// code never imports the checker (TestNotifyDoesNotImportChecker at the root guards that).
var _ checker.Observer = (*notify.Notifier)(nil)

// fleet is the real checker over n valid keys, each of its own team, against the fake Stax.ai,
// with the Notifier listening (its configuration tweaked by tweak); the checker's clock is stepped by the test, the Notifier's
// worker is not running (the test delivers with DeliverDue).
type fleet struct {
	e     *env
	fake  *staxfake.Server
	clk   *clocktest.Fake
	wclk  *clocktest.Fake
	n     *notify.Notifier
	hook  *receiver
	pairs []domain.Key
}

func newFleet(t *testing.T, n int, fopts staxfake.Options, tweak ...func(*notify.Config)) *fleet {
	t.Helper()
	f := &fleet{e: newEnv(t), hook: newReceiver(t, nil), clk: clocktest.NewFake(t0), wclk: clocktest.NewFake(t0)}
	fake, err := staxfake.Start(fopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	f.fake = fake
	api, err := staxapi.New(staxapi.Config{BaseURL: fake.URL(), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.e.db.Now = f.clk.Now
	for i := range n {
		in := keys.Input{Label: fmt.Sprintf("team %d", i), Email: fmt.Sprintf("admin%d@team%d.example.com", i, i),
			Key: fmt.Sprintf("sk_live_FLEET%035d", i)}
		p, err := f.e.vault.Add(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		fake.Set(in.Email, in.Key, staxfake.Valid)
		f.pairs = append(f.pairs, p)
	}
	env := notify.Config{WebhookURL: f.hook.URL, WebhookSecret: webhookSecret}
	for _, tw := range tweak {
		tw(&env)
	}
	f.n = notify.New(f.e.db, f.e.keys, notify.Options{Allow: allowLoopback,
		Env:   env,
		Clock: f.wclk, GroupWindow: 30 * time.Second, PublicURL: publicURL,
	})
	cfg := checker.DefaultConfig()
	cfg.Concurrency = 1
	c := checker.New(f.e.db, f.e.vault, api, cfg, f.clk, nil)
	c.AddObserver(f.n)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("checker: %v", err)
		}
	})
	f.runUntil(t, t0.Add(time.Minute)) // the first round: every key valid, which alerts nobody
	return f
}

// runUntil steps the checker's clock from one settled wait to the next, up to end.
func (f *fleet) runUntil(t *testing.T, end time.Time) {
	t.Helper()
	for {
		parked(t, f.clk, 1)
		d, ok := f.clk.NextWait()
		if !ok || f.clk.Now().Add(d).After(end) {
			if rest := end.Sub(f.clk.Now()); rest > 0 {
				f.clk.Advance(rest)
			}
			parked(t, f.clk, 1)
			return
		}
		f.clk.Advance(d)
	}
}

// deliver sends whatever is queued, grouping windows elapsed, and returns the alerts the
// webhook got, by event.
func (f *fleet) deliver(t *testing.T) map[string][]notify.Alert {
	t.Helper()
	f.wclk.Advance(time.Hour)
	if _, err := f.n.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := map[string][]notify.Alert{}
	for _, r := range f.hook.all() {
		a := verify(t, r, f.wclk.Now())
		out[a.Event] = append(out[a.Event], a)
	}
	return out
}

func (f *fleet) verdicts(t *testing.T, v domain.Verdict) int {
	t.Helper()
	k := 0
	for _, p := range f.pairs {
		got, err := f.e.db.KeyByID(context.Background(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Verdict == v {
			k++
		}
	}
	return k
}

// TestUpstreamFlipThatClearsAlertsTwice: every key answers revoked at once, then as before.
// The real checker holds it as one suspicion: exactly one message when it begins and one when
// it clears, saying no key changed, and not a single per-key alert.
func TestUpstreamFlipThatClearsAlertsTwice(t *testing.T) {
	f := newFleet(t, 12, staxfake.Options{})
	f.fake.SetAll(staxfake.Revoked401)
	f.runUntil(t, f.clk.Now().Add(16*time.Minute))
	f.fake.SetAll(staxfake.Valid)
	f.runUntil(t, f.clk.Now().Add(30*time.Minute))

	got := f.deliver(t)
	if len(f.hook.all()) != 2 || len(got[notify.EventUpstreamSuspected]) != 1 || len(got[notify.EventUpstreamResolved]) != 1 {
		t.Fatalf("alerts %v, want one suspicion and one resolution, nothing else", eventCounts(got))
	}
	begin, end := got[notify.EventUpstreamSuspected][0], got[notify.EventUpstreamResolved][0]
	if begin.OldVerdict != "valid" || begin.NewVerdict != "revoked" || len(begin.Keys) < 3 ||
		!strings.Contains(begin.Message, "staxkeys suspects a change at Stax.ai or on the way") {
		t.Errorf("suspicion %+v", begin)
	}
	if len(end.Confirmed) != 0 || len(end.Cleared) != len(end.Keys) || !strings.Contains(end.Message, "no key changed") {
		t.Errorf("resolution %+v, want every member cleared", end)
	}
	if n := f.verdicts(t, domain.Valid); n != len(f.pairs) {
		t.Errorf("%d of %d keys valid after the flip went back", n, len(f.pairs))
	}
}

// TestUpstreamChangeThatHoldsIsOneResolution: every key stays revoked through the hold: one
// message when the suspicion begins, one resolution naming every key that changed, with its
// link, and no per-key alert for the members (their events are Wide).
func TestUpstreamChangeThatHoldsIsOneResolution(t *testing.T) {
	f := newFleet(t, 12, staxfake.Options{})
	f.fake.SetAll(staxfake.Revoked)
	f.runUntil(t, f.clk.Now().Add(60*time.Minute))

	got := f.deliver(t)
	if len(got[notify.EventUpstreamSuspected]) != 1 || len(got[notify.EventUpstreamResolved]) != 1 {
		t.Fatalf("alerts %v, want one suspicion and one resolution", eventCounts(got))
	}
	end := got[notify.EventUpstreamResolved][0]
	if len(end.Confirmed) < 3 || len(end.Confirmed) != f.verdicts(t, domain.Revoked) {
		t.Errorf("resolution confirms %d keys; %d are revoked", len(end.Confirmed), f.verdicts(t, domain.Revoked))
	}
	for _, p := range end.Confirmed {
		if p.URL != link(p.ID) {
			t.Errorf("confirmed key %d links %q", p.ID, p.URL)
		}
	}
	// A key revoked outside the suspicion (none should be: every one flipped together) would
	// alert on its own; the members do not.
	members := map[int64]bool{}
	for _, p := range end.Keys {
		members[p.ID] = true
	}
	for _, a := range got[notify.EventVerdictChanged] {
		for _, c := range a.Changes {
			if members[c.Key.ID] {
				t.Errorf("member %d alerted on its own: %+v", c.Key.ID, c)
			}
		}
	}
}

// TestLongPauseAlertsOnceEachWay: every team is rate limited with a Retry-After far beyond
// checker.LongPause: one message that checks are paused (until when), one when they resume.
func TestLongPauseAlertsOnceEachWay(t *testing.T) {
	f := newFleet(t, 6, staxfake.Options{RetryAfter: 20 * time.Minute})
	f.fake.SetAll(staxfake.RateLimited)
	f.runUntil(t, f.clk.Now().Add(16*time.Minute))
	f.fake.SetAll(staxfake.Valid)
	f.runUntil(t, f.clk.Now().Add(60*time.Minute))

	got := f.deliver(t)
	if len(got[notify.EventChecksPaused]) != 1 || len(got[notify.EventChecksResumed]) != 1 {
		t.Fatalf("alerts %v, want one pause and one resumption", eventCounts(got))
	}
	p := got[notify.EventChecksPaused][0]
	if p.Until == nil || p.Until.Sub(p.At) <= checker.LongPause || !strings.Contains(p.Message, "nothing is being checked") {
		t.Errorf("pause alert %+v", p)
	}
	if r := got[notify.EventChecksResumed][0]; !strings.HasPrefix(r.Message, "Checks resume") || r.At.Before(*p.Until) {
		t.Errorf("resume alert %+v, want it at or after %s", r, p.Until)
	}
	if n := len(got[notify.EventVerdictChanged]); n != 0 {
		t.Errorf("%d verdict alerts for a rate limit", n)
	}
}

func eventCounts(got map[string][]notify.Alert) map[string]int {
	out := map[string]int{}
	for ev, as := range got {
		out[ev] = len(as)
	}
	return out
}
