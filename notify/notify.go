// Package notify delivers alerts about key verdict changes and Stax.ai outages to webhooks,
// Slack and email, and opens and resolves incidents on PagerDuty and Opsgenie, reliably.
//
// A Notifier is a checker.Observer. It turns each confirmed verdict change worth a word (to
// revoked or denied, and back to valid), each start and end of an outage, each suspected
// upstream-wide change and its resolution, and each long pause of every check into an Alert,
// queues it in the database once per configured channel, and its worker (Run) sends the
// queue, retrying failures with exponential backoff; what is queued survives a restart. The
// worker also queues reminders: for a key that stays revoked or denied, and for a key due for
// rotation, once per period.
//
// Verdict changes are grouped: each is queued due only at the end of a short window
// (Options.GroupWindow), and the worker sends it together with every other verdict change of
// the same channel whose window overlaps, as one message. Because the grouping is done by the
// queue, a restart during the window loses nothing. Everything else goes out at once, alone.
//
// An Alert never holds a key: only the pair's id, label and email, the old and new verdict,
// the reason, and times.
package notify

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// Channel names a way alerts go out.
type Channel string

// The channels.
const (
	Webhook Channel = "webhook" // a generic JSON webhook, signed with HMAC-SHA256
	Slack   Channel = "slack"   // a Slack-compatible incoming webhook
	Email   Channel = "email"   // email over SMTP
	// The on-call channels open and resolve incidents (see incident.go).
	PagerDuty Channel = "pagerduty" // PagerDuty Events API v2
	Opsgenie  Channel = "opsgenie"  // Opsgenie Alert API
)

// Channels lists every channel, in the order pages show them.
func Channels() []Channel { return []Channel{Webhook, Slack, Email, PagerDuty, Opsgenie} }

// ParseChannel accepts a channel name from a form.
func ParseChannel(s string) (Channel, bool) {
	for _, c := range Channels() {
		if string(c) == s {
			return c, true
		}
	}
	return "", false
}

// The events an Alert can announce.
const (
	EventVerdictChanged    = "verdict.changed"    // a confirmed change to revoked or denied, or back to valid
	EventVerdictReminder   = "verdict.reminder"   // a key is still revoked or denied after the reminder period
	EventRotationReminder  = "rotation.reminder"  // a key is older than the rotation period
	EventOutageStarted     = "outage.started"     // Stax.ai looks down
	EventOutageEnded       = "outage.ended"       // Stax.ai answers again
	EventUpstreamSuspected = "upstream.suspected" // many keys changed the same way at once; their verdicts are held
	EventUpstreamResolved  = "upstream.resolved"  // that suspicion is settled: which keys really changed, if any
	EventChecksPaused      = "checks.paused"      // Stax.ai's rate limiting pauses every check for long
	EventChecksResumed     = "checks.resumed"     // checks run again after such a pause
	EventTest              = "test"               // an admin pressed "Send test"
	EventStillAccepted     = "key.still_accepted" // a key expected dead is still accepted by Stax.ai
	EventKeyRetired        = "key.retired"        // a key expected dead is confirmed refused: retired as expected
	// EventIncidentClosed resolves a key's open incident that no check will resolve now: the
	// key is no longer expected dead, or was deleted. Only the on-call channels get it.
	EventIncidentClosed = "key.incident_closed"
)

