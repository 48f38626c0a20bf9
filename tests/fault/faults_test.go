package fault

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// fault is one way the path to Stax.ai can fail.
type fault struct {
	name     string
	behavior staxfake.Behavior // "" means the port is closed: connections are refused
	outage   bool              // it counts toward "Stax.ai is down"
	reason   string            // what the last check's reason says
	status   int               // the last check's HTTP status; 0 when no answer came
}

var faults = []fault{
	{"connection refused", "", true, "connection refused", 0},
	{"hang past the timeout", staxfake.Hang, true, "timed out after 1s", 0},
	{"500 JSON", staxfake.Error500, true, "HTTP 500", 500},
	{"502 HTML", staxfake.BadGateway, true, "HTTP 502 from upstream (HTML, not JSON)", 502},
	{"503 with Retry-After", staxfake.Unavailable, true, "HTTP 503", 503},
	{"200 HTML portal", staxfake.HTML, true, "HTML, not JSON", 200},
	{"200 garbage", staxfake.Garbage, true, "not JSON", 200},
	{"200 empty body", staxfake.Empty, true, "empty response body", 200},
	{"truncated body", staxfake.Truncated, true, "connection broke", 200},
	{"gigantic body", staxfake.Huge, false, "larger than 64 KiB", 200},
	{"404", staxfake.NotFound, false, "HTTP 404", 404},
	{"redirect to another host", staxfake.Redirect, false, "redirected to", 302},
	{"429 with Retry-After", staxfake.RateLimited, false, "rate limited by Stax.ai (retry after 5s)", 429},
	// Something in front of Stax.ai answering 401 or 403, and auth errors at statuses that
	// cannot revoke (issue 11): none may make a key revoked or denied.
	{"401 proxy sign-in page", staxfake.HTML401, true, "HTTP 401 with an HTML page: a proxy or firewall answered, not Stax.ai", 401},
	{"403 CDN block page", staxfake.CDN403, true, "HTTP 403 with an HTML page: a proxy or firewall answered, not Stax.ai", 403},
	{"403 gateway JSON", staxfake.Gateway403, true, "a gateway or firewall answered, not Stax.ai; it said: Forbidden", 403},
	{"403 empty", staxfake.Empty403, true, "HTTP 403 with an empty body: a proxy or firewall answered, not Stax.ai", 403},
	{"500 with authError", staxfake.AuthError500, true, "HTTP 500 from Stax.ai (authError ignored: a server fault cannot revoke)", 500},
	{"503 with authError", staxfake.AuthError503, true, "authError ignored: a server fault cannot revoke", 503},
	{"429 with authError", staxfake.AuthError429, false, "rate limited by Stax.ai (retry after 5s; authError ignored: a rate limit cannot revoke)", 429},
}

// rateLimits reports the faults that are a rate limit: they pause the checker rather than
// count toward an outage.
func (f fault) rateLimits() bool {
	return f.behavior == staxfake.RateLimited || f.behavior == staxfake.AuthError429
}

// TestUpstreamFaults runs the whole program against each fault in turn: pairs that were valid
// stay valid (nothing becomes revoked or denied), the last check says what went wrong, the
// outage banner and /readyz report an outage when Stax.ai looks down, and once the upstream
// recovers the checker finds out with its own gentle probe and checks resume with every
// verdict standing.
//
// An outage ends only at the checker's first gentle probe, 15 s after it began, so the faults
// run all at once (t.Run from several goroutines, which -parallel does not limit): the whole
// test takes about 20 s.
func TestUpstreamFaults(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for _, f := range faults {
		wg.Go(func() { t.Run(f.name, func(t *testing.T) { testFault(t, f) }) })
	}
	wg.Wait()
}

