package domain

import "time"

// Mute holds back a key's alerts, or those of every key carrying a tag, until a time or until
// someone unmutes it. A muted key is still checked and shown; it alerts nobody.
type Mute struct {
	ID        int64
	KeyID     int64     // the key muted; 0 for a tag's mute
	Tag       string    // the tag muted; "" for a key's mute
	Until     time.Time // zero: until someone unmutes
	Note      string
	CreatedAt time.Time
	CreatedBy string    // the actor, as the audit trail names it
	EndedAt   time.Time // zero while the mute lasts
	EndedBy   string    // who unmuted; "" when the until passed
}

// MaxMuteNote bounds a mute's note, in characters.
const MaxMuteNote = 500

// Active reports whether the mute holds at now: not ended, and its until (if any) not passed.
func (m Mute) Active(now time.Time) bool {
	return m.ID != 0 && m.EndedAt.IsZero() && (m.Until.IsZero() || now.Before(m.Until))
}