// Alert is what a delivery carries, and the JSON body of the generic webhook. It never holds a
// key.
type Alert struct {
	Event      string     `json:"event"`
	At         time.Time  `json:"at"`
	Key        *KeyRef    `json:"pair,omitempty"`
	OldVerdict string     `json:"old_verdict,omitempty"`
	NewVerdict string     `json:"new_verdict,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Since      *time.Time `json:"since,omitempty"` // when the outage, the bad verdict, the key, the suspicion or the pause began
	Until      *time.Time `json:"until,omitempty"` // checks.paused: when checks are to resume
	// Changes lists, oldest first, every verdict change a verdict.changed message covers: one
	// for a change alone, several for a group. The top-level pair, verdicts and reason are
	// the first change's, so that a receiver written for single alerts still works.
	Changes []Change `json:"changes,omitempty"`
	// Keys are an upstream suspicion's members: those seen so far when it begins, all of
	// them when it is resolved; Confirmed really changed, Cleared answer as before.
	Keys      []KeyRef `json:"pairs,omitempty"`
	Confirmed []KeyRef `json:"confirmed,omitempty"`
	Cleared   []KeyRef `json:"cleared,omitempty"`
	Message   string   `json:"message"` // one line for people

	// noIncident names keys whose incidents this alert must not move: the members of a
	// resolved suspicion that are expected dead speak for themselves (expectedDeadConfirmed).
	noIncident map[int64]bool
}

// KeyRef names a pair in an alert: never its key.
type KeyRef struct {
	ID    int64  `json:"id"`
	Label string `json:"label"`
	Email string `json:"email"`
	// URL is the key's page in staxkeys, when the public URL is set (Options.PublicURL).
	URL string `json:"url,omitempty"`
	// Tags are the key's tags, which routes pick keys by.
	Tags []string `json:"tags,omitempty"`
}

// Change is one confirmed verdict change in a verdict.changed alert.
type Change struct {
	Key        KeyRef    `json:"pair"`
	OldVerdict string    `json:"old_verdict"`
	NewVerdict string    `json:"new_verdict"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
}

// Options tunes a Notifier; zero fields take defaults.
type Options struct {
	// Env is the configuration from the environment; settings saved on the page override it.
	Env Config
	// HTTPClient sends webhooks; nil means one that dials through Allow, with a 15s timeout,
	// no proxy and no redirects. A client given here must enforce a policy itself.
	HTTPClient *http.Client
	// Allow is the destination policy of every channel; nil allows public addresses only.
	Allow *Policy
	// SMTPRootCAs verifies SMTP servers' certificates; nil means the system's.
	SMTPRootCAs *x509.CertPool
	// Clock is the worker's time; nil means the real one.
	Clock clock.Clock
	// Log receives the worker's log lines; nil discards.
	Log *slog.Logger
	// UserAgent is sent with webhooks.
	UserAgent string
	// MaxAttempts caps the tries of one delivery (default 8).
	MaxAttempts int
	// BackoffBase is the wait after the first failed try, doubling after each (default 1m),
	// up to BackoffMax (default 1h).
	BackoffBase, BackoffMax time.Duration
	// ReminderEvery is how often the worker looks for reminders to queue (default 5m).
	ReminderEvery time.Duration
	// Audit records the changes admins make to the alert settings; nil records nothing.
	Audit *audit.Log
	// Retention is how long sent and failed deliveries stay in the log (default 90 days).
	Retention time.Duration
	// SendTimeout bounds one try (default 30s).
	SendTimeout time.Duration
	// GroupWindow is how long a confirmed verdict change waits for others to go out with it
	// in one message per channel. Unlike the other fields, zero means no grouping: each
	// change goes out at once, alone. The server passes STAXKEYS_ALERT_GROUP_WINDOW (30s).
	GroupWindow time.Duration
	// PublicURL is where people reach staxkeys (e.g. https://staxkeys.example.com); alerts
	// then link to each key's page. Empty means no links.
	PublicURL string
}

