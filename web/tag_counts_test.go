package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// cardCounts reads the summary cards' numbers off a page or a summary event, by test id.
func cardCounts(t *testing.T, s finder) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, id := range []string{"count-all", "count-valid", "count-revoked", "count-denied", "count-pending", "count-undecided"} {
		out[id] = strings.TrimSpace(s.Find(`[data-testid="` + id + `"] .count`).Text())
	}
	return out
}

func assertCards(t *testing.T, what string, got map[string]string, want map[string]string) {
	t.Helper()
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: card %s = %q, want %q", what, id, got[id], w)
		}
	}
}

// TestDashboardCardsFollowTagFilter: under ?tag= the summary cards count the keys holding the
// tag (the keys the table shows), say so, and link to their status filter with the tag kept;
// without it they count every key; the head still counts every key registered.
func TestDashboardCardsFollowTagFilter(t *testing.T) {
	ctx := context.Background()
	e := newTestServer(t)
	c := e.LoggedIn(t)
	// 12 keys tagged payments, 3 of them revoked; 5 tagged ops, 1 denied and 1 never checked.
	add := func(i int, tag string, o domain.Outcome) {
		t.Helper()
		k, err := e.Vault.Add(ctx, keys.Input{Label: fmt.Sprintf("%s %02d", tag, i), Email: fmt.Sprintf("%s%d@acme.com", tag, i),
			Key: fmt.Sprintf("sk_live_TAGCOUNT_%s_%06d", tag, i), Tags: []string{tag}})
		if err != nil {
			t.Fatal(err)
		}
		if o != "" {
			e.recordChecks(t, k, 1, func(int) domain.Outcome { return o })
		}
	}
	for i := range 12 {
		o := domain.OutcomeValid
		if i < 3 {
			o = domain.OutcomeRevoked
		}
		add(i, "payments", o)
	}
	for i := range 5 {
		o := domain.OutcomeValid
		switch i {
		case 0:
			o = domain.OutcomeDenied
		case 1:
			o = ""
		}
		add(i, "ops", o)
	}

	all := c.Get("/").Expect(http.StatusOK)
	assertCards(t, "no tag", cardCounts(t, all.Doc), map[string]string{
		"count-all": "17", "count-valid": "12", "count-revoked": "3", "count-denied": "1", "count-pending": "1", "count-undecided": "0"})
	if all.TestID("summary-caption").Length() != 0 {
		t.Errorf("an unfiltered dashboard has a caption %q", all.Text("summary-caption"))
	}

	p := c.Get("/?tag=payments").Expect(http.StatusOK)
	assertCards(t, "?tag=payments", cardCounts(t, p.Doc), map[string]string{
		"count-all": "12", "count-valid": "9", "count-revoked": "3", "count-denied": "0", "count-pending": "0"})
	if got := strings.Join(strings.Fields(p.Text("summary-caption")), " "); got != "Keys tagged payments" {
		t.Errorf("caption %q, want Keys tagged payments", got)
	}
	if got := p.TestID("summary").AttrOr("aria-label", ""); got != "Filter keys tagged payments by status" {
		t.Errorf("cards' label %q", got)
	}
	if got := p.Text("registered"); got != "17 keys registered" {
		t.Errorf("head %q, want every key counted", got)
	}
	if got := p.TestID("pair-row").Length(); got != 12 {
		t.Errorf("%d rows under the tag, want 12", got)
	}
	// Each card filters by its status and keeps the tag; following one lands on the tag's keys.
	for id, status := range map[string]string{"count-all": "", "count-revoked": "revoked", "count-valid": "valid", "count-undecided": "undecided"} {
		href := p.TestID(id).AttrOr("href", "")
		u, err := url.Parse(href)
		if err != nil || u.Path != "/" || u.Query().Get("tag") != "payments" || u.Query().Get("status") != status {
			t.Errorf("card %s links to %q, want status %q and tag payments", id, href, status)
		}
	}
	rev := c.Get(p.TestID("count-revoked").AttrOr("href", "")).Expect(http.StatusOK)
	if got := rev.TestID("pair-row").Length(); got != 3 {
		t.Errorf("%d rows behind the tagged Revoked card, want 3", got)
	}
	if rev.TestID("count-revoked").AttrOr("aria-current", "") != "true" || rev.Text("count-all") == "" {
		t.Error("the tagged Revoked card is not the current one")
	}
	assertCards(t, "?status=revoked&tag=payments", cardCounts(t, rev.Doc), map[string]string{"count-all": "12", "count-revoked": "3"})
	// The live stream is told the tag.
	if sse := p.Find(`[sse-connect]`).AttrOr("sse-connect", ""); !strings.Contains(sse, "&tag=payments") {
		t.Errorf("the tagged dashboard listens on %q", sse)
	}

	ops := c.Get("/?tag=OPS").Expect(http.StatusOK)
	assertCards(t, "?tag=OPS", cardCounts(t, ops.Doc), map[string]string{
		"count-all": "5", "count-valid": "3", "count-revoked": "0", "count-denied": "1", "count-pending": "1"})

	// A tag no key holds: zero cards, not the "no keys yet" page.
	none := c.Get("/?tag=nobody").Expect(http.StatusOK)
	if none.TestID("empty").Length() != 0 {
		t.Error("a tag without keys shows the empty dashboard")
	}
	assertCards(t, "?tag=nobody", cardCounts(t, none.Doc), map[string]string{"count-all": "0", "count-valid": "0"})
}

// TestLiveCardsKeepTagFilter: the summary cards re-sent over the event stream of a tagged
// dashboard count the tag's keys and keep the tag in their links.
func TestLiveCardsKeepTagFilter(t *testing.T) {
	ctx := context.Background()
	e := newCheckedEnv(t, checkedOptions{})
	c := e.LoggedIn(t)
	add := func(label, email, key, tag string, b staxfake.Behavior) domain.Key {
		t.Helper()
		k, err := e.Vault.Add(ctx, keys.Input{Label: label, Email: email, Key: key, Tags: []string{tag}})
		if err != nil {
			t.Fatal(err)
		}
		e.Fake.Set(email, key, b)
		return k
	}
	a := add("Billing", "billing@acme.com", apiKeyA, "payments", staxfake.Valid)
	add("Ops", "ops@acme.com", apiKeyB, "ops", staxfake.Valid)
	add("Infra", "infra@acme.com", apiKeyC, "ops", staxfake.Valid)

	ev := openEvents(t, e.Env, c, fmt.Sprintf("/events?ids=%d&tag=payments", a.ID))
	e.checkNow(t, a.ID)
	summary := ev.next(named("summary"))
	doc := parseFragment(t, summary.Data)
	assertCards(t, "live ?tag=payments", cardCounts(t, doc), map[string]string{"count-all": "1", "count-valid": "1", "count-pending": "0"})
	if got := testID(doc, "summary-caption"); !strings.Contains(got, "payments") {
		t.Errorf("live caption %q", got)
	}
	if href := doc.Find(`[data-testid="count-valid"]`).AttrOr("href", ""); href != "/?status=valid&tag=payments" {
		t.Errorf("live Valid card links to %q", href)
	}

	ev = openEvents(t, e.Env, c, "/events")
	e.checkNow(t, a.ID)
	summary = ev.next(named("summary"))
	assertCards(t, "live, no tag", cardCounts(t, parseFragment(t, summary.Data)), map[string]string{"count-all": "3", "count-valid": "1", "count-pending": "2"})
}
