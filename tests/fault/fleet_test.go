package fault

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// receiver is a webhook endpoint on loopback that keeps every alert it is sent.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	alerts []receivedAlert
}

type receivedAlert struct {
	At    time.Time
	Event string `json:"event"`
	Pair  *struct {
		ID int64 `json:"id"`
	} `json:"pair"`
	Changes []struct {
		Pair struct {
			ID int64 `json:"id"`
		} `json:"pair"`
		NewVerdict string `json:"new_verdict"`
	} `json:"changes"`
	Pairs     []json.RawMessage `json:"pairs"`
	Confirmed []json.RawMessage `json:"confirmed"`
	Cleared   []json.RawMessage `json:"cleared"`
	Message   string            `json:"message"`
	Body      string            `json:"-"`
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var a receivedAlert
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("the webhook received a body that is not JSON: %v: %.200s", err, body)
		}
		a.At, a.Body = time.Now(), string(body)
		r.mu.Lock()
		r.alerts = append(r.alerts, a)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []receivedAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedAlert(nil), r.alerts...)
}

func (r *receiver) String() string {
	var out []string
	for _, a := range r.received() {
		out = append(out, a.Event)
	}
	return strings.Join(out, ", ")
}

func (r *receiver) count(event string) int {
	n := 0
	for _, a := range r.received() {
		if a.Event == event {
			n++
		}
	}
	return n
}