func testFault(t *testing.T, f fault) {
	// Another host the fake redirects to: credentials must never reach it.
	var stolen atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		t.Errorf("the other host received %s %s with Email %q, Authorization %q", r.Method, r.URL, r.Header.Get("Email"), r.Header.Get("Authorization"))
	}))
	defer other.Close()

	fakeOpts := staxfake.Options{Default: staxfake.Valid, RetryAfter: 5 * time.Second, RedirectTo: other.URL + "/collect"}
	fake, err := staxfake.Start(fakeOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	s := newSite(t, fake.URL(), nil)

	slug := strings.NewReplacer(" ", "-").Replace(f.name)
	for i := range 4 {
		s.add(fmt.Sprintf("%s %d", f.name, i), fmt.Sprintf("team%d@example.com", i), fmt.Sprintf("sk_fault_%s_%02d_0123456789", slug, i))
	}
	s.waitVerdicts("valid", "valid")
	if s.banner("outage-banner") {
		t.Fatal("an outage banner while Stax.ai answers")
	}

	// The upstream fails.
	addr := strings.TrimPrefix(fake.URL(), "http://")
	if f.behavior == "" {
		fake.Close()
	} else {
		fake.SetAll(f.behavior)
	}
	s.checkAll()

	switch {
	case f.outage:
		s.waitOutage(true)
		rd := s.readyz()
		if rd.HTTPStatus != http.StatusOK || rd.Upstream.Since == nil {
			t.Errorf("/readyz during the outage: %d %+v; staxkeys itself is ready, the outage is reported under upstream", rd.HTTPStatus, rd)
		}
		if !s.banner("outage-banner") {
			t.Error("no outage banner on the dashboard during the outage")
		}
	case f.rateLimits():
		s.waitFor("the checker to pause after the 429", func() (bool, string) {
			rd := s.readyz()
			return rd.Upstream.PausedUntil != nil, fmt.Sprintf("%+v", rd)
		})
		if !s.banner("paused-banner") {
			t.Error("no paused banner on the dashboard during the pause")
		}
		r, _, err := s.api.Check(s.ctx, s.pairs()[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Errorf("check now during the pause answered %d, Retry-After %q; want 429 with Retry-After", r.Status, r.Header.Get("Retry-After"))
		}
	default:
		s.waitVerdicts("valid", "error")
		if rd := s.readyz(); rd.Upstream.Outage {
			t.Errorf("%s reported as an outage: %+v", f.name, rd)
		}
		if s.banner("outage-banner") {
			t.Errorf("%s shows the outage banner", f.name)
		}
	}

	// Whatever was checked during the fault says why it decided nothing, and no verdict moved.
	checked := 0
	for _, p := range s.pairs() {
		if p.Verdict != "valid" {
			t.Errorf("pair %d is %s during %s", p.ID, p.Verdict, f.name)
		}
		if p.LastCheck == nil || p.LastCheck.Outcome != "error" {
			continue
		}
		checked++
		if !strings.Contains(p.LastCheck.Reason, f.reason) || p.LastCheck.HTTPStatus != f.status {
			t.Errorf("pair %d: last check HTTP %d %q; want HTTP %d and %q", p.ID, p.LastCheck.HTTPStatus, p.LastCheck.Reason, f.status, f.reason)
		}
		if strings.Contains(p.LastCheck.Reason, "sk_fault_") || strings.Contains(p.LastCheck.Reason, "@example.com") {
			t.Errorf("pair %d: the reason shows the key or email: %q", p.ID, p.LastCheck.Reason)
		}
	}
	if checked == 0 {
		t.Fatalf("no pair was checked during %s", f.name)
	}
	if f.behavior == staxfake.Redirect && stolen.Load() != 0 {
		t.Fatalf("the redirect target received %d requests", stolen.Load())
	}

	// The upstream recovers. During an outage nothing is checked but the checker's own gentle
	// probe, so it is what must notice.
	if f.behavior == "" {
		if fake, err = staxfake.Start(staxfake.Options{Addr: addr, Default: staxfake.Valid}); err != nil {
			t.Fatalf("cannot listen again on %s: %v", addr, err)
		}
		t.Cleanup(func() { fake.Close() })
	} else {
		fake.SetAll("")
	}
	switch {
	case f.outage:
		// An admin presses "Check all" to hurry it. The checks stay held during the outage;
		// what it does is wake the scheduler: when the outage began after the scheduler had
		// gone idle until the next pair was due (the failed pairs' back-off, 30 s), the first
		// gentle probe would otherwise wait for that, 45 s instead of 15 s (reported).
		s.checkAll()
		s.waitOutage(false)
		if s.banner("outage-banner") {
			t.Error("the outage banner stays after the outage ended")
		}
		s.checkAll()
	case f.rateLimits():
		// The pause ends by itself and the held checks go out.
		s.waitFor("the pause to end", func() (bool, string) {
			rd := s.readyz()
			return rd.Upstream.PausedUntil == nil, fmt.Sprintf("%+v", rd)
		})
	default:
		s.checkAll()
	}
	s.waitVerdicts("valid", "valid")
	if rd := s.readyz(); rd.HTTPStatus != http.StatusOK || rd.Upstream.Outage {
		t.Errorf("/readyz after recovery: %d %+v", rd.HTTPStatus, rd)
	}
	if f.behavior == staxfake.Redirect && stolen.Load() != 0 {
		t.Fatalf("the redirect target received %d requests", stolen.Load())
	}
}

// TestHangingUpstreamBlocksNothing holds checks open at the fake for their whole timeout: one
// key hanging does not stop the others being checked, and with every check slot held by a
// hanging request the dashboard, /healthz and /readyz still answer at once.
func TestHangingUpstreamBlocksNothing(t *testing.T) {
	t.Parallel()
	fake, err := staxfake.Start(staxfake.Options{Default: staxfake.Valid})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	// A timeout long enough to look at the site while requests hang, short enough for a test.
	s := newSite(t, fake.URL(), map[string]string{"STAXKEYS_CHECK_TIMEOUT": "8s"})

	fake.Set("stuck@example.com", "sk_hang_stuck_0123456789", staxfake.Hang)
	stuck := s.add("stuck", "stuck@example.com", "sk_hang_stuck_0123456789")
	s.waitFor("the stuck check to reach the fake", func() (bool, string) {
		return fake.RequestsFor("sk_hang_stuck_0123456789") > 0, "no request yet"
	})
	var others []int64
	for i := range 5 {
		others = append(others, s.add(fmt.Sprintf("fine %d", i), fmt.Sprintf("fine%d@example.com", i), fmt.Sprintf("sk_hang_fine_%02d_0123456789", i)).ID)
	}
	s.waitFor("the other pairs to be checked while one hangs", func() (bool, string) {
		for _, id := range others {
			if p := s.pair(id); p.Verdict != "valid" {
				return false, fmt.Sprintf("pair %d is %s", id, p.Verdict)
			}
		}
		return true, ""
	})
	if p := s.pair(stuck.ID); p.LastCheck != nil {
		t.Fatalf("the stuck check finished already (%q): the test proves nothing", p.LastCheck.Reason)
	}

	// Every slot hangs now.
	fake.SetAll(staxfake.Hang)
	s.checkAll()
	s.waitFor("four requests hanging at the fake", func() (bool, string) {
		return inFlight(t, fake) >= 4, fmt.Sprintf("%d in flight", inFlight(t, fake))
	})
	// Far below the hang: these answers did not wait for any check.
	const prompt = 2 * time.Second
	for _, path := range []string{"/", "/healthz", "/readyz", "/keys/new", "/keys/" + fmt.Sprint(stuck.ID)} {
		r, err := s.browser.Get(s.ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusOK || r.Elapsed > prompt {
			t.Errorf("GET %s while every check hangs: %d in %v", path, r.Status, r.Elapsed)
		}
	}
	r, err := s.api.Do(s.ctx, http.MethodGet, "/api/v1/keys", nil)
	if err != nil || r.Status != http.StatusOK || r.Elapsed > prompt {
		t.Errorf("GET /api/v1/keys while every check hangs: %v %v", r, err)
	}
	if n := inFlight(t, fake); n < 3 {
		t.Fatalf("only %d requests still hanging: the site was not measured under the hang", n)
	}

	// The hangs time out: an outage, and still nothing revoked.
	s.waitOutage(true)
	s.waitFor("the stuck pair's check to time out", func() (bool, string) {
		p := s.pair(stuck.ID)
		return p.LastCheck != nil && strings.Contains(p.LastCheck.Reason, "timed out after 8s"), fmt.Sprintf("%+v", p.LastCheck)
	})
	for _, p := range s.pairs() {
		want := "valid"
		if p.ID == stuck.ID {
			want = "pending"
		}
		if p.Verdict != want {
			t.Errorf("pair %d (%s) is %s, want %s", p.ID, p.Label, p.Verdict, want)
		}
	}
}

func inFlight(t *testing.T, fake *staxfake.Server) int {
	t.Helper()
	resp, err := http.Get(fake.URL() + "/_fake/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		InFlight int `json:"in_flight"`
	}
	if err := jsonDecode(resp, &st); err != nil {
		t.Fatal(err)
	}
	return st.InFlight
}
