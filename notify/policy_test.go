package notify_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/notify"
)

// TestPolicyRefusesInternalDestinations (issue 13, finding 3): with the default policy, no
// channel reaches loopback, by address, by "localhost", by [::1] or by a name that resolves
// there; nothing is sent, and the error names the policy.
func TestPolicyRefusesInternalDestinations(t *testing.T) {
	var hits atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(rcv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rcv.URL, "http://"))
	smtpSrv := startSMTP(t, nil, "", "")

	for _, tt := range []struct {
		name string
		cfg  notify.Config
		ch   notify.Channel
	}{
		{"webhook to 127.0.0.1", notify.Config{WebhookURL: rcv.URL + "/hook"}, notify.Webhook},
		{"webhook to localhost", notify.Config{WebhookURL: "http://localhost:" + port + "/hook"}, notify.Webhook},
		{"webhook to [::1]", notify.Config{WebhookURL: "http://[::1]:" + port + "/hook"}, notify.Webhook},
		{"webhook to an IPv4-mapped loopback", notify.Config{WebhookURL: "http://[::ffff:127.0.0.1]:" + port + "/hook"}, notify.Webhook},
		{"slack to 127.0.0.1", notify.Config{SlackURL: rcv.URL + "/services/x"}, notify.Slack},
		{"smtp to 127.0.0.1", notify.Config{SMTP: notify.SMTPConfig{Host: "127.0.0.1", Port: smtpSrv.port(),
			From: "a@example.com", To: []string{"b@example.com"}}}, notify.Email},
		{"smtp to localhost", notify.Config{SMTP: notify.SMTPConfig{Host: "localhost", Port: smtpSrv.port(),
			From: "a@example.com", To: []string{"b@example.com"}}}, notify.Email},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			n := notify.New(e.db, e.keys, notify.Options{Env: tt.cfg, Clock: clocktest.NewFake(t0)})
			err := n.SendTest(context.Background(), tt.ch)
			if err == nil || !strings.Contains(err.Error(), "destination not allowed by policy") {
				t.Fatalf("SendTest: %v, want the policy's refusal", err)
			}
			if d := e.deliveries(t); len(d) != 1 || d[0].Status != domain.DeliveryFailed || !strings.Contains(d[0].LastError, "not allowed by policy") {
				t.Errorf("delivery log %+v", d)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback receiver got %d requests", n)
	}
	select {
	case m := <-smtpSrv.msgs:
		t.Errorf("the loopback SMTP server got a message: %+v", m)
	default:
	}
}

