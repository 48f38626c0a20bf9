package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
)

const (
	impKeyA = "sk_live_WEBIMPORT_alpha_0123"
	impKeyB = "sk_live_WEBIMPORT_bravo_0123"
	impKeyC = "sk_live_WEBIMPORT_charlie_01"
)

// upload posts a CSV file to /import as the form's file input would.
func upload(t *testing.T, c *Client, name, content string) *Page {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("_csrf", c.Token())
	fw, err := w.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte(content))
	w.Close()
	req, err := http.NewRequest(http.MethodPost, c.url("/import"), &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.Do(req)
}

// previewRows returns the preview's rows as "line status".
func previewRows(p *Page) []string {
	var out []string
	for _, n := range p.TestID("import-row").Nodes {
		var line, status string
		for _, a := range n.Attr {
			switch a.Key {
			case "data-line":
				line = a.Val
			case "data-status":
				status = a.Val
			}
		}
		out = append(out, line+" "+status)
	}
	return out
}

func TestImportPreviewReportsBadRowsAndImportsNothing(t *testing.T) {
	e, _ := newRecordsEnv(t, notify.Config{})
	old := e.mustAdd(t, "old", "old@example.com", impKeyC)
	c := e.LoggedIn(t)
	file := "label,email,key\n" +
		"alpha,a@example.com," + impKeyA + "\n" + // line 2: good
		impKeyB + ",b@example.com,not a key\n" + // line 3: bad key, a key in the label column
		"charlie,old@example.com," + impKeyC + "\n" + // line 4: registered already
		"alpha again,A@example.com," + impKeyA + "\n" + // line 5: repeats line 2
		"bravo,not-an-email," + impKeyB + "\n" // line 6: bad email

	p := upload(t, c, "keys.csv", file).Expect(http.StatusOK)
	want := []string{"2 ok", "3 bad", "4 duplicate", "5 duplicate", "6 bad"}
	if got := previewRows(p); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("preview rows %q, want %q", got, want)
	}
	if got := p.Text("import-counts"); got != "5 rows: 1 to import, 2 bad, 2 duplicates" {
		t.Errorf("counts %q", got)
	}
	notes := p.TestID("import-note").Text()
	for _, want := range []string{"API key must not contain spaces", "email must be a plain address", "same email and key as line 2", "already registered"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q: %s", want, notes)
		}
	}
	// A row already registered names the key it repeats, and links to it; before, "key 1".
	reg := p.Find(`[data-testid="import-row"][data-line="4"]`)
	if !strings.Contains(reg.Text(), "already registered as “old”") || reg.Find(`[data-testid="import-key-link"]`).AttrOr("href", "") != fmt.Sprint("/keys/", old.ID) {
		t.Errorf("registered row: %q", strings.Join(strings.Fields(reg.Text()), " "))
	}
	// A bad row shows its label and email where they cannot be a key, so it can be found in
	// the file by more than its line number; a key in the label column stays hidden.
	bad3 := p.Find(`[data-testid="import-row"][data-line="3"]`).Text()
	bad6 := p.Find(`[data-testid="import-row"][data-line="6"]`).Text()
	if !strings.Contains(bad3, "b@example.com") || !strings.Contains(bad6, "bravo") || strings.Contains(bad6, "not-an-email") {
		t.Errorf("bad rows show %q and %q", bad3, bad6)
	}
	// The button says what it does: the good rows go in, the bad ones are left out. Before,
	// "Import 1 key" answered 422 unless a box was ticked.
	if got := strings.Join(strings.Fields(p.Find(`[data-testid="import-confirm"] button`).Text()), " "); got != "Import the 1 good key, leaving out 2 bad rows" {
		t.Errorf("button %q", got)
	}
	done := c.Follow(submitForm(t, c, p, `[data-testid="import-confirm"]`, nil).ExpectRedirect("/"))
	if f := done.Text("flash"); !strings.HasPrefix(f, "Imported 1 key. 2 rows were already registered or repeated") || !strings.Contains(f, "lines 3, 6") {
		t.Errorf("flash %q", f)
	}
	if n, _ := e.DB.KeyCount(context.Background()); n != 2 {
		t.Errorf("%d pairs, want 2", n)
	}
	if es := e.auditEntries(t, "pairs.import"); len(es) != 1 || !strings.HasPrefix(es[0].Detail, "1 added, 2 duplicates skipped, 2 bad rows skipped") {
		t.Errorf("audit %+v", es)
	}
	// The preview is gone once used.
	if p := submitForm(t, c, p, `[data-testid="import-confirm"]`, nil); p.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(p.Text("import-error"), "expired") {
		t.Errorf("a used preview: %d", p.StatusCode)
	}
	e.AssertNeverShown(t, impKeyA, impKeyB, impKeyC)
}

