package domain

import "time"

// AuditEntry is one recorded admin action, as the audit trail stores it.
type AuditEntry struct {
	ID     int64
	At     time.Time
	Actor  string // an admin's email, "token:<id>", "cli" or, for a failed login, the email tried
	Action string // e.g. "login", "pair.add", "pair.reveal"
	Target string // e.g. "pair:12"
	IP     string
	Detail string
	MAC    []byte
}
