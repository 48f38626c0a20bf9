package notify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// serviceReceiver stands in for a service (ntfy, Gotify, Mattermost, a generic webhook) on
// 127.0.0.1: it records each request whole and answers 200 with a JSON body, as the services do.
type serviceReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []serviceRequest
}

type serviceRequest struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

func newServiceReceiver(t *testing.T) *serviceReceiver { return newServiceReceiverTLS(t, false) }

// newServiceReceiverTLS is a receiver for the services that speak only HTTPS (Rocket.Chat):
// its certificate is trusted by the client client returns.
func newServiceReceiverTLS(t *testing.T, useTLS bool) *serviceReceiver {
	t.Helper()
	r := &serviceReceiver{}
	start := httptest.NewServer
	if useTLS {
		start = httptest.NewTLSServer
	}
	r.Server = start(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, serviceRequest{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), string(body)})
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":1}`))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *serviceReceiver) requests() []serviceRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]serviceRequest(nil), r.got...)
}

func (r *serviceReceiver) hostPort() string {
	return strings.TrimPrefix(strings.TrimPrefix(r.URL, "https://"), "http://")
}

// client is an HTTP client that trusts the receiver's certificate and dials through the
// tests' policy, as Options.HTTPClient asks of a client given there.
func (r *serviceReceiver) client() *http.Client {
	c := r.Server.Client()
	tr := c.Transport.(*http.Transport).Clone()
	tr.DialContext = allowLoopback.DialContext
	return &http.Client{Transport: tr, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var admin = domain.AdminPrincipal(domain.Admin{ID: 1, Email: "a@acme.com", Role: domain.RoleAdmin}, "127.0.0.1")

// revokeAlert queues a confirmed revocation of a fresh key through n, as the checker reports one.
func revokeAlert(t *testing.T, e *env, n *notify.Notifier, label string) domain.Key {
	t.Helper()
	ctx := context.Background()
	p, err := e.vault.Add(ctx, keys.Input{Label: label, Email: "billing@acme.com", Key: "sk-the-secret-api-key-" + strings.ReplaceAll(label, " ", "")})
	if err != nil {
		t.Fatal(err)
	}
	n.CheckRecorded(p, store.CheckRecord{Event: &domain.Event{KeyID: p.ID, Old: domain.Valid, New: domain.Revoked, Reason: "Invalid authorization (HTTP 401)", At: t0}})
	return p
}

// TestURLChannelsDeliverToEachService: one channel per service whose host can be set, each
// to its local receiver; each receiver gets the request its service sends (path, auth, body),
// and the body carries the key's label, team email, verdict, Stax.ai's reason, when, and the
// link to the key's page, never the key.
func TestURLChannelsDeliverToEachService(t *testing.T) {
	cases := []struct {
		kind string
		url  func(host string) string
		want func(t *testing.T, r serviceRequest)
	}{
		{"ntfy", func(h string) string { return "ntfy://alice:s3cret-pass@" + h + "/staxkeys-alerts?scheme=http" },
			func(t *testing.T, r serviceRequest) {
				if r.Method != http.MethodPost || r.Path != "/staxkeys-alerts" {
					t.Errorf("%s %s, want POST /staxkeys-alerts", r.Method, r.Path)
				}
				if want := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret-pass")); r.Header.Get("Authorization") != want {
					t.Errorf("Authorization %q, want %q", r.Header.Get("Authorization"), want)
				}
			}},
		{"gotify", func(h string) string { return "gotify://" + h + "/AbCdEfGhIjKlMnO?disabletls=yes&useheader=yes" },
			func(t *testing.T, r serviceRequest) {
				if r.Method != http.MethodPost || r.Path != "/message" {
					t.Errorf("%s %s, want POST /message", r.Method, r.Path)
				}
				if r.Header.Get("X-Gotify-Key") != "AbCdEfGhIjKlMnO" {
					t.Errorf("X-Gotify-Key %q", r.Header.Get("X-Gotify-Key"))
				}
			}},
		{"mattermost", func(h string) string { return "mattermost://" + h + "/hook-token-123?disabletls=yes" },
			func(t *testing.T, r serviceRequest) {
				if r.Method != http.MethodPost || r.Path != "/hooks/hook-token-123" {
					t.Errorf("%s %s, want POST /hooks/hook-token-123", r.Method, r.Path)
				}
			}},
		{"generic", func(h string) string { return "generic+http://" + h + "/inbox/staxkeys" },
			func(t *testing.T, r serviceRequest) {
				if r.Method != http.MethodPost || r.Path != "/inbox/staxkeys" {
					t.Errorf("%s %s, want POST /inbox/staxkeys", r.Method, r.Path)
				}
			}},
		{"rocketchat", func(h string) string { return "rocketchat://" + h + "/TokenA/TokenB" },
			func(t *testing.T, r serviceRequest) {
				if r.Method != http.MethodPost || r.Path != "/hooks/TokenA/TokenB" {
					t.Errorf("%s %s, want POST /hooks/TokenA/TokenB", r.Method, r.Path)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			rcv := newServiceReceiverTLS(t, c.kind == "rocketchat")
			opts := notify.Options{Allow: allowLoopback, Clock: clocktest.NewFake(t0), PublicURL: "https://staxkeys.example.com"}
			if c.kind == "rocketchat" {
				opts.HTTPClient = rcv.client()
			}
			n := notify.New(e.db, e.keys, opts)
			info, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: "Billing " + c.kind, URL: c.url(rcv.hostPort()), Enabled: true})
			if err != nil {
				t.Fatal(err)
			}
			if info.Kind != c.kind {
				t.Errorf("kind %q, want %q", info.Kind, c.kind)
			}
			p := revokeAlert(t, e, n, "Billing prod")
			if _, err := n.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			got := rcv.requests()
			if len(got) != 1 {
				ds := e.deliveries(t)
				t.Fatalf("%d requests, want 1; deliveries %+v", len(got), ds)
			}
			c.want(t, got[0])
			t.Logf("%s body:\n%s", c.kind, got[0].Body)
			body := got[0].Body
			for _, want := range []string{"Billing prod", "billing@acme.com", "revoked", "Invalid authorization (HTTP 401)",
				"2026-03-02 09:00 UTC", "https://staxkeys.example.com/keys/" + itoa(p.ID)} {
				if !strings.Contains(body, want) {
					t.Errorf("the message lacks %q:\n%s", want, body)
				}
			}
			if strings.Contains(body, "sk-the-secret-api-key") {
				t.Errorf("the message holds the key:\n%s", body)
			}
			ds := e.deliveries(t)
			if len(ds) != 1 || ds[0].Status != domain.DeliverySent || ds[0].Channel != string(notify.URLChannelOf(info.ID)) {
				t.Errorf("deliveries %+v, want one sent on %s", ds, notify.URLChannelOf(info.ID))
			}
		})
	}
}

