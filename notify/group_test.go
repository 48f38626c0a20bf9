package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
)

// publicURL is where the tests' staxkeys is reached, with the trailing slash an admin may type.
const publicURL = "https://staxkeys.example.com/"

// groupKeys are the keys the grouping tests change.
var groupKeys = []domain.Key{
	{ID: 11, Label: "billing", Email: "ops@team.example.com"},
	{ID: 12, Label: "ci <prod>", Email: "ci@team.example.com"},
	{ID: 13, Label: "", Email: "data@team.example.com"},
	{ID: 14, Label: "late", Email: "late@team.example.com"},
}

// change reports a confirmed change of p at the notifier, as the checker does.
func change(n *notify.Notifier, p domain.Key, at time.Time, old, new domain.Verdict) {
	n.CheckRecorded(p, store.CheckRecord{Event: &domain.Event{KeyID: p.ID, At: at, Old: old, New: new,
		Reason: fmt.Sprintf("reason of %d", p.ID)}})
}

// slackText decodes a Slack post.
func slackText(t *testing.T, got received) string {
	t.Helper()
	var body map[string]string
	if err := json.Unmarshal(got.Body, &body); err != nil || len(body) != 1 {
		t.Fatalf("slack body %s: %v", got.Body, err)
	}
	return body["text"]
}

func link(id int64) string { return fmt.Sprintf("https://staxkeys.example.com/keys/%d", id) }

