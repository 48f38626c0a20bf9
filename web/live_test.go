package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/tests/staxfake"
	"github.com/staxkeys/staxkeys/web"
)

// sseEvent is one server-sent event; comments (keep-alives) come as Name ":" and the opening
// retry field as Name "retry".
type sseEvent struct {
	Name, Data string
}

// eventStream reads GET /events as a browser's EventSource would.
type eventStream struct {
	t      testing.TB
	events chan sseEvent
	seen   []sseEvent
	err    error // how reading the body ended, valid once events is closed: nil for a clean end
}

// openEvents opens path with c's cookies and reads it in the background until the server ends
// the stream or the test does. It waits for the opening "retry" field, which the server sends
// once it has subscribed to the checker, so nothing published after openEvents returns is lost.
func openEvents(t testing.TB, e *Env, c *Client, path string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.TS.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not c.HTTP: its recorder reads whole bodies, and this one does not end.
	hc := &http.Client{Jar: c.Jar, Transport: e.TS.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &eventStream{t: t, events: make(chan sseEvent, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var ev sseEvent
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" {
					ev.Data = strings.Join(data, "\n")
					s.events <- ev
				}
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, ":"):
				s.events <- sseEvent{Name: ":", Data: strings.TrimSpace(line[1:])}
			case strings.HasPrefix(line, "retry:"):
				ev.Name = "retry"
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case line == "data:":
				data = append(data, "")
			}
		}
		s.err = sc.Err()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	s.next(func(ev sseEvent) bool { return ev.Name == "retry" })
	return s
}

// next returns the first event (from now on) that match accepts, skipping the others; it fails
// the test if the stream ends or nothing matches within waitLimit.
func (s *eventStream) next(match func(sseEvent) bool) sseEvent {
	s.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatalf("the event stream ended; events so far: %v", names(s.seen))
			}
			s.seen = append(s.seen, ev)
			if match(ev) {
				return ev
			}
		case <-deadline.C:
			s.t.Fatalf("no matching event within %s; events so far: %v", waitLimit, names(s.seen))
		}
	}
}

// ended waits for the server to end the stream.
func (s *eventStream) ended() {
	s.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return
			}
			s.seen = append(s.seen, ev)
		case <-deadline.C:
			s.t.Fatalf("the stream is still open after %s", waitLimit)
		}
	}
}

func names(evs []sseEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Name)
	}
	return out
}

func named(name string) func(sseEvent) bool {
	return func(ev sseEvent) bool { return ev.Name == name }
}

// rowVerdict matches the row event of pair id once the row shows verdict.
func rowVerdict(t testing.TB, id int64, verdict domain.Verdict) func(sseEvent) bool {
	return func(ev sseEvent) bool {
		return ev.Name == fmt.Sprintf("pair-%d", id) && parseRow(t, ev.Data).AttrOr("data-verdict", "") == string(verdict)
	}
}

// parseRow parses a dashboard row as the browser's table would hold it: a bare <tr> outside a
// table is dropped by HTML parsers.
func parseRow(t testing.TB, html string) *goquery.Selection {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + html + "</tbody></table>"))
	if err != nil {
		t.Fatal(err)
	}
	row := doc.Find(`tr[data-testid="pair-row"]`)
	if row.Length() != 1 {
		t.Fatalf("%d rows in %.300s", row.Length(), html)
	}
	return row
}

