package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
)

// TestDeliveryLogShowsGrouping: a verdict change waiting for its grouping window says until
// when, and a delivery that went out in another's message names that delivery (whose id the
// webhook carried in X-Staxkeys-Delivery).
func TestDeliveryLogShowsGrouping(t *testing.T) {
	e, _ := newRecordsEnv(t, notify.Config{})
	ctx := context.Background()
	now := e.Clock.Now()
	change := []store.NewDelivery{{Event: notify.EventVerdictChanged, Channel: "webhook", Payload: []byte(`{"message":"m"}`), GroupWindow: 30 * time.Second}}
	for range 2 { // 1 and 2: sent together
		if err := e.DB.EnqueueDeliveries(ctx, now.Add(-time.Hour), change); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.DB.RecordGroupAttempt(ctx, 1, []int64{2}, store.DeliveryAttempt{At: now.Add(-time.Hour + 30*time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := e.DB.EnqueueDeliveries(ctx, now, change); err != nil { // 3: in its window
		t.Fatal(err)
	}

	c := e.LoggedIn(t)
	p := c.Get("/deliveries").Expect(http.StatusOK)
	rows := p.TestID("delivery-row") // newest first: 3, 2, 1
	if rows.Length() != 3 {
		t.Fatalf("%d rows", rows.Length())
	}
	waiting := strings.Join(strings.Fields(rows.Eq(0).Find(`[data-testid="delivery-grouping"]`).Text()), " ")
	if want := "waits until " + now.Add(30*time.Second).Format("2006-01-02 15:04:05 UTC") + ", so that other changes can go with it"; waiting != want {
		t.Errorf("the waiting row says %q, want %q", waiting, want)
	}
	if got := rows.Eq(1).Find(`[data-testid="delivery-grouped"]`).Text(); got != "in one message with delivery #1" {
		t.Errorf("the grouped row says %q", got)
	}
	if n := rows.Eq(2).Find(`[data-testid="delivery-grouped"], [data-testid="delivery-grouping"]`).Length(); n != 0 {
		t.Errorf("the leader's row has %d grouping notes, want none", n)
	}
}