// TestGroupedChangesOneMessagePerChannel confirms three changes within the window: the worker
// sends nothing before the window ends, then exactly one signed webhook and one Slack message
// listing all three, each with a link to its key's page when the public URL is set and none
// when it is not; every delivery is recorded sent with the one try.
func TestGroupedChangesOneMessagePerChannel(t *testing.T) {
	for _, tc := range []struct {
		name, publicURL string
	}{{"with public URL", publicURL}, {"without public URL", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			hook, slack := newReceiver(t, nil), newReceiver(t, nil)
			wclk := clocktest.NewFake(t0)
			n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
				Env:         notify.Config{WebhookURL: hook.URL + "/hook", WebhookSecret: webhookSecret, SlackURL: slack.URL + "/services/T0/B0/X"},
				Clock:       wclk,
				GroupWindow: 30 * time.Second, PublicURL: tc.publicURL, ReminderEvery: 24 * time.Hour,
			})
			change(n, groupKeys[0], t0, domain.Valid, domain.Revoked)
			wclk.Advance(10 * time.Second)
			change(n, groupKeys[1], wclk.Now(), domain.Valid, domain.Denied)
			wclk.Advance(10 * time.Second)
			change(n, groupKeys[2], wclk.Now(), domain.Revoked, domain.Valid)

			runWorker(t, n)
			parked(t, wclk, 1)
			if wait, _ := wclk.NextWait(); wait != 10*time.Second {
				t.Fatalf("the worker sleeps %s, want the 10s left of the first change's window", wait)
			}
			if got := len(hook.all()) + len(slack.all()); got != 0 {
				t.Fatalf("%d messages before the window ended", got)
			}
			wclk.Advance(10 * time.Second)
			a := verify(t, hook.next(t), wclk.Now())
			text := slackText(t, slack.next(t))
			parked(t, wclk, 1) // every try recorded
			if h, s := len(hook.all()), len(slack.all()); h != 1 || s != 1 {
				t.Fatalf("%d webhook and %d Slack messages, want one each", h, s)
			}

			if a.Event != notify.EventVerdictChanged || len(a.Changes) != 3 {
				t.Fatalf("webhook alert %+v, want verdict.changed with 3 changes", a)
			}
			// The first change's fields on top, for receivers written for single alerts.
			if a.Key == nil || a.Key.ID != 11 || a.OldVerdict != "valid" || a.NewVerdict != "revoked" ||
				a.Reason != "reason of 11" || !a.At.Equal(t0) {
				t.Errorf("top-level fields %+v, want the first change's", a)
			}
			wantChanges := []struct {
				id       int64
				old, new string
				at       time.Time
			}{{11, "valid", "revoked", t0}, {12, "valid", "denied", t0.Add(10 * time.Second)}, {13, "revoked", "valid", t0.Add(20 * time.Second)}}
			for i, w := range wantChanges {
				c := a.Changes[i]
				wantURL := ""
				if tc.publicURL != "" {
					wantURL = link(w.id)
				}
				if c.Key.ID != w.id || c.OldVerdict != w.old || c.NewVerdict != w.new || !c.At.Equal(w.at) ||
					c.Reason != fmt.Sprintf("reason of %d", w.id) || c.Key.URL != wantURL || c.Key.Email != groupKeys[i].Email {
					t.Errorf("change %d: %+v, want pair %d %s → %s at %s, url %q", i, c, w.id, w.old, w.new, w.at, wantURL)
				}
			}
			if !strings.HasPrefix(a.Message, "3 Stax.ai keys changed verdict (2 revoked or denied, 1 valid again): ") {
				t.Errorf("message %q", a.Message)
			}

			// Slack: one readable list, labels escaped, each key linked when it can be.
			lines := strings.Split(text, "\n")
			if len(lines) != 4 || !strings.HasPrefix(lines[0], ":rotating_light: *staxkeys* 3 Stax.ai keys changed verdict") {
				t.Fatalf("slack text %q, want a headline and 3 lines", text)
			}
			names := []string{`"billing" (ops@team.example.com)`, `"ci &lt;prod&gt;" (ci@team.example.com)`, `the key of data@team.example.com`}
			verdicts := []string{"valid → revoked. reason of 11", "valid → denied. reason of 12", "revoked → valid. reason of 13"}
			for i, l := range lines[1:] {
				want := "• " + names[i] + ": " + verdicts[i]
				if tc.publicURL != "" {
					want = "• <" + link(wantChanges[i].id) + "|" + names[i] + ">: " + verdicts[i]
				}
				if l != want {
					t.Errorf("slack line %d:\n got %q\nwant %q", i+1, l, want)
				}
			}
			if tc.publicURL == "" && strings.Contains(text, "http") {
				t.Errorf("slack text links without a public URL: %q", text)
			}

			// One try on every delivery, the two leaders carrying the others.
			ds := e.deliveries(t)
			if len(ds) != 6 {
				t.Fatalf("%d deliveries, want 6 (3 changes × 2 channels)", len(ds))
			}
			leaders := map[string]int64{}
			for _, d := range ds {
				if d.GroupedWith == 0 {
					leaders[d.Channel] = d.ID
				}
			}
			for _, d := range ds {
				if d.Status != domain.DeliverySent || d.Attempts != 1 || !d.SentAt.Equal(t0.Add(30*time.Second)) {
					t.Errorf("delivery %d: %s after %d tries, sent at %s", d.ID, d.Status, d.Attempts, d.SentAt)
				}
				if d.ID != leaders[d.Channel] && d.GroupedWith != leaders[d.Channel] {
					t.Errorf("delivery %d on %s went with %d, want its channel's leader %d", d.ID, d.Channel, d.GroupedWith, leaders[d.Channel])
				}
			}
			if len(leaders) != 2 {
				t.Errorf("leaders %v, want one per channel", leaders)
			}
		})
	}
}

