package keys_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

// noopChecker stands in for the checker so CheckNow and CheckAll reach their role check
// rather than ErrNoChecker; a refused call must never get as far as it.
type noopChecker struct {
	calls  int
	queued []int64
}

func (c *noopChecker) Nudge() {}
func (c *noopChecker) CheckNow(ctx context.Context, id int64) (domain.Key, error) {
	c.calls++
	return domain.Key{ID: id}, nil
}
func (c *noopChecker) CheckAll(context.Context) error { c.calls++; return nil }
func (c *noopChecker) QueueChecks(_ context.Context, ids []int64) error {
	c.queued = append(c.queued, ids...)
	return nil
}

// TestServiceRefusesViewers: every change, check and reveal of a key needs an editor. A viewer
// (session or token) and nobody get domain.ErrForbidden, the key stays as it was, no check
// runs and the audit trail records nothing; an editor may.
func TestServiceRefusesViewers(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	trail := audit.New(db, bytes.Repeat([]byte{7}, 32), nil)
	chk := &noopChecker{}
	svc := keys.NewService(v, trail, chk, nil)
	k := mustAdd(t, v, "keep", "a@acme.com", goodKey)

	viewerAdmin := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "v@acme.com", Role: domain.RoleViewer}, "127.0.0.1")
	viewerToken := domain.TokenPrincipal(domain.Token{ID: 1, Name: "grafana", Role: domain.RoleViewer}, "127.0.0.1")
	nobody := domain.Principal{IP: "127.0.0.1"}
	label := "changed"
	plan, err := svc.PlanImport(ctx, strings.NewReader("label,email,key\nb,b@acme.com,"+goodKey+"X\n"))
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]domain.Principal{"viewer": viewerAdmin, "viewer token": viewerToken, "nobody": nobody} {
		t.Run(name, func(t *testing.T) {
			calls := map[string]error{}
			_, calls["Add"] = svc.Add(ctx, p, keys.Input{Email: "b@acme.com", Key: goodKey + "Y"})
			_, calls["Update"] = svc.Update(ctx, p, k.ID, keys.Edit{Label: &label})
			_, calls["ReplaceKey"] = svc.ReplaceKey(ctx, p, k.ID, goodKey+"Z")
			_, calls["Delete"] = svc.Delete(ctx, p, k.ID)
			_, _, calls["Reveal"] = svc.Reveal(ctx, p, k.ID)
			_, calls["CheckNow"] = svc.CheckNow(ctx, p, k.ID)
			calls["CheckAll"] = svc.CheckAll(ctx, p)
			_, calls["Import"] = svc.Import(ctx, p, plan, false)
			_, calls["Mute"] = svc.Mute(ctx, p, k.ID, time.Time{}, "quiet")
			_, calls["Unmute"] = svc.Unmute(ctx, p, k.ID)
			for op, err := range calls {
				if !errors.Is(err, domain.ErrForbidden) {
					t.Errorf("%s: %v, want ErrForbidden", op, err)
				}
			}
			var out bytes.Buffer
			if _, err := svc.Export(ctx, p, &out); (name == "nobody") != errors.Is(err, domain.ErrForbidden) {
				t.Errorf("Export: %v", err)
			}
		})
	}
	got, err := db.KeyByID(ctx, k.ID)
	if err != nil || got.Label != "keep" || got.KeyHint != k.KeyHint {
		t.Errorf("after the refused calls: %+v, %v", got, err)
	}
	if n, _ := db.CountKeys(ctx); n.Total != 1 {
		t.Errorf("%d keys after refused adds and imports", n.Total)
	}
	if _, muted, _ := svc.MuteOf(ctx, k.ID); muted {
		t.Error("a refused mute muted the key")
	}
	if chk.calls != 0 {
		t.Errorf("the checker was asked %d times", chk.calls)
	}
	if entries, _, _ := db.ListAudit(ctx, store.AuditQuery{Action: "pair.", Limit: 100}); len(entries) != 0 {
		t.Errorf("refused calls were audited: %+v", entries)
	}

	editor := domain.AdminPrincipal(domain.Admin{ID: 2, Email: "e@acme.com", Role: domain.RoleEditor}, "127.0.0.1")
	if _, err := svc.Update(ctx, editor, k.ID, keys.Edit{Label: &label}); err != nil {
		t.Errorf("an editor's update: %v", err)
	}
	if _, plain, err := svc.Reveal(ctx, editor, k.ID); err != nil || plain != goodKey {
		t.Errorf("an editor's reveal: %v", err)
	}
	if _, err := svc.CheckNow(ctx, domain.CLIPrincipal, k.ID); err != nil {
		t.Errorf("the command line's check: %v", err)
	}
}
