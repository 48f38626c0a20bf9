package web_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/internal/staxfake"
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
// pair ids, never an email or a key.
func TestMetrics(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{})
	a := e.addPair(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	b := e.addPair(t, "Ops", "ops@acme.com", apiKeyB, staxfake.Revoked)
	c := e.addPair(t, "Later", "later@acme.com", apiKeyC, staxfake.Valid)
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
		`staxkeys_pairs{verdict="valid"}`:                                       1,
		`staxkeys_pairs{verdict="revoked"}`:                                     1,
		`staxkeys_pairs{verdict="pending"}`:                                     1,
		`staxkeys_pairs{verdict="denied"}`:                                      0,
		`staxkeys_pairs{verdict="undecided"}`:                                   3, // each key's last check failed
		`staxkeys_checks_total{outcome="valid"}`:                                2,
		`staxkeys_checks_total{outcome="revoked"}`:                              2, // a new key's revoked is confirmed
		`staxkeys_checks_total{outcome="denied"}`:                               0,
		`staxkeys_checks_total{outcome="error"}`:                                7,
		`staxkeys_check_duration_seconds_count`:                                 11,
		`staxkeys_check_duration_seconds_bucket{le="+Inf"}`:                     11,
		`staxkeys_upstream_outage`:                                              1,
		`staxkeys_database_up`:                                                  1,
		`staxkeys_checker_effective_interval_seconds`:                           900,
		`staxkeys_pair_verdict{pair_id="` + itoa(a.ID) + `",verdict="valid"}`:   1,
		`staxkeys_pair_verdict{pair_id="` + itoa(b.ID) + `",verdict="revoked"}`: 1,
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
	// Every staxkeys label is a pair id or a fixed word.
	label := regexp.MustCompile(`(\w+)="([^"]*)"`)
	for name := range m {
		if !strings.HasPrefix(name, "staxkeys_") {
			continue
		}
		for _, kv := range label.FindAllStringSubmatch(name, -1) {
			switch kv[1] {
			case "pair_id":
				if _, err := strconv.ParseInt(kv[2], 10, 64); err != nil {
					t.Errorf("%s: pair_id %q", name, kv[2])
				}
			case "verdict", "outcome", "le":
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
