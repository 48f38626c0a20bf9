package keys_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/keys"
)

const (
	impKey1 = "sk_live_IMPORT_one_0123456789"
	impKey2 = "sk_live_IMPORT_two_0123456789"
	impKey3 = "sk_live_IMPORT_three_012345678"
	impBad  = "short key"
)

// problems returns each bad row as "line: field, field".
func problems(plan *keys.ImportPlan) []string {
	var out []string
	for _, r := range plan.Rows {
		if r.Bad() {
			var fields []string
			for f := range r.Problems {
				fields = append(fields, f)
			}
			slices.Sort(fields)
			out = append(out, fmt.Sprintf("%d: %s", r.Line, strings.Join(fields, ", ")))
		}
	}
	return out
}

func TestImportReportsBadRowsByLineAndImportsNothing(t *testing.T) {
	v, db := MustOpenVault(t)
	ctx := context.Background()
	file := "label,email,key\n" +
		"one,a@example.com," + impKey1 + "\n" + // line 2: good
		"two,not-an-email," + impKey2 + "\n" + // line 3: bad email
		"\"multi\nline label\",b@example.com," + impBad + "\n" + // lines 4–5: bad label and key
		"three,c@example.com\n" + // line 6: a field short
		"four,d@example.com," + impKey3 + "\n" // line 7: good
	plan, err := v.PlanImport(ctx, strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"3: email", "4: key, label", "6: row"}
	if got := problems(plan); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("bad rows %q, want %q", got, want)
	}
	if c := plan.Counts(); c != (keys.ImportCounts{Rows: 5, Good: 2, Bad: 3}) {
		t.Errorf("counts %+v", c)
	}
	for _, r := range plan.Rows {
		for f, msg := range r.Problems {
			for _, k := range []string{impKey1, impKey2, impBad, "short"} {
				if strings.Contains(msg, k) {
					t.Errorf("line %d %s: the message %q quotes the file", r.Line, f, msg)
				}
			}
		}
		if r.Line == 4 && r.KeyHint != "" {
			t.Errorf("a malformed key got a hint %q", r.KeyHint)
		}
	}

	res, err := v.Import(ctx, plan, false)
	if !errors.Is(err, keys.ErrImportHasBadRows) || len(res.Added) != 0 {
		t.Fatalf("Import without skipBad: %v, %d added", err, len(res.Added))
	}
	if n, _ := db.KeyCount(ctx); n != 0 {
		t.Fatalf("%d pairs after refusing a file with bad rows, want 0", n)
	}

	res, err = v.Import(ctx, plan, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Added) != 2 || fmt.Sprint(res.Skipped) != "[3 4 6]" {
		t.Errorf("added %d, skipped %v", len(res.Added), res.Skipped)
	}
	if got := mustKey(t, v, db, res.Added[1].ID); got != impKey3 || res.Added[1].Label != "four" {
		t.Errorf("imported %q with the wrong key", res.Added[1].Label)
	}
}

func TestImportReportsDuplicates(t *testing.T) {
	v, db := MustOpenVault(t)
	ctx := context.Background()
	existing := mustAdd(t, v, "old", "a@example.com", impKey1)
	file := "Email, Key ,LABEL,notes\n" + // any order, any case, extra columns ignored
		"A@Example.com," + impKey1 + ",same as registered,x\n" + // line 2: registered (email case differs)
		"b@example.com," + impKey2 + ",new,\n" + // line 3: good
		"b@example.com," + impKey2 + ",again,\n" + // line 4: repeats line 3
		"c@example.com," + impKey2 + ",shared,\n" + // line 5: good, same key as line 3
		"d@example.com," + impKey1 + ",shared2,\n" // line 6: good, key registered under a@
	plan, err := v.PlanImport(ctx, strings.NewReader("\ufeff"+file))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(plan.Ignored) != "[notes]" {
		t.Errorf("ignored %v", plan.Ignored)
	}
	r := plan.Rows
	if r[0].Registered != existing.ID || r[2].DuplicateOf != 3 || r[3].SharedWithLine != 3 || r[4].SharedWithKey != existing.ID ||
		r[1].Duplicate() || r[3].Duplicate() || r[4].Duplicate() {
		t.Errorf("rows %+v", r)
	}
	if c := plan.Counts(); c != (keys.ImportCounts{Rows: 5, Good: 3, Duplicates: 2}) {
		t.Errorf("counts %+v", c)
	}
	res, err := v.Import(ctx, plan, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Added) != 3 || fmt.Sprint(res.Duplicates) != "[2 4]" {
		t.Errorf("added %d, duplicates %v", len(res.Added), res.Duplicates)
	}
	// The same file again adds nothing: every row is a duplicate now.
	plan, err = v.PlanImport(ctx, strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if c := plan.Counts(); c.Good != 0 || c.Duplicates != 5 {
		t.Errorf("second run counts %+v", c)
	}
	// A plan made before someone else registered the pair still does not double it.
	stale, err := v.PlanImport(ctx, strings.NewReader("label,email,key\nlate,z@example.com,"+impKey3+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, v, "first", "z@example.com", impKey3)
	res, err = v.Import(ctx, stale, false)
	if err != nil || len(res.Added) != 0 || fmt.Sprint(res.Duplicates) != "[2]" {
		t.Errorf("stale plan: %v, added %d, duplicates %v", err, len(res.Added), res.Duplicates)
	}
	if n, _ := db.KeyCount(ctx); n != 5 {
		t.Errorf("%d pairs, want 5", n)
	}
}

func TestImportFileErrors(t *testing.T) {
	tests := []struct {
		name, file string
		line       int
	}{
		{"empty", "", 0},
		{"no header", "one,a@example.com," + impKey1 + "\n", 1},
		{"header lacks key", "label,email\nx,a@example.com\n", 1},
		{"column twice", "label,email,key,key\n", 1},
		{"header only", "label,email,key\n", 0},
		{"bare quote", "label,email,key\nx,a@example.com,ab\"" + impKey1 + "\n", 2},
		{"unclosed quote", "label,email,key\nx,a@example.com,\"" + impKey1 + "\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keys.ParseImport(strings.NewReader(tt.file))
			var fe *keys.ImportFileError
			if !errors.As(err, &fe) || fe.Line != tt.line {
				t.Fatalf("ParseImport: %v, want a file error on line %d", err, tt.line)
			}
			if strings.Contains(err.Error(), impKey1) || strings.Contains(err.Error(), "a@example.com") {
				t.Errorf("the error quotes the file: %v", err)
			}
		})
	}
	var many strings.Builder
	many.WriteString("label,email,key\n")
	for i := range keys.MaxImportRows + 1 {
		fmt.Fprintf(&many, "l,a%d@example.com,%s\n", i, impKey1)
	}
	if _, err := keys.ParseImport(strings.NewReader(many.String())); err == nil {
		t.Error("a file over the row limit was accepted")
	}
}
