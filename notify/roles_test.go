package notify_test

import (
	"context"
	"errors"
	"testing"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/notify"
)

// TestAlertActionsNeedAnAdmin: an editor (or a viewer) can neither change where alerts go,
// nor send a test, nor retry a delivery; the settings stay as they were.
func TestAlertActionsNeedAnAdmin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Clock: clocktest.NewFake(t0)})
	for _, role := range []domain.Role{domain.RoleViewer, domain.RoleEditor} {
		p := domain.AdminPrincipal(domain.Admin{ID: 9, Email: "e@acme.com", Role: role}, "127.0.0.1")
		if err := n.SaveSettings(ctx, p, notify.Form{WebhookURL: "https://evil.example.com/hook", RevokedReminder: "24h"}); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("SaveSettings as %s: %v, want ErrForbidden", role, err)
		}
		if err := n.Test(ctx, p, notify.Webhook); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("Test as %s: %v, want ErrForbidden", role, err)
		}
		if err := n.Retry(ctx, p, 1); !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("Retry as %s: %v, want ErrForbidden", role, err)
		}
	}
	if v := n.View(ctx); v.Saved || v.Form.WebhookURL != "" {
		t.Errorf("the settings changed: %+v", v.Form)
	}
	admin := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "a@acme.com", Role: domain.RoleAdmin}, "127.0.0.1")
	if err := n.SaveSettings(ctx, admin, notify.Form{RevokedReminder: "48h"}); err != nil {
		t.Errorf("an admin's save: %v", err)
	}
}