// TestPolicyAtDialTime: the refusal happens on the address connected to, after DNS, so a
// name that resolves to an internal address (DNS rebinding) is refused as its address would
// be; an allowed CIDR or host name lets an internal receiver through.
func TestPolicyAtDialTime(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx := context.Background()
	for _, tt := range []struct {
		allow, addr string
		ok          bool
	}{
		{"", "127.0.0.1:" + port, false},
		{"", "localhost:" + port, false}, // resolved, then refused: the name is not checked, its address is
		{"10.0.0.0/8", "127.0.0.1:" + port, false},
		{"127.0.0.1/32", "127.0.0.1:" + port, true},
		{"127.0.0.0/8, 10.0.0.0/8", "127.0.0.1:" + port, true},
		{"localhost", "localhost:" + port, true}, // allowed by name, whatever it resolves to
		{"127.0.0.1", "127.0.0.1:" + port, true},
	} {
		p, err := notify.ParsePolicy(tt.allow)
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.DialContext(ctx, "tcp", tt.addr)
		if c != nil {
			c.Close()
		}
		if ok := err == nil; ok != tt.ok {
			t.Errorf("allow %q, dial %s: %v; want allowed=%v", tt.allow, tt.addr, err, tt.ok)
		}
		if !tt.ok && !errors.Is(err, notify.ErrDenied) {
			t.Errorf("allow %q, dial %s: %v, want ErrDenied", tt.allow, tt.addr, err)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "user@host", "a host"} {
		if _, err := notify.ParsePolicy(bad); err == nil || !strings.Contains(err.Error(), "STAXKEYS_ALERT_ALLOW") {
			t.Errorf("ParsePolicy(%q): %v", bad, err)
		}
	}
}

// TestFailuresNameTheClassOnly (issue 13, finding 3): the test button and the delivery log
// say what kind of failure happened, never what the other side sent, so they cannot be used
// to read a banner or a status line from a service.
func TestFailuresNameTheClassOnly(t *testing.T) {
	const banner = "* OK [CAPABILITY IMAP4rev1] SECRET-BANNER-dovecot ready"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(waitLimit))
				fmt.Fprint(c, banner+"\r\n")
				_, _ = bufio.NewReader(c).ReadString('\n')
				fmt.Fprint(c, "* BAD SECRET-REPLY-TEXT\r\n")
			}()
		}
	}()
	imap := ln.Addr().(*net.TCPAddr).Port
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Leak", "SECRET-HEADER")
		w.WriteHeader(http.StatusTeapot)
		fmt.Fprint(w, "SECRET-BODY")
	}))
	t.Cleanup(status.Close)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	mail := func(port int) notify.Config {
		return notify.Config{SMTP: notify.SMTPConfig{Host: "127.0.0.1", Port: port, From: "a@example.com", To: []string{"b@example.com"}}}
	}
	for _, tt := range []struct {
		name  string
		cfg   notify.Config
		ch    notify.Channel
		class string
	}{
		{"webhook to an IMAP server", notify.Config{WebhookURL: "http://127.0.0.1:" + strconv.Itoa(imap) + "/"}, notify.Webhook, "unexpected answer"},
		{"SMTP to an IMAP server", mail(imap), notify.Email, "unexpected answer"},
		{"webhook answering 418", notify.Config{WebhookURL: status.URL}, notify.Webhook, "HTTP 418"},
		{"webhook to a closed port", notify.Config{WebhookURL: "http://127.0.0.1:" + strconv.Itoa(closedPort) + "/"}, notify.Webhook, "connection refused"},
		{"SMTP to a closed port", mail(closedPort), notify.Email, "connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			n := notify.New(e.db, e.keys, notify.Options{Env: tt.cfg, Allow: allowLoopback, Clock: clocktest.NewFake(t0)})
			err := n.SendTest(context.Background(), tt.ch)
			if err == nil || !strings.Contains(err.Error(), tt.class) {
				t.Fatalf("SendTest: %v, want %q", err, tt.class)
			}
			ds := e.deliveries(t)
			if len(ds) != 1 {
				t.Fatalf("%d deliveries", len(ds))
			}
			for _, text := range []string{err.Error(), ds[0].LastError} {
				for _, leak := range []string{"SECRET", "IMAP", "dovecot", "I'm a teapot", "* OK", "* BAD"} {
					if strings.Contains(text, leak) {
						t.Errorf("%q quotes the other side (%q)", text, leak)
					}
				}
			}
		})
	}
}

// TestSettingsRefuseInternalAndCredentialURLs: the form names the field when a destination
// is refused for certain before any dial (an address literal, localhost) or a URL carries
// credentials.
func TestSettingsRefuseInternalAndCredentialURLs(t *testing.T) {
	e := newEnv(t)
	n := notify.New(e.db, e.keys, notify.Options{})
	for _, tt := range []struct {
		form  notify.Form
		field string
	}{
		{notify.Form{WebhookURL: "http://127.0.0.1:8080/hook"}, "webhook_url"},
		{notify.Form{WebhookURL: "http://localhost/hook"}, "webhook_url"},
		{notify.Form{WebhookURL: "http://[::1]/hook"}, "webhook_url"},
		{notify.Form{WebhookURL: "http://10.1.2.3/hook"}, "webhook_url"},
		{notify.Form{WebhookURL: "http://[fe80::1%25eth0]/hook"}, "webhook_url"}, // a zone must not hide link-local
		{notify.Form{WebhookURL: "http://0.0.0.0/hook"}, "webhook_url"},
		{notify.Form{SlackURL: "http://192.168.1.1/services/x"}, "slack_url"},
		{notify.Form{SMTPHost: "127.0.0.1", SMTPFrom: "a@example.com", SMTPTo: "b@example.com"}, "smtp_host"},
		{notify.Form{WebhookURL: "https://user:pass@hooks.example.com/x"}, "webhook_url"},
		{notify.Form{SlackURL: "https://token@hooks.slack.com/services/x"}, "slack_url"},
	} {
		_, err := n.Save(context.Background(), tt.form)
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || ve.Fields[tt.field] == "" {
			t.Errorf("Save(%+v): %v, want a message on %s", tt.form, err, tt.field)
		}
	}
	if _, err := e.db.Setting(context.Background(), "notify_config"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("a refused form was stored: %v", err)
	}
}

