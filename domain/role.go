package domain

// Role is what an account or an API token may do. Each role includes the one before it.
type Role string

const (
	// RoleViewer sees keys, verdicts, history and the audit trail; it never reveals, edits or
	// changes settings.
	RoleViewer Role = "viewer"
	// RoleEditor also adds, edits, imports, deletes and checks keys, and reveals them after
	// re-entering a credential.
	RoleEditor Role = "editor"
	// RoleAdmin may do everything, including managing users, tokens and alert settings.
	RoleAdmin Role = "admin"
)

// Roles lists every role, weakest first.
var Roles = []Role{RoleViewer, RoleEditor, RoleAdmin}

// rank orders the roles; an unknown role ranks below every known one and so allows nothing.
func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleEditor:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid says whether r is one of Roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows says whether a holder of r may do what needs role need.
func (r Role) Allows(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }
