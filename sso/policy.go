package sso

import (
	"fmt"
	"slices"
	"strings"

	"github.com/staxkeys/staxkeys/domain"
)

// Policy says who the provider may sign in and with which role: the email domains allowed,
// and, when a groups claim is named, the groups that map to a role. It is configuration, not
// data, so it is checked at every sign-in: a user moved out of a group loses access at once.
type Policy struct {
	// AllowedDomains are the lower-case email domains let in; empty lets in any domain (then
	// GroupsClaim must be set).
	AllowedDomains []string
	// GroupsClaim names the claim listing the user's groups; "" maps everyone allowed to
	// DefaultRole.
	GroupsClaim string
	// RoleMap maps a group to the role it gives; a user in several gets the strongest.
	RoleMap map[string]domain.Role
	// DefaultRole is the role of an allowed user when GroupsClaim is "".
	DefaultRole domain.Role
}

// ParsePolicy reads a Policy from its settings: domains "example.com, example.org", roleMap
// "staxkeys-admins=admin,staxkeys-viewers=viewer". Errors name the setting.
func ParsePolicy(domains, groupsClaim, roleMap, defaultRole string) (Policy, error) {
	p := Policy{GroupsClaim: strings.TrimSpace(groupsClaim), RoleMap: map[string]domain.Role{}, DefaultRole: domain.Role(strings.TrimSpace(defaultRole))}
	for _, d := range strings.Split(domains, ",") {
		d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
		if d == "" {
			continue
		}
		if strings.ContainsAny(d, "@ /") || !strings.Contains(d, ".") {
			return Policy{}, fmt.Errorf("sso: STAXKEYS_OIDC_ALLOWED_DOMAINS: %q is not a domain such as example.com", d)
		}
		p.AllowedDomains = append(p.AllowedDomains, d)
	}
	for _, pair := range strings.Split(roleMap, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		group, role, ok := strings.Cut(pair, "=")
		group, role = strings.TrimSpace(group), strings.TrimSpace(role)
		if !ok || group == "" {
			return Policy{}, fmt.Errorf("sso: STAXKEYS_OIDC_ROLE_MAP: %q is not group=role", strings.TrimSpace(pair))
		}
		if !domain.Role(role).Valid() {
			return Policy{}, fmt.Errorf("sso: STAXKEYS_OIDC_ROLE_MAP: role %q of group %q is not viewer, editor or admin", role, group)
		}
		p.RoleMap[group] = domain.Role(role)
	}
	switch {
	case p.GroupsClaim != "" && len(p.RoleMap) == 0:
		return Policy{}, fmt.Errorf("sso: STAXKEYS_OIDC_GROUPS_CLAIM needs STAXKEYS_OIDC_ROLE_MAP: no group would let anyone in")
	case p.GroupsClaim == "" && len(p.RoleMap) > 0:
		return Policy{}, fmt.Errorf("sso: STAXKEYS_OIDC_ROLE_MAP needs STAXKEYS_OIDC_GROUPS_CLAIM: the claim to read the groups from")
	case p.GroupsClaim == "" && len(p.AllowedDomains) == 0:
		return Policy{}, fmt.Errorf("sso: set STAXKEYS_OIDC_ALLOWED_DOMAINS or STAXKEYS_OIDC_GROUPS_CLAIM, or everyone the provider knows could sign in")
	case p.GroupsClaim == "" && !p.DefaultRole.Valid():
		return Policy{}, fmt.Errorf("sso: STAXKEYS_OIDC_DEFAULT_ROLE %q is not viewer, editor or admin", p.DefaultRole)
	}
	return p, nil
}

// Refusal is a sign-in the provider vouched for but the policy does not let in. Reason is
// shown to the person and recorded in the audit trail.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "sso: refused: " + r.Reason }

// Decide is the role the policy gives id, with how it came to it for the audit trail, or a
// *Refusal.
func (p Policy) Decide(id Identity) (domain.Role, string, error) {
	if id.Email == "" {
		return "", "", &Refusal{Reason: "the provider gave no email address"}
	}
	if !id.EmailVerified {
		// An unverified address could be anybody's, and accounts are matched by email.
		return "", "", &Refusal{Reason: "the provider has not verified the email address " + id.Email}
	}
	_, dom, _ := strings.Cut(strings.ToLower(id.Email), "@")
	if len(p.AllowedDomains) > 0 && !slices.Contains(p.AllowedDomains, dom) {
		return "", "", &Refusal{Reason: "the email domain " + dom + " is not allowed"}
	}
	if p.GroupsClaim == "" {
		return p.DefaultRole, "default role for domain " + dom, nil
	}
	var best domain.Role
	var via string
	for _, g := range id.Groups {
		if r, ok := p.RoleMap[g]; ok && (best == "" || r.Allows(best) && r != best) {
			best, via = r, g
		}
	}
	if best == "" {
		return "", "", &Refusal{Reason: "none of the groups in claim " + p.GroupsClaim + " is mapped to a role"}
	}
	return best, "group " + via, nil
}
