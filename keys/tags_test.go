package keys_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

func TestNormalizeTags(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		bad  string // a part of the message, "" when good
	}{
		{nil, []string{}, ""},
		{[]string{" Env:Prod ", "billing", "BILLING", "", "  "}, []string{"billing", "env:prod"}, ""},
		{[]string{"team/ops", "a.b_c-d", "0day"}, []string{"0day", "a.b_c-d", "team/ops"}, ""},
		{[]string{strings.Repeat("a", 40)}, []string{strings.Repeat("a", 40)}, ""},
		{[]string{"ok", "on call"}, nil, `tag "on call" may use only`},
		{[]string{"café"}, nil, `tag "café" may use only`},
		{[]string{"-x"}, nil, `tag "-x" must start with a letter or a digit`},
		{[]string{strings.Repeat("a", 41)}, nil, "is too long: at most 40"},
		{[]string{"a\nb"}, nil, "a tag may use only"},
		{[]string{"a\u202eb"}, nil, "a tag may use only"},
	} {
		got, msg := keys.NormalizeTags(tc.in)
		if tc.bad == "" && (msg != "" || !slices.Equal(got, tc.want)) {
			t.Errorf("NormalizeTags(%q) = %q, %q; want %q", tc.in, got, msg, tc.want)
		}
		if tc.bad != "" && !strings.Contains(msg, tc.bad) {
			t.Errorf("NormalizeTags(%q) message %q, want it to hold %q", tc.in, msg, tc.bad)
		}
	}
	many := make([]string, keys.MaxTags+1)
	for i := range many {
		many[i] = "t" + strings.Repeat("x", i)
	}
	if _, msg := keys.NormalizeTags(many); !strings.Contains(msg, "at most 20 tags") {
		t.Errorf("21 tags: %q", msg)
	}
	if _, msg := keys.NormalizeTags(many[:keys.MaxTags]); msg != "" {
		t.Errorf("20 tags: %q", msg)
	}
}

// TestServiceTags: tags are set on add, kept by an edit that leaves them out, replaced and
// cleared by one that gives them, refused by field without a change, and audited.
func TestServiceTags(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	trail := audit.New(db, bytes.Repeat([]byte{7}, 32), nil)
	svc := keys.NewService(v, trail, nil, nil)
	ed := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "ed@acme.com", Role: domain.RoleEditor}, "127.0.0.1")

	k, err := svc.Add(ctx, ed, keys.Input{Email: "ops@acme.com", Key: goodKey, Tags: []string{"Zapier", "billing"}})
	if err != nil || !slices.Equal(k.Tags, []string{"billing", "zapier"}) {
		t.Fatalf("Add = %q, %v", k.Tags, err)
	}
	_, err = svc.Add(ctx, ed, keys.Input{Email: "ops@beta.com", Key: goodKey, Tags: []string{"bad tag"}})
	if fields := fieldsOf(t, err); !slices.Equal(fields, []string{"tags"}) {
		t.Fatalf("Add with a bad tag: %v", err)
	}

	label := "Billing"
	if k, err = svc.Update(ctx, ed, k.ID, keys.Edit{Label: &label}); err != nil || !slices.Equal(k.Tags, []string{"billing", "zapier"}) {
		t.Fatalf("Update without tags = %q, %v; want them kept", k.Tags, err)
	}
	bad := []string{"ok", "x y"}
	if _, err := svc.Update(ctx, ed, k.ID, keys.Edit{Tags: &bad}); !errors.As(err, new(*domain.ValidationError)) {
		t.Fatalf("Update with a bad tag: %v", err)
	}
	if got, _ := svc.Get(ctx, k.ID); !slices.Equal(got.Tags, []string{"billing", "zapier"}) {
		t.Fatalf("a refused update changed the tags: %q", got.Tags)
	}
	tags := []string{"env:prod", "billing"}
	if k, err = svc.Update(ctx, ed, k.ID, keys.Edit{Tags: &tags}); err != nil || !slices.Equal(k.Tags, []string{"billing", "env:prod"}) {
		t.Fatalf("Update tags = %q, %v", k.Tags, err)
	}
	none := []string{}
	if k, err = svc.Update(ctx, ed, k.ID, keys.Edit{Tags: &none}); err != nil || len(k.Tags) != 0 {
		t.Fatalf("Update clearing tags = %q, %v", k.Tags, err)
	}

	entries, _, err := db.ListAudit(ctx, store.AuditQuery{Action: "pair.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		got = append(got, entries[i].Action+" "+entries[i].Detail)
	}
	want := []string{
		"pair.add tags [billing zapier]",
		`pair.edit label "" → "Billing"`,
		"pair.edit tags [billing zapier] → [billing env:prod]",
		"pair.edit tags [billing env:prod] → []",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
