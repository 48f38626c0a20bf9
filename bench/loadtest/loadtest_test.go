package loadtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/bench/loadtest"
)

// TestShortLoad is the short version of cmd/staxload: 8 clients for 3 s against a server in
// this process, the checker checking every pair every second. It asserts what must hold at
// any speed (no 5xx, no transport error, no busy database, no error in the log, every kind of
// request served) and nothing about timing.
func TestShortLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a load run")
	}
	t.Parallel()
	r, err := loadtest.Run(context.Background(), loadtest.Config{
		Clients: 8, Duration: 3 * time.Second, MaxRequests: 20_000, Keys: 40, FakeLatency: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r.Print(&out)
	t.Log("\n" + out.String())
	if !r.OK() {
		t.Fatalf("5xx %d, transport errors %v, busy %v, errors %v", r.Server5xx(), r.TransportErrors, r.BusyLines, r.ErrorLines)
	}
	if len(r.Endpoints) < 10 {
		t.Errorf("only %d kinds of request were sent", len(r.Endpoints))
	}
	if ok := r.Total.Classes[2] + r.Total.Classes[3]; ok < r.Total.Count/2 {
		t.Errorf("only %d of %d requests succeeded", ok, r.Total.Count)
	}
	if r.Checks == 0 {
		t.Error("the checker sent no check during the run")
	}
}
