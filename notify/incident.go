package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// The on-call channels open an incident when a key is confirmed revoked or denied (or, expected
// dead, still accepted), or when Stax.ai goes down, and resolve it when the key is valid again
// (or retired as expected) or Stax.ai answers. Each
// incident has a dedup key (one per staxkeys key, one for the outage), and the queue records
// the last action per channel and dedup key (store.EnqueueIncident), so a repeat of the same
// state pages nobody twice. Nothing else (reminders, suspicions, pauses) reaches them: those
// are for the other channels, not for waking someone up.

// The providers' public API base URLs, the defaults of Config.PagerDutyURL and OpsgenieURL.
const (
	DefaultPagerDutyURL = "https://events.pagerduty.com"
	DefaultOpsgenieURL  = "https://api.opsgenie.com" // EU accounts: https://api.eu.opsgenie.com
)

// OutageDedupKey is the dedup key (PagerDuty) and alias (Opsgenie) of a Stax.ai outage.
const OutageDedupKey = "staxkeys-outage"

// testDedupKey is the incident "Send test" opens and at once resolves.
const testDedupKey = "staxkeys-test"

// KeyDedupKey is the dedup key (PagerDuty) and alias (Opsgenie) of key id's incident.
func KeyDedupKey(id int64) string { return "staxkeys-key-" + strconv.FormatInt(id, 10) }

// The incident actions, in PagerDuty's words; Opsgenie creates and closes.
const (
	actionTrigger = "trigger"
	actionResolve = "resolve"
)

// onCall reports whether ch is an incident channel.
func (ch Channel) onCall() bool { return ch == PagerDuty || ch == Opsgenie }

// incident is what an on-call channel does about one alert.
type incident struct {
	action, dedupKey string
}

// incidentOf says what an alert about one incident (see incidentAlerts) does, if anything.
func incidentOf(a Alert) (incident, bool) {
	switch a.Event {
	case EventVerdictChanged:
		if a.Key == nil {
			return incident{}, false
		}
		switch domain.Verdict(a.NewVerdict) {
		case domain.Revoked, domain.Denied:
			return incident{actionTrigger, KeyDedupKey(a.Key.ID)}, true
		case domain.Valid:
			return incident{actionResolve, KeyDedupKey(a.Key.ID)}, true
		}
	case EventStillAccepted, EventKeyRetired:
		if a.Key == nil {
			return incident{}, false
		}
		if a.Event == EventStillAccepted {
			return incident{actionTrigger, KeyDedupKey(a.Key.ID)}, true
		}
		return incident{actionResolve, KeyDedupKey(a.Key.ID)}, true
	case EventIncidentClosed:
		if a.Key == nil {
			return incident{}, false
		}
		return incident{actionResolve, KeyDedupKey(a.Key.ID)}, true
	case EventOutageStarted:
		return incident{actionTrigger, OutageDedupKey}, true
	case EventOutageEnded:
		return incident{actionResolve, OutageDedupKey}, true
	case EventTest:
		return incident{actionTrigger, testDedupKey}, true
	}
	return incident{}, false
}

// incidentAlerts splits a into alerts about one incident each: one per key of a verdict
// change (a group never forms on these channels, but an alert may list several changes), one
// per confirmed key of a resolved upstream suspicion, the outage's own. Any other alert opens
// or resolves nothing.
func incidentAlerts(a Alert) []Alert {
	var out []Alert
	one := func(c Change) {
		k := c.Key
		x := Alert{Event: EventVerdictChanged, At: c.At, Key: &k, OldVerdict: c.OldVerdict, NewVerdict: c.NewVerdict,
			Reason: c.Reason, Changes: []Change{c}}
		x.Message = verdictMessage(x)
		out = append(out, x)
	}
	switch a.Event {
	case EventVerdictChanged:
		for _, c := range alertChanges(a) {
			one(c)
		}
	case EventUpstreamResolved:
		if worthAlerting(domain.Verdict(a.OldVerdict), domain.Verdict(a.NewVerdict)) {
			for _, k := range a.Confirmed {
				one(Change{Key: k, OldVerdict: a.OldVerdict, NewVerdict: a.NewVerdict, Reason: a.Reason, At: a.At})
			}
		}
	case EventOutageStarted, EventOutageEnded, EventStillAccepted, EventKeyRetired:
		out = append(out, a)
	}
	return out
}

