package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// TestAPIExpected: `expected` goes in on create and update and comes out with `expected_at`
// and `standing`; a bad value is a field error that changes nothing; a change has the key
// checked at once.
func TestAPIExpected(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{})
	e.run(t)
	api := e.API(t, e.token(t, "automation", false))
	e.Fake.Set("leak@acme.com", apiKeyA, staxfake.Valid)
	e.Fake.Set("ops@acme.com", apiKeyC, staxfake.Valid)

	api.Do(http.MethodPost, "/api/v1/keys", `{"email":"leak@acme.com","key":"`+apiKeyA+`","expected":"dead"}`).
		ExpectError(http.StatusUnprocessableEntity, "expected")
	if page, _ := e.DB.AllKeys(context.Background()); len(page) != 0 {
		t.Fatalf("a refused create registered %d keys", len(page))
	}
	a := api.Do(http.MethodPost, "/api/v1/keys", `{"label":"Leaked","email":"leak@acme.com","key":"`+apiKeyA+`","expected":"revoked"}`).
		Expect(http.StatusCreated).Object()
	assertKeyShape(t, a)
	if a["expected"] != "revoked" || a["expected_at"] == nil || a["standing"] != "awaiting" {
		t.Errorf("created expected dead: %v", a)
	}
	b := api.Do(http.MethodPost, "/api/v1/keys", `{"label":"Ops","email":"ops@acme.com","key":"`+apiKeyC+`"}`).
		Expect(http.StatusCreated).Object()
	if b["expected"] != "valid" || b["expected_at"] != nil || b["standing"] != "pending" {
		t.Errorf("created with no expectation: %v", b)
	}
	idB := strconv.FormatInt(idOf(b), 10)

	for _, bad := range []string{`"dead"`, `""`, `"Revoked"`} {
		api.Do(http.MethodPatch, "/api/v1/keys/"+idB, `{"label":"Renamed","expected":`+bad+`}`).
			ExpectError(http.StatusUnprocessableEntity, "expected")
	}
	if got := api.Do(http.MethodGet, "/api/v1/keys/"+idB, "").Expect(http.StatusOK).Object(); got["label"] != "Ops" || got["expected"] != "valid" {
		t.Errorf("a refused update changed the key: %v", got)
	}

	up := api.Do(http.MethodPatch, "/api/v1/keys/"+idB, `{"expected":"revoked"}`).Expect(http.StatusOK).Object()
	assertKeyShape(t, up)
	if up["expected"] != "revoked" || up["expected_at"] == nil {
		t.Errorf("after PATCH expected revoked: %v", up)
	}
	// The prompt check: Stax.ai still accepts it.
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(20 * time.Millisecond) {
		got := api.Do(http.MethodGet, "/api/v1/keys/"+idB, "").Expect(http.StatusOK).Object()
		if got["standing"] == "still_accepted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not checked at once after PATCH expected revoked: %v", got)
		}
	}
	list := api.Do(http.MethodGet, "/api/v1/keys?status=still_accepted", "").Expect(http.StatusOK).Object()
	if list["total"] != 2.0 {
		t.Errorf("still accepted: %v", list)
	}
}

