package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// scriptProbe makes the fake Stax.ai answer each request of one pair as the script says, in
// order: an upstream that flaps.
type scriptProbe struct {
	inner  checker.Prober
	fake   *staxfake.Server
	mu     sync.Mutex
	n      int
	script []staxfake.Behavior
}

func (s *scriptProbe) Check(ctx context.Context, email, key string) (staxapi.Result, error) {
	s.mu.Lock()
	b := s.script[min(s.n, len(s.script)-1)]
	s.n++
	s.mu.Unlock()
	s.fake.Set(email, key, b)
	return s.inner.Check(ctx, email, key)
}

// TestWebhookOneAlertPerConfirmedChange runs the real checker against a flapping fake Stax.ai
// and a signed webhook to a local receiver: every answer that is not confirmed stays quiet, the
// first verdict (valid) stays quiet, and each confirmed change arrives exactly once, signed.
func TestWebhookOneAlertPerConfirmedChange(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	api, err := staxapi.New(staxapi.Config{BaseURL: fake.URL(), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const key = "sk_live_NOTIFYKEY_0123456789abcdef"
	p, err := e.vault.Add(context.Background(), keys.Input{Label: "billing", Email: "ops@team.example.com", Key: key})
	if err != nil {
		t.Fatal(err)
	}

	// The checker and the notifier each run on their own fake clock.
	clk := clocktest.NewFake(t0)
	e.db.Now = clk.Now
	wclk := clocktest.NewFake(t0)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env:   notify.Config{WebhookURL: rcv.URL + "/hook", WebhookSecret: webhookSecret},
		Clock: wclk,
	})
	stopWorker := runWorker(t, n)

	script := []staxfake.Behavior{
		staxfake.Valid,                   // pending → valid: a first verdict, no alert
		staxfake.Revoked, staxfake.Valid, // a revoked answer, contradicted
		staxfake.Revoked, staxfake.Valid, // again
		staxfake.Revoked, staxfake.Revoked, // confirmed: valid → revoked (alert 1)
		staxfake.Valid, staxfake.Revoked, // a valid answer, contradicted
		staxfake.Valid, staxfake.Valid, // confirmed: revoked → valid (alert 2)
		staxfake.Denied, staxfake.Valid, // a denied answer, contradicted
		staxfake.Error500, staxfake.Valid, // an undecided answer changes nothing
	}
	cfg := checker.DefaultConfig()
	cfg.Concurrency, cfg.Interval = 1, time.Minute // every check lands well before the hourly prune
	c := checker.New(e.db, e.vault, &scriptProbe{inner: api, fake: fake, script: script}, cfg, clk, nil)
	c.AddObserver(n)
	updates, unsub := c.Subscribe()
	defer unsub()
	ctx, cancel := context.WithCancel(context.Background())
	checkerDone := make(chan error, 1)
	go func() { checkerDone <- c.Run(ctx) }()

	for i := range script {
		waitForKeyUpdate(t, updates)
		parked(t, clk, 1) // the scheduler settled: the check and its observers are done
		if i < len(script)-1 {
			d, ok := clk.NextWait()
			if !ok {
				t.Fatal("the scheduler waits for nothing")
			}
			clk.Advance(d)
		}
	}
	cancel()
	if err := <-checkerDone; err != nil {
		t.Fatal(err)
	}

	evs, err := e.db.ListEvents(context.Background(), p.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("%d verdict events, want 3 (first verdict, revoked, valid again): %+v", len(evs), evs)
	}
	// Every alert was queued before the checker settled; the worker sends them.
	first, second := verify(t, rcv.next(t), wclk.Now()), verify(t, rcv.next(t), wclk.Now())
	// The receiver sees a request before the worker has read the answer and recorded it; a
	// worker stopped in between counts the try as cut short by shutdown (rightly: it cannot
	// know the receiver got it). Only once it waits on its clock again is every try recorded.
	parked(t, wclk, 1)
	stopWorker()

	if got := rcv.all(); len(got) != 2 {
		t.Fatalf("the receiver got %d requests, want exactly 2", len(got))
	}
	for i, tc := range []struct {
		a        notify.Alert
		old, new string
	}{{first, "valid", "revoked"}, {second, "revoked", "valid"}} {
		a := tc.a
		if a.Event != notify.EventVerdictChanged || a.OldVerdict != tc.old || a.NewVerdict != tc.new ||
			a.Key == nil || a.Key.ID != p.ID || a.Key.Label != "billing" || a.Key.Email != "ops@team.example.com" ||
			a.Reason == "" || a.At.IsZero() || a.Message == "" {
			t.Errorf("alert %d: %+v, want %s → %s for pair %d", i+1, a, tc.old, tc.new, p.ID)
		}
		// A change alone lists itself, as a group lists its changes.
		if len(a.Changes) != 1 || a.Changes[0].Key.ID != p.ID || a.Changes[0].OldVerdict != tc.old ||
			a.Changes[0].NewVerdict != tc.new || a.Changes[0].Reason != a.Reason || a.Key.URL != "" {
			t.Errorf("alert %d lists changes %+v", i+1, a.Changes)
		}
	}
	ds := e.deliveries(t)
	if len(ds) != 2 {
		t.Fatalf("%d deliveries queued, want 2", len(ds))
	}
	for _, d := range ds {
		if d.Status != domain.DeliverySent || d.Attempts != 1 || d.Channel != "webhook" {
			t.Errorf("delivery %d: %s after %d attempts on %s", d.ID, d.Status, d.Attempts, d.Channel)
		}
		if bytes.Contains(d.Payload, []byte(key)) || bytes.Contains(d.Payload, []byte(key[len(key)-8:])) {
			t.Errorf("delivery %d holds the key", d.ID)
		}
	}
	for _, r := range rcv.all() {
		if bytes.Contains(r.Body, []byte(key)) {
			t.Error("a webhook body holds the key")
		}
		if r.Header.Get(notify.HeaderEvent) != "" || r.Header.Get(notify.HeaderSignature) != "" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", r.Header)
		}
	}
	// Only the documented fields, nothing else.
	var fields map[string]any
	if err := json.Unmarshal(rcv.all()[0].Body, &fields); err != nil {
		t.Fatal(err)
	}
	for k := range fields {
		switch k {
		case "event", "at", "pair", "old_verdict", "new_verdict", "reason", "changes", "message":
		default:
			t.Errorf("the payload has an unexpected field %q", k)
		}
	}
}

