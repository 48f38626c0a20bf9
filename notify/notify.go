// Package notify delivers alerts about key verdict changes and Stax.ai outages to webhooks,
// Slack and email, reliably.
//
// A Notifier is a checker.Observer. It turns each confirmed verdict change worth a word (to
// revoked or denied, and back to valid) and each start and end of an outage into an Alert,
// queues it in the database once per configured channel, and its worker (Run) sends the
// queue, retrying failures with exponential backoff; what is queued survives a restart. The
// worker also queues reminders: for a key that stays revoked or denied, and for a key due for
// rotation, once per period.
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
	"sync"
	"time"

	"github.com/staxkeys/staxkeys/checker"
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
)

// Channels lists every channel, in the order pages show them.
func Channels() []Channel { return []Channel{Webhook, Slack, Email} }

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
	EventVerdictChanged   = "verdict.changed"   // a confirmed change to revoked or denied, or back to valid
	EventVerdictReminder  = "verdict.reminder"  // a key is still revoked or denied after the reminder period
	EventRotationReminder = "rotation.reminder" // a key is older than the rotation period
	EventOutageStarted    = "outage.started"    // Stax.ai looks down
	EventOutageEnded      = "outage.ended"      // Stax.ai answers again
	EventTest             = "test"              // an admin pressed "Send test"
)

// Alert is what a delivery carries, and the JSON body of the generic webhook. It never holds a
// key.
type Alert struct {
	Event      string     `json:"event"`
	At         time.Time  `json:"at"`
	Pair       *PairRef   `json:"pair,omitempty"`
	OldVerdict string     `json:"old_verdict,omitempty"`
	NewVerdict string     `json:"new_verdict,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Since      *time.Time `json:"since,omitempty"` // when the outage, the bad verdict or the key began
	Message    string     `json:"message"`         // one line for people
}

// PairRef names a pair in an alert: never its key.
type PairRef struct {
	ID    int64  `json:"id"`
	Label string `json:"label"`
	Email string `json:"email"`
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
	Clock checker.Clock
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
	// Retention is how long sent and failed deliveries stay in the log (default 90 days).
	Retention time.Duration
	// SendTimeout bounds one try (default 30s).
	SendTimeout time.Duration
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
	return o
}

// Notifier queues and sends alerts. Create it with New, register it with the checker
// (AddObserver) and run its worker with Run.
type Notifier struct {
	db     *store.DB
	keys   *secret.Keyring
	opts   Options
	clock  checker.Clock
	log    *slog.Logger
	client *http.Client
	nudge  chan struct{}
	sendMu sync.Mutex // one pass over the queue at a time

	attempted []func(channel string, sent, final bool) // set before Run; read without locking
}

// New returns a Notifier over db, sealing its secret settings with keys.
func New(db *store.DB, keys *secret.Keyring, opts Options) *Notifier {
	opts = opts.withDefaults()
	n := &Notifier{db: db, keys: keys, opts: opts, clock: opts.Clock, log: opts.Log, client: opts.HTTPClient,
		nudge: make(chan struct{}, 1)}
	if n.clock == nil {
		n.clock = checker.SystemClock{}
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
// receivers with it, so f must be quick; a try cut short by shutdown is not reported. Call it
// before Run or DeliverDue, as checker.AddObserver.
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
func (n *Notifier) CheckRecorded(p store.Pair, rec store.CheckRecord) {
	e := rec.Event
	if e == nil || !worthAlerting(e.Old, e.New) {
		return
	}
	a := Alert{
		Event: EventVerdictChanged, At: e.At.UTC(), Pair: pairRef(p),
		OldVerdict: string(e.Old), NewVerdict: string(e.New), Reason: e.Reason,
	}
	a.Message = verdictMessage(a)
	n.enqueueAlert(a)
}

func worthAlerting(old, new store.Verdict) bool {
	switch new {
	case store.Revoked, store.Denied:
		return old != new
	case store.Valid:
		return old == store.Revoked || old == store.Denied
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
	n.enqueueAlert(a)
}

// SuspicionChanged will alert once when an upstream-wide change is suspected and once when it is
// resolved.
func (n *Notifier) SuspicionChanged(checker.Suspicion) {}

// PauseChanged will alert once when a long pause of every check begins, and once when it ends.
func (n *Notifier) PauseChanged(bool, time.Time, time.Time, string) {}

// enqueueAlert queues a for every configured channel and wakes the worker. It runs inside a
// checker callback, so it is bounded in time; a failure is logged, not retried.
func (n *Notifier) enqueueAlert(a Alert) {
	ctx, cancel := context.WithTimeout(context.Background(), enqueueTimeout)
	defer cancel()
	cfg := n.Config(ctx)
	ds, err := deliveriesFor(cfg, a)
	if err == nil {
		err = n.db.EnqueueDeliveries(ctx, n.clock.Now(), ds)
	}
	if err != nil {
		n.log.Error("notify: cannot queue an alert", "event", a.Event, "err", err)
		return
	}
	if len(ds) > 0 {
		n.log.Info("notify: alert queued", "event", a.Event, "channels", len(ds))
		n.Nudge()
	}
}

// deliveriesFor returns one delivery of a per configured channel.
func deliveriesFor(cfg Config, a Alert) ([]store.NewDelivery, error) {
	payload, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("notify: encode alert: %w", err)
	}
	var ds []store.NewDelivery
	for _, ch := range cfg.Channels() {
		ds = append(ds, store.NewDelivery{Event: a.Event, Channel: string(ch), Payload: payload})
	}
	return ds, nil
}

func pairRef(p store.Pair) *PairRef { return &PairRef{ID: p.ID, Label: p.Label, Email: p.Email} }

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
	d := store.Delivery{Event: a.Event, Channel: string(ch), Payload: payload, CreatedAt: now}
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