// TestDashboardExpectedDead: a key that should be dead but is still accepted is shown as the
// worst problem (its chip, its card, first under "Problems first"); one Stax.ai refuses is
// retired (not red, not a problem); the cards still add up to All keys; and the form sets the
// expectation, a bad value marked and nothing changed.
func TestDashboardExpectedDead(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	ctx := context.Background()
	ok := e.mustAdd(t, "A working", "ok@acme.com", "sk_live_EXPECT_ok_0123456789")
	gone := e.mustAdd(t, "B revoked", "gone@acme.com", "sk_live_EXPECT_gone_0123456789")
	leak := e.mustAdd(t, "C leaked", "leak@acme.com", "sk_live_EXPECT_leak_0123456789")
	old := e.mustAdd(t, "D rotated", "old@acme.com", "sk_live_EXPECT_old_0123456789")
	e.recordOutcome(t, ok.ID, domain.OutcomeValid)
	e.recordOutcome(t, gone.ID, domain.OutcomeRevoked)
	e.recordOutcome(t, leak.ID, domain.OutcomeValid)
	e.recordOutcome(t, old.ID, domain.OutcomeRevoked)

	// Declared dead through the edit form.
	for _, id := range []int64{leak.ID, old.ID} {
		path := "/keys/" + strconv.FormatInt(id, 10)
		form := c.Get(path + "/edit").Expect(http.StatusOK)
		if form.TestID("expected").Length() != 1 || form.Find(`#expected option[selected]`).AttrOr("value", "") != "valid" {
			t.Fatalf("edit form without the expected state: %s", form.Find("form").Text())
		}
		k, _ := e.DB.KeyByID(ctx, id)
		bad := c.Submit(path, url.Values{"label": {k.Label}, "email": {k.Email}, "expected": {"dead"}}).Expect(http.StatusUnprocessableEntity)
		if !bad.Marked("expected") {
			t.Error("a bad expected state is not marked")
		}
		if k, _ := e.DB.KeyByID(ctx, id); k.Expected != domain.ExpectValid {
			t.Fatalf("a refused edit changed the expectation: %q", k.Expected)
		}
		c.Submit(path, url.Values{"label": {k.Label}, "email": {k.Email}, "expected": {"revoked"}}).ExpectRedirect(path)
	}

	p := c.Get("/").Expect(http.StatusOK)
	var order, chips []string
	p.TestID("pair-row").Each(func(_ int, r *goquery.Selection) {
		order = append(order, r.AttrOr("data-label", ""))
		chips = append(chips, strings.TrimSpace(r.Find(`[data-testid="pair-status"]`).Text()))
	})
	if want := []string{"c leaked", "b revoked", "a working", "d rotated"}; strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("problems first: %v, want %v", order, want)
	}
	if want := []string{"Still accepted — should be dead", "Revoked", "Valid", "Retired"}; strings.Join(chips, ",") != strings.Join(want, ",") {
		t.Errorf("chips %q, want %q", chips, want)
	}
	count := func(id string) int {
		n, err := strconv.Atoi(strings.TrimSpace(p.TestID(id).Find(".count").Text()))
		if err != nil {
			t.Fatalf("card %s: %q", id, p.TestID(id).Text())
		}
		return n
	}
	for id, want := range map[string]int{"count-all": 4, "count-still_accepted": 1, "count-valid": 1, "count-revoked": 1,
		"count-denied": 0, "count-pending": 0, "count-retired": 1} {
		if got := count(id); got != want {
			t.Errorf("%s = %d, want %d", id, got, want)
		}
	}
	sum := 0
	p.Find(`#summary .card:not(.card-all)`).Each(func(_ int, s *goquery.Selection) {
		n, _ := strconv.Atoi(strings.TrimSpace(s.Find(".count").Text()))
		sum += n
	})
	if sum != 4 {
		t.Errorf("the cards add up to %d of 4", sum)
	}
	for status, label := range map[string]string{"still_accepted": "c leaked", "retired": "d rotated", "revoked": "b revoked", "valid": "a working"} {
		rows := c.Get("/?status=" + status).Expect(http.StatusOK).TestID("pair-row")
		if rows.Length() != 1 || rows.AttrOr("data-label", "") != label {
			t.Errorf("card %s lists %d rows (%s)", status, rows.Length(), rows.AttrOr("data-label", ""))
		}
	}

	kp := c.Get("/keys/" + strconv.FormatInt(leak.ID, 10)).Expect(http.StatusOK)
	if !strings.Contains(kp.Text("detail-expected"), "Should be dead") || kp.TestID("still-accepted-since").Length() != 1 ||
		!strings.Contains(kp.Text("expected-why"), "still accepts it") {
		t.Errorf("key page of a still-accepted key: %q / %q", kp.Text("detail-expected"), kp.Text("expected-why"))
	}
	kp = c.Get("/keys/" + strconv.FormatInt(old.ID, 10)).Expect(http.StatusOK)
	if !strings.Contains(kp.Text("expected-why"), "retired as expected") || kp.TestID("still-accepted-since").Length() != 0 {
		t.Errorf("key page of a retired key: %q", kp.Text("expected-why"))
	}

	// Added as should be dead through the form.
	c.Submit("/keys", url.Values{"label": {"E new"}, "email": {"new@acme.com"}, "key": {"sk_live_EXPECT_new_0123456789"}, "expected": {"revoked"}}).ExpectRedirect("/")
	all, _ := e.DB.AllKeys(ctx)
	if k := all[len(all)-1]; k.Label != "E new" || k.Expected != domain.ExpectRevoked {
		t.Errorf("added %+v", k)
	}
}

// TestMetricsExpectedDead: a key expected dead that Stax.ai still accepts is counted by
// staxkeys_pairs_still_accepted (and stays valid in staxkeys_pairs); once refused it moves to
// staxkeys_pairs_retired.
func TestMetricsExpectedDead(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{})
	a := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	b := e.addKey(t, "Leaked", "leak@acme.com", apiKeyB, staxfake.Valid)
	if _, err := e.DB.SetExpected(context.Background(), b.ID, domain.ExpectRevoked); err != nil {
		t.Fatal(err)
	}
	e.checkNow(t, a.ID)
	e.checkNow(t, b.ID)
	api := e.API(t, "")
	m := samples(t, api.Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK).Body)
	for name, want := range map[string]float64{`staxkeys_pairs_still_accepted`: 1, `staxkeys_pairs_retired`: 0, `staxkeys_pairs{verdict="valid"}`: 2} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("still accepted: %s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	e.Fake.Set("leak@acme.com", apiKeyB, staxfake.Revoked401)
	e.checkNow(t, b.ID)
	m = samples(t, api.Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK).Body)
	for name, want := range map[string]float64{`staxkeys_pairs_still_accepted`: 0, `staxkeys_pairs_retired`: 1, `staxkeys_pairs{verdict="revoked"}`: 1} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("retired: %s = %v (present %v), want %v", name, got, ok, want)
		}
	}
}
