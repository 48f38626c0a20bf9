package domain

import "time"

// ActivityKind is a kind of entry in the activity feed.
type ActivityKind string

const (
	ActivityVerdict   ActivityKind = "verdict"   // a key's confirmed verdict change
	ActivityOutage    ActivityKind = "outage"    // Stax.ai down or failing for every team
	ActivitySuspicion ActivityKind = "suspicion" // many keys changing the same way at once
	ActivityPause     ActivityKind = "pause"     // every check paused for Stax.ai's rate limit
	ActivityAlert     ActivityKind = "alert"     // an alert delivered (or not) to a channel
	ActivityMute      ActivityKind = "mute"      // a key's or a tag's alerts muted, and when that ended
)

// ActivityKinds lists every kind, in the order the feed's filter offers them.
var ActivityKinds = []ActivityKind{ActivityVerdict, ActivityOutage, ActivitySuspicion, ActivityPause, ActivityAlert, ActivityMute}

// Valid says whether k is one of ActivityKinds.
func (k ActivityKind) Valid() bool {
	for _, v := range ActivityKinds {
		if k == v {
			return true
		}
	}
	return false
}

// Activity is one entry of the feed across all keys: what happened, when, and to which key.
type Activity struct {
	Kind ActivityKind
	ID   int64 // the id of the event, incident or delivery, unique within its kind
	At   time.Time
	// Ended is when an incident or a mute ended; zero while it lasts and for other kinds.
	Ended time.Time
	// KeyID, KeyLabel and KeyEmail name the key a verdict change or an alert is about; KeyID
	// is 0 for incidents and for alerts about no single key.
	KeyID    int64
	KeyLabel string
	KeyEmail string
	From, To Verdict // a verdict change's
	Reason   string  // Stax.ai's reason, or the delivery's last error
	Event    string  // an alert's event, e.g. "verdict.changed"
	Channel  string  // an alert's channel
	Status   DeliveryStatus
	Detail   string // an incident's or an alert's summary, a mute's note
	// A mute's: who muted, who unmuted ("" when it ran out or lasts), and until when it was
	// set (zero: until unmuted).
	By, EndedBy string
	Until       time.Time
	// Standing is, for a verdict change of a key expected dead made since it was declared so,
	// what the change meant: StandingStillAccepted or StandingRetired; "" otherwise.
	Standing Standing
	// Tag is the tag a tag's mute muted (KeyID is then 0).
	Tag string
}

// ActivityQuery filters and pages the feed. Zero values mean no filter.
type ActivityQuery struct {
	Kinds        []ActivityKind
	KeyID        int64
	Since, Until time.Time // At in [Since, Until)
	Limit        int
	Offset       int
}
