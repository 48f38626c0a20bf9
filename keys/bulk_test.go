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
)

// TestBulkLimitsAndRoles: a viewer's bulk change is refused before any key is touched; a
// Check now over more than MaxBulkCheck keys is a field error, and no check runs; a selection
// over MaxBulk ids is a field error naming ids.
func TestBulkLimitsAndRoles(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	trail := audit.New(db, bytes.Repeat([]byte{7}, 32), nil)
	chk := &noopChecker{}
	svc := keys.NewService(v, trail, chk, nil)
	editor := domain.AdminPrincipal(domain.Admin{ID: 1, Email: "e@acme.com", Role: domain.RoleEditor}, "127.0.0.1")
	viewer := domain.AdminPrincipal(domain.Admin{ID: 2, Email: "v@acme.com", Role: domain.RoleViewer}, "127.0.0.1")
	var ids []int64
	for i := range keys.MaxBulkCheck + 1 {
		ids = append(ids, mustAdd(t, v, fmt.Sprint(i), fmt.Sprintf("k%d@acme.com", i), fmt.Sprintf("%s%04d", goodKey, i)).ID)
	}

	_, err := svc.Bulk(ctx, viewer, keys.BulkRequest{Action: keys.BulkDelete, Selection: keys.Selection{IDs: ids}})
	if !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("a viewer's bulk delete: %v", err)
	}
	if _, err := svc.Get(ctx, ids[0]); err != nil {
		t.Fatal("a refused bulk delete deleted")
	}

	_, err = svc.Bulk(ctx, editor, keys.BulkRequest{Action: keys.BulkCheck, Selection: keys.Selection{Filter: &domain.KeyQuery{}}})
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Fields["filter"] == "" || chk.calls != 0 {
		t.Errorf("a check of %d keys: %v, %d checks", len(ids), err, chk.calls)
	}
	res, err := svc.Bulk(ctx, editor, keys.BulkRequest{Action: keys.BulkCheck, Selection: keys.Selection{IDs: ids[:3]}})
	if err != nil || len(res.Done) != 3 || chk.calls != 3 {
		t.Errorf("a check of 3: %+v, %v, %d checks", res, err, chk.calls)
	}

	many := make([]int64, keys.MaxBulk+1)
	_, err = svc.Bulk(ctx, editor, keys.BulkRequest{Action: keys.BulkDelete, Selection: keys.Selection{IDs: many}})
	if !errors.As(err, &ve) || ve.Fields["ids"] == "" {
		t.Errorf("a selection of %d: %v", len(many), err)
	}
}
