package sso_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/sso"
)

func TestDecide(t *testing.T) {
	groups, err := sso.ParsePolicy("Example.com, @example.org", "groups", "ops=admin, devs=editor, all=viewer", "")
	if err != nil {
		t.Fatal(err)
	}
	domains, err := sso.ParsePolicy("example.com", "", "", "editor")
	if err != nil {
		t.Fatal(err)
	}
	verified := func(email string, groups ...string) sso.Identity {
		return sso.Identity{Email: email, EmailVerified: true, Groups: groups}
	}
	for _, tc := range []struct {
		name    string
		policy  sso.Policy
		id      sso.Identity
		role    domain.Role
		refusal string
	}{
		{"strongest group wins", groups, verified("a@example.com", "all", "ops", "devs"), domain.RoleAdmin, ""},
		{"one group", groups, verified("a@EXAMPLE.org", "devs"), domain.RoleEditor, ""},
		{"no mapped group", groups, verified("a@example.com", "sales"), "", "none of the groups"},
		{"other domain", groups, verified("a@example.net", "ops"), "", "domain example.net is not allowed"},
		{"unverified email", groups, sso.Identity{Email: "a@example.com", Groups: []string{"ops"}}, "", "not verified"},
		{"no email", groups, sso.Identity{EmailVerified: true}, "", "no email"},
		{"default role by domain", domains, verified("b@example.com"), domain.RoleEditor, ""},
		{"a look-alike domain", domains, verified("b@evilexample.com"), "", "not allowed"},
		{"a subdomain", domains, verified("b@x.example.com"), "", "not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			role, _, err := tc.policy.Decide(tc.id)
			var r *sso.Refusal
			switch {
			case tc.refusal == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refusal != "" && (!errors.As(err, &r) || !strings.Contains(r.Reason, tc.refusal)):
				t.Fatalf("err %v, want a refusal saying %q", err, tc.refusal)
			case role != tc.role:
				t.Fatalf("role %q, want %q", role, tc.role)
			}
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, tc := range []struct{ domains, claim, roleMap, def, want string }{
		{"", "", "", "viewer", "or everyone the provider knows"},
		{"example.com", "groups", "", "", "needs STAXKEYS_OIDC_ROLE_MAP"},
		{"example.com", "", "ops=admin", "viewer", "needs STAXKEYS_OIDC_GROUPS_CLAIM"},
		{"example.com", "groups", "ops=root", "", `role "root"`},
		{"example.com", "groups", "ops", "", "not group=role"},
		{"not a domain", "", "", "viewer", "not a domain"},
		{"example.com", "", "", "boss", "DEFAULT_ROLE"},
	} {
		_, err := sso.ParsePolicy(tc.domains, tc.claim, tc.roleMap, tc.def)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePolicy(%q, %q, %q, %q) = %v, want an error saying %q", tc.domains, tc.claim, tc.roleMap, tc.def, err, tc.want)
		}
	}
}
