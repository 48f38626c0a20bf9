package web_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// samples reads the Prometheus text format into "name{labels}" → value.
func samples(t testing.TB, body []byte) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics scrapes /metrics after real checks: pairs by verdict, checks by outcome, the
// latency histogram, the last cycle, the outage gauge, Go and process metrics; labels carry
// key ids, never an email or a key.
func TestMetrics(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{})
	a := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	b := e.addKey(t, "Ops", "ops@acme.com", apiKeyB, staxfake.Revoked)
	c := e.addKey(t, "Later", "later@acme.com", apiKeyC, staxfake.Valid)
	e.checkNow(t, a.ID)
	e.checkNow(t, a.ID)
	e.checkNow(t, b.ID)
	e.Fake.SetAll(staxfake.BadGateway)
	// One key's faults are not an outage; faults from every team, and two more, are.
	for range 3 {
		e.checkNow(t, a.ID)
	}
	if e.Checker.Status().Outage {
		t.Fatal("one key's faults made an outage")
	}
	// Without a running scheduler to cross-check, two more faults stand in for it.
	for _, id := range []int64{b.ID, c.ID, a.ID, b.ID} {
		e.checkNow(t, id)
	}

	api := e.API(t, "")
	r := api.Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	m := samples(t, r.Body)
	for name, want := range map[string]float64{
		`staxkeys_pairs{verdict="valid"}`:                                                              1,
		`staxkeys_pairs{verdict="revoked"}`:                                                            1,
		`staxkeys_pairs{verdict="pending"}`:                                                            1,
		`staxkeys_pairs{verdict="denied"}`:                                                             0,
		`staxkeys_pairs{verdict="undecided"}`:                                                          3, // each key's last check failed
		`staxkeys_checks_total{outcome="valid"}`:                                                       2,
		`staxkeys_checks_total{outcome="revoked"}`:                                                     2, // a new key's revoked is confirmed
		`staxkeys_checks_total{outcome="denied"}`:                                                      0,
		`staxkeys_checks_total{outcome="error"}`:                                                       7,
		`staxkeys_check_duration_seconds_count`:                                                        11,
		`staxkeys_check_duration_seconds_bucket{le="+Inf"}`:                                            11,
		`staxkeys_upstream_outage`:                                                                     1,
		`staxkeys_database_up`:                                                                         1,
		`staxkeys_checker_effective_interval_seconds`:                                                  900,
		`staxkeys_key_verdict{key_id="` + itoa(a.ID) + `",state="valid"}`:                              1,
		`staxkeys_key_verdict{key_id="` + itoa(a.ID) + `",state="revoked"}`:                            0,
		`staxkeys_key_verdict{key_id="` + itoa(b.ID) + `",state="revoked"}`:                            1,
		`staxkeys_key_verdict{key_id="` + itoa(b.ID) + `",state="pending"}`:                            0,
		`staxkeys_checker_running`:                                                                     0,
		`staxkeys_checker_paused`:                                                                      0,
		`staxkeys_pairs_still_accepted`:                                                                0,
		`staxkeys_pairs_retired`:                                                                       0,
		`staxkeys_build_info{goversion="` + runtime.Version() + `",revision="unknown",version="test"}`: 1,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := m[`staxkeys_check_duration_seconds_bucket{le="0.025"}`]; !ok {
		t.Error("no latency buckets")
	}
	if _, ok := m["staxkeys_checker_last_cycle_timestamp_seconds"]; !ok {
		t.Error("no last-cycle gauge")
	}
	for _, prefix := range []string{"go_goroutines", "go_memstats_", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		found := false
		for name := range m {
			if strings.HasPrefix(name, prefix) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no %s metric", prefix)
		}
	}
	// Every staxkeys label is a key id or a fixed word.
	label := regexp.MustCompile(`(\w+)="([^"]*)"`)
	for name := range m {
		if !strings.HasPrefix(name, "staxkeys_") {
			continue
		}
		for _, kv := range label.FindAllStringSubmatch(name, -1) {
			switch kv[1] {
			case "key_id":
				if _, err := strconv.ParseInt(kv[2], 10, 64); err != nil {
					t.Errorf("%s: key_id %q", name, kv[2])
				}
			case "verdict", "outcome", "le", "state", "channel", "status", "version", "revision", "goversion":
			default:
				t.Errorf("%s: unexpected label %s", name, kv[1])
			}
		}
	}
	e.AssertNeverShown(t, apiKeyA, apiKeyB, apiKeyC, "acme.com", "Billing")

	// The outage gauge falls when Stax.ai answers again.
	e.Fake.SetAll("")
	e.checkNow(t, a.ID)
	if got := samples(t, api.Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK).Body)["staxkeys_upstream_outage"]; got != 0 {
		t.Errorf("outage gauge %v after recovery", got)
	}
}

