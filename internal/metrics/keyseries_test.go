package metrics_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/metrics"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
)

// registryKeySeries is how the per-key families were collected before they were written
// straight from the snapshot: through a prometheus.Collector, one constant metric each.
type registryKeySeries struct{ verdicts []store.KeyVerdict }

var (
	oldVerdict = prometheus.NewDesc("staxkeys_key_verdict",
		"Each key's verdict as a state set: 1 for the state it is in, 0 for the others (pending, valid, revoked, denied).",
		[]string{"key_id", "state"}, nil)
	oldLastCheck = prometheus.NewDesc("staxkeys_key_last_check_timestamp_seconds",
		"When the key was last checked, whatever the outcome (0 before its first check).", []string{"key_id"}, nil)
	oldLastDecided = prometheus.NewDesc("staxkeys_key_last_decided_check_timestamp_seconds",
		"When a check last had a decisive answer from Stax.ai confirming the key's verdict (0 while pending).",
		[]string{"key_id"}, nil)
)

func (r registryKeySeries) Describe(ch chan<- *prometheus.Desc) {
	ch <- oldVerdict
	ch <- oldLastCheck
	ch <- oldLastDecided
}

func (r registryKeySeries) Collect(ch chan<- prometheus.Metric) {
	secs := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixMilli()) / 1000
	}
	for _, pv := range r.verdicts {
		id := strconv.FormatInt(pv.ID, 10)
		for _, st := range metrics.States {
			v := 0.0
			if pv.Verdict == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(oldVerdict, prometheus.GaugeValue, v, id, string(st))
		}
		ch <- prometheus.MustNewConstMetric(oldLastCheck, prometheus.GaugeValue, secs(pv.LastCheckAt), id)
		ch <- prometheus.MustNewConstMetric(oldLastDecided, prometheus.GaugeValue, secs(pv.VerdictAt), id)
	}
}

// keySeriesLines returns the lines of body that belong to the per-key families, sorted.
func keySeriesLines(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		probe := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if strings.HasPrefix(probe, "staxkeys_key_") {
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

// TestKeySeriesAsTheRegistryWrote: the per-key series written from the snapshot are, line for
// line, what the registry wrote for them (names, labels, help, types and value formatting,
// timestamps with milliseconds included), for keys in every state; dashboards read them.
func TestKeySeriesAsTheRegistryWrote(t *testing.T) {
	db, kr := openStore(t)
	ctx := context.Background()
	v := keys.New(db, kr)
	answers := []domain.Outcome{"", domain.OutcomeValid, domain.OutcomeRevoked, domain.OutcomeDenied, domain.OutcomeUndecided}
	at := t0.Add(123 * time.Millisecond)
	for i, o := range answers {
		p, err := v.Add(ctx, keys.Input{Email: "team" + strconv.Itoa(i) + "@example.com", Key: "sk_live_APIKEY_series_" + strconv.Itoa(1_000_000+i)})
		if err != nil {
			t.Fatal(err)
		}
		if o == "" {
			continue // stays pending, never checked
		}
		rec := checker.Decide(p, staxapi.Result{Outcome: o, HTTPStatus: 200, Reason: "test"}, at, checker.DefaultConfig(), time.Hour,
			func() float64 { return 0.5 })
		if err := db.RecordCheck(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	verdicts, err := db.KeyVerdicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(registryKeySeries{verdicts: verdicts})
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	want := keySeriesLines(t, rec.Body.String())

	m := metrics.New(db, nil, metrics.Options{CacheFor: -1})
	got := keySeriesLines(t, scrapeText(t, m))
	if len(want) != 6+6*len(answers) {
		t.Fatalf("the registry wrote %d per-key lines, want %d", len(want), 6+6*len(answers))
	}
	if !slices.Equal(got, want) {
		t.Errorf("per-key lines differ from the registry's:\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestScrapeIsTextWhateverTheScraperAsks: the answer is the text format, uncompressed, even
// when the scraper would take protobuf or gzip, since the per-key part is written as text.
func TestScrapeIsTextWhateverTheScraperAsks(t *testing.T) {
	db, _ := openStore(t)
	m := metrics.New(db, nil, metrics.Options{CacheFor: -1})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3")
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	if ce := rec.Header().Get("Content-Encoding"); ce != "" {
		t.Errorf("Content-Encoding %q, want none", ce)
	}
	if !strings.Contains(rec.Body.String(), "# TYPE staxkeys_key_verdict gauge") {
		t.Error("no staxkeys_key_verdict family in the scrape")
	}
}