func (o Options) withDefaults() Options {
	if o.MaxAttempts < 1 {
		o.MaxAttempts = 8
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Minute
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = time.Hour
	}
	if o.ReminderEvery <= 0 {
		o.ReminderEvery = 5 * time.Minute
	}
	if o.Retention <= 0 {
		o.Retention = 90 * 24 * time.Hour
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "staxkeys"
	}
	if o.GroupWindow < 0 {
		o.GroupWindow = 0
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	return o
}

// Notifier queues and sends alerts. Create it with New, register it with the checker
// (AddObserver) and run its worker with Run.
type Notifier struct {
	db     *store.DB
	keys   *secret.Keyring
	opts   Options
	clock  clock.Clock
	log    *slog.Logger
	client *http.Client
	nudge  chan struct{}
	sendMu sync.Mutex // one pass over the queue at a time

	attempted []func(channel string, sent, final bool) // set before Run; read without locking

	pauseMu    sync.Mutex
	pausedFrom time.Time // when the long pause being announced began; zero when none
}

// New returns a Notifier over db, sealing its secret settings with keys.
func New(db *store.DB, keys *secret.Keyring, opts Options) *Notifier {
	opts = opts.withDefaults()
	n := &Notifier{db: db, keys: keys, opts: opts, clock: opts.Clock, log: opts.Log, client: opts.HTTPClient,
		nudge: make(chan struct{}, 1)}
	if n.clock == nil {
		n.clock = clock.System{}
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.client == nil {
		n.client = opts.Allow.httpClient()
	}
	return n
}

// OnAttempt registers f to hear of every try to deliver: its channel, whether it was sent, and
// whether a failure was the last try (the delivery is given up). Metrics count failing
// receivers with it, so f must be quick; a try cut short by shutdown is not reported. The one
// message of a group of verdict changes is reported once per delivery it carries, as the
// delivery log records it. Call it before Run or DeliverDue, as checker.AddObserver.
func (n *Notifier) OnAttempt(f func(channel string, sent, final bool)) {
	n.attempted = append(n.attempted, f)
}

// Nudge tells the worker that deliveries are due now. It never blocks.
func (n *Notifier) Nudge() {
	select {
	case n.nudge <- struct{}{}:
	default:
	}
}

// enqueueTimeout bounds the queueing of one alert from an observer callback.
const enqueueTimeout = 10 * time.Second

// CheckRecorded queues an alert for a confirmed verdict change worth one: to revoked or denied
// (from anything, a first verdict included), and from revoked or denied back to valid. A first
// verdict of valid says nothing new and is left out.
//
// A muted key's change queues nothing, for any channel: not even the on-call channels'
// incident state moves, so that state still says what the providers were last told, and an
// unmute pages nobody for what happened while muted. A change already queued when the key is
// muted (inside the grouping window) still goes out.
//
// A change confirmed as part of an upstream-wide suspicion (rec.Wide) gets no alert of its
// own: the suspicion's resolution names it (SuspicionChanged).
//
// A key expected dead (domain.ExpectRevoked) alerts otherwise: see expectedDeadChecked.
func (n *Notifier) CheckRecorded(p domain.Key, rec store.CheckRecord) {
	if p.Expected.Or() == domain.ExpectRevoked {
		n.expectedDeadChecked(p, rec)
		return
	}
	e := rec.Event
	if e == nil || rec.Wide || !worthAlerting(e.Old, e.New) {
		return
	}
	if n.muted(p.ID) {
		n.log.Debug("notify: key muted, no alert", "pair_id", p.ID, "event", EventVerdictChanged, "new_verdict", string(e.New))
		return
	}
	a := Alert{
		Event: EventVerdictChanged, At: e.At.UTC(), Key: n.keyRef(p),
		OldVerdict: string(e.Old), NewVerdict: string(e.New), Reason: e.Reason,
	}
	a.Changes = []Change{{Key: *a.Key, OldVerdict: a.OldVerdict, NewVerdict: a.NewVerdict, Reason: a.Reason, At: a.At}}
	a.Message = verdictMessage(a)
	n.enqueue(a, n.opts.GroupWindow)
}

func worthAlerting(old, new domain.Verdict) bool {
	switch new {
	case domain.Revoked, domain.Denied:
		return old != new
	case domain.Valid:
		return old == domain.Revoked || old == domain.Denied
	}
	return false
}

// OutageChanged queues an alert when an outage of the Stax.ai API begins or ends.
func (n *Notifier) OutageChanged(down bool, since, at time.Time, reason string) {
	s := since.UTC()
	a := Alert{Event: EventOutageEnded, At: at.UTC(), Since: &s, Reason: reason}
	if down {
		a.Event = EventOutageStarted
	}
	a.Message = outageMessage(a)
	n.enqueue(a, 0)
}

// SuspicionChanged queues one alert when an upstream-wide change is suspected (its members'
// verdicts are held for a longer re-check) and one when it is resolved, naming the keys that
// really changed and those that answer as before. Neither is grouped nor delayed.
func (n *Notifier) SuspicionChanged(s domain.Suspicion) {
	since := s.Since.UTC()
	a := Alert{
		Event: EventUpstreamSuspected, At: s.At.UTC(), Since: &since,
		OldVerdict: string(s.From), NewVerdict: string(s.To), Reason: s.Reason,
		Keys: n.keyRefs(s.Members),
	}
	var dead []domain.Key
	if s.Resolved {
		a.Event, a.Confirmed, a.Cleared = EventUpstreamResolved, n.keyRefs(s.Confirmed), n.keyRefs(s.Cleared)
		for _, k := range s.Confirmed {
			if k.Expected.Or() == domain.ExpectRevoked {
				if a.noIncident == nil {
					a.noIncident = map[int64]bool{}
				}
				a.noIncident[k.ID], dead = true, append(dead, k)
			}
		}
	}
	a.Message = suspicionMessage(a)
	n.enqueue(a, 0)
	for _, k := range dead {
		n.expectedDeadConfirmed(k.ID)
	}
}

// PauseChanged queues one alert when Stax.ai's rate limiting pauses every check for longer
// than checker.LongPause (paused, until when), and one when checks resume.
func (n *Notifier) PauseChanged(paused bool, until, at time.Time, reason string) {
	a := Alert{Event: EventChecksResumed, At: at.UTC(), Reason: reason}
	n.pauseMu.Lock()
	if paused {
		a.Event = EventChecksPaused
		u := until.UTC()
		a.Until = &u
		if n.pausedFrom.IsZero() {
			n.pausedFrom = a.At
		}
		s := n.pausedFrom
		a.Since = &s
	} else if !n.pausedFrom.IsZero() {
		s := n.pausedFrom
		a.Since, n.pausedFrom = &s, time.Time{}
	}
	n.pauseMu.Unlock()
	a.Message = pauseMessage(a)
	n.enqueue(a, 0)
}

// enqueue queues a for every configured channel, groupable for window (0: due at once,
// alone), and wakes the worker. It runs inside a checker callback, so it is bounded in time; a
// failure is logged, not retried.
func (n *Notifier) enqueue(a Alert, window time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), enqueueTimeout)
	defer cancel()
	cfg := n.Config(ctx)
	ds, err := deliveriesFor(cfg, a, window)
	if err == nil {
		err = n.db.EnqueueDeliveries(ctx, n.clock.Now(), ds)
	}
	if err != nil {
		n.log.Error("notify: cannot queue an alert", "event", a.Event, "err", err)
		return
	}
	incidents, err := n.enqueueIncidents(ctx, cfg, a)
	if err != nil {
		n.log.Error("notify: cannot queue an incident", "event", a.Event, "err", err)
	}
	if len(ds)+incidents > 0 {
		n.log.Info("notify: alert queued", "event", a.Event, "channels", len(ds), "incidents", incidents)
		n.Nudge()
	}
}