// TestMetricsOutage: the outage gauges rise with an outage (one team's key faulting three
// times is every team; the running scheduler judges it) and fall when Stax.ai answers again.
func TestMetricsOutage(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{FakeClock: true})
	e.run(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.CheckerClock.BlockUntil(ctx, 1); err != nil { // the scheduler is idle
		t.Fatal(err)
	}
	api := e.API(t, "")
	scrape := func() map[string]float64 {
		return samples(t, api.Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK).Body)
	}
	if m := scrape(); m["staxkeys_upstream_outage"] != 0 || m["staxkeys_upstream_outage_since_timestamp_seconds"] != 0 {
		t.Errorf("outage %v since %v before any fault", m["staxkeys_upstream_outage"], m["staxkeys_upstream_outage_since_timestamp_seconds"])
	}
	p := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	e.Fake.SetAll(staxfake.BadGateway)
	for range 3 {
		e.checkNow(t, p.ID)
	}
	m := scrape()
	if m["staxkeys_upstream_outage"] != 1 {
		t.Fatalf("outage gauge %v after three faults", m["staxkeys_upstream_outage"])
	}
	if since := m["staxkeys_upstream_outage_since_timestamp_seconds"]; since != float64(t0.Unix()) {
		t.Errorf("outage since %v, want %v", since, t0.Unix())
	}
	e.Fake.SetAll("")
	e.checkNow(t, p.ID)
	if m := scrape(); m["staxkeys_upstream_outage"] != 0 || m["staxkeys_upstream_outage_since_timestamp_seconds"] != 0 {
		t.Errorf("outage %v since %v after recovery", m["staxkeys_upstream_outage"], m["staxkeys_upstream_outage_since_timestamp_seconds"])
	}
}

// TestMetricsToken: with STAXKEYS_METRICS_TOKEN set, /metrics wants it as a bearer token.
func TestMetricsToken(t *testing.T) {
	const token = "metrics-secret-0123456789"
	e := newCheckedEnv(t, checkedOptions{MetricsToken: token})
	apiTok := e.token(t, "api", false)
	for name, auth := range map[string]string{
		"none":          "",
		"wrong":         "Bearer metrics-secret-0123456788",
		"prefix":        "Bearer metrics-secret",
		"longer":        "Bearer " + token + "x",
		"basic":         "Basic " + token,
		"an API token":  "Bearer " + apiTok,
		"lowercase too": "bearer wrong",
	} {
		t.Run(name, func(t *testing.T) {
			r := e.API(t, "").Do(http.MethodGet, "/metrics", "", "Authorization", auth)
			r.ExpectError(http.StatusUnauthorized, "")
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
			if bytes.Contains(r.Body, []byte("staxkeys_")) {
				t.Error("metrics shown without the token")
			}
		})
	}
	for _, auth := range []string{"Bearer " + token, "bearer " + token} {
		r := e.API(t, "").Do(http.MethodGet, "/metrics", "", "Authorization", auth).Expect(http.StatusOK)
		if !bytes.Contains(r.Body, []byte("staxkeys_pairs{")) {
			t.Errorf("%q: no metrics in %.200s", auth, r.Body)
		}
	}
	e.AssertNeverShown(t, token)
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// TestMetricsLastCycle: the last-cycle gauge is the time the scheduler last had nothing due.
func TestMetricsLastCycle(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{FakeClock: true})
	before := samples(t, e.API(t, "").Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK).Body)
	if got := before["staxkeys_checker_last_cycle_timestamp_seconds"]; got != 0 {
		t.Errorf("before any cycle: %v", got)
	}
	e.run(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.CheckerClock.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	m := samples(t, e.API(t, "").Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK).Body)
	if got := m["staxkeys_checker_last_cycle_timestamp_seconds"]; got != float64(t0.Unix()) {
		t.Errorf("last cycle %v, want %d", got, t0.Unix())
	}
}

