package keys_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

// TestBulkLimitsAndRoles: a viewer's bulk change is refused before any key is touched; a
// Check now over many keys (more than the 50 it once took) queues them all for the checker,
// with one audit entry each, and checks none inline; a selection over MaxBulk ids is a field
// error naming ids.
func TestBulkLimitsAndRoles(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	trail := audit.New(db, bytes.Repeat([]byte{7}, 32), nil)
	chk := &noopChecker{}
	svc := keys.NewService(v, trail, chk, nil)
	editor := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "e@acme.com", Role: domain.RoleEditor}, "127.0.0.1")
	viewer := domain.AdminPrincipal(domain.Admin{ID: 2, Email: "v@acme.com", Role: domain.RoleViewer}, "127.0.0.1")
	var ids []int64
	for i := range 60 {
		ids = append(ids, mustAdd(t, v, fmt.Sprint(i), fmt.Sprintf("k%d@acme.com", i), fmt.Sprintf("%s%04d", goodKey, i)).ID)
	}

	_, err := svc.Bulk(ctx, viewer, keys.BulkRequest{Action: keys.BulkDelete, Selection: keys.Selection{IDs: ids}})
	if !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a viewer's bulk delete: %v", err)
	}
	if _, err := svc.Get(ctx, ids[0]); err != nil {
		t.Fatal("a refused bulk delete deleted")
	}

	_, err = svc.Bulk(ctx, viewer, keys.BulkRequest{Action: keys.BulkCheck, Selection: keys.Selection{IDs: ids}})
	if !errors.Is(err, domain.ErrForbidden) || len(chk.queued) != 0 {
		t.Fatalf("a viewer's bulk check: %v, %d queued", err, len(chk.queued))
	}
	res, err := svc.Bulk(ctx, editor, keys.BulkRequest{Action: keys.BulkCheck, Selection: keys.Selection{Filter: &domain.KeyQuery{}}})
	if err != nil || len(res.Done) != len(ids) || len(chk.queued) != len(ids) || chk.calls != 0 {
		t.Errorf("a check of %d keys: %+v, %v, %d queued, %d checked inline", len(ids), res, err, len(chk.queued), chk.calls)
	}
	if want := "60 keys queued for a check now; they run under the usual concurrency and rate limits"; res.Summary() != want {
		t.Errorf("summary %q, want %q", res.Summary(), want)
	}
	entries, _, err := trail.List(ctx, store.AuditQuery{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{}
	for _, en := range entries {
		if en.Action == string(audit.KeyCheck) {
			checks[en.Target] = true
		}
	}
	if len(checks) != len(ids) {
		t.Errorf("%d keys have a check audit entry, want %d", len(checks), len(ids))
	}

	var ve *domain.ValidationError
	many := make([]int64, keys.MaxBulk+1)
	_, err = svc.Bulk(ctx, editor, keys.BulkRequest{Action: keys.BulkDelete, Selection: keys.Selection{IDs: many}})
	if !errors.As(err, &ve) || ve.Fields["ids"] == "" {
		t.Errorf("a selection of %d: %v", len(many), err)
	}
}
