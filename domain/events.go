package domain

import "time"

// This file holds what the checker tells its observers (checker.Observer), so that an
// observer such as notify can take it without importing the checker.

// Suspicion is a burst of keys changing the same way at once, which is more likely a change at
// Stax.ai or on the way to it than many admins acting together. Its members' changes are held
// for a longer confirmation; their alerts are the suspicion's own (one when it begins, one when
// it is resolved), so the members' events carry store.CheckRecord.Wide.
type Suspicion struct {
	From, To Verdict   // the change the members share, e.g. valid → revoked
	Since    time.Time // when the first member's answer changed
	At       time.Time // when this begins or is resolved
	Resolved bool
	// Count counts the members.
	Count int
	// Members are the members: at the start those seen so far, at the resolution all of them.
	// checker.Status leaves them out (it is read by every page and scrape); observers get them.
	Members []Key
	// At the resolution: the members whose change was confirmed (now at To) and those whose
	// answers went back (still at From). Both empty at the start.
	Confirmed, Cleared []Key
	Reason             string // the last member's Stax.ai reason, scrubbed like every Reason
}