func waitForKeyUpdate(t *testing.T, ch <-chan checker.Update) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case u := <-ch:
			if u.KeyID != 0 {
				return
			}
		case <-deadline:
			t.Fatal("no check finished")
		}
	}
}

// TestWhichChangesAlert is the rule: to revoked or denied from anything, back to valid from
// revoked or denied; never a first valid verdict.
func TestWhichChangesAlert(t *testing.T) {
	tests := []struct {
		old, new domain.Verdict
		alert    bool
	}{
		{domain.Pending, domain.Valid, false},
		{domain.Pending, domain.Revoked, true},
		{domain.Pending, domain.Denied, true},
		{domain.Valid, domain.Revoked, true},
		{domain.Valid, domain.Denied, true},
		{domain.Revoked, domain.Denied, true},
		{domain.Denied, domain.Revoked, true},
		{domain.Revoked, domain.Valid, true},
		{domain.Denied, domain.Valid, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.old)+"→"+string(tt.new), func(t *testing.T) {
			e := newEnv(t)
			n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: notify.Config{WebhookURL: "http://127.0.0.1:9/hook"}, Clock: clocktest.NewFake(t0)})
			p := domain.Key{ID: 7, Label: "l", Email: "a@example.com"}
			n.CheckRecorded(p, store.CheckRecord{Event: &domain.Event{KeyID: 7, At: t0, Old: tt.old, New: tt.new, Reason: "why"}})
			n.CheckRecorded(p, store.CheckRecord{}) // a check without a change
			if got := len(e.deliveries(t)) == 1; got != tt.alert {
				t.Errorf("queued %d deliveries, want alert=%v", len(e.deliveries(t)), tt.alert)
			}
		})
	}
}

