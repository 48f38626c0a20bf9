package web_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/notify"
)

func TestAuditPageFiltersPagesAndExports(t *testing.T) {
	e, _ := newRecordsEnv(t, notify.Config{})
	ctx := context.Background()
	// 60 entries over three days, for paging and the date range.
	for i := range 60 {
		if i%20 == 0 && i > 0 {
			e.Clock.Advance(24 * time.Hour)
		}
		if err := e.DB.AppendAudit(ctx, e.AuditKey, domain.AuditEntry{
			Actor: "cli", Action: "pair.add", Target: fmt.Sprintf("pair:%d", i+1), Detail: "seeded",
		}); err != nil {
			t.Fatal(err)
		}
	}
	// On the third day, a failed login (recording the email as typed: a formula, for the CSV
	// test) and a login.
	e.CreateAdmin(t, AdminEmail)
	e.NewClient(t).Login("=1+1@example.com", "wrong password").Expect(http.StatusUnauthorized)
	c := e.LoggedIn(t)

	p := c.Get("/audit").Expect(http.StatusOK)
	if p.Text("audit-total") != "62 entries" || p.TestID("audit-row").Length() != 50 || p.Find(`a[rel="next"]`).Length() != 1 {
		t.Fatalf("first page: total %q, %d rows", p.Text("audit-total"), p.TestID("audit-row").Length())
	}
	if n := c.Get("/audit?page=2").TestID("audit-row").Length(); n != 12 {
		t.Errorf("page 2 has %d rows, want 12", n)
	}

	tests := []struct {
		query string
		total string
	}{
		{"action=login.failed", "1 entry"},
		{"action=login", "1 entry"},
		{"action=pair.", "60 entries"},
		{"actor=ADMIN@example", "1 entry"},
		{"target=pair:7", "1 entry"},
		{"from=2025-03-02&to=2025-03-02", "20 entries"},
		{"from=2025-03-03", "22 entries"},
		{"to=2025-03-01&action=pair.add", "20 entries"},
	}
	for _, tt := range tests {
		if got := c.Get("/audit?" + tt.query).Expect(http.StatusOK).Text("audit-total"); got != tt.total {
			t.Errorf("%s: %q, want %q", tt.query, got, tt.total)
		}
	}
	if p := c.Get("/audit?from=March"); !p.Marked("from") {
		t.Error("a bad date is not marked")
	}
	// A key that no longer exists is said to be deleted, not linked to a 404.
	if gone := c.Get("/audit?target=pair:7").TestID("audit-target"); gone.Find("a").Length() != 0 || !strings.Contains(gone.Text(), "(deleted)") {
		t.Errorf("a deleted key's target: %q, %d links", gone.Text(), gone.Find("a").Length())
	}

	// CSV: the same filter, formulas neutralised.
	f := c.Get("/audit?action=login.failed")
	csvURL := f.TestID("audit-csv").AttrOr("href", "")
	if csvURL != "/audit.csv?action=login.failed" {
		t.Errorf("CSV link %q", csvURL)
	}
	r := c.Get(csvURL).Expect(http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(r.HTML)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1][2] != "'=1+1@example.com" || rows[1][3] != "login.failed" {
		t.Errorf("CSV rows %q", rows)
	}
	if es := e.auditEntries(t, "audit.export"); len(es) != 1 || !strings.Contains(es[0].Detail, "1 entries; filter action=login.failed") {
		t.Errorf("audit of the export %+v", es)
	}
	if r := c.Get("/audit.csv?from=March"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("CSV with a bad date: %d", r.StatusCode)
	}

	// Verify: intact, then broken by an edit behind staxkeys' back.
	v := c.Follow(c.Submit("/audit/verify", nil).ExpectRedirect("/audit"))
	if got := v.Text("flash"); got != "The audit trail is intact: 63 entries verified." {
		t.Errorf("flash %q", got)
	}
	w, err := sql.Open("sqlite", e.DB.Path()) // as someone holding the file would
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, s := range []string{"DROP TRIGGER audit_log_no_update", "UPDATE audit_log SET detail = 'edited' WHERE id = 10"} {
		if _, err := w.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	v = c.Follow(c.Submit("/audit/verify", url.Values{}))
	if got := v.Text("flash"); !strings.HasPrefix(got, "The audit trail is broken at entry 10: the entry was changed") {
		t.Errorf("flash %q", got)
	}
}

// TestAuditTargetsNameKeys: an entry about a key shows the key's name, linked to its page.
// Before, it showed "pair:12" alone, and linked to a 404 once the key was deleted.
func TestAuditTargetsNameKeys(t *testing.T) {
	e, _ := newRecordsEnv(t, notify.Config{})
	c := e.LoggedIn(t)
	c.Submit("/keys", url.Values{"label": {"Billing"}, "email": {"billing@acme.com"}, "key": {key1}}).ExpectRedirect("/")
	c.Submit("/keys", url.Values{"label": {"Doomed"}, "email": {"doomed@acme.com"}, "key": {key2}}).ExpectRedirect("/")
	ks, _ := e.DB.AllKeys(context.Background())
	for _, k := range ks {
		if k.Label == "Doomed" {
			c.Submit(fmt.Sprintf("/keys/%d/delete", k.ID), nil).ExpectRedirect("/")
		}
	}
	p := c.Get("/audit?action=pair.add").Expect(http.StatusOK)
	var named, deleted int
	p.TestID("audit-target").Each(func(_ int, s *goquery.Selection) {
		switch a := s.Find("a"); {
		case a.Length() == 1 && strings.TrimSpace(a.Text()) == "Billing" && strings.HasPrefix(a.AttrOr("href", ""), "/keys/"):
			named++
		case a.Length() == 0 && strings.Contains(s.Text(), "(deleted)"):
			deleted++
		}
	})
	if named != 1 || deleted != 1 {
		t.Errorf("%d targets named and linked, %d deleted; want 1 and 1: %q", named, deleted, p.TestID("audit-target").Text())
	}
}
