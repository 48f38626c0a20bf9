package domain

import "time"

// Expect is what an admin expects of a key: that it works (the default), or that it is dead
// because it was deleted at Stax.ai after a leak or a rotation. The checker's verdict does not
// depend on it; what the verdict means for the key, and who hears of it, does (Key.Standing).
type Expect string

// The expectations a key can have. Their values are stored and served as they are.
const (
	ExpectValid   Expect = "valid"   // should work
	ExpectRevoked Expect = "revoked" // should be dead (deleted at Stax.ai)
)

// ParseExpect reads an expectation as a form or the API gives it: "" is ExpectValid, anything
// but "valid" or "revoked" is a field error on "expected".
func ParseExpect(s string) (Expect, error) {
	switch Expect(s) {
	case "", ExpectValid:
		return ExpectValid, nil
	case ExpectRevoked:
		return ExpectRevoked, nil
	}
	return "", Invalid("expected", `expected must be "valid" (should work) or "revoked" (should be dead)`)
}

// Or is e, or ExpectValid when e is unset (a key read before expectations existed).
func (e Expect) Or() Expect {
	if e == ExpectRevoked {
		return ExpectRevoked
	}
	return ExpectValid
}

// Standing is where a key stands once its expectation is weighed against its verdict: what the
// dashboard, the health endpoint, the metrics and the alerts go by.
type Standing string

// The standings. A key expected to work stands as its verdict does; a key expected dead is
// still accepted (the worst problem: a leaked key that works), retired, or awaiting a verdict.
const (
	StandingPending       Standing = "pending"        // should work, no verdict yet
	StandingWorking       Standing = "valid"          // should work and does
	StandingRevoked       Standing = "revoked"        // should work, but Stax.ai says it does not authenticate
	StandingDenied        Standing = "denied"         // should work, but Stax.ai refuses it (403)
	StandingAwaiting      Standing = "awaiting"       // should be dead, no verdict yet
	StandingStillAccepted Standing = "still_accepted" // should be dead, and Stax.ai still accepts it
	// StandingRetired is a key expected dead that Stax.ai refuses: revoked, or denied (a 403 in
	// Stax.ai's shape gets nothing done with the key either; docs/VERDICTS.md says why that is
	// enough). Done, not a problem.
	StandingRetired Standing = "retired"
)

// Standing is where k stands: its verdict weighed against what is expected of it.
func (k Key) Standing() Standing {
	if k.Expected.Or() == ExpectRevoked {
		switch k.Verdict {
		case Valid:
			return StandingStillAccepted
		case Revoked, Denied:
			return StandingRetired
		}
		return StandingAwaiting
	}
	switch k.Verdict {
	case Valid:
		return StandingWorking
	case Revoked:
		return StandingRevoked
	case Denied:
		return StandingDenied
	}
	return StandingPending
}

// Problem reports whether the standing needs someone to act: a key that should work and does
// not, or a key that should be dead and is not.
func (s Standing) Problem() bool {
	return s == StandingRevoked || s == StandingDenied || s == StandingStillAccepted
}

// StillAcceptedSince is when a key expected dead was first known to be still accepted: the
// later of when it was declared dead and when its valid verdict began. Zero unless k stands
// still accepted.
func (k Key) StillAcceptedSince() time.Time {
	if k.Standing() != StandingStillAccepted {
		return time.Time{}
	}
	if k.ExpectedAt.After(k.VerdictSince) {
		return k.ExpectedAt
	}
	return k.VerdictSince
}