// TestOutageAlerts queues one alert when an outage starts and one when it ends, on every
// configured channel, each at once and alone: outages are never held for the grouping window.
func TestOutageAlerts(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	slack := newReceiver(t, nil)
	wclk := clocktest.NewFake(t0)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env:   notify.Config{WebhookURL: rcv.URL, WebhookSecret: webhookSecret, SlackURL: slack.URL + "/services/T0/B0/XYZ"},
		Clock: wclk, GroupWindow: 30 * time.Second,
	})
	n.OutageChanged(true, t0.Add(-time.Minute), t0, "HTTP 502 from a proxy")
	n.OutageChanged(false, t0.Add(-time.Minute), t0.Add(11*time.Minute), "Stax.ai accepted the key")
	if tried, err := n.DeliverDue(context.Background()); err != nil || tried != 4 {
		t.Fatalf("tried %d (%v), want 2 alerts × 2 channels at once", tried, err)
	}
	start, end := verify(t, rcv.next(t), t0), verify(t, rcv.next(t), t0)
	if start.Event != notify.EventOutageStarted || start.Since == nil || !start.Since.Equal(t0.Add(-time.Minute)) ||
		!strings.Contains(start.Message, "looks down") {
		t.Errorf("start alert %+v", start)
	}
	if end.Event != notify.EventOutageEnded || !strings.Contains(end.Message, "after 12m") {
		t.Errorf("end alert %+v", end)
	}
	for range 2 {
		var body struct{ Text string }
		if err := json.Unmarshal(slack.next(t).Body, &body); err != nil || !strings.Contains(body.Text, "Stax.ai API") {
			t.Errorf("slack body %+v: %v", body, err)
		}
	}
}

// TestRetryBackoffSurvivesRestart fails the first two tries: the delivery waits 1m then 2m,
// staxkeys restarts (the database closed and opened again, a new worker), and the new worker
// sends what the old one left pending.
func TestRetryBackoffSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return 0
	})
	wclk := clocktest.NewFake(t0)
	opts := notify.Options{Allow: allowLoopback, Env: notify.Config{WebhookURL: rcv.URL, WebhookSecret: webhookSecret}, Clock: wclk}
	n1 := notify.New(e.db, e.keys, opts)
	n1.OutageChanged(true, t0, t0, "HTTP 503")
	stop := runWorker(t, n1)

	for i, want := range []struct {
		next time.Duration // after t0
		wait time.Duration
	}{{time.Minute, time.Minute}, {3 * time.Minute, 2 * time.Minute}} {
		rcv.next(t)
		parked(t, wclk, 1)
		ds := e.deliveries(t)
		if len(ds) != 1 {
			t.Fatalf("%d deliveries, want 1", len(ds))
		}
		d := ds[0]
		if d.Status != domain.DeliveryPending || d.Attempts != i+1 || !d.NextAttemptAt.Equal(t0.Add(want.next)) ||
			d.LastError != "HTTP 500 from the receiver" {
			t.Fatalf("after try %d: %s, %d attempts, next +%s, error %q; want pending, next +%s",
				i+1, d.Status, d.Attempts, d.NextAttemptAt.Sub(t0), d.LastError, want.next)
		}
		if wait, _ := wclk.NextWait(); wait != want.wait {
			t.Fatalf("after try %d the worker sleeps %s, want %s", i+1, wait, want.wait)
		}
		if i == 0 {
			wclk.Advance(want.wait)
		}
	}

	// A restart: the worker stops, the database closes, both come back.
	stop()
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.open(t)
	n2 := notify.New(e.db, e.keys, opts)
	runWorker(t, n2)
	parked(t, wclk, 1)
	if wait, _ := wclk.NextWait(); wait != 2*time.Minute {
		t.Fatalf("the new worker sleeps %s, want the 2m left of the backoff", wait)
	}
	wclk.Advance(2 * time.Minute)
	a := verify(t, rcv.next(t), wclk.Now())
	if a.Event != notify.EventOutageStarted {
		t.Errorf("delivered %+v", a)
	}
	parked(t, wclk, 1)
	d := e.deliveries(t)[0]
	if d.Status != domain.DeliverySent || d.Attempts != 3 || !d.SentAt.Equal(t0.Add(3*time.Minute)) || d.LastError != "" {
		t.Errorf("after the restart: %s, %d attempts, sent at +%s, error %q", d.Status, d.Attempts, d.SentAt.Sub(t0), d.LastError)
	}
	// Each try carried the same body, signed afresh.
	got := rcv.all()
	if len(got) != 3 || !bytes.Equal(got[0].Body, got[2].Body) || got[0].Header.Get(notify.HeaderWebhookID) != got[2].Header.Get(notify.HeaderWebhookID) {
		t.Errorf("the tries differ: %d requests", len(got))
	}
}