// TestGroupWindowBounds sends what a late worker finds: three changes within the first one's
// window go out together, a fourth confirmed after that window closed goes out in a second
// message, alone and in the single-alert shape; with grouping off every change goes out alone
// and at once.
func TestGroupWindowBounds(t *testing.T) {
	e := newEnv(t)
	hook := newReceiver(t, nil)
	wclk := clocktest.NewFake(t0)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env:   notify.Config{WebhookURL: hook.URL, WebhookSecret: webhookSecret},
		Clock: wclk, GroupWindow: 30 * time.Second, PublicURL: publicURL,
	})
	ctx := context.Background()
	for i, at := range []time.Duration{0, 10 * time.Second, 30 * time.Second, 31 * time.Second} {
		wclk.Advance(t0.Add(at).Sub(wclk.Now()))
		change(n, groupKeys[i], wclk.Now(), domain.Valid, domain.Revoked)
		if i == 1 {
			if tried, err := n.DeliverDue(ctx); err != nil || tried != 0 {
				t.Fatalf("at +10s the worker tried %d (%v), want none: the window is open", tried, err)
			}
		}
	}
	wclk.Advance(5 * time.Minute) // the worker comes late: all four are due
	if tried, err := n.DeliverDue(ctx); err != nil || tried != 2 {
		t.Fatalf("tried %d (%v), want 2 messages", tried, err)
	}
	first, second := verify(t, hook.next(t), wclk.Now()), verify(t, hook.next(t), wclk.Now())
	if len(first.Changes) != 3 || first.Changes[2].Key.ID != 13 {
		t.Errorf("first message lists %+v, want pairs 11, 12, 13", first.Changes)
	}
	if len(second.Changes) != 1 || second.Key == nil || second.Key.ID != 14 || second.Key.URL != link(14) ||
		!strings.HasPrefix(second.Message, `Stax.ai key revoked: "late"`) {
		t.Errorf("second message %+v, want pair 14 alone", second)
	}
	if got := hook.all(); len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	if tried, _ := n.DeliverDue(ctx); tried != 0 {
		t.Errorf("%d more tries after everything was sent", tried)
	}

	t.Run("grouping off", func(t *testing.T) {
		e := newEnv(t)
		hook := newReceiver(t, nil)
		n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: notify.Config{WebhookURL: hook.URL}, Clock: clocktest.NewFake(t0)})
		change(n, groupKeys[0], t0, domain.Valid, domain.Revoked)
		change(n, groupKeys[1], t0, domain.Valid, domain.Revoked)
		if tried, err := n.DeliverDue(ctx); err != nil || tried != 2 {
			t.Fatalf("tried %d (%v), want each change at once, alone", tried, err)
		}
		for _, r := range hook.all() {
			var a notify.Alert
			if err := json.Unmarshal(r.Body, &a); err != nil || len(a.Changes) != 1 {
				t.Errorf("alert %s (%v), want one change", r.Body, err)
			}
		}
	})
}

// TestGroupFailsAndRetriesTogether fails the group's first try: every delivery of the group
// takes the failed try and the same retry time, and the retry sends the group once more as
// one message.
func TestGroupFailsAndRetriesTogether(t *testing.T) {
	e := newEnv(t)
	hook := newReceiver(t, func(n int) int {
		if n == 1 {
			return 503
		}
		return 0
	})
	wclk := clocktest.NewFake(t0)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: notify.Config{WebhookURL: hook.URL}, Clock: wclk, GroupWindow: 30 * time.Second})
	change(n, groupKeys[0], t0, domain.Valid, domain.Revoked)
	change(n, groupKeys[1], t0, domain.Valid, domain.Revoked)
	wclk.Advance(30 * time.Second)
	ctx := context.Background()
	if tried, err := n.DeliverDue(ctx); err != nil || tried != 1 {
		t.Fatalf("tried %d (%v), want one message", tried, err)
	}
	for _, d := range e.deliveries(t) {
		if d.Status != domain.DeliveryPending || d.Attempts != 1 || !d.NextAttemptAt.Equal(t0.Add(90*time.Second)) ||
			d.LastError != "HTTP 503 from the receiver" {
			t.Errorf("after the failed try, delivery %d: %s, %d tries, next %s, %q", d.ID, d.Status, d.Attempts, d.NextAttemptAt, d.LastError)
		}
	}
	wclk.Advance(time.Minute)
	if tried, err := n.DeliverDue(ctx); err != nil || tried != 1 {
		t.Fatalf("retry: tried %d (%v), want one message", tried, err)
	}
	got := hook.all()
	if len(got) != 2 || string(got[0].Body) != string(got[1].Body) ||
		got[0].Header.Get(notify.HeaderWebhookID) != got[1].Header.Get(notify.HeaderWebhookID) {
		t.Fatalf("%d requests; the retry must repeat the first try", len(got))
	}
	for _, d := range e.deliveries(t) {
		if d.Status != domain.DeliverySent || d.Attempts != 2 {
			t.Errorf("delivery %d: %s after %d tries, want sent after 2", d.ID, d.Status, d.Attempts)
		}
	}
}