func TestImportPasteAndFileErrors(t *testing.T) {
	e, _ := newRecordsEnv(t, notify.Config{})
	c := e.LoggedIn(t)
	// A file that is not an import at all: the error names the line, and nothing of the CSV
	// comes back (the textarea is empty).
	p := c.Submit("/import", url.Values{"csv": {"name,mail,key\nsecret-person@example.com," + impKeyA + "\n"}}).Expect(http.StatusUnprocessableEntity)
	if !strings.Contains(p.Text("import-error"), "Line 1: the first line must be a header") || !strings.Contains(p.Text("import-error"), "no email column") || p.Find("#csv").Text() != "" {
		t.Errorf("file error page: %.1500s", p.HTML)
	}
	if strings.Contains(p.HTML, "secret-person") {
		t.Error("the page echoes the CSV")
	}
	if p := c.Submit("/import", url.Values{"csv": {"  "}}).Expect(http.StatusUnprocessableEntity); !strings.Contains(p.Text("import-error"), "Choose a CSV file") {
		t.Errorf("empty: %q", p.Text("import-error"))
	}
	// A clean paste imports without the box.
	p = c.Submit("/import", url.Values{"csv": {"label,email,key\nalpha,a@example.com," + impKeyA + "\nbravo,b@example.com," + impKeyB + "\n"}}).Expect(http.StatusOK)
	if p.Find("#skip_bad").Length() != 0 {
		t.Error("the box is offered for a file without bad rows")
	}
	c.Follow(submitForm(t, c, p, `[data-testid="import-confirm"]`, nil).ExpectRedirect("/"))
	if n, _ := e.DB.KeyCount(context.Background()); n != 2 {
		t.Errorf("%d pairs, want 2", n)
	}
	// Another admin cannot confirm someone else's preview.
	p = c.Submit("/import", url.Values{"csv": {"label,email,key\ncharlie,c@example.com," + impKeyC + "\n"}}).Expect(http.StatusOK)
	e.CreateAdmin(t, "other@example.com")
	other := e.NewClient(t)
	other.Login("other@example.com", AdminPassword).ExpectRedirect("/")
	tok := p.Find(`[data-testid="import-confirm"] input[name="token"]`).AttrOr("value", "")
	if r := other.Submit("/import/confirm", url.Values{"token": {tok}}); r.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("another admin confirmed the preview: %d", r.StatusCode)
	}
	e.AssertNeverShown(t, impKeyA, impKeyB, impKeyC)
}

func TestExportCSVHasNoKey(t *testing.T) {
	e, _ := newRecordsEnv(t, notify.Config{})
	e.mustAdd(t, "=HYPERLINK(\"http://evil.example\",\"click\")", "a@example.com", impKeyA)
	e.mustAdd(t, "twin", "b@example.com", impKeyA) // the same key under another email
	e.mustAdd(t, "@SUM(1+1)", "c@example.com", impKeyB)
	c := e.LoggedIn(t)
	p := c.Get("/export.csv").Expect(http.StatusOK)
	if ct := p.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.Contains(p.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("headers %v", p.Header)
	}
	rows, err := csv.NewReader(strings.NewReader(p.HTML)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][1] != "label" || rows[0][3] != "key_hint" {
		t.Fatalf("rows %q", rows)
	}
	if rows[1][1] != "'=HYPERLINK(\"http://evil.example\",\"click\")" || rows[3][1] != "'@SUM(1+1)" {
		t.Errorf("formulas not neutralised: %q, %q", rows[1][1], rows[3][1])
	}
	if rows[1][13] != "yes" || rows[2][13] != "yes" || rows[3][13] != "no" {
		t.Errorf("shared_key column %q %q %q", rows[1][13], rows[2][13], rows[3][13])
	}
	if es := e.auditEntries(t, "pairs.export"); len(es) != 1 || es[0].Detail != "3 pairs" {
		t.Errorf("audit %+v", es)
	}
	if c.Get("/import").Expect(http.StatusOK).TestID("export-link").AttrOr("href", "") != "/export.csv" {
		t.Error("the import page does not link the export")
	}
	e.AssertNeverShown(t, impKeyA, impKeyB)
}

