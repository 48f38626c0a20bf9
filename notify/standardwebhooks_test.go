package notify_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/notify"
)

// TestStandardWebhooksVerifyWithReferenceLibrary sends an alert on the real clock, signed with
// a whsec_ secret, and verifies it as a receiver would: with the reference library's Verify,
// which checks the signature and that the timestamp is within five minutes of now.
func TestStandardWebhooksVerifyWithReferenceLibrary(t *testing.T) {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env: notify.Config{WebhookURL: rcv.URL, WebhookSecret: secret}})
	now := time.Now()
	n.OutageChanged(true, now, now, "HTTP 503")
	if _, err := n.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := rcv.next(t)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Fatalf("the reference library rejects the request: %v (headers %v)", err, got.Header)
	}
	// A receiver holding another secret, or a body altered on the way, is refused.
	other, _ := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte("another-secret-of-24-bytes")))
	if err := other.Verify(got.Body, got.Header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("another secret verifies: %v", err)
	}
	if err := wh.Verify(append(got.Body, ' '), got.Header); err == nil {
		t.Error("an altered body verifies")
	}
	d := e.deliveries(t)[0]
	if id := got.Header.Get(notify.HeaderWebhookID); id != "staxkeys-"+strconv.FormatInt(d.ID, 10)+"-"+strconv.FormatInt(d.CreatedAt.Unix(), 10) {
		t.Errorf("webhook-id %q for delivery %d", id, d.ID)
	}
	for _, h := range []string{notify.HeaderEvent, notify.HeaderDelivery, notify.HeaderTimestamp, notify.HeaderSignature} {
		if got.Header.Get(h) != "" {
			t.Errorf("%s sent though the legacy setting is off", h)
		}
	}
}

// TestLegacySecretMigration: a secret of an earlier version (any string of 16 characters or
// more) keeps signing, with its own bytes as the key; a receiver verifies it with the
// reference library given "whsec_" + base64(secret), as docs/NOTIFICATIONS.md says.
func TestLegacySecretMigration(t *testing.T) {
	const old = "an-old-plain-secret"
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env: notify.Config{WebhookURL: rcv.URL, WebhookSecret: old}})
	now := time.Now()
	n.OutageChanged(true, now, now, "")
	if _, err := n.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := rcv.next(t)
	wh, err := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte(old)))
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Fatalf("verify with whsec_+base64(secret): %v", err)
	}
}

// TestLegacyHeadersBehindSetting: with WebhookLegacySignature on, the X-Staxkeys-* headers of
// earlier versions come too, verifiable as before, beside the standard ones.
func TestLegacyHeadersBehindSetting(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback,
		Env: notify.Config{WebhookURL: rcv.URL, WebhookSecret: webhookSecret, WebhookLegacySignature: true}})
	now := time.Now()
	n.OutageChanged(true, now, now, "")
	if _, err := n.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := rcv.next(t)
	if err := notify.Verify([]byte(webhookSecret), got.Header.Get(notify.HeaderTimestamp),
		got.Header.Get(notify.HeaderSignature), got.Body, time.Now(), time.Minute); err != nil {
		t.Errorf("legacy signature: %v (headers %v)", err, got.Header)
	}
	d := e.deliveries(t)[0]
	if got.Header.Get(notify.HeaderEvent) != notify.EventOutageStarted || got.Header.Get(notify.HeaderDelivery) != strconv.FormatInt(d.ID, 10) {
		t.Errorf("legacy headers %v", got.Header)
	}
	wh, _ := standardwebhooks.NewWebhookRaw([]byte(webhookSecret))
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Errorf("standard signature beside the legacy one: %v", err)
	}
}

// TestLegacySettingSavedAndFromEnv: the checkbox is saved with the page; settings saved before
// it existed leave the environment's value in force.
func TestLegacySettingSavedAndFromEnv(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	n := notify.New(e.db, e.keys, notify.Options{Env: notify.Config{WebhookLegacySignature: true}})
	if err := e.db.PutSettings(ctx, map[string][]byte{"notify_config": []byte(`{"revoked_reminder":"24h"}`)}); err != nil {
		t.Fatal(err)
	}
	if !n.Config(ctx).WebhookLegacySignature || !n.View(ctx).Form.WebhookLegacySignature {
		t.Error("settings saved before the legacy setting existed turn it off")
	}
	changed, err := n.Save(ctx, notify.Form{RevokedReminder: "24h", WebhookLegacySignature: false})
	if err != nil {
		t.Fatal(err)
	}
	if n.Config(ctx).WebhookLegacySignature || len(changed) != 1 || changed[0] != "legacy webhook signature" || notify.DestinationChange(changed) {
		t.Errorf("after unticking: %v, changes %v", n.Config(ctx).WebhookLegacySignature, changed)
	}
}

// TestWebhookSecretValidation: a whsec_ secret must decode to 24 to 64 bytes; any other string
// needs 16 characters, as before.
func TestWebhookSecretValidation(t *testing.T) {
	key := func(n int) string { return "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for secret, ok := range map[string]bool{
		key(24): true, key(32): true, key(64): true, "sixteen-chars-ok": true,
		key(16): false, key(65): false, "whsec_not*base64!!": false, "short": false,
	} {
		err := notify.Config{WebhookSecret: secret}.Validate()
		var ve *domain.ValidationError
		if ok != (err == nil) || (err != nil && (!errors.As(err, &ve) || ve.Fields["webhook_secret"] == "")) {
			t.Errorf("secret %q: %v", secret, err)
		}
	}
	if k := notify.SigningKey(key(32)); len(k) != 32 {
		t.Errorf("the key of a whsec_ secret is %d bytes", len(k))
	}
	if k := notify.SigningKey("sixteen-chars-ok"); string(k) != "sixteen-chars-ok" {
		t.Errorf("the key of a plain secret is %q", k)
	}
}