// TestGroupSurvivesRestart stops staxkeys during the window: a new Notifier on the same
// database sends the group once, when the window ends, and nothing after.
func TestGroupSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	hook := newReceiver(t, nil)
	wclk := clocktest.NewFake(t0)
	opts := notify.Options{Allow: allowLoopback,
		Env:   notify.Config{WebhookURL: hook.URL, WebhookSecret: webhookSecret},
		Clock: wclk, GroupWindow: 30 * time.Second, PublicURL: publicURL, ReminderEvery: 24 * time.Hour,
	}
	n1 := notify.New(e.db, e.keys, opts)
	stop := runWorker(t, n1)
	change(n1, groupKeys[0], t0, domain.Valid, domain.Revoked)
	wclk.Advance(5 * time.Second)
	change(n1, groupKeys[1], wclk.Now(), domain.Valid, domain.Revoked)
	wclk.Advance(5 * time.Second)
	stop() // the crash, mid-window
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	if len(hook.all()) != 0 {
		t.Fatal("a message went out before the window ended")
	}

	e.open(t)
	n2 := notify.New(e.db, e.keys, opts)
	runWorker(t, n2)
	parked(t, wclk, 1)
	if wait, _ := wclk.NextWait(); wait != 20*time.Second {
		t.Fatalf("the new worker sleeps %s, want the 20s left of the window", wait)
	}
	wclk.Advance(20 * time.Second)
	a := verify(t, hook.next(t), wclk.Now())
	parked(t, wclk, 1)
	if len(a.Changes) != 2 || a.Changes[0].Key.URL != link(11) || a.Changes[1].Key.URL != link(12) {
		t.Errorf("after the restart: %+v, want both changes with links", a.Changes)
	}
	wclk.Advance(time.Hour)
	parked(t, wclk, 1)
	if got := len(hook.all()); got != 1 {
		t.Errorf("%d messages, want the group once", got)
	}
}

// TestWideChangesHaveNoAlertOfTheirOwn: a change confirmed as part of an upstream-wide
// suspicion is announced by the suspicion's resolution only.
func TestWideChangesHaveNoAlertOfTheirOwn(t *testing.T) {
	e := newEnv(t)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: notify.Config{WebhookURL: "http://127.0.0.1:9/hook"}, Clock: clocktest.NewFake(t0)})
	for _, p := range groupKeys {
		n.CheckRecorded(p, store.CheckRecord{Wide: true, Event: &domain.Event{KeyID: p.ID, At: t0, Old: domain.Valid, New: domain.Revoked}})
	}
	if ds := e.deliveries(t); len(ds) != 0 {
		t.Errorf("%d deliveries for wide changes, want none", len(ds))
	}
	change(n, groupKeys[0], t0, domain.Valid, domain.Revoked) // the same change, not wide, alerts
	if ds := e.deliveries(t); len(ds) != 1 {
		t.Errorf("%d deliveries for a change of its own, want 1", len(ds))
	}
}