// TestSMTPHostChangeDropsPassword (issue 13, finding 4): moving email to another host without
// typing the password again removes the stored password, so it is never sent to the new host.
func TestSMTPHostChangeDropsPassword(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	n := notify.New(e.db, e.keys, notify.Options{})
	base := notify.Form{SMTPHost: "smtp.example.com", SMTPPort: "587", SMTPUsername: "alerts", SMTPPassword: "the-smtp-password",
		SMTPFrom: "a@example.com", SMTPTo: "b@example.com"}
	if _, err := n.Save(ctx, base); err != nil {
		t.Fatal(err)
	}
	same := base
	same.SMTPPassword, same.SMTPPort = "", "465"
	if _, err := n.Save(ctx, same); err != nil {
		t.Fatal(err)
	}
	if got := n.Config(ctx).SMTP.Password; got != "the-smtp-password" {
		t.Fatalf("the password was lost on a port change of the same host: %q", got)
	}
	moved := same
	moved.SMTPHost = "mail.attacker.example"
	changed, err := n.Save(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.Config(ctx).SMTP.Password; got != "" {
		t.Fatalf("the stored password follows the new host: %q", got)
	}
	if !strings.Contains(strings.Join(changed, ","), "SMTP password") || !notify.DestinationChange(changed) {
		t.Errorf("changed %q", changed)
	}
	if v := n.View(ctx); v.Secrets["smtp_password"].Set {
		t.Errorf("the page says a password is set: %+v", v.Secrets)
	}
	// Typed again with the new host, it is kept.
	moved.SMTPHost, moved.SMTPPassword = "smtp2.example.com", "a-new-password"
	if _, err := n.Save(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if got := n.Config(ctx).SMTP.Password; got != "a-new-password" {
		t.Errorf("password %q", got)
	}
	if notify.DestinationChange([]string{"revoked-key reminder", "rotation reminder"}) {
		t.Error("a reminder change counts as a destination change")
	}
}

// TestLegacyWebhookURLSealedOnSave (finding 10): a webhook URL that an older version stored in
// clear still works, and the next save seals it and leaves no clear copy.
func TestLegacyWebhookURLSealedOnSave(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const legacy = "https://hooks.example.com/in/LEGACY-TOKEN"
	if err := e.db.PutSettings(ctx, map[string][]byte{"notify_config": []byte(`{"webhook_url":"` + legacy + `","revoked_reminder":"24h"}`)}); err != nil {
		t.Fatal(err)
	}
	n := notify.New(e.db, e.keys, notify.Options{})
	if got := n.Config(ctx).WebhookURL; got != legacy {
		t.Fatalf("legacy URL %q", got)
	}
	if st := n.View(ctx).Secrets["webhook_url"]; st != (notify.SecretState{Set: true, Source: notify.FromSettings, Hint: "hooks.example.com"}) {
		t.Errorf("state %+v", st)
	}
	if _, err := n.Save(ctx, notify.Form{RevokedReminder: "48h"}); err != nil {
		t.Fatal(err)
	}
	raw, err := e.db.Setting(ctx, "notify_config")
	if err != nil || strings.Contains(string(raw), "LEGACY-TOKEN") {
		t.Fatalf("after saving, the settings hold %s (%v)", raw, err)
	}
	if got := n.Config(ctx).WebhookURL; got != legacy {
		t.Errorf("after saving, the URL is %q", got)
	}
}

// TestPolicyRanges: the default policy refuses the edges of every internal range, written
// any way (IPv4-mapped, bracketed), and allows public addresses; nothing is dialled here.
func TestPolicyRanges(t *testing.T) {
	p, err := notify.ParsePolicy("")
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{
		"0.0.0.0", "10.0.0.0", "10.255.255.255", "100.64.0.1", "127.0.0.1", "127.255.255.254", "169.254.169.254",
		"172.16.0.1", "172.31.255.255", "192.168.0.1", "192.168.255.255", "224.0.0.1", "255.255.255.255",
		"::", "::1", "[::1]", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "fc00::1", "fd12:3456::1",
		"fe80::1", "fe80::1%eth0", "ff02::1", "localhost", "LOCALHOST.", "api.localhost",
	} {
		if err := p.Check(host); !errors.Is(err, notify.ErrDenied) {
			t.Errorf("Check(%q) = %v, want ErrDenied", host, err)
		}
	}
	for _, host := range []string{"8.8.8.8", "172.32.0.1", "192.169.0.1", "100.128.0.1", "2001:4860:4860::8888", "hooks.slack.com"} {
		if err := p.Check(host); err != nil {
			t.Errorf("Check(%q) = %v, want allowed", host, err)
		}
	}
	allow, err := notify.ParsePolicy(" 10.0.0.0/8 , mail.internal ,[::1]")
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"10.1.2.3", "MAIL.internal.", "::1"} {
		if err := allow.Check(host); err != nil {
			t.Errorf("allowed Check(%q) = %v", host, err)
		}
	}
	if err := allow.Check("192.168.1.1"); !errors.Is(err, notify.ErrDenied) {
		t.Errorf("an unlisted private address: %v", err)
	}
}
