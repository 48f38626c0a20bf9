package domain

import (
	"slices"
	"time"
)

// Verdict is the confirmed state of a registered key.
type Verdict string

// The verdicts a key can hold. Pending means no check has decided yet.
const (
	Pending Verdict = "pending"
	Valid   Verdict = "valid"
	Revoked Verdict = "revoked"
	Denied  Verdict = "denied"
)

// Outcome is what one check found. Its values are stored and served as they are, so they must
// never change.
type Outcome string

// The outcomes of one check.
const (
	// OutcomeValid means Stax.ai answered a 2xx JSON object in its shape, without an auth error
	// and without success false.
	OutcomeValid Outcome = "valid"
	// OutcomeRevoked means Stax.ai said the key does not authenticate: a 401 with a JSON object
	// in Stax.ai's shape, or authError true at a 2xx. Only the API saying so may revoke a key; a
	// proxy's 401 page does not.
	OutcomeRevoked Outcome = "revoked"
	// OutcomeDenied means HTTP 403 with a JSON object in Stax.ai's shape: the key is known but
	// not allowed, for example after the admin was demoted or the team fell back to trial. A
	// WAF's or gateway's 403 is not OutcomeDenied.
	OutcomeDenied Outcome = "denied"
	// OutcomeUndecided is a check that decided nothing, so the key's state must not move. It is
	// stored and served as "error", which is what an admin reads in the history.
	OutcomeUndecided Outcome = "error"
)

// Verdict is the verdict an outcome stands for, and false for OutcomeUndecided.
func (o Outcome) Verdict() (Verdict, bool) {
	switch o {
	case OutcomeValid:
		return Valid, true
	case OutcomeRevoked:
		return Revoked, true
	case OutcomeDenied:
		return Denied, true
	}
	return "", false
}

// Key is a registered API key: a label, the team admin email it is sent with, the key itself
// (only ever here sealed) and what the checker knows of it.
type Key struct {
	ID             int64
	Label          string
	Email          string
	KeySealed      []byte
	KeyHint        string
	KeyFingerprint []byte
	CreatedAt      time.Time
	UpdatedAt      time.Time
	KeyChangedAt   time.Time
	// KeyReplacedAt is when the key was last replaced (zero if never): its history starts there.
	KeyReplacedAt time.Time
	// Tags group and filter keys ("billing", "env:prod"): lower-case, without repeats, sorted.
	// Nil where a read does not load them (the checker's).
	Tags []string

	Verdict      Verdict
	VerdictAt    time.Time // when the verdict was last confirmed by a check
	VerdictSince time.Time // when the current verdict began
	LastValidAt  time.Time

	LastCheck *Check // nil until the first check

	NextCheckAt    time.Time
	Failures       int     // undecided checks in a row
	Candidate      Verdict // a new verdict seen but not yet confirmed
	CandidateCount int

	Flaps        int       // unconfirmed changes contradicted since the key last held steady
	Steady       int       // agreeing answers in a row with no change pending
	FailingSince time.Time // first undecided check since the last decided one; zero while checks decide
}

// FlapThreshold is how many contradicted changes make a key flapping.
const FlapThreshold = 3

// Flapping reports whether the key's answers keep disagreeing: changes seen and then
// contradicted, FlapThreshold times or more since it last held steady. Such a key keeps its last
// confirmed verdict.
func (k Key) Flapping() bool { return k.Flaps >= FlapThreshold }

// Check is one call to the Stax.ai API for a key and what it found.
type Check struct {
	ID         int64
	KeyID      int64
	At         time.Time
	Outcome    Outcome
	HTTPStatus int
	Latency    time.Duration
	Reason     string
}

// Event is a confirmed change of a key's verdict.
type Event struct {
	ID     int64
	KeyID  int64
	At     time.Time
	Old    Verdict
	New    Verdict
	Reason string
}

// KeyQuery selects and orders a page of keys.
type KeyQuery struct {
	// Status is a verdict, "undecided" (last check decided nothing), or "" for all.
	Status string
	// Search matches label or email, case-insensitively, anywhere.
	Search string
	// Tag keeps the keys holding this tag alone ("" for all).
	Tag string
	// Sort is "status", "label", "email", "checked" or "added"; a leading "-" reverses it.
	Sort   string
	Limit  int
	Offset int
}

// KeyPage is one page of keys and how many match in all.
type KeyPage struct {
	Keys  []Key
	Total int
}

// StatusCounts is how many keys hold each verdict, and how many had an undecided last check.
type StatusCounts struct {
	Pending, Valid, Revoked, Denied int
	Undecided                       int
	Total                           int
}

// TagCount is a tag and how many keys hold it.
type TagCount struct {
	Tag  string
	Keys int
}

// HasTag reports whether the key holds tag.
func (k Key) HasTag(tag string) bool { return slices.Contains(k.Tags, tag) }
