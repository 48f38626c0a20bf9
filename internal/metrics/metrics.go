// Package metrics exposes staxkeys' state to Prometheus: pairs by verdict, checks by outcome,
// check latency, the checker's last cycle and the upstream outage, plus Go and process metrics.
// Label values are pair ids and fixed words, never an email or a key.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/store"
)

// pairsCacheFor bounds how often a scrape reads the pairs table.
const pairsCacheFor = 5 * time.Second

// Metrics owns a registry with staxkeys' collectors.
type Metrics struct {
	reg     *prometheus.Registry
	checks  *prometheus.CounterVec
	latency prometheus.Histogram
}

// New registers the collectors. status reports the checker; nil when there is none.
func New(db *store.DB, status func() checker.Status) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "staxkeys_checks_total",
		Help: "Checks sent to the Stax.ai API, by outcome (valid, revoked, denied, error).",
	}, []string{"outcome"})
	for _, o := range []store.Outcome{store.OutcomeValid, store.OutcomeRevoked, store.OutcomeDenied, store.OutcomeError} {
		m.checks.WithLabelValues(string(o))
	}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "staxkeys_check_duration_seconds",
		Help:    "Time the Stax.ai API took to answer a check (or to fail).",
		Buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})
	m.reg.MustRegister(m.checks, m.latency,
		&stateCollector{db: db, status: status},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// CheckRecorded counts one finished check (checker.Observer).
func (m *Metrics) CheckRecorded(_ store.Pair, rec store.CheckRecord) {
	m.checks.WithLabelValues(string(rec.Check.Outcome)).Inc()
	m.latency.Observe(rec.Check.Latency.Seconds())
}

// OutageChanged is part of checker.Observer; the outage gauge reads the checker's status instead.
func (m *Metrics) OutageChanged(bool, time.Time, time.Time, string) {}

// SuspicionChanged is part of checker.Observer; the gauges read checker.Status instead.
func (m *Metrics) SuspicionChanged(checker.Suspicion) {}

// PauseChanged is part of checker.Observer; the gauges read checker.Status instead.
func (m *Metrics) PauseChanged(bool, time.Time, time.Time, string) {}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

var (
	descPairs = prometheus.NewDesc("staxkeys_pairs",
		"Registered key pairs by verdict (undecided counts pairs whose last check failed).", []string{"verdict"}, nil)
	descPairVerdict = prometheus.NewDesc("staxkeys_pair_verdict",
		"1 for each pair's current verdict.", []string{"pair_id", "verdict"}, nil)
	descLastCycle = prometheus.NewDesc("staxkeys_checker_last_cycle_timestamp_seconds",
		"When the checker last had no pair overdue (0 before the first time).", nil, nil)
	descOutage = prometheus.NewDesc("staxkeys_upstream_outage",
		"1 while the Stax.ai API looks down.", nil, nil)
	descInterval = prometheus.NewDesc("staxkeys_checker_effective_interval_seconds",
		"How often each pair is checked, after stretching for the rate cap.", nil, nil)
	descUp = prometheus.NewDesc("staxkeys_database_up",
		"1 when the database answered the last scrape.", nil, nil)
)

// stateCollector reads the current state at scrape time, caching the pairs table briefly so
// frequent scrapes of many pairs stay cheap.
type stateCollector struct {
	db     *store.DB
	status func() checker.Status

	mu       sync.Mutex
	at       time.Time
	counts   store.StatusCounts
	verdicts []store.PairVerdict // replaced, never modified in place: Collect may still read an old one
	err      error
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPairs, descPairVerdict, descLastCycle, descOutage, descInterval, descUp} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	counts, verdicts, err := c.load()
	up := 1.0
	if err != nil {
		up = 0
	} else {
		for v, n := range map[string]int{"pending": counts.Pending, "valid": counts.Valid, "revoked": counts.Revoked,
			"denied": counts.Denied, "undecided": counts.Undecided} {
			ch <- prometheus.MustNewConstMetric(descPairs, prometheus.GaugeValue, float64(n), v)
		}
		for _, pv := range verdicts {
			ch <- prometheus.MustNewConstMetric(descPairVerdict, prometheus.GaugeValue, 1,
				strconv.FormatInt(pv.ID, 10), string(pv.Verdict))
		}
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
	if c.status == nil {
		return
	}
	st := c.status()
	last := 0.0
	if !st.LastCycleAt.IsZero() {
		last = float64(st.LastCycleAt.UnixMilli()) / 1000
	}
	outage := 0.0
	if st.Outage {
		outage = 1
	}
	ch <- prometheus.MustNewConstMetric(descLastCycle, prometheus.GaugeValue, last)
	ch <- prometheus.MustNewConstMetric(descOutage, prometheus.GaugeValue, outage)
	ch <- prometheus.MustNewConstMetric(descInterval, prometheus.GaugeValue, st.EffectiveInterval.Seconds())
}

func (c *stateCollector) load() (store.StatusCounts, []store.PairVerdict, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < pairsCacheFor {
		return c.counts, c.verdicts, c.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.at = time.Now()
	c.counts, c.err = c.db.CountPairs(ctx)
	if c.err != nil {
		return c.counts, nil, c.err
	}
	c.verdicts, c.err = c.db.PairVerdicts(ctx)
	return c.counts, c.verdicts, c.err
}