// TestURLChannelRefusedByPolicy: with only 127.0.0.1 allowed, a channel to another private
// address is refused on the form, and one whose host name resolves there is refused at send
// time, without a connection.
func TestURLChannelRefusedByPolicy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: clocktest.NewFake(t0)})
	for _, u := range []string{"ntfy://10.1.2.3/alerts?scheme=http", "generic+http://192.168.1.10/hook", "gotify://169.254.169.254/Token0123456789?disabletls=yes"} {
		_, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: "internal", URL: u, Enabled: true})
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(ve.Fields["url"], "not allowed") {
			t.Errorf("%s: %v, want a url field error saying not allowed", u, err)
		}
	}
	// Channels saved while the operator allowed all of 127.0.0.0/8, then sent once only
	// 127.0.0.1 is allowed: refused at send time, for every kind of guard (pinned: ntfy;
	// checked before sending: generic), and the listener on 127.0.0.2 sees no connection.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("no 127.0.0.2 here:", err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			accepted <- struct{}{}
		}
	}()
	wide, err := notify.ParsePolicy("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	before := notify.New(e.db, e.keys, notify.Options{Allow: wide, Clock: clocktest.NewFake(t0)})
	for _, u := range []string{"ntfy://" + ln.Addr().String() + "/alerts?scheme=http", "generic+http://" + ln.Addr().String() + "/hook"} {
		if _, err := before.AddChannel(ctx, admin, notify.ChannelForm{Name: "loop " + u[:4], URL: u, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	revokeAlert(t, e, n, "Internal")
	if _, err := n.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	ds := e.deliveries(t)
	if len(ds) != 2 {
		t.Fatalf("deliveries %+v, want 2", ds)
	}
	for _, d := range ds {
		if d.Status != domain.DeliveryFailed || !strings.Contains(d.LastError, "not allowed by policy") {
			t.Errorf("%s: %s %q, want failed: not allowed by policy", d.Channel, d.Status, d.LastError)
		}
	}
	select {
	case <-accepted:
		t.Error("a connection reached 127.0.0.2")
	case <-time.After(100 * time.Millisecond):
	}
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// TestURLChannelURLNeverInClear: the URL's secrets reach neither the page's listing, nor the
// log, nor the audit trail, nor the database file, nor a field error.
func TestURLChannelURLNeverInClear(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	var logs bytes.Buffer
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: clocktest.NewFake(t0),
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	const token = "TopSecretTopic9f8e7d"
	info, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: "Ops", URL: "ntfy://bob:PassWord42@127.0.0.1:9/" + token + "?scheme=http", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if info.Redacted != "ntfy://•••@127.0.0.1:9/•••?scheme=•••" {
		t.Errorf("redacted %q", info.Redacted)
	}
	list, err := n.ListChannels(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListChannels: %v %v", list, err)
	}
	revokeAlert(t, e, n, "Ops key")
	if _, err := n.DeliverDue(ctx); err != nil { // port 9 refuses: a failure is logged and recorded
		t.Fatal(err)
	}
	// A bad URL's field error quotes none of it.
	_, err = n.AddChannel(ctx, admin, notify.ChannelForm{Name: "Bad", URL: "gotify://127.0.0.1/" + token + "/x?priority=notanumber" + token, Enabled: true})
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Fields["url"] == "" {
		t.Fatalf("bad URL: %v, want a url field error", err)
	}
	ds := ""
	for _, d := range e.deliveries(t) {
		ds += d.LastError + string(d.Payload)
	}
	if ds == "" {
		t.Error("no delivery was recorded")
	}
	e.db.Close()
	raw, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(e.path + "-wal")
	for _, s := range []string{token, "PassWord42"} {
		for where, text := range map[string]string{"log": logs.String(), "listing": list[0].Redacted, "field error": ve.Fields["url"],
			"database": string(raw) + string(wal), "deliveries": ds} {
			if strings.Contains(text, s) {
				t.Errorf("%q appears in the %s", s, where)
			}
		}
	}
}

// TestURLChannelBadURL: an unknown service, a URL its service cannot read, and a blank one
// each name the url field; nothing is added.
func TestURLChannelBadURL(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: clocktest.NewFake(t0)})
	for _, u := range []string{"", "nosuch://host/x", "https://example.com/hook", "logger://", "ntfy://"} {
		_, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: "x", URL: u, Enabled: true})
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Fields["url"] == "" {
			t.Errorf("%q: %v, want a url field error", u, err)
		}
	}
	if list, _ := n.ListChannels(ctx); len(list) != 0 {
		t.Errorf("channels added: %+v", list)
	}
}