// deliveriesFor returns one delivery of a per configured channel that its route lets hear
// it (as the route lets it through), groupable for window; the on-call channels have their
// own (enqueueIncidents).
func deliveriesFor(cfg Config, a Alert, window time.Duration) ([]store.NewDelivery, error) {
	payload, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("notify: encode alert: %w", err)
	}
	var ds []store.NewDelivery
	for _, ch := range cfg.Channels() {
		if ch.onCall() {
			continue
		}
		body := payload
		heard, ok := cfg.Routes[string(ch)].filter(a)
		if !ok {
			continue
		}
		if !cfg.Routes[string(ch)].All() {
			if body, err = json.Marshal(heard); err != nil {
				return nil, fmt.Errorf("notify: encode alert: %w", err)
			}
		}
		ds = append(ds, store.NewDelivery{Event: a.Event, Channel: string(ch), Payload: body, GroupWindow: window})
	}
	return ds, nil
}

// keyRef names p in an alert, with a link to its page when the public URL is set. The link
// is the admin page of the key (GET /keys/:id in package web).
func (n *Notifier) keyRef(p domain.Key) *KeyRef {
	return &n.keyRefs([]domain.Key{p})[0]
}

// keyRefs is keyRef for each of ps, with the tags of those read without them (the checker's
// copies) read in one query: routes pick keys by tag.
func (n *Notifier) keyRefs(ps []domain.Key) []KeyRef {
	tags := n.tagsOf(ps)
	out := make([]KeyRef, 0, len(ps))
	for _, p := range ps {
		r := KeyRef{ID: p.ID, Label: p.Label, Email: p.Email, Tags: p.Tags}
		if r.Tags == nil {
			r.Tags = tags[p.ID]
		}
		if n.opts.PublicURL != "" {
			r.URL = n.opts.PublicURL + "/keys/" + strconv.FormatInt(p.ID, 10)
		}
		out = append(out, r)
	}
	return out
}