// TestGivesUpAfterMaxAttempts backs off exponentially up to the cap, then marks the delivery
// failed and leaves it alone.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, func(int) int { return http.StatusBadGateway })
	wclk := clocktest.NewFake(t0)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env:         notify.Config{WebhookURL: rcv.URL},
		Clock:       wclk,
		MaxAttempts: 5, BackoffBase: time.Minute, BackoffMax: 3 * time.Minute,
		ReminderEvery: 24 * time.Hour,
	})
	n.OutageChanged(true, t0, t0, "HTTP 503")
	runWorker(t, n)
	for _, wait := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute} {
		rcv.next(t)
		parked(t, wclk, 1)
		if got, _ := wclk.NextWait(); got != wait {
			t.Fatalf("backoff %s, want %s", got, wait)
		}
		wclk.Advance(wait)
	}
	rcv.next(t) // the fifth and last try
	parked(t, wclk, 1)
	d := e.deliveries(t)[0]
	if d.Status != domain.DeliveryFailed || d.Attempts != 5 || d.LastError != "HTTP 502 from the receiver" {
		t.Errorf("after the last try: %s, %d attempts, %q", d.Status, d.Attempts, d.LastError)
	}
	if got, _ := wclk.NextWait(); got != time.Hour-9*time.Minute {
		t.Errorf("the worker next wakes in %s, want only the hourly prune", got)
	}
	wclk.Advance(time.Hour)
	parked(t, wclk, 1)
	if n := len(rcv.all()); n != 5 {
		t.Errorf("%d tries, want 5", n)
	}
	// An admin can put it back in the queue.
	if err := e.db.RetryDelivery(context.Background(), d.ID, wclk.Now()); err != nil {
		t.Fatal(err)
	}
	n.Nudge()
	rcv.next(t)
}

// TestSlackDelivery posts the alert's text to a Slack-compatible incoming webhook.
func TestSlackDelivery(t *testing.T) {
	e := newEnv(t)
	slack := newReceiver(t, nil)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: notify.Config{SlackURL: slack.URL + "/services/T000/B000/SECRETPATH"}, Clock: clocktest.NewFake(t0)})
	p := domain.Key{ID: 3, Label: "ci <prod> & co", Email: "ci@example.com"}
	n.CheckRecorded(p, store.CheckRecord{Event: &domain.Event{At: t0, Old: domain.Valid, New: domain.Denied, Reason: "HTTP 403: Stax.ai knows the key but denies access"}})
	if _, err := n.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := slack.next(t)
	var body map[string]string
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	want := `:rotating_light: *staxkeys* Stax.ai key denied: "ci &lt;prod&gt; &amp; co" (ci@example.com) went from valid to denied. HTTP 403: Stax.ai knows the key but denies access.` +
		"\nSince 2026-03-02 09:00 UTC"
	if len(body) != 1 || body["text"] != want {
		t.Errorf("slack body %q\nwant text %q", got.Body, want)
	}
	if got.Header.Get(notify.HeaderWebhookSignature) != "" || got.Header.Get(notify.HeaderSignature) != "" {
		t.Error("a Slack post carries the webhook signature")
	}
	if d := e.deliveries(t)[0]; d.Status != domain.DeliverySent || d.Channel != "slack" {
		t.Errorf("delivery %+v", d)
	}
}