// enqueueIncidents queues a's incidents on the configured on-call channels, each unless it
// repeats the last action of its channel and dedup key or its key is muted (a key an upstream
// suspicion confirms pages nobody while muted; the suspicion's own alert is not held back). It returns how many it queued.
func (n *Notifier) enqueueIncidents(ctx context.Context, cfg Config, a Alert) (int, error) {
	queued := 0
	var mutes map[int64]domain.Mute // loaded for the first alert about a key
	for _, ch := range cfg.Channels() {
		if !ch.onCall() {
			continue
		}
		heard, ok := cfg.Routes[string(ch)].filter(a)
		if !ok {
			continue
		}
		for _, x := range incidentAlerts(heard) {
			inc, ok := incidentOf(x)
			if !ok || (x.Key != nil && a.noIncident[x.Key.ID]) {
				continue
			}
			if x.Key != nil && a.Event != EventVerdictChanged { // a verdict change was let through by CheckRecorded
				if mutes == nil {
					var err error
					if mutes, err = n.db.ActiveMutes(ctx, n.clock.Now()); err != nil {
						return queued, err
					}
				}
				if _, muted := mutes[x.Key.ID]; muted {
					n.log.Debug("notify: key muted, no incident", "pair_id", x.Key.ID, "event", a.Event, "channel", string(ch))
					continue
				}
			}
			payload, err := json.Marshal(x)
			if err != nil {
				return queued, err
			}
			ok, err = n.db.EnqueueIncident(ctx, n.clock.Now(),
				store.Incident{Channel: string(ch), DedupKey: inc.dedupKey, Action: inc.action},
				store.NewDelivery{Event: x.Event, Channel: string(ch), Payload: payload})
			if err != nil {
				return queued, err
			}
			queued += btoi(ok)
		}
	}
	return queued, nil
}

// CloseKeyIncident resolves key k's incident on every configured on-call channel where it is
// open, saying why (the Opsgenie close note; PagerDuty's resolve carries no text). It is for
// the changes after which no check would ever resolve it: the key no longer expected dead
// while Stax.ai still accepts it (its still-accepted incident), or the key deleted. A muted
// key's incident is closed too: only opening one waits for the mute. It reports whether it
// queued any resolve; a channel where the incident is not open gets nothing.
func (n *Notifier) CloseKeyIncident(ctx context.Context, k domain.Key, why string) (bool, error) {
	open, err := n.db.OpenIncidentChannels(ctx, KeyDedupKey(k.ID))
	if err != nil || len(open) == 0 {
		return false, err
	}
	cfg := n.Config(ctx)
	a := Alert{Event: EventIncidentClosed, At: n.clock.Now().UTC().Truncate(time.Millisecond), Key: n.keyRef(k), Reason: why}
	a.Message = fmt.Sprintf("Incident closed for key %s: %s.", keyName(a.Key), why)
	payload, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	queued := false
	for _, ch := range cfg.Channels() {
		if !ch.onCall() || !slices.Contains(open, string(ch)) {
			continue
		}
		ok, err := n.db.EnqueueIncident(ctx, n.clock.Now(),
			store.Incident{Channel: string(ch), DedupKey: KeyDedupKey(k.ID), Action: actionResolve},
			store.NewDelivery{Event: a.Event, Channel: string(ch), Payload: payload})
		if err != nil {
			return queued, err
		}
		queued = queued || ok
	}
	if queued {
		n.log.Info("notify: incident resolve queued", "event", a.Event, "pair_id", k.ID, "why", why)
		n.Nudge()
	}
	return queued, nil
}

// sendIncident makes one try at an on-call delivery. "Send test" opens a test incident of
// the lowest urgency and resolves it at once.
func (n *Notifier) sendIncident(ctx context.Context, cfg Config, ch Channel, a Alert) error {
	inc, ok := incidentOf(a)
	if !ok {
		return permanent{errors.New("this alert opens or resolves no incident")}
	}
	send := n.pagerDuty
	if ch == Opsgenie {
		send = n.opsgenie
	}
	if err := send(ctx, cfg, a, inc); err != nil {
		return err
	}
	if a.Event == EventTest {
		return send(ctx, cfg, a, incident{actionResolve, inc.dedupKey})
	}
	return nil
}

// pdEvent is a PagerDuty Events API v2 event (POST /v2/enqueue).
type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"` // trigger, acknowledge or resolve
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload,omitempty"` // required to trigger
	Client      string     `json:"client,omitempty"`
	ClientURL   string     `json:"client_url,omitempty"`
	Links       []pdLink   `json:"links,omitempty"`
}