// tagsOf reads the tags of the keys of ps that were read without them (nil). A failed read
// leaves them untagged, logged.
func (n *Notifier) tagsOf(ps []domain.Key) map[int64][]string {
	var ids []int64
	for _, p := range ps {
		if p.Tags == nil && p.ID != 0 {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), enqueueTimeout)
	defer cancel()
	tags, err := n.db.TagsOf(ctx, ids)
	if err != nil {
		n.log.Error("notify: cannot read the keys' tags; routing them as untagged", "keys", len(ids), "err", err)
		return nil
	}
	return tags
}

// SendTest sends a test alert on ch at once, with the saved settings, and records the try in
// the delivery log. It returns why the channel failed, if it did.
func (n *Notifier) SendTest(ctx context.Context, ch Channel) error {
	cfg := n.Config(ctx)
	if !cfg.Has(ch) {
		return fmt.Errorf("notify: the %s channel is not configured", ch)
	}
	now := n.clock.Now().UTC().Truncate(time.Millisecond)
	a := Alert{Event: EventTest, At: now, Message: "Test alert from staxkeys: alerts on this channel arrive."}
	payload, err := json.Marshal(a)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.SendTimeout)
	defer cancel()
	d := domain.Delivery{Event: a.Event, Channel: string(ch), Payload: payload, CreatedAt: now}
	sendErr := n.send(ctx, cfg, d)
	att := store.DeliveryAttempt{At: now}
	if sendErr != nil {
		att.Err, att.Final = sendErr.Error(), true
	}
	if _, err := n.db.RecordDelivery(context.WithoutCancel(ctx), store.NewDelivery{Event: a.Event, Channel: string(ch), Payload: payload}, att); err != nil {
		n.log.Error("notify: cannot record a test delivery", "err", err)
	}
	return sendErr
}

// muted reports whether key id is muted now. When that cannot be read the alert goes out: a
// lost alert is worse than one too many.
func (n *Notifier) muted(id int64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), enqueueTimeout)
	defer cancel()
	_, muted, err := n.db.ActiveMute(ctx, id, n.clock.Now())
	if err != nil {
		n.log.Error("notify: cannot read the key's mute; alerting", "pair_id", id, "err", err)
	}
	return muted
}
