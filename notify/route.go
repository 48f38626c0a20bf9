package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// Routing: each channel hears every alert, or only some kinds of them, and only about keys
// carrying some tags, so that the billing team's channel hears of billing keys. A route is
// applied when an alert is queued for a channel, after mutes (a muted key queues nothing) and
// per key: grouping then folds together only what the channel was queued, so a grouped
// message lists only the keys the channel may hear of, and one whose keys were all filtered
// out is never queued.

// The kinds of alert a route picks from.
const (
	KindRevoked       = "revoked"        // a key confirmed revoked
	KindDenied        = "denied"         // a key confirmed denied
	KindRecovered     = "recovered"      // a key valid again
	KindOutage        = "outage"         // Stax.ai down and back, suspected upstream changes, checks paused by rate limiting
	KindReminders     = "reminders"      // still revoked or denied, time to rotate
	KindStillAccepted = "still_accepted" // a key that should be dead still works, and its retirement when it stops
)

// RouteKinds lists the kinds, in the order the page shows them.
func RouteKinds() []string {
	return []string{KindRevoked, KindDenied, KindRecovered, KindOutage, KindReminders, KindStillAccepted}
}

// RouteKindLabel is a kind in words, for the page.
func RouteKindLabel(k string) string {
	switch k {
	case KindRevoked:
		return "Revoked"
	case KindDenied:
		return "Denied"
	case KindRecovered:
		return "Valid again"
	case KindOutage:
		return "Stax.ai outages, suspected changes, paused checks"
	case KindReminders:
		return "Reminders (still bad, time to rotate)"
	case KindStillAccepted:
		return "Should be dead, still accepted (and retired)"
	}
	return k
}

// Route is what one channel hears. Empty Events: every kind; empty Tags: keys of any tag.
type Route struct {
	Events []string
	Tags   []string
}

// All reports whether the route lets everything through.
func (r Route) All() bool { return len(r.Events) == 0 && len(r.Tags) == 0 }

// Hears reports whether the route takes alerts of kind k.
func (r Route) Hears(k string) bool { return len(r.Events) == 0 || slices.Contains(r.Events, k) }

// keyHeard reports whether the route takes alerts about k.
func (r Route) keyHeard(k KeyRef) bool {
	if len(r.Tags) == 0 {
		return true
	}
	// Both sides are normalized (domain.NormalizeTags): lower case.
	return slices.ContainsFunc(k.Tags, func(t string) bool { return slices.Contains(r.Tags, t) })
}

// changeKind is the kind of a verdict change.
func changeKind(newVerdict string) string {
	switch domain.Verdict(newVerdict) {
	case domain.Revoked:
		return KindRevoked
	case domain.Denied:
		return KindDenied
	}
	return KindRecovered
}

// filter returns a as the route lets it through, and false when nothing of it is left. A
// group of changes keeps those the route hears; an upstream suspicion, the keys it may hear
// of (and goes unheard when tags leave none); an alert about no key (an outage, a pause)
// hears no tag filter. The test alert always goes through.
func (r Route) filter(a Alert) (Alert, bool) {
	if r.All() || a.Event == EventTest {
		return a, true
	}
	switch a.Event {
	case EventVerdictChanged:
		changes := alertChanges(a)
		kept := make([]Change, 0, len(changes))
		for _, c := range changes {
			if r.Hears(changeKind(c.NewVerdict)) && r.keyHeard(c.Key) {
				kept = append(kept, c)
			}
		}
		switch {
		case len(kept) == 0:
			return Alert{}, false
		case len(kept) == len(changes):
			return a, true
		}
		return groupAlert(kept), true
	case EventVerdictReminder, EventRotationReminder:
		return a, r.Hears(KindReminders) && a.Key != nil && r.keyHeard(*a.Key)
	case EventStillAccepted, EventKeyRetired:
		// One kind for a leaked key's whole story: the channel that heard it still works hears
		// that it is dead at last.
		return a, r.Hears(KindStillAccepted) && (a.Key == nil || r.keyHeard(*a.Key))
	case EventOutageStarted, EventOutageEnded, EventChecksPaused, EventChecksResumed:
		return a, r.Hears(KindOutage)
	case EventUpstreamSuspected, EventUpstreamResolved:
		if !r.Hears(KindOutage) {
			return Alert{}, false
		}
		if len(r.Tags) == 0 {
			return a, true
		}
		keep := func(ks []KeyRef) []KeyRef {
			var out []KeyRef
			for _, k := range ks {
				if r.keyHeard(k) {
					out = append(out, k)
				}
			}
			return out
		}
		b := a
		b.Keys, b.Confirmed, b.Cleared = keep(a.Keys), keep(a.Confirmed), keep(a.Cleared)
		if len(b.Keys)+len(b.Confirmed)+len(b.Cleared) == 0 {
			return Alert{}, false
		}
		b.Message = suspicionMessage(b)
		return b, true
	}
	// A kind the route does not know of goes to channels that hear everything only.
	return a, len(r.Events) == 0 && a.Key != nil && r.keyHeard(*a.Key)
}

// routes reads every channel's route. When they cannot be read every channel hears
// everything: a lost alert is worse than one too many.
func (n *Notifier) routes(ctx context.Context) map[string]Route {
	rows, err := n.db.Routes(ctx)
	if err != nil {
		n.log.Error("notify: cannot read the routes; every channel hears everything", "err", err)
		return nil
	}
	out := make(map[string]Route, len(rows))
	for ch, r := range rows {
		out[ch] = Route{Events: r.Events, Tags: r.Tags}
	}
	return out
}

// Routes returns the route of every channel that has one, by delivery channel name.
func (n *Notifier) Routes(ctx context.Context) map[string]Route { return n.routes(ctx) }

// ParseRouteTags splits the tags typed in a route's field on commas; SetRoute checks them.
func ParseRouteTags(s string) []string { return strings.Split(s, ",") }

// SetRoute sets which alerts ch hears, for p (an admin), and records it.
func (n *Notifier) SetRoute(ctx context.Context, p domain.Principal, ch Channel, r Route) error {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return err
	}
	if _, ok := ParseChannel(string(ch)); !ok {
		id, isURL := ch.URLChannelID()
		if !isURL {
			return domain.ErrNotFound
		}
		if _, err := n.db.ChannelByID(ctx, id); err != nil {
			return err
		}
	}
	fields := map[string]string{}
	// A route's tags follow keys' rule, or one could be typed that no key can ever carry.
	tags, msg := domain.NormalizeTags(r.Tags)
	if msg != "" {
		fields["tags"] = msg
	}
	r.Tags = tags
	var events []string
	for _, k := range RouteKinds() { // in their order, each once
		if slices.Contains(r.Events, k) {
			events = append(events, k)
		}
	}
	for _, k := range r.Events {
		if !slices.Contains(RouteKinds(), k) {
			fields["events"] = fmt.Sprintf("%q is not a kind of alert", truncate(k, 40))
		}
	}
	if len(fields) > 0 {
		return &domain.ValidationError{Fields: fields}
	}
	if err := n.db.PutRoute(ctx, store.Route{Channel: string(ch), Events: events, Tags: r.Tags}); err != nil {
		return err
	}
	detail := "all alerts"
	if len(events) > 0 {
		detail = "kinds: " + strings.Join(events, ", ")
	}
	if len(r.Tags) > 0 {
		detail += "; tags: " + strings.Join(r.Tags, ", ")
	}
	n.opts.Audit.Record(ctx, p, audit.ChannelRoute, audit.ChannelTarget(strings.TrimPrefix(string(ch), urlChannelPrefix)), detail)
	return nil
}
