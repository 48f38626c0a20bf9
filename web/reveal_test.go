package web_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/web"
)

// newAuditedServer is newTestServer with the audit trail on, for tests that check what an
// action recorded.
func newAuditedServer(t *testing.T) *Env {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	ring := secret.NewKeyring(mk)
	auditKey := make([]byte, 32)
	rand.Read(auditKey)
	e := &Env{
		DB: db, Vault: keys.New(db, ring), Ring: ring, AuditKey: auditKey,
		Clock: &Clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)},
		Log:   &SyncBuffer{},
		Config: web.Config{
			SessionHashKey:  ring.DeriveKey("session cookie hash", 32),
			SessionBlockKey: ring.DeriveKey("session cookie block", 32),
			Version:         "test",
		},
	}
	db.Now = e.Clock.Now
	log := slog.New(slog.NewTextHandler(e.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.Server = web.New(e.Config, db, e.services(log, nil), log)
	e.Server.Now = e.Clock.Now
	e.TS = newHTTPServer(t, e.Server)
	return e
}

// audited returns the audit entries with the action, oldest first, as "actor action target".
func (e *Env) audited(t *testing.T, action string) []string {
	t.Helper()
	entries, _, err := e.DB.ListAudit(context.Background(), store.AuditQuery{Action: action, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		out = append(out, entries[i].Actor+" "+entries[i].Action+" "+entries[i].Target)
	}
	return out
}

func TestReveal(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	p := e.mustAdd(t, "Billing", "billing@acme.com", key1)
	path := fmt.Sprint("/keys/", p.ID, "/reveal")

	detail := c.Get(fmt.Sprint("/keys/", p.ID)).Expect(http.StatusOK)
	if href := detail.TestID("reveal-link").AttrOr("href", ""); href != path {
		t.Fatalf("the pair page's Reveal leads to %q", href)
	}

	form := c.Get(path).Expect(http.StatusOK)
	if form.TestID("reveal-form").AttrOr("method", "") != "post" || form.Find("#password").AttrOr("type", "") != "password" {
		t.Fatal("no password form")
	}
	if form.TestID("revealed-key").Length() != 0 || strings.Contains(form.HTML, key1) {
		t.Fatal("a GET shows the key")
	}

	t.Run("no password", func(t *testing.T) {
		r := c.For(t).Submit(path, url.Values{"password": {""}}).Expect(http.StatusUnprocessableEntity)
		if !r.Marked("password") || strings.Contains(r.HTML, key1) {
			t.Error("an empty password was not refused with the field marked")
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		r := c.For(t).Submit(path, url.Values{"password": {"not the password at all"}}).Expect(http.StatusUnauthorized)
		if !r.Marked("password") || !strings.Contains(r.Text("password-error"), "wrong password") {
			t.Errorf("field error %q", r.Text("password-error"))
		}
		if strings.Contains(r.HTML, key1) {
			t.Fatal("a wrong password revealed the key")
		}
	})

	var shown *Page
	t.Run("right password", func(t *testing.T) {
		shown = c.For(t).Submit(path, url.Values{"password": {AdminPassword}}).Expect(http.StatusOK)
		if got := shown.Text("revealed-key"); got != key1 {
			t.Fatalf("revealed %q", got)
		}
		if cc := shown.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		if shown.TestID("copy-key").AttrOr("data-copy-target", "") != "#revealed-key" {
			t.Error("no copy button aimed at the key")
		}
		if got := e.audited(t, "pair.reveal"); len(got) != 1 || got[0] != AdminEmail+" pair.reveal pair:"+fmt.Sprint(p.ID) {
			t.Errorf("audit trail %q", got)
		}
	})

	t.Run("no password needed again for five minutes", func(t *testing.T) {
		c := c.For(t)
		again := c.Get(path).Expect(http.StatusOK)
		if again.Find("#password").Length() != 0 || again.TestID("reveal-submit").Length() != 1 {
			t.Fatal("right after a reveal the form asks for the password again")
		}
		if strings.Contains(again.HTML, key1) {
			t.Fatal("a GET shows the key, even right after a reveal")
		}
		e.Clock.Advance(4 * time.Minute)
		if got := c.Submit(path, nil).Expect(http.StatusOK).Text("revealed-key"); got != key1 {
			t.Fatalf("revealed %q", got)
		}
		e.Clock.Advance(2 * time.Minute)
		r := c.Submit(path, nil).Expect(http.StatusUnprocessableEntity)
		if !r.Marked("password") || strings.Contains(r.HTML, key1) {
			t.Fatal("after five minutes the password is not asked again")
		}
		if n := len(e.audited(t, "pair.reveal")); n != 2 {
			t.Errorf("%d reveals recorded, want 2", n)
		}
	})

	t.Run("another admin's session is not unlocked", func(t *testing.T) {
		other := e.NewClient(t)
		other.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
		other.Submit(path, nil).Expect(http.StatusUnprocessableEntity)
	})

	t.Run("the key is in no log line and no other page", func(t *testing.T) {
		if strings.Contains(e.Log.String(), key1) {
			t.Error("the log holds the key")
		}
		if !strings.Contains(e.Log.String(), `msg="key revealed"`) {
			t.Error("the reveal was not logged")
		}
		for _, b := range e.Bodies() {
			if strings.Contains(b, key1) && !strings.Contains(b, `data-testid="revealed-key"`) {
				t.Errorf("a page other than the reveal holds the key: %.200s", b)
			}
		}
	})
}

// TestRevealThrottled: a wrong password at the reveal counts as a failed login, so a session
// left open cannot be used to guess the password.
func TestRevealThrottled(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	p := e.mustAdd(t, "Billing", "billing@acme.com", key1)
	path := fmt.Sprint("/keys/", p.ID, "/reveal")
	for range 5 {
		c.Submit(path, url.Values{"password": {"a wrong guess, again"}}).Expect(http.StatusUnauthorized)
	}
	r := c.Submit(path, url.Values{"password": {AdminPassword}}).Expect(http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" || !r.Marked("password") || strings.Contains(r.HTML, key1) {
		t.Fatal("the sixth attempt was not throttled")
	}
	// The same count guards the login form.
	e.NewClient(t).Login(AdminEmail, AdminPassword).Expect(http.StatusTooManyRequests)
	e.Clock.Advance(16 * time.Minute)
	if got := c.Submit(path, url.Values{"password": {AdminPassword}}).Expect(http.StatusOK).Text("revealed-key"); got != key1 {
		t.Fatalf("after the window, revealed %q", got)
	}
}

func TestRevealUnknownKey(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	c.Get("/keys/999/reveal").ExpectErrorPage(http.StatusNotFound)
	c.Submit("/keys/999/reveal", url.Values{"password": {AdminPassword}}).ExpectErrorPage(http.StatusNotFound)
	anon := e.NewClient(t)
	if p := anon.Get("/keys/1/reveal"); p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/login") {
		t.Errorf("logged out: %d %q", p.StatusCode, p.Location())
	}
}

func newHTTPServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}
