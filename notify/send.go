package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// The headers of a webhook request, as Standard Webhooks (standardwebhooks.com) names them:
// the message id (the same on every retry of one delivery), the time of this try in Unix
// seconds, and "v1," with the base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" under the
// signing key (SigningKey). See docs/NOTIFICATIONS.md.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// The headers of earlier versions, still sent beside the standard ones while
// Config.WebhookLegacySignature is on.
//
// Deprecated: they go in the next release; verify webhook-signature instead.
const (
	HeaderEvent     = "X-Staxkeys-Event"
	HeaderDelivery  = "X-Staxkeys-Delivery"
	HeaderTimestamp = "X-Staxkeys-Timestamp"
	HeaderSignature = "X-Staxkeys-Signature"
)

// secretPrefix starts a Standard Webhooks secret: "whsec_" and the base64 of the key.
const secretPrefix = "whsec_"

// SigningKey returns the HMAC key of a webhook secret. A Standard Webhooks secret ("whsec_"
// and base64) is its decoded bytes; any other string, as earlier versions accepted, is its own
// bytes, so that an existing secret keeps working: its receiver verifies with
// "whsec_" + base64(secret).
func SigningKey(secret string) []byte {
	if rest, ok := strings.CutPrefix(secret, secretPrefix); ok {
		if key, err := base64.StdEncoding.DecodeString(rest); err == nil && len(key) > 0 {
			return key
		}
	}
	return []byte(secret)
}

// SignStandard returns the webhook-signature value for body sent as message id at timestamp
// (Unix seconds, as sent in webhook-timestamp).
func SignStandard(key []byte, id string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the X-Staxkeys-Signature value for body sent at timestamp (Unix seconds, as
// sent in X-Staxkeys-Timestamp): hex HMAC-SHA256 of the timestamp, a dot and the body, under
// the secret's own bytes.
//
// Deprecated: the legacy signature; receivers verify webhook-signature (SignStandard).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is returned by Verify for a request that was not signed with the secret, or
// whose timestamp is too far from now.
var ErrBadSignature = errors.New("notify: bad webhook signature")

// Verify checks a legacy X-Staxkeys-Signature and that its timestamp lies within tolerance
// of now, as a receiver written in Go would.
//
// Deprecated: verify webhook-signature with a Standard Webhooks library.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrBadSignature
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature)) {
		return ErrBadSignature
	}
	return nil
}

// permanent marks an error that no retry can fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// send makes one try at delivering d on its channel with cfg.
func (n *Notifier) send(ctx context.Context, cfg Config, d domain.Delivery) error {
	ch := Channel(d.Channel)
	if !cfg.Has(ch) {
		return permanent{fmt.Errorf("the %s channel is no longer configured", ch)}
	}
	var a Alert
	if err := json.Unmarshal(d.Payload, &a); err != nil {
		return permanent{fmt.Errorf("the queued alert does not parse: %v", err)}
	}
	switch ch {
	case Webhook:
		return n.postWebhook(ctx, cfg, d)
	case Slack:
		body, err := json.Marshal(map[string]string{"text": slackText(a)})
		if err != nil {
			return permanent{err}
		}
		return n.post(ctx, cfg.SlackURL, body, nil)
	case Email:
		return n.sendEmail(ctx, cfg.SMTP, d, a)
	case PagerDuty, Opsgenie:
		return n.sendIncident(ctx, cfg, ch, a)
	}
	if c, ok := cfg.urlChannel(ch); ok {
		return n.sendURL(ctx, c, a)
	}
	return permanent{fmt.Errorf("unknown channel %q", ch)}
}

// postWebhook sends the alert as it was queued, with the Standard Webhooks headers (signed
// when a secret is set) and, while the legacy setting is on, the old X-Staxkeys-* ones too.
func (n *Notifier) postWebhook(ctx context.Context, cfg Config, d domain.Delivery) error {
	now := n.clock.Now().Unix()
	ts := strconv.FormatInt(now, 10)
	id := webhookID(d)
	h := http.Header{}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, ts)
	if cfg.WebhookSecret != "" {
		h.Set(HeaderWebhookSignature, SignStandard(SigningKey(cfg.WebhookSecret), id, now, d.Payload))
	}
	if cfg.WebhookLegacySignature {
		h.Set(HeaderEvent, d.Event)
		h.Set(HeaderDelivery, strconv.FormatInt(d.ID, 10))
		h.Set(HeaderTimestamp, ts)
		if cfg.WebhookSecret != "" {
			h.Set(HeaderSignature, Sign([]byte(cfg.WebhookSecret), ts, d.Payload))
		}
	}
	return n.post(ctx, cfg.WebhookURL, d.Payload, h)
}

// webhookID is the message id of a delivery: the same on every retry, so a receiver can drop
// repeats, and with the delivery's creation time, so that a database started afresh does not
// reuse an id. A test send, which is not queued, gets a random one.
func webhookID(d domain.Delivery) string {
	if d.ID == 0 {
		return "staxkeys-test-" + rand.Text()
	}
	return fmt.Sprintf("staxkeys-%d-%d", d.ID, d.CreatedAt.Unix())
}

