package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// allowLoopback lets alerts reach the tests' local receivers, as STAXKEYS_ALERT_ALLOW does for
// an operator's internal ones; the default policy refuses loopback.
var allowLoopback = func() *notify.Policy {
	p, err := notify.ParsePolicy("127.0.0.1/32")
	if err != nil {
		panic(err)
	}
	return p
}()

// t0 is the fake clocks' start: UTC and whole milliseconds, as the store keeps times.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// waitLimit guards every wait: far longer than anything should take, so it fails only a test
// that is really stuck.
const waitLimit = 20 * time.Second

// webhookSecret signs the test webhooks.
const webhookSecret = "a-webhook-secret-of-32-characters"

type env struct {
	path  string
	db    *store.DB
	keys  *secret.Keyring
	vault *keys.Vault
}

func newEnv(t testing.TB) *env {
	t.Helper()
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{path: filepath.Join(t.TempDir(), "t.db"), keys: secret.NewKeyring(mk)}
	e.open(t)
	return e
}

// open (re)opens the database, as a restarted staxkeys would.
func (e *env) open(t testing.TB) {
	t.Helper()
	db, err := store.Open(context.Background(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db, e.vault = db, keys.New(db, e.keys)
}

func (e *env) deliveries(t *testing.T) []domain.Delivery {
	t.Helper()
	ds, _, err := e.db.ListDeliveries(context.Background(), store.DeliveryQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// received is one request a receiver got.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is a local webhook receiver. It answers fail(n) for the n-th request (from 1):
// 0 means 200.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	ch   chan received
	fail func(n int) int
}

func newReceiver(t *testing.T, fail func(n int) int) *receiver {
	t.Helper()
	r := &receiver{ch: make(chan received, 100), fail: fail}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		got := received{Header: req.Header.Clone(), Body: body}
		r.mu.Lock()
		r.got = append(r.got, got)
		n := len(r.got)
		r.mu.Unlock()
		status := http.StatusOK
		if r.fail != nil {
			if s := r.fail(n); s != 0 {
				status = s
			}
		}
		w.WriteHeader(status)
		r.ch <- got
	}))
	t.Cleanup(r.Close)
	return r
}

// next waits for the next request.
func (r *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case got := <-r.ch:
		return got
	case <-time.After(waitLimit):
		t.Fatal("the receiver got no request")
	}
	return received{}
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// verify checks a webhook request's signature as a receiver would, with the Standard Webhooks
// reference library, and decodes its alert. The secret is not whsec_: its own bytes are the
// key. The library checks the timestamp against the wall clock, and the tests' clocks are
// fake, so the timestamp is checked here: sent between the fake clocks' start and now.
func verify(t *testing.T, got received, now time.Time) notify.Alert {
	t.Helper()
	wh, err := standardwebhooks.NewWebhookRaw([]byte(webhookSecret))
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.VerifyIgnoringTimestamp(got.Body, got.Header); err != nil {
		t.Fatalf("signature: %v (headers %v)", err, got.Header)
	}
	// A request received earlier in the test was sent before now.
	if ts, err := strconv.ParseInt(got.Header.Get(standardwebhooks.HeaderWebhookTimestamp), 10, 64); err != nil || ts > now.Unix() || ts < t0.Unix() {
		t.Errorf("webhook-timestamp %q, want Unix seconds between the start and %d", got.Header.Get(standardwebhooks.HeaderWebhookTimestamp), now.Unix())
	}
	var a notify.Alert
	if err := json.Unmarshal(got.Body, &a); err != nil {
		t.Fatalf("body %s: %v", got.Body, err)
	}
	return a
}

// runWorker runs n.Run until stop (or the test's end) and reports a failure to return.
func runWorker(t *testing.T, n *notify.Notifier) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitLimit):
				t.Errorf("Run did not return within %s of cancel", waitLimit)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// parked waits until n goroutines wait on clk.
func parked(t *testing.T, clk *clocktest.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := clk.BlockUntil(ctx, n); err != nil {
		t.Fatalf("waiting for %d waits on the clock: %v", n, err)
	}
}
