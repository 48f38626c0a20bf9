package export_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/export"
)

func TestCellNeutralisesFormulas(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"http://evil\")": "'=HYPERLINK(\"http://evil\")",
		"+1+2":                        "'+1+2",
		"-2+3":                        "'-2+3",
		"@SUM(A1)":                    "'@SUM(A1)",
		"\tx":                         "'\tx",
		"\rx":                         "'\rx",
		"billing":                     "billing",
		"a=b":                         "a=b",
		"":                            "",
	} {
		if got := export.Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteKeys(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	pairs := []domain.Key{
		{ID: 1, Label: "=cmd|' /C calc'!A0", Email: "a@example.com", KeyHint: "wxyz", Verdict: domain.Revoked,
			CreatedAt: now.Add(-40 * 24 * time.Hour), KeyChangedAt: now.Add(-30 * 24 * time.Hour),
			VerdictSince: now.Add(-time.Hour), LastValidAt: now.Add(-2 * time.Hour),
			LastCheck: &domain.Check{At: now.Add(-time.Minute), Outcome: domain.OutcomeRevoked}, Tags: []string{"billing", "env:prod"}},
		{ID: 2, Label: "plain", Email: "b@example.com", Verdict: domain.Pending, CreatedAt: now, KeyChangedAt: now,
			Expected: domain.ExpectRevoked},
	}
	var b bytes.Buffer
	if err := export.WriteKeys(&b, pairs, map[int64]bool{1: true}, now); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || strings.Join(rows[0], ",") != strings.Join(export.KeyColumns, ",") {
		t.Fatalf("rows %q", rows)
	}
	want := []string{"1", "'=cmd|' /C calc'!A0", "a@example.com", "wxyz", "revoked", "2026-03-02T08:00:00Z", "",
		"2026-03-02T08:59:00Z", "revoked", "2026-03-02T07:00:00Z", "2026-01-21T09:00:00Z", "2026-01-31T09:00:00Z", "30", "yes", "billing env:prod", "valid"}
	if strings.Join(rows[1], "|") != strings.Join(want, "|") {
		t.Errorf("row 1\n got %q\nwant %q", rows[1], want)
	}
	if rows[2][4] != "pending" || rows[2][12] != "0" || rows[2][13] != "no" || rows[2][7] != "" || rows[2][14] != "" || rows[2][15] != "revoked" {
		t.Errorf("row 2 %q", rows[2])
	}
}

func TestWriteAudit(t *testing.T) {
	var b bytes.Buffer
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	err := export.WriteAudit(&b, []domain.AuditEntry{{ID: 4, At: at, Actor: "@evil", Action: "login.failed", IP: "127.0.0.1", Detail: "-1+1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "id,at,actor,action,target,ip,detail\n4,2026-03-02T09:00:00Z,'@evil,login.failed,,127.0.0.1,'-1+1\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestWriteActivity(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	err := export.WriteActivity(&b, []domain.Activity{
		{Kind: domain.ActivityVerdict, At: at, KeyID: 7, KeyLabel: "=cmd()", KeyEmail: "ops@acme.com", From: domain.Valid, To: domain.Revoked},
		{Kind: domain.ActivityOutage, At: at, Ended: at.Add(time.Hour), Reason: "HTTP 503"},
		{Kind: domain.ActivityMute, At: at, Tag: "billing", By: "ann@acme.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(export.ActivityColumns, ",") {
		t.Fatalf("rows %q, %v", rows, err)
	}
	if got := strings.Join(rows[1][:8], ","); got != "2026-12-01T09:00:00Z,verdict,,7,'=cmd(),ops@acme.com,valid,revoked" {
		t.Errorf("verdict row %q", got)
	}
	if rows[2][2] != "2026-12-01T10:00:00Z" || rows[2][3] != "" || rows[2][11] != "HTTP 503" {
		t.Errorf("outage row %q", rows[2])
	}
	if rows[3][1] != "mute" || rows[3][3] != "" || rows[3][16] != "billing" {
		t.Errorf("tag mute row %q", rows[3])
	}
}

// TestWriteKeysJSON: the JSON export has the CSV's columns as members, unknown dates null, and
// the label as given (JSON is not run by spreadsheets, so no formula guard).
func TestWriteKeysJSON(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	pairs := []domain.Key{
		{ID: 1, Label: "=sum", Email: "a@example.com", KeyHint: "wxyz", Verdict: domain.Revoked,
			CreatedAt: now.Add(-40 * 24 * time.Hour), KeyChangedAt: now.Add(-30 * 24 * time.Hour),
			LastCheck: &domain.Check{At: now.Add(-time.Minute), Outcome: domain.OutcomeRevoked},
			Tags:      []string{"billing", "env:prod"}, Expected: domain.ExpectRevoked},
	}
	var b bytes.Buffer
	if err := export.WriteKeysJSON(&b, pairs, map[int64]bool{1: true}, now); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(b.Bytes(), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("%v: %s", err, b.String())
	}
	r := rows[0]
	for _, col := range export.KeyColumns {
		if _, ok := r[col]; !ok && col != "last_outcome" {
			t.Errorf("no member %q", col)
		}
	}
	if r["label"] != "=sum" || r["verdict_since"] != nil || r["last_check_at"] != "2026-03-02T08:59:00Z" ||
		r["key_age_days"] != float64(30) || r["shared_key"] != true || r["last_outcome"] != "revoked" ||
		fmt.Sprint(r["tags"]) != "[billing env:prod]" || r["expected"] != "revoked" {
		t.Errorf("row %v", r)
	}
}
