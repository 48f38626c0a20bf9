package app

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/config"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
)

// TestNotifierTakesAlertSettings: the grouping window and the public URL set in the
// environment reach the alerts the server queues: a change is due at the end of the window,
// and links to its key's page; unset, it is due at once and links nowhere.
func TestNotifierTakesAlertSettings(t *testing.T) {
	for _, tt := range []struct {
		name     string
		env      map[string]string
		window   time.Duration
		wantLink string
	}{
		{"set", map[string]string{"STAXKEYS_ALERT_GROUP_WINDOW": "45s", "STAXKEYS_PUBLIC_URL": "https://staxkeys.example.com/"},
			45 * time.Second, "https://staxkeys.example.com/keys/7"},
		{"grouping off, no public URL", map[string]string{"STAXKEYS_ALERT_GROUP_WINDOW": "0"}, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			tt.env["STAXKEYS_DATA_DIR"] = t.TempDir()
			tt.env["STAXKEYS_WEBHOOK_URL"] = "http://127.0.0.1:9/hook" // nothing is sent: no worker runs
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			if err := config.Bind(fs, &cfg, func(k string) string { return tt.env[k] }); err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			log := slog.New(slog.DiscardHandler)
			data, err := Open(ctx, cfg, log, MayCreate)
			if err != nil {
				t.Fatal(err)
			}
			defer data.DB.Close()
			n, err := newNotifier(cfg, data, "test")
			if err != nil {
				t.Fatal(err)
			}
			n.CheckRecorded(domain.Key{ID: 7, Label: "billing", Email: "ops@team.example.com"},
				store.CheckRecord{Event: &domain.Event{KeyID: 7, At: time.Now(), Old: domain.Valid, New: domain.Revoked}})
			ds, _, err := data.DB.ListDeliveries(ctx, store.DeliveryQuery{})
			if err != nil || len(ds) != 1 {
				t.Fatalf("%d deliveries (%v), want 1", len(ds), err)
			}
			d := ds[0]
			if got := d.NextAttemptAt.Sub(d.CreatedAt); got != tt.window || (tt.window > 0) != !d.GroupUntil.IsZero() {
				t.Errorf("due %s after it was queued (group until %s), want %s", got, d.GroupUntil, tt.window)
			}
			var a notify.Alert
			if err := json.Unmarshal(d.Payload, &a); err != nil || a.Key == nil || a.Key.URL != tt.wantLink {
				t.Errorf("alert %s (%v), want link %q", d.Payload, err, tt.wantLink)
			}
		})
	}
}