func parseFragment(t testing.TB, html string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// finder is a goquery document or selection.
type finder interface {
	Find(string) *goquery.Selection
}

// testID returns the trimmed text of the elements with data-testid=id under s.
func testID(s finder, id string) string {
	return strings.TrimSpace(s.Find(`[data-testid="` + id + `"]`).Text())
}

// TestLiveDashboard follows a key through the live dashboard with the real checker and a fake
// Stax.ai: its row arrives over server-sent events when it is checked, turns "Revoked" once the
// revocation is confirmed, the outage banner replaces amber rows when Stax.ai fails, no fault
// ever turns a verdict, and the stream ends with the session.
func TestLiveDashboard(t *testing.T) {
	t.Cleanup(web.SetKeepAliveEvery(20 * time.Millisecond))
	e := newCheckedEnv(t, checkedOptions{CheckTimeout: 300 * time.Millisecond})
	c := e.LoggedIn(t)
	a := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	b := e.addKey(t, "Ops", "ops@acme.com", apiKeyB, staxfake.Valid)
	ctx := context.Background()

	ev := openEvents(t, e.Env, c, fmt.Sprintf("/events?ids=%d", a.ID))

	t.Run("a check arrives as a row and a status", func(t *testing.T) {
		e.checkNow(t, b.ID) // not on this page: its row is not sent
		e.checkNow(t, a.ID)
		row := ev.next(named(fmt.Sprintf("pair-%d", a.ID)))
		r := parseRow(t, row.Data)
		if got := r.AttrOr("data-verdict", ""); got != "valid" {
			t.Errorf("row data-verdict %q, want valid", got)
		}
		if got := testID(r, "pair-status"); got != "Valid" {
			t.Errorf("row status %q, want Valid", got)
		}
		if got := testID(r, "pair-label"); got != "Billing" {
			t.Errorf("row label %q", got)
		}
		if sse := r.AttrOr("sse-swap", ""); sse != row.Name {
			t.Errorf("the row swaps on %q, arrived as %q", sse, row.Name)
		}
		st := ev.next(named(fmt.Sprintf("status-%d", a.ID)))
		if got := testID(parseFragment(t, st.Data), "pair-status"); got != "Valid" {
			t.Errorf("status event says %q", got)
		}
		for _, seen := range ev.seen {
			if seen.Name == fmt.Sprintf("pair-%d", b.ID) || seen.Name == fmt.Sprintf("status-%d", b.ID) {
				t.Errorf("got %s on a stream for pair %d only", seen.Name, a.ID)
			}
		}
	})

	t.Run("a revocation is confirmed, then shown", func(t *testing.T) {
		c := c.For(t)
		e.Fake.Set("billing@acme.com", apiKeyA, staxfake.Revoked)
		before := e.Fake.RequestsFor(apiKeyA)
		// "Check now" from the row (htmx) answers with the fresh row: the change is confirmed
		// by a second agreeing answer before it is recorded.
		p := c.PostForm(fmt.Sprintf("/keys/%d/check", a.ID), url.Values{"_csrf": {c.Token()}, "back": {"list"}},
			http.Header{"Hx-Request": {"true"}}).Expect(http.StatusOK)
		r := parseRow(t, p.HTML)
		if got := r.AttrOr("data-verdict", ""); got != "revoked" || testID(r, "pair-status") != "Revoked" {
			t.Errorf("the answered row is %q (%q), want revoked", got, testID(r, "pair-status"))
		}
		if n := e.Fake.RequestsFor(apiKeyA) - before; n != 2 {
			t.Errorf("%d requests for the change, want 2 (one to confirm)", n)
		}
		row := ev.next(rowVerdict(t, a.ID, domain.Revoked))
		if got := testID(parseRow(t, row.Data), "pair-status"); got != "Revoked" {
			t.Errorf("row status %q over SSE, want Revoked", got)
		}
		st := ev.next(func(x sseEvent) bool {
			return x.Name == fmt.Sprintf("status-%d", a.ID) && testID(parseFragment(t, x.Data), "pair-status") == "Revoked"
		})
		_ = st
		events, err := e.DB.ListEvents(ctx, a.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || events[0].Old != domain.Valid || events[0].New != domain.Revoked {
			t.Errorf("events %+v, want pending→valid then valid→revoked", events)
		}
	})

	t.Run("check now without htmx goes back", func(t *testing.T) {
		c := c.For(t)
		c.Submit(fmt.Sprintf("/keys/%d/check", a.ID), nil).ExpectRedirect(fmt.Sprintf("/keys/%d", a.ID))
		c.Submit(fmt.Sprintf("/keys/%d/check", a.ID), url.Values{"back": {"list"}}).ExpectRedirect("/")
		c.Submit("/keys/999/check", nil).ExpectErrorPage(http.StatusNotFound)
	})

	t.Run("check all", func(t *testing.T) {
		c := c.For(t)
		c.Submit("/keys/check-all", nil).ExpectRedirect("/")
		page := c.Get("/").Expect(http.StatusOK)
		if got := page.Text("flash"); !strings.Contains(got, "Every key is queued for a check") {
			t.Errorf("flash %q", got)
		}
		for _, id := range []int64{a.ID, b.ID} {
			p, err := e.DB.KeyByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if p.NextCheckAt.After(time.Now()) {
				t.Errorf("pair %d next check at %s after check all, want now", id, p.NextCheckAt)
			}
		}
		if page.TestID("check-all").Length() != 1 {
			t.Error("no Check all button")
		}
	})

	t.Run("the pair page shows the timeline and recent checks", func(t *testing.T) {
		c := c.For(t)
		page := c.Get(fmt.Sprintf("/keys/%d", a.ID)).Expect(http.StatusOK)
		items := page.TestID("events").Find("li")
		if items.Length() != 2 {
			t.Fatalf("%d timeline entries, want 2", items.Length())
		}
		if got := strings.Join(strings.Fields(items.First().Text()), " "); !strings.Contains(got, "Valid → Revoked") {
			t.Errorf("newest timeline entry %q", got)
		}
		checks, _ := e.DB.ListChecks(ctx, a.ID, 1000)
		if n := page.TestID("checks").Find("tbody tr").Length(); n != len(checks) || n < 5 {
			t.Errorf("%d recent checks shown, %d stored", n, len(checks))
		}
		if sse := page.Find(`[sse-connect]`).AttrOr("sse-connect", ""); sse != fmt.Sprintf("/events?ids=%d", a.ID) {
			t.Errorf("the pair page listens on %q", sse)
		}
		if page.Find(fmt.Sprintf(`[sse-swap="status-%d"]`, a.ID)).Length() != 1 {
			t.Error("the pair page has nothing to swap on its status event")
		}
	})

	t.Run("an outage shows one banner", func(t *testing.T) {
		e.Fake.SetAll(staxfake.BadGateway)
		defer e.Fake.SetAll("")
		// Faults from every team, then two more (the cross-check a cycle of "check now"s gives).
		for _, id := range []int64{b.ID, a.ID, b.ID, a.ID, b.ID} {
			e.checkNow(t, id)
		}
		banner := ev.next(named("checker"))
		doc := parseFragment(t, banner.Data)
		if got := testID(doc, "outage-banner"); !strings.Contains(got, "Stax.ai unreachable since") {
			t.Errorf("banner %q", got)
		}
		if st := e.Checker.Status(); !st.Outage {
			t.Error("the checker does not report the outage")
		}
		page := c.For(t).Get("/").Expect(http.StatusOK)
		if !strings.Contains(page.Text("outage-banner"), "Stax.ai unreachable since") {
			t.Errorf("the dashboard shows no banner")
		}
	})

	t.Run("faults never change a verdict", func(t *testing.T) {
		pending := e.addKey(t, "New", "new@acme.com", apiKeyC, staxfake.Valid)
		want := map[int64]domain.Verdict{a.ID: domain.Revoked, b.ID: domain.Valid, pending.ID: domain.Pending}
		for _, fault := range []staxfake.Behavior{staxfake.Error500, staxfake.BadGateway, staxfake.Unavailable,
			staxfake.Hang, staxfake.HTML, staxfake.Garbage, staxfake.NotFound, staxfake.Redirect, staxfake.RateLimited} {
			e.Fake.SetAll(fault)
			for id, verdict := range want {
				if fault == staxfake.RateLimited && id != pending.ID {
					continue // the 429 holds back the pending key's team; one is enough
				}
				p := e.checkNow(t, id)
				if p.Verdict != verdict || p.LastCheck == nil || p.LastCheck.Outcome != domain.OutcomeUndecided {
					t.Errorf("%s: pair %d is %s after %+v, want %s standing", fault, id, p.Verdict, p.LastCheck, verdict)
				}
			}
		}
		e.Fake.SetAll("")
		if evs, _ := e.DB.ListEvents(ctx, b.ID, 10); len(evs) != 1 {
			t.Errorf("%d events for pair %d, want only its first verdict", len(evs), b.ID)
		}
		// The row says what happened without pretending the key is bad.
		p, _ := e.DB.KeyByID(ctx, b.ID)
		row := c.For(t).Get("/").Expect(http.StatusOK).Find(fmt.Sprintf(`tr#pair-%d`, b.ID))
		if row.AttrOr("data-verdict", "") != "valid" || !strings.Contains(testID(row, "last-check-failed"), "check failing for") {
			t.Errorf("row of pair %d: verdict %q, %q (last reason %q)", b.ID, row.AttrOr("data-verdict", ""), testID(row, "last-check-failed"), p.LastCheck.Reason)
		}
		// While its team is held back by the 429, "Check now" says so instead of failing.
		cc := c.For(t)
		cc.Submit(fmt.Sprintf("/keys/%d/check", pending.ID), nil).ExpectRedirect(fmt.Sprintf("/keys/%d", pending.ID))
		if got := cc.Get(fmt.Sprintf("/keys/%d", pending.ID)).Text("flash"); !strings.Contains(got, "asked us to slow down for this key's team") {
			t.Errorf("flash while paused: %q", got)
		}
	})

	t.Run("the stream ends when the session does", func(t *testing.T) {
		other := e.LoggedIn(t) // a second browser of the same admin keeps its own session
		ev2 := openEvents(t, e.Env, other, "/events")
		ev2.next(named(":")) // keep-alives flow while the session lives
		c.For(t).Logout().ExpectRedirect("/login")
		ev.ended()
		ev2.next(named(":")) // the other session's stream lives on
		other.Logout()
		ev2.ended()
		// And a logged-out browser cannot open one.
		p := c.For(t).Get("/events")
		if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/login") {
			t.Errorf("GET /events logged out: %d to %q", p.StatusCode, p.Location())
		}
	})

	e.AssertNeverShown(t, apiKeyA, apiKeyB, apiKeyC)
	for _, x := range ev.seen {
		for _, k := range []string{apiKeyA, apiKeyB, apiKeyC} {
			if strings.Contains(x.Data, k) {
				t.Errorf("event %s carries a key", x.Name)
			}
		}
	}
}

// TestLiveStreamEndsWhenSessionExpires: a stream left open does not outlive its session's idle
// timeout, although nobody logged out.
func TestLiveStreamEndsWhenSessionExpires(t *testing.T) {
	t.Cleanup(web.SetKeepAliveEvery(20 * time.Millisecond))
	e := newCheckedEnv(t, checkedOptions{FakeClock: true})
	c := e.LoggedIn(t)
	ev := openEvents(t, e.Env, c, "/events")
	ev.next(named(":"))
	e.Clock.Advance(web.IdleTimeout + time.Minute)
	ev.ended()
}

// TestLiveWithoutChecker: with no checker the live parts answer 503 instead of hanging.
func TestLiveWithoutChecker(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	p := e.mustAdd(t, "Billing", "billing@acme.com", key1)
	c.Get("/events").ExpectErrorPage(http.StatusServiceUnavailable)
	c.Submit("/keys/"+strconv.FormatInt(p.ID, 10)+"/check", nil).ExpectErrorPage(http.StatusServiceUnavailable)
	c.Submit("/keys/check-all", nil).ExpectErrorPage(http.StatusServiceUnavailable)
}