// post sends a JSON body. Errors name neither the URL (a Slack URL is a credential) nor
// anything the receiver sent beyond its status code: only the class of the failure.
func (n *Notifier) post(ctx context.Context, target string, body []byte, h http.Header) error {
	if msg := checkURL(target); msg != "" {
		return permanent{errors.New(msg)}
	}
	u, err := url.Parse(target)
	if err != nil {
		return permanent{errors.New("the URL cannot be requested")}
	}
	if err := n.opts.Allow.Check(u.Hostname()); err != nil {
		return permanent{errors.New(failureClass(err))}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return permanent{errors.New("the URL cannot be requested")}
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", n.opts.UserAgent)
	resp, err := n.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrDenied) {
			return permanent{errors.New(failureClass(err))}
		}
		return errors.New("request failed: " + failureClass(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Errorf("HTTP %d: the receiver redirects, and redirects are not followed", resp.StatusCode)
	}
	return fmt.Errorf("HTTP %d from the receiver", resp.StatusCode)
}

// smtpFailure names a failed SMTP step by its class, or by the reply code the server gave,
// never by the text the server sent.
func smtpFailure(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return fmt.Errorf("SMTP %s: the server answered %d", step, te.Code)
	}
	if errors.Is(err, ErrDenied) {
		return permanent{fmt.Errorf("SMTP %s: %s", step, failureClass(err))}
	}
	return fmt.Errorf("SMTP %s: %s", step, failureClass(err))
}

// sendEmail sends the alert through the SMTP server: implicit TLS on port 465, otherwise
// STARTTLS whenever the server offers it; PLAIN authentication when a username is set, which
// net/smtp refuses over an unencrypted connection except to localhost. The connection is
// dialled through the destination policy.
func (n *Notifier) sendEmail(ctx context.Context, c SMTPConfig, d domain.Delivery, a Alert) error {
	if err := n.opts.Allow.Check(c.Host); err != nil {
		return smtpFailure("connection", err)
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	tlsCfg := &tls.Config{ServerName: c.Host, RootCAs: n.opts.SMTPRootCAs, MinVersion: tls.VersionTLS12}
	dialer := n.opts.Allow.dialer(c.Host, 15*time.Second)
	var conn net.Conn
	var err error
	implicitTLS := c.Port == 465
	if implicitTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return smtpFailure("connection", err)
	}
	// Network deadlines are wall-clock time, whatever clock the worker runs on.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(n.opts.SendTimeout)
	}
	_ = conn.SetDeadline(deadline)
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		conn.Close()
		return smtpFailure("greeting", err)
	}
	defer cl.Close()
	if !implicitTLS {
		if ok, _ := cl.Extension("STARTTLS"); ok {
			if err := cl.StartTLS(tlsCfg); err != nil {
				return smtpFailure("STARTTLS", err)
			}
		}
	}
	if c.Username != "" {
		if ok, _ := cl.Extension("AUTH"); !ok {
			return errors.New("SMTP: a username is set but the server offers no authentication")
		}
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, c.Host)); err != nil {
			var te *textproto.Error
			if !errors.As(err, &te) {
				// net/smtp's own refusals (an unencrypted connection) are its words, not the server's.
				return errors.New("SMTP authentication: refused to send the password over an unencrypted connection")
			}
			return smtpFailure("authentication", err)
		}
	}
	if err := cl.Mail(c.From); err != nil {
		return smtpFailure("MAIL FROM", err)
	}
	for _, to := range c.To {
		if err := cl.Rcpt(to); err != nil {
			return smtpFailure("RCPT TO", err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return smtpFailure("DATA", err)
	}
	if _, err := w.Write(n.emailMessage(c, d, a)); err != nil {
		return smtpFailure("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpFailure("DATA", err)
	}
	if err := cl.Quit(); err != nil {
		return smtpFailure("QUIT", err)
	}
	return nil
}

// emailMessage writes the whole message: headers, then a quoted-printable text body.
func (n *Notifier) emailMessage(c SMTPConfig, d domain.Delivery, a Alert) []byte {
	var b bytes.Buffer
	header := func(k, v string) {
		// Values come from validated settings and labels without control characters; a line
		// break here would still be a header injection, so none survives.
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		b.WriteString(k + ": " + v + "\r\n")
	}
	domain := "staxkeys.invalid"
	if at := strings.LastIndexByte(c.From, '@'); at >= 0 {
		domain = c.From[at+1:]
	}
	now := n.clock.Now()
	header("From", c.From)
	header("To", strings.Join(c.To, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", emailSubject(a)))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<staxkeys.%d.%d@%s>", d.ID, now.UnixNano(), domain))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	header(HeaderEvent, a.Event)
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(emailBody(a), "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}