// seriesOf lists the staxkeys_ series of a scrape, sorted.
func seriesOf(m map[string]float64) []string {
	var out []string
	for name := range m {
		if strings.HasPrefix(name, "staxkeys_") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// TestMetricsNoChurn: a verdict change moves a 1 between a key's series; it starts no series
// and ends none, so a scrape across changes has exactly the same series as before.
func TestMetricsNoChurn(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{})
	keys := []struct {
		email, key         string
		before, after      staxfake.Behavior
		wantBefore, wantAf string
	}{
		{"billing@acme.com", apiKeyA, staxfake.Valid, staxfake.Revoked, "valid", "revoked"},
		{"ops@acme.com", apiKeyB, staxfake.Revoked, staxfake.Denied, "revoked", "denied"},
		{"later@acme.com", apiKeyC, staxfake.Denied, staxfake.Valid, "denied", "valid"},
	}
	ids := make([]int64, len(keys))
	for i, k := range keys {
		ids[i] = e.addKey(t, "", k.email, k.key, k.before).ID
	}
	api := e.API(t, "")
	scrape := func() map[string]float64 {
		return samples(t, api.Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK).Body)
	}
	pending := scrape()
	for _, id := range ids {
		e.checkNow(t, id)
	}
	first := scrape()
	for i, k := range keys {
		e.Fake.Set(k.email, k.key, k.after)
		e.checkNow(t, ids[i]) // a candidate
		e.checkNow(t, ids[i]) // confirmed
	}
	second := scrape()
	e.Fake.SetAll(staxfake.BadGateway) // undecided
	for _, id := range ids {
		e.checkNow(t, id)
	}
	third := scrape()

	for i, k := range keys {
		id := itoa(ids[i])
		for _, c := range []struct {
			scrape map[string]float64
			want   string
		}{{pending, "pending"}, {first, k.wantBefore}, {second, k.wantAf}, {third, k.wantAf}} {
			for _, st := range []string{"pending", "valid", "revoked", "denied"} {
				name := `staxkeys_key_verdict{key_id="` + id + `",state="` + st + `"}`
				want := 0.0
				if st == c.want {
					want = 1
				}
				if got, ok := c.scrape[name]; !ok || got != want {
					t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
				}
			}
		}
	}
	if got := third[`staxkeys_pairs{verdict="undecided"}`]; got != 3 {
		t.Errorf("the third scrape has %v undecided keys, want 3", got)
	}
	want := seriesOf(pending)
	for name, s := range map[string]map[string]float64{"after the first checks": first,
		"after the verdicts changed": second, "after failed checks": third} {
		if got := seriesOf(s); !slices.Equal(got, want) {
			t.Errorf("%s the series changed: %d → %d\nnew: %v\ngone: %v", name, len(want), len(got),
				minus(got, want), minus(want, got))
		}
	}
	if n := len(want); n > 100 {
		t.Errorf("%d staxkeys series for 3 keys", n)
	}
}