// TestURLChannelSurvivesMasterKeyRotation: a channel's sealed URL moves to the new master
// key with everything else, and the old one opens it no more.
func TestURLChannelSurvivesMasterKeyRotation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const u = "ntfy://127.0.0.1:9/rotate-me?scheme=http"
	if _, err := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback}).AddChannel(ctx, admin, notify.ChannelForm{Name: "R", URL: u, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	newKeys := secret.NewKeyring(mk)
	if _, err := e.db.ResealAll(ctx, e.keys, newKeys); err != nil {
		t.Fatal(err)
	}
	if got := notify.New(e.db, newKeys, notify.Options{Allow: allowLoopback}).Config(ctx).URLChannels; len(got) != 1 || got[0].URL != u {
		t.Errorf("after rotation: %+v", got)
	}
	if list, _ := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback}).ListChannels(ctx); len(list) != 1 || !list[0].Unreadable {
		t.Errorf("the old key still opens the URL: %+v", list)
	}
}

// TestURLChannelActionsNeedAnAdmin: an editor can neither add, change nor remove a channel.
func TestURLChannelActionsNeedAnAdmin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: clocktest.NewFake(t0)})
	c, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: "Ops", URL: "ntfy://127.0.0.1:9/ops?scheme=http", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	editor := domain.AdminPrincipal(domain.Admin{ID: 2, Email: "e@acme.com", Role: domain.RoleEditor}, "127.0.0.1")
	if _, err := n.AddChannel(ctx, editor, notify.ChannelForm{Name: "Evil", URL: "ntfy://ntfy.example.com/x", Enabled: true}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("add as an editor: %v", err)
	}
	if err := n.UpdateChannel(ctx, editor, c.ID, notify.ChannelForm{Name: "Ops", URL: "ntfy://ntfy.example.com/x"}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("update as an editor: %v", err)
	}
	if err := n.DeleteChannel(ctx, editor, c.ID); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("delete as an editor: %v", err)
	}
	if got, _ := n.ListChannels(ctx); len(got) != 1 || got[0].Redacted != "ntfy://127.0.0.1:9/•••?scheme=•••" || !got[0].Enabled {
		t.Errorf("channels changed: %+v", got)
	}
	// An admin's edit with the URL left blank keeps the sealed one.
	if err := n.UpdateChannel(ctx, admin, c.ID, notify.ChannelForm{Name: "Ops team"}); err != nil {
		t.Fatal(err)
	}
	if got := n.Config(ctx); len(got.URLChannels) != 1 || got.URLChannels[0].URL != "ntfy://127.0.0.1:9/ops?scheme=http" ||
		got.URLChannels[0].Enabled || got.URLChannels[0].Name != "Ops team" || len(got.Channels()) != 0 {
		t.Errorf("after the edit: %+v (channels %v), want renamed, disabled, URL kept, not sending", got.URLChannels, got.Channels())
	}
	if err := n.DeleteChannel(ctx, admin, c.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := n.ListChannels(ctx); len(got) != 0 {
		t.Errorf("after delete: %+v", got)
	}
}