// TestAdversarialFleet drives the whole program, with 20 keys of 20 teams, through an upstream
// that lies in every way the verifiers saw, and asserts the promise: no wrong verdict, one
// alert per real event, and healthy keys checked while one team is rate limited.
func TestAdversarialFleet(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	fake, err := staxfake.Start(staxfake.Options{Default: staxfake.Valid, RetryAfter: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	s := newSite(t, fake.URL(), map[string]string{
		"STAXKEYS_WEBHOOK_URL":        rcv.URL + "/hook",
		"STAXKEYS_WEBHOOK_SECRET":     "fleet-test-webhook-secret-0123456789",
		"STAXKEYS_ALERT_ALLOW":        "127.0.0.1/32",
		"STAXKEYS_ALERT_GROUP_WINDOW": "1s",
		"STAXKEYS_CHECK_SUSPECT_HOLD": "3s",
		"STAXKEYS_PUBLIC_URL":         "http://127.0.0.1:9",
	})
	const n = 20
	type key struct {
		email, key string
		id         int64
	}
	var keys []key
	for i := range n {
		k := key{email: fmt.Sprintf("team%02d@example.com", i), key: fmt.Sprintf("sk_fleet_%02d_abcdefghijklmnopqrstuvwxyz", i)}
		k.id = s.add(fmt.Sprintf("fleet %02d", i), k.email, k.key).ID
		keys = append(keys, k)
	}
	s.waitVerdicts("valid", "valid")
	settle := func(what string) {
		t.Helper()
		fake.SetAll("")
		for _, k := range keys {
			fake.Set(k.email, k.key, staxfake.Valid)
		}
		s.checkAll()
		s.waitVerdicts("valid", "valid")
		if rd := s.readyz(); rd.Upstream.Outage {
			t.Fatalf("after %s: an outage is reported: %+v", what, rd)
		}
	}

	// 1. Answers that decide nothing: a proxy's HTML 401, CDN and gateway 403s, an empty 403,
	// and auth errors inside 500, 503 and 429 answers. A third of the fleet answers them while
	// the rest answers 200: no verdict moves, and no outage. (Echoes of the key altered are
	// real 401s: TestEchoedKeysNeverKept holds their text to account.)
	hostile := []staxfake.Behavior{staxfake.HTML401, staxfake.CDN403, staxfake.Gateway403, staxfake.Empty403,
		staxfake.AuthError500, staxfake.AuthError503, staxfake.AuthError429}
	for i, b := range hostile {
		fake.Set(keys[2*i].email, keys[2*i].key, b)
	}
	hostileAt := time.Now().Add(-time.Second)
	s.checkAll()
	s.waitFor("every hostile answer to be checked", func() (bool, string) {
		var state []string
		ok := true
		for i := range hostile {
			p := s.pair(keys[2*i].id)
			if p.LastCheck == nil || p.LastCheck.At.Before(hostileAt) || p.LastCheck.Outcome != "error" {
				ok = false
			}
			state = append(state, fmt.Sprintf("%d:%s", p.ID, p.Verdict))
		}
		return ok, strings.Join(state, " ")
	})
	for _, p := range s.pairs() {
		if p.Verdict != "valid" {
			t.Errorf("pair %d is %s after a hostile answer", p.ID, p.Verdict)
		}
		if p.LastCheck != nil {
			for _, k := range keys {
				if k.id == p.ID && strings.Contains(strings.ToLower(p.LastCheck.Reason), strings.ToLower(k.key[:12])) {
					t.Errorf("pair %d's reason shows its key: %q", p.ID, p.LastCheck.Reason)
				}
			}
		}
	}
	if rd := s.readyz(); rd.Upstream.Outage {
		t.Errorf("a few hostile keys made an outage: %+v", rd)
	}
	settle("the hostile answers")

	// 2. The whole upstream says "revoked" at once (a JSON 401 for every key): one suspicion,
	// one alert, held; then it answers as before: one resolution, no key changed.
	fake.SetAll(staxfake.Revoked401)
	s.badAnswersOK = true
	s.checkAll()
	s.waitFor("the upstream-wide suspicion alert", func() (bool, string) {
		return rcv.count("upstream.suspected") == 1, "alerts: " + rcv.String()
	})
	if !s.banner("suspicion-banner") {
		t.Error("no suspicion banner on the dashboard")
	}
	fake.SetAll("")
	s.waitFor("the suspicion to be resolved", func() (bool, string) {
		return rcv.count("upstream.resolved") == 1, "alerts: " + rcv.String()
	})
	settle("the wide flip")

	// 3. One key really revoked: confirmed on its own re-check, one alert with it.
	real := keys[5]
	fake.Set(real.email, real.key, staxfake.Revoked401)
	revokedAt := time.Now()
	r, p, err := s.api.Check(s.ctx, real.id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusOK || p.Verdict != "revoked" {
		t.Fatalf("check now of the revoked key: %d %s", r.Status, p.Verdict)
	}
	s.revokedOK = append(s.revokedOK, real.id)
	s.waitFor("the revocation's alert", func() (bool, string) {
		return rcv.count("verdict.changed") == 1, "alerts: " + rcv.String()
	})
	for _, a := range rcv.received() {
		if a.Event == "verdict.changed" {
			t.Logf("a real revocation alerted %s after it happened (check now, confirmation, 1s grouping window)", a.At.Sub(revokedAt).Round(time.Millisecond))
			if len(a.Changes) != 1 || a.Changes[0].Pair.ID != real.id || a.Changes[0].NewVerdict != "revoked" {
				t.Errorf("the alert names %+v, want only pair %d revoked", a.Changes, real.id)
			}
			if !strings.Contains(a.Body, fmt.Sprintf("http://127.0.0.1:9/keys/%d", real.id)) {
				t.Errorf("the alert has no link to the key's page: %.300s", a.Body)
			}
		}
	}

	// 4. One team rate limited: its key waits, the others are checked meanwhile, and "check now"
	// works for every other team.
	limited := keys[7]
	fake.SetTeam(limited.email, staxfake.RateLimited)
	if r, _, err := s.api.Check(s.ctx, limited.id); err != nil || r.Status != http.StatusOK {
		t.Fatalf("first check of the limited team: %v %d", err, r.Status)
	}
	if r, _, err := s.api.Check(s.ctx, limited.id); err != nil || r.Status != http.StatusTooManyRequests {
		t.Errorf("check now of the rate-limited team answered %d, want 429", r.Status)
	}
	before := time.Now()
	s.checkAll()
	s.waitFor("the other teams to be checked during the limit", func() (bool, string) {
		for _, k := range keys {
			if k.id == limited.id || k.id == real.id {
				continue
			}
			if p := s.pair(k.id); p.LastCheck == nil || p.LastCheck.At.Before(before.Add(-time.Second)) {
				return false, fmt.Sprintf("pair %d not checked since", k.id)
			}
		}
		return true, ""
	})
	if r, _, err := s.api.Check(s.ctx, keys[0].id); err != nil || r.Status != http.StatusOK {
		t.Errorf("check now of another team during the limit answered %d, want 200", r.Status)
	}
	if rd := s.readyz(); rd.Upstream.PausedUntil != nil {
		t.Errorf("one team's 429 paused every check: %+v", rd)
	}

	// The alerts, all told: one suspicion, one resolution, one revocation; no outage, no pause.
	for event, want := range map[string]int{"upstream.suspected": 1, "upstream.resolved": 1, "verdict.changed": 1,
		"outage.started": 0, "outage.ended": 0, "checks.paused": 0} {
		if got := rcv.count(event); got != want {
			t.Errorf("%d %s alerts, want %d", got, event, want)
		}
	}
	for _, p := range s.pairs() {
		if want := "valid"; p.ID == real.id {
			if p.Verdict != "revoked" {
				t.Errorf("the revoked key is %s", p.Verdict)
			}
		} else if p.Verdict != want {
			t.Errorf("pair %d is %s, want %s", p.ID, p.Verdict, want)
		}
	}
}
