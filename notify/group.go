package notify

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/staxkeys/staxkeys/domain"
)

// groupLimit caps how many deliveries one message carries besides its leader, so one message
// stays of a sane size; any beyond go out in a later message.
const groupLimit = 500

// group returns what to send for d: d itself when nothing is grouped with it, otherwise a copy
// of d whose payload is one alert listing every change, and the ids of the deliveries folded
// in. A queue that cannot be read, or a member whose payload does not parse, is left out of
// the group (it goes out on its own later), never a reason to hold d back.
func (n *Notifier) group(ctx context.Context, d domain.Delivery) (domain.Delivery, []int64) {
	if d.GroupUntil.IsZero() {
		return d, nil
	}
	members, err := n.db.GroupMembers(ctx, d, groupLimit)
	if err != nil {
		if ctx.Err() == nil { // at shutdown the try is called off anyway
			n.log.Error("notify: cannot read the deliveries to group", "delivery_id", d.ID, "err", err)
		}
		return d, nil
	}
	if len(members) == 0 {
		return d, nil
	}
	var lead Alert
	if err := json.Unmarshal(d.Payload, &lead); err != nil {
		return d, nil // send fails it as permanent
	}
	changes := alertChanges(lead)
	var ids []int64
	for _, m := range members {
		var a Alert
		if err := json.Unmarshal(m.Payload, &a); err != nil {
			continue
		}
		changes = append(changes, alertChanges(a)...)
		ids = append(ids, m.ID)
	}
	if len(ids) == 0 {
		return d, nil
	}
	// Oldest change first; the sort is stable, so changes of one instant keep queue order.
	slices.SortStableFunc(changes, func(a, b Change) int { return a.At.Compare(b.At) })
	payload, err := json.Marshal(groupAlert(changes))
	if err != nil {
		return d, nil
	}
	msg := d
	msg.Payload = payload
	return msg, ids
}

// alertChanges returns the changes a verdict.changed alert covers; an alert queued before
// alerts listed their changes names just its own.
func alertChanges(a Alert) []Change {
	if len(a.Changes) > 0 || a.Key == nil {
		return a.Changes
	}
	return []Change{{Key: *a.Key, OldVerdict: a.OldVerdict, NewVerdict: a.NewVerdict, Reason: a.Reason, At: a.At}}
}

// groupAlert is the one alert announcing changes (oldest first): the first change's fields on
// top, for receivers written for single alerts, and every change in Changes.
func groupAlert(changes []Change) Alert {
	first := changes[0]
	p := first.Key
	a := Alert{
		Event: EventVerdictChanged, At: first.At, Key: &p,
		OldVerdict: first.OldVerdict, NewVerdict: first.NewVerdict, Reason: first.Reason,
		Changes: changes,
	}
	a.Message = verdictMessage(a)
	return a
}