// TestRedact: a listed URL keeps the service, and the host only where it is a server's name;
// credentials, path and query values are •••.
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"ntfy://alice:pw@ntfy.example.com/topic?scheme=http": "ntfy://•••@ntfy.example.com/•••?scheme=•••",
		"discord://tok3n@1234567890":                         "discord://•••@•••",
		"pushover://shoutrrr:apiToken@userKey":               "pushover://•••@•••",
		"telegram://123:ABC@telegram?chats=@ops":             "telegram://•••@•••?chats=•••",
		"generic+http://10.0.0.5:8080/hook/secret":           "generic+http://10.0.0.5:8080/•••",
		"gotify://gotify.example.com":                        "gotify://gotify.example.com",
		"::not a url":                                        "•••",
	} {
		if got := notify.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// A channel's name is shown on the pages and in the audit trail, so it follows the rule of
// keys' labels: no control characters and no bidirectional overrides ("Trojan Source").
func TestChannelNameIsPlainText(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: clocktest.NewFake(t0)})
	for name, want := range map[string]string{
		"Billing \u202eTEAM":    "bidirectional override",
		"Billing\nteam":         "control characters",
		strings.Repeat("é", 81): "at most 80 characters",
	} {
		_, err := n.AddChannel(ctx, admin, notify.ChannelForm{Name: name, URL: "ntfy://127.0.0.1:9/topic?scheme=http", Enabled: true})
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(ve.Fields["name"], want) {
			t.Errorf("name %q: %v, want a name error holding %q", name, err, want)
		}
	}
	if list, _ := n.ListChannels(ctx); len(list) != 0 {
		t.Errorf("channels added: %+v", list)
	}
}