type pdPayload struct {
	Summary       string            `json:"summary"`  // at most 1024 characters
	Source        string            `json:"source"`   // the affected system
	Severity      string            `json:"severity"` // critical, error, warning or info
	Timestamp     string            `json:"timestamp,omitempty"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	Class         string            `json:"class,omitempty"`
	CustomDetails map[string]string `json:"custom_details,omitempty"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// pagerDuty sends one event to the Events API v2.
func (n *Notifier) pagerDuty(ctx context.Context, cfg Config, a Alert, inc incident) error {
	ev := pdEvent{RoutingKey: cfg.PagerDutyRoutingKey, EventAction: inc.action, DedupKey: inc.dedupKey, Client: "staxkeys"}
	if n.opts.PublicURL != "" {
		ev.ClientURL = n.opts.PublicURL
	}
	if inc.action == actionTrigger {
		ev.Payload = &pdPayload{
			Summary: truncate(a.Message, 1000), Source: n.incidentSource(), Severity: severity(a),
			Timestamp: a.At.UTC().Format(time.RFC3339), Component: "Stax.ai API", Class: a.Event,
			CustomDetails: incidentDetails(a),
		}
		if a.Key != nil {
			ev.Payload.Component, ev.Payload.Group = "Stax.ai key", a.Key.Email
			if a.Key.URL != "" {
				ev.Links = []pdLink{{Href: a.Key.URL, Text: "The key in staxkeys"}}
			}
		}
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return permanent{err}
	}
	return n.post(ctx, strings.TrimRight(cfg.pagerDutyURL(), "/")+"/v2/enqueue", body, nil)
}

// ogAlert is an Opsgenie alert (POST /v2/alerts).
type ogAlert struct {
	Message     string            `json:"message"` // at most 130 characters
	Alias       string            `json:"alias"`   // the dedup key, at most 512 characters
	Description string            `json:"description,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source,omitempty"`
	Priority    string            `json:"priority,omitempty"` // P1 to P5
	Tags        []string          `json:"tags,omitempty"`
}

// ogClose closes an alert (POST /v2/alerts/{alias}/close?identifierType=alias).
type ogClose struct {
	Source string `json:"source,omitempty"`
	Note   string `json:"note,omitempty"`
}

// opsgenie creates or closes one alert of the Alert API.
func (n *Notifier) opsgenie(ctx context.Context, cfg Config, a Alert, inc incident) error {
	base := strings.TrimRight(cfg.opsgenieURL(), "/") + "/v2/alerts"
	h := http.Header{}
	h.Set("Authorization", "GenieKey "+cfg.OpsgenieAPIKey)
	var target string
	var v any
	if inc.action == actionTrigger {
		target = base
		og := ogAlert{
			Message: truncate(a.Message, 120), Alias: inc.dedupKey, Description: truncate(a.Message, 14000),
			Details: incidentDetails(a), Source: n.incidentSource(), Priority: priority(a), Tags: []string{"staxkeys", a.Event},
		}
		if a.NewVerdict != "" {
			og.Tags = append(og.Tags, a.NewVerdict)
		}
		if a.Key != nil {
			og.Entity = truncate(keyName(a.Key), 500)
			for _, t := range a.Key.Tags {
				if len(og.Tags) < 20 { // Opsgenie takes at most 20 tags
					og.Tags = append(og.Tags, "tag:"+t)
				}
			}
		}
		v = og
	} else {
		target = base + "/" + url.PathEscape(inc.dedupKey) + "/close?identifierType=alias"
		v = ogClose{Source: n.incidentSource(), Note: truncate(a.Message, 20000)}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return permanent{err}
	}
	return n.post(ctx, target, body, h)
}

// incidentSource names staxkeys in an incident: its public host, when set.
func (n *Notifier) incidentSource() string {
	if u, err := url.Parse(n.opts.PublicURL); err == nil && u.Host != "" {
		return u.Host
	}
	return "staxkeys"
}

// incidentDetails are the alert's facts as the incident's fields: never the key.
func incidentDetails(a Alert) map[string]string {
	d := map[string]string{"event": a.Event, "at": a.At.UTC().Format(time.RFC3339)}
	set := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	if a.Key != nil {
		set("key_label", a.Key.Label)
		set("team_email", a.Key.Email)
		set("key_url", a.Key.URL)
		set("tags", strings.Join(a.Key.Tags, ", "))
		d["key_id"] = strconv.FormatInt(a.Key.ID, 10)
	}
	set("verdict", a.NewVerdict)
	set("previous_verdict", a.OldVerdict)
	set("reason", a.Reason)
	switch {
	case a.Since != nil:
		d["since"] = a.Since.UTC().Format(time.RFC3339)
	case a.Event == EventVerdictChanged:
		d["since"] = d["at"] // the bad verdict began when it was confirmed
	}
	return d
}

// severity is PagerDuty's word for how bad a is.
func severity(a Alert) string {
	switch a.Event {
	case EventVerdictChanged, EventStillAccepted:
		return "critical"
	case EventOutageStarted:
		return "error"
	}
	return "info"
}

// priority is Opsgenie's.
func priority(a Alert) string {
	switch a.Event {
	case EventVerdictChanged, EventStillAccepted:
		return "P1"
	case EventOutageStarted:
		return "P2"
	}
	return "P5"
}