// TestSendTestRecordsTheTry sends a test at once and logs it; a failing channel says why,
// without the URL (a Slack URL is a credential).
func TestSendTestRecordsTheTry(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	bad := newReceiver(t, func(int) int { return http.StatusNotFound })
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env:   notify.Config{WebhookURL: rcv.URL, WebhookSecret: webhookSecret, SlackURL: bad.URL + "/services/T0/B0/TOPSECRET"},
		Clock: clocktest.NewFake(t0),
	})
	ctx := context.Background()
	if err := n.SendTest(ctx, notify.Webhook); err != nil {
		t.Fatal(err)
	}
	if a := verify(t, rcv.next(t), t0); a.Event != notify.EventTest {
		t.Errorf("test alert %+v", a)
	}
	err := n.SendTest(ctx, notify.Slack)
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("failed test: %v", err)
	}
	if err := n.SendTest(ctx, notify.Email); err == nil {
		t.Error("a test on an unconfigured channel succeeded")
	}
	ds := e.deliveries(t)
	if len(ds) != 2 || ds[0].Status != domain.DeliveryFailed || ds[1].Status != domain.DeliverySent || ds[0].Attempts != 1 {
		t.Fatalf("logged %+v", ds)
	}
	if strings.Contains(ds[0].LastError, "TOPSECRET") {
		t.Error("the log holds the Slack URL")
	}
}

// TestRemindersOncePerPeriod reminds of a key that stays revoked once per period, and of a
// key due for rotation once per rotation period, however often reminders are looked for.
func TestRemindersOncePerPeriod(t *testing.T) {
	e := newEnv(t)
	clk := clocktest.NewFake(t0)
	e.db.Now = clk.Now
	ctx := context.Background()
	bad, err := e.vault.Add(ctx, keys.Input{Label: "old", Email: "a@example.com", Key: "sk_live_REMINDME_0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.vault.Add(ctx, keys.Input{Label: "fine", Email: "b@example.com", Key: "sk_live_FINEKEY_0123456789"}); err != nil {
		t.Fatal(err)
	}
	once := checker.DefaultConfig()
	once.Confirm = 1 // a first bad answer is otherwise only a candidate
	rec := checker.Decide(bad, staxapi.Result{Outcome: domain.OutcomeRevoked, Reason: "revoked"}, t0, once, time.Hour, nil)
	if err := e.db.RecordCheck(ctx, rec); err != nil {
		t.Fatal(err)
	}
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env:   notify.Config{WebhookURL: "http://127.0.0.1:9/hook", RevokedReminder: 24 * time.Hour, RotationReminderDays: 3},
		Clock: clk,
	})
	count := func(event string) int {
		k := 0
		for _, d := range e.deliveries(t) {
			if d.Event == event {
				k++
			}
		}
		return k
	}
	for _, step := range []struct {
		at                 time.Duration
		verdict, rotations int
	}{
		{23 * time.Hour, 0, 0},
		{24 * time.Hour, 1, 0},
		{25 * time.Hour, 1, 0},
		{47 * time.Hour, 1, 0},
		{48 * time.Hour, 2, 0},
		{72 * time.Hour, 3, 2}, // both keys are three days old
		{73 * time.Hour, 3, 2},
		{144 * time.Hour, 4, 4}, // a missed period is not made up twice
	} {
		clk.Advance(t0.Add(step.at).Sub(clk.Now()))
		for range 2 {
			if err := n.CheckReminders(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if v, r := count(notify.EventVerdictReminder), count(notify.EventRotationReminder); v != step.verdict || r != step.rotations {
			t.Errorf("at +%s: %d verdict and %d rotation reminders, want %d and %d", step.at, v, r, step.verdict, step.rotations)
		}
	}
	var a notify.Alert
	for _, d := range e.deliveries(t) {
		if d.Event == notify.EventVerdictReminder {
			if err := json.Unmarshal(d.Payload, &a); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if a.Key == nil || a.Key.ID != bad.ID || a.NewVerdict != "revoked" || !strings.Contains(a.Message, "still revoked, for 6 days") {
		t.Errorf("newest verdict reminder %+v", a)
	}
	// The key is valid again (confirmed at once here): no more reminders about it.
	if bad, err = e.db.KeyByID(ctx, bad.ID); err != nil {
		t.Fatal(err)
	}
	rec = checker.Decide(bad, staxapi.Result{Outcome: domain.OutcomeValid, Reason: "ok"}, clk.Now(), once, time.Hour, nil)
	if err := e.db.RecordCheck(ctx, rec); err != nil {
		t.Fatal(err)
	}
	clk.Advance(48 * time.Hour)
	if err := n.CheckReminders(ctx); err != nil {
		t.Fatal(err)
	}
	if v := count(notify.EventVerdictReminder); v != 4 {
		t.Errorf("%d verdict reminders after the key came back, want still 4", v)
	}
}
