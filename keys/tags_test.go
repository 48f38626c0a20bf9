package keys_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

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

// TestTagsRoundTripThroughExportAndImport: the export's tags column, fed back to the import
// with the keys beside it, gives the same tags; a bad tag in the file is a problem of its row,
// named by field.
func TestTagsRoundTripThroughExportAndImport(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	svc := keys.NewService(v, audit.New(db, bytes.Repeat([]byte{7}, 32), nil), nil, nil)
	admin := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "ann@acme.com", Role: domain.RoleAdmin}, "127.0.0.1")
	plain := map[string]string{"a@acme.com": impKey1, "b@acme.com": impKey2}
	if _, err := svc.Add(ctx, admin, keys.Input{Label: "one", Email: "a@acme.com", Key: impKey1, Tags: []string{"env:prod", "billing"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Add(ctx, admin, keys.Input{Label: "two", Email: "b@acme.com", Key: impKey2}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := svc.Export(ctx, admin, &out); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var file strings.Builder
	w := csv.NewWriter(&file)
	w.Write([]string{"label", "email", "key", "tags"})
	for _, r := range rows[1:] {
		w.Write([]string{r[col["label"]], r[col["email"]], plain[r[col["email"]]], r[col["tags"]]})
	}
	w.Flush()

	v2, db2 := MustOpenVault(t)
	plan, err := v2.PlanImport(ctx, strings.NewReader(file.String()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Import(ctx, plan, false); err != nil {
		t.Fatal(err)
	}
	all, err := db2.AllKeys(ctx)
	if err != nil || len(all) != 2 || !slices.Equal(all[0].Tags, []string{"billing", "env:prod"}) || len(all[1].Tags) != 0 {
		t.Fatalf("imported %+v, %v", all, err)
	}

	// Other separators, and a bad tag.
	plan, err = keys.ParseImport(strings.NewReader("email,key,tags\n" +
		"c@acme.com," + impKey3 + ",\"zapier, Billing|env:dev\"\n" +
		"d@acme.com," + impKey1 + ",bad!tag\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Rows[0].In.Tags; !slices.Equal(got, []string{"billing", "env:dev", "zapier"}) {
		t.Errorf("tags %q", got)
	}
	if msg := plan.Rows[1].Problems["tags"]; !strings.Contains(msg, `"bad!tag"`) {
		t.Errorf("bad tag problem %q", msg)
	}
}
