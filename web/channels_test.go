package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/notify"
)

// TestChannelsPage: an admin adds an ntfy channel to a local receiver (asked for the
// password), sees it listed without its secrets, sends a test that arrives, routes it to
// revoked keys tagged billing, and deletes it. A bad URL comes back as a field error that
// quotes none of it, and the URL typed is never shown back.
func TestChannelsPage(t *testing.T) {
	got := make(chan string, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path + " " + r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"1"}`))
	}))
	t.Cleanup(rcv.Close)
	host := strings.TrimPrefix(rcv.URL, "http://")
	e, n := newRecordsEnv(t, notify.Config{})
	c := e.LoggedIn(t)
	ctx := context.Background()

	p := c.Get("/settings/channels").Expect(http.StatusOK)
	if p.TestID("no-channels").Length() != 1 {
		t.Fatalf("empty page: %.1500s", p.HTML)
	}
	const secret = "Tok3nInPathXYZ"
	chURL := "ntfy://ops:Pa55word99@" + host + "/" + secret + "?scheme=http"
	// Without the password: refused, nothing added, the URL not shown back.
	refused := c.Submit("/settings/channels", url.Values{"name": {"Ops"}, "url": {chURL}, "enabled": {"1"}})
	if refused.StatusCode != http.StatusUnprocessableEntity && refused.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the password: %d", refused.StatusCode)
	}
	if strings.Contains(refused.HTML, secret) || strings.Contains(refused.HTML, "Pa55word99") {
		t.Error("the refused form shows the URL back")
	}
	// A bad URL: a field error naming the problem, quoting none of it.
	bad := c.Submit("/settings/channels", url.Values{"name": {"Bad"}, "url": {"nosuch://" + secret + "@example.com/x"}, "enabled": {"1"},
		"your_password": {AdminPassword}}).Expect(http.StatusUnprocessableEntity)
	if bad.TestID("add-url-error").Length() != 1 || strings.Contains(bad.HTML, secret) || bad.Find("#add-url").AttrOr("aria-invalid", "") != "true" {
		t.Errorf("bad URL: %.3000s", bad.HTML)
	}
	ok := c.Follow(c.Submit("/settings/channels", url.Values{"name": {"Ops"}, "url": {chURL}, "enabled": {"1"}}).ExpectRedirect("/settings/channels"))
	if ok.Text("flash") != "Channel Ops added." {
		t.Fatalf("after adding: %.2000s", ok.HTML)
	}
	if u := ok.Text("channel-url"); u != "ntfy://•••@"+host+"/•••?scheme=•••" {
		t.Errorf("listed URL %q", u)
	}
	if strings.Contains(ok.HTML, secret) || strings.Contains(ok.HTML, "Pa55word99") {
		t.Error("the page shows the URL's secrets")
	}
	list, err := n.ListChannels(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("channels %+v %v", list, err)
	}
	id := list[0].ID
	key := string(notify.URLChannelOf(id))

	// Send test: it arrives, and the page says so.
	tested := c.Follow(c.Submit("/settings/channels/"+itoa(id)+"/test", url.Values{}).ExpectRedirect("/settings/channels"))
	if tested.Text("flash") != "Test alert sent." {
		t.Errorf("test: %q", tested.Text("flash"))
	}
	if r := <-got; r != "/"+secret+" Basic b3BzOlBhNTV3b3JkOTk=" {
		t.Errorf("the receiver got %q", r)
	}

	// The delivery log names the channel.
	if log := c.Get("/deliveries").Expect(http.StatusOK); !strings.Contains(log.Find(`[data-testid="deliveries"]`).Text(), "Ops (ntfy)") {
		t.Errorf("the delivery log does not name the channel: %.2000s", log.HTML)
	}

	// Route: revoked keys tagged billing.
	routed := c.Follow(c.Submit("/settings/channels/routes", url.Values{"channel": {key}, "events": {notify.KindRevoked}, "tags": {"Billing"}}).ExpectRedirect("/settings/channels"))
	if h := routed.Text("channel-hears"); h != "revoked; only keys tagged billing" {
		t.Errorf("hears %q", h)
	}
	if r := n.Routes(ctx)[key]; len(r.Events) != 1 || r.Tags[0] != "billing" {
		t.Errorf("route %+v", r)
	}
	badRoute := c.Submit("/settings/channels/routes", url.Values{"channel": {key}, "events": {"everything"}}).Expect(http.StatusUnprocessableEntity)
	if badRoute.TestID("route-channel-"+itoa(id)+"-events-error").Length() != 1 {
		t.Errorf("bad route: %.2000s", badRoute.HTML)
	}

	// Disable, keeping the URL.
	c.Submit("/settings/channels/"+itoa(id), url.Values{"name": {"Ops team"}}).ExpectRedirect("/settings/channels")
	if cfg := n.Config(ctx); len(cfg.URLChannels) != 1 || cfg.URLChannels[0].Enabled || cfg.URLChannels[0].URL != chURL {
		t.Errorf("after the edit: %+v", cfg.URLChannels)
	}
	c.Submit("/settings/channels/"+itoa(id)+"/delete", url.Values{}).ExpectRedirect("/settings/channels")
	if list, _ := n.ListChannels(ctx); len(list) != 0 {
		t.Errorf("after delete: %+v", list)
	}
	for _, action := range []string{"channel.add", "channel.route", "channel.edit", "channel.delete", "notify.test"} {
		es := e.auditEntries(t, action)
		if len(es) != 1 {
			t.Errorf("%s: %d audit entries", action, len(es))
		}
		for _, x := range es {
			if strings.Contains(x.Detail, secret) || strings.Contains(x.Detail, "Pa55word99") {
				t.Errorf("the audit trail holds the URL: %q", x.Detail)
			}
		}
	}
	if strings.Contains(e.Log.String(), secret) {
		t.Error("the log holds the URL")
	}
}