// TestSuspicionAlerts: one message when a suspicion begins, one when it is resolved, on each
// channel, at once (never held for the grouping window), naming the keys.
func TestSuspicionAlerts(t *testing.T) {
	members := groupKeys[:3]
	begin := domain.Suspicion{From: domain.Valid, To: domain.Revoked, Since: t0.Add(-time.Minute), At: t0,
		Members: members, Reason: "Invalid authorization request (HTTP 401)"}
	tests := []struct {
		name                string
		confirmed, cleared  []domain.Key
		subject, head, line string
	}{
		{"confirmed", members[:2], members[2:],
			"[staxkeys] Confirmed: 2 keys revoked",
			"Suspected change at Stax.ai resolved: 2 keys of 3 really changed from valid to revoked, 1 answer as before",
			"• <" + link(11) + `|"billing" (ops@team.example.com)>`},
		{"cleared", nil, members,
			"[staxkeys] Suspected change cleared: no key changed",
			"Suspected change at Stax.ai cleared, no key changed: the 3 keys suspected of changing from valid to revoked answer as before",
			"• <" + link(13) + "|the key of data@team.example.com>"},
		{"every member deleted meanwhile", nil, nil,
			"[staxkeys] Suspected change resolved",
			"Suspected change at Stax.ai resolved: none of its keys is registered any more", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			hook, slack := newReceiver(t, nil), newReceiver(t, nil)
			srv := startSMTP(t, nil, "", "")
			n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
				Env: notify.Config{WebhookURL: hook.URL, WebhookSecret: webhookSecret, SlackURL: slack.URL + "/services/T0/B0/X",
					SMTP: notify.SMTPConfig{Host: "127.0.0.1", Port: srv.port(), From: "staxkeys@example.com", To: []string{"ops@example.com"}}},
				Clock: clocktest.NewFake(t0), GroupWindow: 30 * time.Second, PublicURL: publicURL,
			})
			ctx := context.Background()
			n.SuspicionChanged(begin)
			if tried, err := n.DeliverDue(ctx); err != nil || tried != 3 {
				t.Fatalf("tried %d (%v), want the suspicion on 3 channels at once", tried, err)
			}
			a := verify(t, hook.next(t), t0)
			if a.Event != notify.EventUpstreamSuspected || len(a.Keys) != 3 || a.Keys[0].URL != link(11) ||
				a.OldVerdict != "valid" || a.NewVerdict != "revoked" || a.Since == nil || !a.Since.Equal(begin.Since) ||
				!strings.HasPrefix(a.Message, "3 keys changed from valid to revoked at once; staxkeys suspects a change at Stax.ai or on the way and holds these verdicts for a longer re-check: ") {
				t.Errorf("suspicion alert %+v", a)
			}
			if text := slackText(t, slack.next(t)); !strings.HasPrefix(text, ":warning: *staxkeys* 3 keys changed") ||
				strings.Count(text, "\n• <https://staxkeys.example.com/keys/") != 3 {
				t.Errorf("slack text %q", text)
			}
			srv.next(t)

			end := begin
			end.Resolved, end.At, end.Confirmed, end.Cleared = true, t0.Add(10*time.Minute), tt.confirmed, tt.cleared
			n.SuspicionChanged(end)
			if tried, err := n.DeliverDue(ctx); err != nil || tried != 3 {
				t.Fatalf("tried %d (%v), want the resolution on 3 channels at once", tried, err)
			}
			r := verify(t, hook.next(t), t0)
			if r.Event != notify.EventUpstreamResolved || len(r.Confirmed) != len(tt.confirmed) || len(r.Cleared) != len(tt.cleared) ||
				len(r.Keys) != 3 || !strings.HasPrefix(r.Message, tt.head) {
				t.Errorf("resolution %+v\nwant message starting %q", r, tt.head)
			}
			text := slackText(t, slack.next(t))
			if !strings.Contains(text, tt.head) || !strings.Contains(text, tt.line) {
				t.Errorf("slack text %q\nwant %q and %q", text, tt.head, tt.line)
			}
			m, err := mail.ReadMessage(strings.NewReader(srv.next(t).Data))
			if err != nil {
				t.Fatal(err)
			}
			subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
			if subject != tt.subject || !strings.Contains(string(body), tt.head+".") ||
				(tt.line != "" && !strings.Contains(string(body), "  - data@team.example.com\n    "+link(13)+"\n")) {
				t.Errorf("email %q:\n%s", subject, body)
			}
			if h, s := len(hook.all()), len(slack.all()); h != 2 || s != 2 {
				t.Errorf("%d webhook and %d Slack messages, want 2 each (begin, resolution)", h, s)
			}
		})
	}
}