// minus lists what a holds and b does not.
func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// TestMetricsKeyCheckTimes: per key, the last check moves with every check, the last decided
// check only with a decisive answer; both are 0 before the first check.
func TestMetricsKeyCheckTimes(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{FakeClock: true})
	p := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	api := e.API(t, "")
	last := `staxkeys_key_last_check_timestamp_seconds{key_id="` + itoa(p.ID) + `"}`
	decided := `staxkeys_key_last_decided_check_timestamp_seconds{key_id="` + itoa(p.ID) + `"}`
	expect := func(when string, wantLast, wantDecided time.Time) {
		t.Helper()
		m := samples(t, api.Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK).Body)
		for name, want := range map[string]time.Time{last: wantLast, decided: wantDecided} {
			w := 0.0
			if !want.IsZero() {
				w = float64(want.Unix())
			}
			if got, ok := m[name]; !ok || got != w {
				t.Errorf("%s: %s = %v (present %v), want %v", when, name, got, ok, w)
			}
		}
	}
	expect("before any check", time.Time{}, time.Time{})
	e.checkNow(t, p.ID)
	expect("after a valid answer", t0, t0)
	e.CheckerClock.Advance(10 * time.Minute)
	e.Fake.Set("billing@acme.com", apiKeyA, staxfake.Error500)
	e.checkNow(t, p.ID)
	expect("after a failed check", t0.Add(10*time.Minute), t0)
	e.CheckerClock.Advance(10 * time.Minute)
	e.Fake.Set("billing@acme.com", apiKeyA, staxfake.Valid)
	e.checkNow(t, p.ID)
	expect("after another valid answer", t0.Add(20*time.Minute), t0.Add(20*time.Minute))
}

// TestMetricsPaused: after a 429 the pause gauges say so, by the checker's clock, until the
// pause has passed.
func TestMetricsPaused(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{FakeClock: true})
	p := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.RateLimited)
	api := e.API(t, "")
	scrape := func() map[string]float64 {
		return samples(t, api.Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK).Body)
	}
	if m := scrape(); m["staxkeys_checker_paused"] != 0 || m["staxkeys_checker_paused_until_timestamp_seconds"] != 0 {
		t.Errorf("paused before any 429: %v, until %v", m["staxkeys_checker_paused"], m["staxkeys_checker_paused_until_timestamp_seconds"])
	}
	e.checkNow(t, p.ID)
	m := scrape()
	if m["staxkeys_checker_paused"] != 1 {
		t.Errorf("paused %v after a 429", m["staxkeys_checker_paused"])
	}
	if got, want := m["staxkeys_checker_paused_until_timestamp_seconds"], float64(t0.Add(30*time.Second).Unix()); got != want {
		t.Errorf("paused until %v, want %v", got, want)
	}
	e.CheckerClock.Advance(31 * time.Second)
	if m := scrape(); m["staxkeys_checker_paused"] != 0 {
		t.Errorf("still paused after the pause: %v", m["staxkeys_checker_paused"])
	}
}

// TestMetricsPromtool: a real scrape, with keys in every state, passes `promtool check metrics`
// (Prometheus' own linter: names, units, help, types). Without promtool on PATH the test skips,
// except under CI=true, where .ci/run has installed it.
func TestMetricsPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not on PATH under CI=true (.ci/run installs Debian's prometheus package)")
		}
		t.Skip("promtool is not on PATH: apt-get install prometheus (or run .ci/run) to lint the metrics")
	}
	e := newCheckedEnv(t, checkedOptions{})
	a := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	b := e.addKey(t, "Ops", "ops@acme.com", apiKeyB, staxfake.Revoked)
	e.addKey(t, "Later", "later@acme.com", apiKeyC, staxfake.Valid)
	e.checkNow(t, a.ID)
	e.checkNow(t, b.ID)
	body := e.API(t, "").Do(http.MethodGet, "/metrics", "").Expect(http.StatusOK).Body
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