// TestKeyHygieneShown: each pair shows its key's age and when it was last valid, and a key
// registered under two emails is flagged on its page too.
func TestKeyHygieneShown(t *testing.T) {
	e, _ := newRecordsEnv(t, notify.Config{})
	ctx := context.Background()
	a := e.mustAdd(t, "first", "a@example.com", impKeyA)
	e.mustAdd(t, "twin", "b@example.com", impKeyA)
	lone := e.mustAdd(t, "lone", "c@example.com", impKeyB)
	validAt := e.Clock.Now()
	e.Clock.Advance(40 * 24 * time.Hour)
	for _, x := range []struct {
		at      time.Time
		outcome domain.Outcome
		verdict domain.Verdict
	}{{validAt, domain.OutcomeValid, domain.Valid}, {e.Clock.Now(), domain.OutcomeRevoked, domain.Revoked}} {
		rec := store.CheckRecord{Check: domain.Check{KeyID: lone.ID, At: x.at, Outcome: x.outcome, Reason: "r"},
			KeyChangedAt: lone.KeyChangedAt, Verdict: x.verdict, VerdictAt: x.at, VerdictSince: x.at, LastValidAt: validAt,
			NextCheckAt: x.at.Add(time.Hour)}
		if err := e.DB.RecordCheck(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	c := e.LoggedIn(t)
	p := c.Get(fmt.Sprint("/keys/", a.ID)).Expect(http.StatusOK)
	if p.TestID("duplicate-key").Length() != 1 || !strings.HasPrefix(p.Text("key-age"), "40 days old") {
		t.Errorf("pair page: shared %d, age %q", p.TestID("duplicate-key").Length(), p.Text("key-age"))
	}
	p = c.Get(fmt.Sprint("/keys/", lone.ID)).Expect(http.StatusOK)
	if p.TestID("duplicate-key").Length() != 0 {
		t.Error("a key of its own is flagged as shared")
	}
	d := c.Get("/").Expect(http.StatusOK)
	if got := d.TestID("pair-age").First().Text(); got != "40 days old" {
		t.Errorf("dashboard age %q", got)
	}
	if got := strings.Join(strings.Fields(d.Text("pair-last-valid")), " "); got != "last valid 40 d ago" {
		t.Errorf("dashboard last valid %q", got)
	}
}

// TestImportSemicolonsAndNoLabel: a spreadsheet's semicolon CSV, and a header without a label
// column, import. Before, both got a generic "the first line must be the header" error.
func TestImportSemicolonsAndNoLabel(t *testing.T) {
	e, _ := newRecordsEnv(t, notify.Config{})
	c := e.LoggedIn(t)
	for name, file := range map[string]string{
		"semicolons": "label;email;key\nalpha;a@example.com;" + impKeyA + "\n",
		"tabs":       "label\temail\tkey\nalpha\ta@example.com\t" + impKeyA + "\n",
		"no label":   "email,key\na@example.com," + impKeyA + "\n",
	} {
		p := c.Submit("/import", url.Values{"csv": {file}})
		if p.StatusCode != http.StatusOK || strings.Join(previewRows(p), ",") != "2 ok" {
			t.Errorf("%s: status %d, rows %q, error %q", name, p.StatusCode, previewRows(p), p.Text("import-error"))
		}
	}
}