// TestPauseAlerts: one message when every check is paused for long, saying until when, and one
// when checks resume; neither waits for the grouping window.
func TestPauseAlerts(t *testing.T) {
	e := newEnv(t)
	hook := newReceiver(t, nil)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env:   notify.Config{WebhookURL: hook.URL, WebhookSecret: webhookSecret},
		Clock: clocktest.NewFake(t0), GroupWindow: 30 * time.Second,
	})
	ctx := context.Background()
	until := t0.Add(20 * time.Minute)
	n.PauseChanged(true, until, t0, "HTTP 429: Retry-After 1200")
	if tried, err := n.DeliverDue(ctx); err != nil || tried != 1 {
		t.Fatalf("tried %d (%v), want the pause at once", tried, err)
	}
	a := verify(t, hook.next(t), t0)
	if a.Event != notify.EventChecksPaused || a.Until == nil || !a.Until.Equal(until) ||
		a.Message != "Every check is paused by Stax.ai's rate limiting until 2026-03-02 09:20 UTC (20m in all); nothing is being checked meanwhile, so a key that stops working goes unnoticed until then. Last answer: HTTP 429: Retry-After 1200." {
		t.Errorf("pause alert %+v", a)
	}
	n.PauseChanged(false, until, until, "")
	if tried, err := n.DeliverDue(ctx); err != nil || tried != 1 {
		t.Fatalf("tried %d (%v), want the resumption at once", tried, err)
	}
	r := verify(t, hook.next(t), t0)
	if r.Event != notify.EventChecksResumed || r.Message != "Checks resume: Stax.ai's rate limiting no longer pauses them (paused for 20m, since 2026-03-02 09:00 UTC)." {
		t.Errorf("resume alert %+v", r)
	}
	if got := len(hook.all()); got != 2 {
		t.Errorf("%d messages, want 2", got)
	}
}

// TestGroupedEmailListsEveryKey: the email of a group has one subject for all and one line per
// key, with its link.
func TestGroupedEmailListsEveryKey(t *testing.T) {
	srv := startSMTP(t, nil, "", "")
	e := newEnv(t)
	wclk := clocktest.NewFake(t0)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env:   notify.Config{SMTP: notify.SMTPConfig{Host: "127.0.0.1", Port: srv.port(), From: "staxkeys@example.com", To: []string{"ops@example.com"}}},
		Clock: wclk, GroupWindow: 30 * time.Second, PublicURL: publicURL,
	})
	change(n, groupKeys[0], t0, domain.Valid, domain.Revoked)
	change(n, groupKeys[1], t0, domain.Denied, domain.Valid)
	wclk.Advance(30 * time.Second)
	if tried, err := n.DeliverDue(context.Background()); err != nil || tried != 1 {
		t.Fatalf("tried %d (%v), want one email", tried, err)
	}
	m, err := mail.ReadMessage(strings.NewReader(srv.next(t).Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	raw, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	body := strings.ReplaceAll(string(raw), "\r\n", "\n")
	want := "2 Stax.ai keys changed verdict (1 revoked or denied, 1 valid again).\n\n" +
		"  - billing (ops@team.example.com): valid → revoked. reason of 11\n    " + link(11) + "\n" +
		"  - ci <prod> (ci@team.example.com): denied → valid. reason of 12\n    " + link(12) + "\n\n" +
		"Event:    verdict.changed\n"
	if subject != "[staxkeys] 2 keys changed verdict" || !strings.HasPrefix(body, want) {
		t.Errorf("email %q:\n%s\nwant it to start\n%s", subject, body, want)
	}
}

// TestSingleChangeLinksItsKey: a change alone links its key's page on Slack and in email when
// the public URL is set.
func TestSingleChangeLinksItsKey(t *testing.T) {
	srv := startSMTP(t, nil, "", "")
	e := newEnv(t)
	slack := newReceiver(t, nil)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env: notify.Config{SlackURL: slack.URL + "/services/T0/B0/X",
			SMTP: notify.SMTPConfig{Host: "127.0.0.1", Port: srv.port(), From: "staxkeys@example.com", To: []string{"ops@example.com"}}},
		Clock: clocktest.NewFake(t0), PublicURL: publicURL,
	})
	change(n, groupKeys[0], t0, domain.Valid, domain.Revoked)
	if tried, err := n.DeliverDue(context.Background()); err != nil || tried != 2 {
		t.Fatalf("tried %d (%v), want 2", tried, err)
	}
	want := `:rotating_light: *staxkeys* Stax.ai key revoked: "billing" (ops@team.example.com) went from valid to revoked. reason of 11. <` +
		link(11) + `|Open in staxkeys>` + "\nSince 2026-03-02 09:00 UTC"
	if text := slackText(t, slack.next(t)); text != want {
		t.Errorf("slack text\n got %q\nwant %q", text, want)
	}
	m, err := mail.ReadMessage(strings.NewReader(srv.next(t).Data))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	if !strings.Contains(string(body), "Link:     "+link(11)+"\n") {
		t.Errorf("email body lacks the link:\n%s", body)
	}
}

