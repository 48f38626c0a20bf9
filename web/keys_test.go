package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

// Keys used in these tests; none may ever appear in a page or the log.
const (
	key1 = "sk_live_FLOWKEY_one_0123456789"
	key2 = "sk_live_FLOWKEY_two_ABCDEFGHIJ"
	key3 = "sk_live_FLOWKEY_three_zyxwvuts"
)

func (e *Env) mustAdd(t *testing.T, label, email, key string) domain.Key {
	t.Helper()
	p, err := e.Vault.Add(context.Background(), keys.Input{Label: label, Email: email, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *Env) storedKey(t *testing.T, id int64) string {
	t.Helper()
	p, err := e.DB.KeyByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.Vault.Key(p)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rows returns the dashboard's rows as "label|email|masked key|status".
func rows(p *Page) []string {
	var out []string
	p.TestID("pair-row").Each(func(_ int, s *goquery.Selection) {
		cell := func(id string) string {
			return strings.TrimSpace(s.Find(`[data-testid="` + id + `"]`).Text())
		}
		out = append(out, strings.Join([]string{cell("pair-label"), cell("pair-email"), cell("pair-key"), cell("pair-status")}, "|"))
	})
	return out
}

// submitForm posts the form matched by sel on page p as a browser without JavaScript would:
// its action, its hidden fields, plus extra.
func submitForm(t *testing.T, c *Client, p *Page, sel string, extra url.Values) *Page {
	t.Helper()
	form := p.Find(sel)
	if form.Length() != 1 {
		t.Fatalf("%d forms %s", form.Length(), sel)
	}
	if m := form.AttrOr("method", ""); !strings.EqualFold(m, "post") {
		t.Fatalf("form method %q", m)
	}
	v := url.Values{}
	form.Find(`input[type="hidden"]`).Each(func(_ int, in *goquery.Selection) {
		v.Add(in.AttrOr("name", ""), in.AttrOr("value", ""))
	})
	for k, vs := range extra {
		v[k] = vs
	}
	return c.PostForm(form.AttrOr("action", ""), v, nil)
}

func TestKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newTestServer(t)
	c := e.LoggedIn(t)

	// Add.
	form := c.Get("/keys/new").Expect(http.StatusOK)
	if form.TestID("pair-form").Length() != 1 || form.Find("#key").AttrOr("type", "") != "password" {
		t.Fatal("no add form with a password-type key field")
	}
	p := c.Follow(c.Submit("/keys", url.Values{"label": {"Billing"}, "email": {"billing@acme.com"}, "key": {key1}}).ExpectRedirect("/"))
	if got := p.Text("flash"); !strings.Contains(got, "Key added") {
		t.Errorf("flash = %q", got)
	}
	if got, want := rows(p), []string{"Billing|billing@acme.com|••••6789|Not checked yet"}; !slices.Equal(got, want) {
		t.Fatalf("rows = %q, want %q", got, want)
	}
	if got := p.TestID("count-pending").Find(".count").Text(); got != "1" {
		t.Errorf("pending count = %q", got)
	}
	page, err := e.DB.ListKeys(ctx, domain.KeyQuery{})
	if err != nil || len(page.Keys) != 1 {
		t.Fatalf("stored pairs: %+v, %v", page, err)
	}
	id := page.Keys[0].ID
	path := fmt.Sprint("/keys/", id)
	if e.storedKey(t, id) != key1 {
		t.Fatal("the stored key does not open to the typed one")
	}

	// Detail.
	if href := p.TestID("pair-label").AttrOr("href", ""); href != path {
		t.Errorf("row links to %q, want %q", href, path)
	}
	d := c.Get(path).Expect(http.StatusOK)
	if d.TestID("pair-detail").Length() != 1 || strings.TrimSpace(d.Find("h1").Text()) != "Billing" ||
		d.Text("detail-email") != "billing@acme.com" || d.Text("pair-status") != "Not checked yet" {
		t.Fatalf("detail page: %.600s", d.HTML)
	}

	// Edit without a key keeps the key.
	ed := c.Get(path + "/edit").Expect(http.StatusOK)
	if ed.Value("label") != "Billing" || ed.Value("email") != "billing@acme.com" || ed.Value("key") != "" {
		t.Fatalf("edit form: label %q email %q key %q", ed.Value("label"), ed.Value("email"), ed.Value("key"))
	}
	d = c.Follow(c.Submit(path, url.Values{"label": {"Billing EU"}, "email": {"billing-eu@acme.com"}, "key": {""}}).ExpectRedirect(path))
	if got := d.Text("flash"); got != "Changes saved." {
		t.Errorf("flash = %q", got)
	}
	if strings.TrimSpace(d.Find("h1").Text()) != "Billing EU" || d.Text("detail-email") != "billing-eu@acme.com" {
		t.Fatal("the edit did not show")
	}
	if e.storedKey(t, id) != key1 {
		t.Fatal("an edit without a key changed the key")
	}

	// A checked pair goes back to "Not checked yet" when its key is replaced.
	stored, _ := e.DB.KeyByID(ctx, id)
	if err := e.DB.RecordCheck(ctx, store.CheckRecord{
		Check:        domain.Check{KeyID: id, At: e.Clock.Now(), Outcome: domain.OutcomeValid, HTTPStatus: 200, Reason: "ok"},
		KeyChangedAt: stored.KeyChangedAt, Verdict: domain.Valid, VerdictAt: e.Clock.Now(), VerdictSince: e.Clock.Now(),
		LastValidAt: e.Clock.Now(), NextCheckAt: e.Clock.Now().Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if got := c.Get(path).Expect(http.StatusOK).Text("pair-status"); got != "Valid" {
		t.Fatalf("status after a valid check = %q", got)
	}
	d = c.Follow(c.Submit(path, url.Values{"label": {"Billing EU"}, "email": {"billing-eu@acme.com"}, "key": {key2}}).ExpectRedirect(path))
	if got := d.Text("pair-status"); got != "Not checked yet" {
		t.Fatalf("status after a new key = %q", got)
	}
	if got := d.Find(".key-hint").First().Text(); got != "••••GHIJ" {
		t.Errorf("key hint = %q", got)
	}
	if e.storedKey(t, id) != key2 {
		t.Fatal("the new key was not stored")
	}

	// A second pair; the list shows both.
	c.Submit("/keys", url.Values{"label": {""}, "email": {"ops@acme.com"}, "key": {key3}}).ExpectRedirect("/")
	if got := rows(c.Get("/?sort=added").Expect(http.StatusOK)); len(got) != 2 || got[1] != "(no label)|ops@acme.com|••••vuts|Not checked yet" {
		t.Fatalf("rows = %q", got)
	}

	// Delete, through the confirmation page and its plain form.
	del := c.Get(path + "/delete").Expect(http.StatusOK)
	if del.Find(`[data-testid="delete-form"] button[type="submit"]`).Length() != 1 {
		t.Fatal("the confirmation page has no submit button")
	}
	p = c.Follow(submitForm(t, c, del, `[data-testid="delete-form"]`, nil).ExpectRedirect("/"))
	if got := p.Text("flash"); !strings.Contains(got, "Key deleted") {
		t.Errorf("flash = %q", got)
	}
	if got := rows(p); !slices.Equal(got, []string{"(no label)|ops@acme.com|••••vuts|Not checked yet"}) {
		t.Fatalf("rows after delete = %q", got)
	}
	c.Get(path).ExpectErrorPage(http.StatusNotFound)

	t.Run("no key ever shown or logged", func(t *testing.T) {
		e.AssertNeverShown(t, key1, key2, key3, AdminPassword)
		for _, line := range []string{`msg="key added"`, `msg="key updated"`, `msg="key deleted"`} {
			if !strings.Contains(e.Log.String(), line) {
				t.Errorf("the log lacks %s", line)
			}
		}
	})
}

func TestKeyFormValidation(t *testing.T) {
	ctx := context.Background()
	e := newTestServer(t)
	c := e.LoggedIn(t)
	existing := e.mustAdd(t, "Existing", "existing@acme.com", key1)
	editPath := fmt.Sprint("/keys/", existing.ID)

	cases := []struct {
		name              string
		label, email, key string
		marked            []string
		addOnly           bool
	}{
		{"email missing", "L", "", "sk_live_VALIDKEY_0001", []string{"email"}, false},
		{"email malformed", "L", "not an email", "sk_live_VALIDKEY_0002", []string{"email"}, false},
		{"email look-alike letter", "L", "b\u0456lling@acme.com", "sk_live_VALIDKEY_0003", []string{"email"}, false},
		{"email header injection", "L", "a@acme.com\r\nBcc: x@evil.com", "sk_live_VALIDKEY_0004", []string{"email"}, false},
		{"key missing", "L", "a@acme.com", "", []string{"key"}, true},
		{"key too short", "L", "a@acme.com", "SHORTKEY_9876", []string{"key"}, false},
		{"key with a space", "L", "a@acme.com", "sk_live_SPACED KEY_0123456", []string{"key"}, false},
		{"key too long", "L", "a@acme.com", "sk_live_" + strings.Repeat("LONG", 63), []string{"key"}, false},
		{"key not ASCII", "L", "a@acme.com", "sk_live_КЛЮЧ_0123456789", []string{"key"}, false},
		{"label too long", strings.Repeat("é", 101), "a@acme.com", "sk_live_VALIDKEY_0005", []string{"label"}, false},
		{"label control character", "Bill\ting", "a@acme.com", "sk_live_VALIDKEY_0006", []string{"label"}, false},
		{"every field", strings.Repeat("x", 101), "@", "SHORT_KEY_42", []string{"email", "key", "label"}, false},
	}
	var typedKeys []string
	for _, mode := range []string{"add", "edit"} {
		for _, tc := range cases {
			if mode == "edit" && tc.addOnly {
				continue
			}
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				c := c.For(t)
				path := "/keys"
				if mode == "edit" {
					path = editPath
				}
				before, _ := e.DB.ListKeys(ctx, domain.KeyQuery{Sort: "added"})
				p := c.Submit(path, url.Values{"label": {tc.label}, "email": {tc.email}, "key": {tc.key}}).
					Expect(http.StatusUnprocessableEntity)
				if p.TestID("pair-form").Length() != 1 || p.TestID("form-errors").Length() != 1 {
					t.Fatal("the form was not shown again with an error summary")
				}
				for _, f := range []string{"label", "email", "key"} {
					if want := slices.Contains(tc.marked, f); p.Marked(f) != want {
						t.Errorf("field %s marked = %v, want %v", f, !want, want)
					}
				}
				// The HTML parser folds CR LF into LF, as a browser would.
				if got, want := p.Value("label"), tc.label; got != want {
					t.Errorf("label kept as %q, want %q", got, want)
				}
				if got, want := p.Value("email"), strings.ReplaceAll(tc.email, "\r\n", "\n"); got != want {
					t.Errorf("email kept as %q, want %q", got, want)
				}
				if got := p.Value("key"); got != "" {
					t.Errorf("key echoed in the field: %q", got)
				}
				if tc.key != "" && strings.Contains(p.HTML, tc.key) {
					t.Error("the key appears in the page")
				}
				if mode == "edit" && p.Find(`form[data-testid="pair-form"]`).AttrOr("action", "") != editPath {
					t.Error("the edit form no longer posts to the pair")
				}
				after, _ := e.DB.ListKeys(ctx, domain.KeyQuery{Sort: "added"})
				if fmt.Sprint(after) != fmt.Sprint(before) {
					t.Error("a refused form changed the stored pairs")
				}
				if tc.key != "" {
					typedKeys = append(typedKeys, tc.key)
				}
			})
		}
	}
	if e.storedKey(t, existing.ID) != key1 {
		t.Fatal("the existing key changed")
	}
	t.Run("no typed key in any page or the log", func(t *testing.T) {
		e.AssertNeverShown(t, append(typedKeys, key1)...)
	})
}

func TestKeyDuplicate(t *testing.T) {
	ctx := context.Background()
	e := newTestServer(t)
	c := e.LoggedIn(t)
	e.mustAdd(t, "First", "billing@acme.com", key1)
	other := e.mustAdd(t, "Other", "ops@acme.com", key1)

	check := func(t *testing.T, p *Page, label, email string) {
		t.Helper()
		p.Expect(http.StatusConflict)
		if !p.Marked("key") || p.Marked("email") || p.Marked("label") {
			t.Error("the key field is not the one marked")
		}
		if p.Value("label") != label || p.Value("email") != email || p.Value("key") != "" {
			t.Errorf("form kept label %q email %q key %q", p.Value("label"), p.Value("email"), p.Value("key"))
		}
		if strings.Contains(p.HTML, key1) {
			t.Error("the key appears in the page")
		}
	}
	t.Run("add", func(t *testing.T) {
		c := c.For(t)
		check(t, c.Submit("/keys", url.Values{"label": {"Again"}, "email": {"BILLING@acme.com"}, "key": {key1}}), "Again", "BILLING@acme.com")
		if n, _ := e.DB.CountKeys(ctx); n.Total != 2 {
			t.Fatalf("%d pairs", n.Total)
		}
	})
	t.Run("edit email onto another pair", func(t *testing.T) {
		c := c.For(t)
		path := fmt.Sprint("/keys/", other.ID)
		check(t, c.Submit(path, url.Values{"label": {"Other"}, "email": {"Billing@Acme.com"}, "key": {""}}), "Other", "Billing@Acme.com")
		if p, _ := e.DB.KeyByID(ctx, other.ID); p.Email != "ops@acme.com" {
			t.Fatalf("email changed to %q", p.Email)
		}
	})
	t.Run("same key under another email is flagged in the list", func(t *testing.T) {
		c := c.For(t)
		if n := c.Get("/").Expect(http.StatusOK).TestID("duplicate-key").Length(); n != 2 {
			t.Fatalf("%d rows flagged, want 2", n)
		}
	})
	e.AssertNeverShown(t, key1)
}

func TestUnknownKey(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	for _, path := range []string{"/keys/999", "/keys/abc", "/keys/0", "/keys/-1", "/keys/1e3", "/keys/99999999999999999999",
		"/keys/999/edit", "/keys/abc/edit", "/keys/999/delete", "/nope", "/keys/999/nope"} {
		t.Run("GET "+path, func(t *testing.T) {
			c := c.For(t)
			p := c.Get(path).ExpectErrorPage(http.StatusNotFound)
			if !strings.Contains(p.TestID("error-page").Text(), "There is nothing here.") {
				t.Errorf("message: %s", p.TestID("error-page").Text())
			}
			if p.Find(`a[href="/"]`).Length() == 0 {
				t.Error("no way back to the keys")
			}
		})
	}
	for _, path := range []string{"/keys/999", "/keys/abc", "/keys/999/delete"} {
		t.Run("POST "+path, func(t *testing.T) {
			c := c.For(t)
			c.Submit(path, url.Values{"email": {"a@acme.com"}, "key": {key1}}).ExpectErrorPage(http.StatusNotFound)
		})
	}
	if n, _ := e.DB.CountKeys(context.Background()); n.Total != 0 {
		t.Fatal("a pair appeared")
	}
}

func TestKeyListFilters(t *testing.T) {
	ctx := context.Background()
	e := newTestServer(t)
	c := e.LoggedIn(t)
	a := e.mustAdd(t, "Alpha", "alpha@acme.com", key1)
	e.Clock.Advance(time.Second)
	e.mustAdd(t, "Beta", "beta@other.org", key2)
	e.Clock.Advance(time.Second)
	e.mustAdd(t, "Gamma_1", "gamma@acme.com", key3)
	if err := e.DB.RecordCheck(ctx, store.CheckRecord{
		Check:        domain.Check{KeyID: a.ID, At: e.Clock.Now(), Outcome: domain.OutcomeRevoked, HTTPStatus: 401},
		KeyChangedAt: a.KeyChangedAt, Verdict: domain.Revoked, VerdictAt: e.Clock.Now(), VerdictSince: e.Clock.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	labels := func(p *Page) []string {
		var out []string
		p.TestID("pair-label").Each(func(_ int, s *goquery.Selection) { out = append(out, strings.TrimSpace(s.Text())) })
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"Alpha", "Beta", "Gamma_1"}},
		{"?q=ACME&sort=label", []string{"Alpha", "Gamma_1"}},
		{"?q=_", []string{"Gamma_1"}},
		{"?q=%25", nil},
		{"?status=revoked", []string{"Alpha"}},
		{"?status=pending&sort=-label", []string{"Gamma_1", "Beta"}},
		{"?sort=-added", []string{"Gamma_1", "Beta", "Alpha"}},
		{"?sort=-checked", []string{"Alpha", "Gamma_1", "Beta"}},
		{"?sort=checked", []string{"Beta", "Gamma_1", "Alpha"}},
		// A hand-edited URL shows everything instead of failing.
		{"?sort=bogus&status=bogus", []string{"Alpha", "Beta", "Gamma_1"}},
		{"?page=2", nil},
		{"?page=-3", []string{"Alpha", "Beta", "Gamma_1"}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			c := c.For(t)
			p := c.Get("/" + tc.query).Expect(http.StatusOK)
			if got := labels(p); !slices.Equal(got, tc.want) {
				t.Fatalf("labels = %q, want %q", got, tc.want)
			}
			if tc.want == nil && p.TestID("no-match").Length() != 1 {
				t.Error("no 'no match' message")
			}
		})
	}
}

// TestStoreFailure closes the database under the running server: the admin sees a friendly 500
// page with a request id, and the log holds the same id with the cause.
func TestStoreFailure(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	e.mustAdd(t, "Billing", "billing@acme.com", key1)
	c.Get("/").Expect(http.StatusOK)
	if err := e.DB.Close(); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{"/", "/keys/1"} {
		t.Run(path, func(t *testing.T) {
			c := c.For(t)
			p := c.Get(path).ExpectErrorPage(http.StatusInternalServerError)
			reqID := p.Header.Get("X-Request-Id")
			if reqID == "" {
				t.Fatal("no X-Request-Id header")
			}
			if got := strings.TrimSpace(p.TestID("error-page").Find("code").Text()); got != reqID {
				t.Errorf("page shows request id %q, header says %q", got, reqID)
			}
			for _, internal := range []string{"sql:", "database is closed", "store:", key1} {
				if strings.Contains(p.HTML, internal) {
					t.Errorf("the page shows %q", internal)
				}
			}
			checkHeaders(t, p, false)
			var logged bool
			for _, line := range strings.Split(e.Log.String(), "\n") {
				if strings.Contains(line, `msg="request failed"`) && strings.Contains(line, "request_id="+reqID) {
					logged = strings.Contains(line, "level=ERROR") && strings.Contains(line, "database is closed")
				}
			}
			if !logged {
				t.Errorf("no ERROR log line with request_id=%s and the cause in:\n%s", reqID, e.Log.String())
			}
		})
	}
	e.AssertNeverShown(t, key1)
}

// TestReplacedKeyStartsOver: a new key is a new key. Before, it kept the old key's last check,
// last valid time and history, so a key never checked read "No check has given a clear answer
// yet (Stax.ai accepted the key)" and "Last valid 2 min ago".
func TestReplacedKeyStartsOver(t *testing.T) {
	ctx := context.Background()
	e := newTestServer(t)
	c := e.LoggedIn(t)
	p := e.mustAdd(t, "Billing", "billing@acme.com", key1)
	path := fmt.Sprint("/keys/", p.ID)
	record := func(outcome domain.Outcome, verdict domain.Verdict, failures int) {
		t.Helper()
		stored, _ := e.DB.KeyByID(ctx, p.ID)
		now := e.Clock.Now()
		rec := store.CheckRecord{
			Check:        domain.Check{KeyID: p.ID, At: now, Outcome: outcome, HTTPStatus: 200, Latency: 40 * time.Millisecond, Reason: "Stax.ai accepted the key"},
			KeyChangedAt: stored.KeyChangedAt, Verdict: verdict, NextCheckAt: now.Add(time.Hour), Failures: failures,
			VerdictAt: stored.VerdictAt, VerdictSince: stored.VerdictSince, LastValidAt: stored.LastValidAt,
		}
		if outcome == domain.OutcomeValid {
			rec.VerdictAt, rec.VerdictSince, rec.LastValidAt = now, now, now
			if stored.Verdict != domain.Valid {
				rec.Event = &domain.Event{KeyID: p.ID, At: now, Old: stored.Verdict, New: domain.Valid, Reason: "accepted"}
			}
		}
		if outcome == domain.OutcomeUndecided {
			rec.FailingSince = now
		}
		if err := e.DB.RecordCheck(ctx, rec); err != nil {
			t.Fatal(err)
		}
		e.Clock.Advance(time.Minute)
	}
	record(domain.OutcomeValid, domain.Valid, 0)
	record(domain.OutcomeValid, domain.Valid, 0)
	if got := c.Get(path).Expect(http.StatusOK).Text("pair-status"); got != "Valid" {
		t.Fatalf("status before = %q", got)
	}
	c.Follow(c.Submit(path, url.Values{"label": {"Billing"}, "email": {"billing@acme.com"}, "key": {key2}}).ExpectRedirect(path))

	stored, err := e.DB.KeyByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Verdict != domain.Pending || stored.LastCheck != nil || !stored.LastValidAt.IsZero() {
		t.Errorf("stored after a new key: verdict %s, last check %v, last valid %v", stored.Verdict, stored.LastCheck, stored.LastValidAt)
	}
	d := c.Get(path).Expect(http.StatusOK)
	if got := d.Text("verdict-why"); !strings.HasPrefix(got, "No check has run yet") {
		t.Errorf("verdict-why = %q", got)
	}
	if strings.Contains(d.HTML, "Stax.ai accepted the key") {
		t.Error("the page still shows the old key's last answer")
	}
	if d.TestID("checks").Length() != 0 || d.TestID("events").Length() != 0 || d.TestID("latency-chart").Length() != 0 {
		t.Error("the page shows the old key's checks, verdict changes or latency")
	}
	if got := d.Find(`dt:contains("Last valid") + dd`).Text(); !strings.Contains(got, "never seen valid") {
		t.Errorf("Last valid = %q", strings.TrimSpace(got))
	}
	list := c.Get("/").Expect(http.StatusOK)
	if list.TestID("strip").Length() != 0 {
		t.Error("the dashboard strip shows the old key's checks")
	}

	// Failed checks of the new key: the verdict is "No verdict yet", not "Not checked yet".
	record(domain.OutcomeUndecided, domain.Pending, 1)
	record(domain.OutcomeUndecided, domain.Pending, 2)
	d = c.Get(path).Expect(http.StatusOK)
	if got := strings.Join(strings.Fields(d.Text("detail-verdict")), " "); got != "No verdict yet" {
		t.Errorf("Verdict after two failed checks = %q", got)
	}
	if n := d.Find(`[data-testid="checks"] tbody tr`).Length(); n != 2 {
		t.Errorf("%d checks listed, want the new key's 2", n)
	}
	if got := c.Get("/").Expect(http.StatusOK).TestID("strip").AttrOr("aria-label", ""); !strings.Contains(got, "2") {
		t.Errorf("strip %q, want the 2 new checks", got)
	}
}

// recordOutcome stores one check of key id as the checker would, confirming a decided
// outcome at once (enough for the pages; the checker's own tests cover confirmation).
func (e *Env) recordOutcome(t *testing.T, id int64, outcome domain.Outcome) {
	t.Helper()
	ctx := context.Background()
	p, err := e.DB.KeyByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	now := e.Clock.Now()
	rec := store.CheckRecord{
		Check:        domain.Check{KeyID: id, At: now, Outcome: outcome, HTTPStatus: 200, Latency: 40 * time.Millisecond, Reason: "r"},
		KeyChangedAt: p.KeyChangedAt, Verdict: p.Verdict, NextCheckAt: now.Add(time.Hour),
		VerdictAt: p.VerdictAt, VerdictSince: p.VerdictSince, LastValidAt: p.LastValidAt,
	}
	if v, ok := outcome.Verdict(); ok {
		rec.Verdict, rec.VerdictAt = v, now
		if v != p.Verdict {
			rec.VerdictSince = now
			rec.Event = &domain.Event{KeyID: id, At: now, Old: p.Verdict, New: v, Reason: "r"}
		}
		if v == domain.Valid {
			rec.LastValidAt = now
		}
	} else {
		rec.Failures, rec.FailingSince = p.Failures+1, now
	}
	if err := e.DB.RecordCheck(ctx, rec); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(time.Second)
}

// TestSummaryCardsShareOutTheKeys: the verdict cards add up to All keys and no key is under two
// of them. Before, "Last check failed" was a card too and listed the same keys as "No verdict
// yet" (21 keys, cards summing to 28).
func TestSummaryCardsShareOutTheKeys(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	add := func(email string) int64 {
		return e.mustAdd(t, "", email, "sk_live_CARDS_"+strings.Repeat("x", 12)+email[:4]).ID
	}
	validOK, validFailing := add("vaok@acme.com"), add("vafa@acme.com")
	revoked, pendingFailing := add("revo@acme.com"), add("pefa@acme.com")
	add("neve@acme.com") // never checked
	e.recordOutcome(t, validOK, domain.OutcomeValid)
	e.recordOutcome(t, validFailing, domain.OutcomeValid)
	e.recordOutcome(t, validFailing, domain.OutcomeUndecided)
	e.recordOutcome(t, revoked, domain.OutcomeRevoked)
	e.recordOutcome(t, pendingFailing, domain.OutcomeUndecided)
	e.recordOutcome(t, pendingFailing, domain.OutcomeUndecided)

	p := c.Get("/").Expect(http.StatusOK)
	count := func(s *goquery.Selection) int {
		n, err := strconv.Atoi(strings.TrimSpace(s.Find(".count").Text()))
		if err != nil {
			t.Fatalf("card count %q", s.Find(".count").Text())
		}
		return n
	}
	total := count(p.TestID("count-all"))
	if total != 5 {
		t.Fatalf("All keys = %d, want 5", total)
	}
	sum := 0
	seen := map[string]string{}
	p.Find(`#summary .card:not(.card-all)`).Each(func(_ int, s *goquery.Selection) {
		sum += count(s)
		href := s.AttrOr("href", "")
		c.Get(href).Expect(http.StatusOK).TestID("pair-row").Each(func(_ int, r *goquery.Selection) {
			id := r.AttrOr("id", "")
			if prev, dup := seen[id]; dup {
				t.Errorf("%s is under two cards: %s and %s", id, prev, href)
			}
			seen[id] = href
		})
	})
	if sum != total || len(seen) != total {
		t.Errorf("the cards sum to %d and list %d keys; there are %d", sum, len(seen), total)
	}
	// The failed-last-check filter is still there, beside the cards.
	if got := count(p.TestID("count-undecided")); got != 2 {
		t.Errorf("last check failed = %d, want 2", got)
	}
}

// TestDuplicateKeyNamesTheHolder: adding an email and key registered already says under which
// name they are, so the admin can find that key. Before, the message named nothing.
func TestDuplicateKeyNamesTheHolder(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	e.mustAdd(t, "Billing EU", "billing@acme.com", key1)
	p := c.Submit("/keys", url.Values{"label": {"Again"}, "email": {"Billing@acme.com"}, "key": {key1}}).Expect(http.StatusConflict)
	if !p.Marked("key") || !strings.Contains(p.Text("key-error"), "as “Billing EU”") {
		t.Errorf("duplicate message %q", p.Text("key-error"))
	}
}