// TestLargeGroupStaysReadable: 60 changes in one window are one message; the webhook lists all
// 60, Slack lists 50 and counts the rest, and the one-line message names 10.
func TestLargeGroupStaysReadable(t *testing.T) {
	e := newEnv(t)
	hook, slack := newReceiver(t, nil), newReceiver(t, nil)
	wclk := clocktest.NewFake(t0)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env:   notify.Config{WebhookURL: hook.URL, WebhookSecret: webhookSecret, SlackURL: slack.URL + "/services/T0/B0/X"},
		Clock: wclk, GroupWindow: 30 * time.Second,
	})
	for i := range 60 {
		change(n, domain.Key{ID: int64(100 + i), Label: fmt.Sprintf("key %02d", i), Email: "ops@team.example.com"}, t0, domain.Valid, domain.Revoked)
	}
	wclk.Advance(30 * time.Second)
	if tried, err := n.DeliverDue(context.Background()); err != nil || tried != 2 {
		t.Fatalf("tried %d (%v), want one message per channel", tried, err)
	}
	a := verify(t, hook.next(t), wclk.Now())
	if len(a.Changes) != 60 || !strings.HasSuffix(a.Message, `"key 09" (ops@team.example.com) valid → revoked. reason of 109 and 50 more.`) {
		t.Errorf("%d changes, message %q", len(a.Changes), a.Message)
	}
	text := slackText(t, slack.next(t))
	if got := strings.Count(text, "\n• "); got != 50 || !strings.HasSuffix(text, "\n…and 10 more") {
		t.Errorf("slack lists %d keys, ends %q", got, text[max(0, len(text)-40):])
	}
}

// TestGroupTryReportedPerDelivery: OnAttempt hears a group's one try once per delivery it
// carries, so the metrics' counts of deliveries agree with the delivery log.
func TestGroupTryReportedPerDelivery(t *testing.T) {
	e := newEnv(t)
	hook := newReceiver(t, nil)
	wclk := clocktest.NewFake(t0)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: notify.Config{WebhookURL: hook.URL}, Clock: wclk, GroupWindow: 30 * time.Second})
	var sent, failed int
	n.OnAttempt(func(channel string, ok, final bool) {
		if channel != "webhook" {
			t.Errorf("channel %q", channel)
		}
		if ok {
			sent++
		} else {
			failed++
		}
	})
	for _, p := range groupKeys[:3] {
		change(n, p, t0, domain.Valid, domain.Revoked)
	}
	wclk.Advance(30 * time.Second)
	if tried, err := n.DeliverDue(context.Background()); err != nil || tried != 1 {
		t.Fatalf("tried %d (%v), want one message", tried, err)
	}
	if sent != 3 || failed != 0 || len(hook.all()) != 1 {
		t.Errorf("heard %d sent and %d failed for %d requests, want 3 sent for 1", sent, failed, len(hook.all()))
	}
}
