// Package metrics exposes staxkeys' state to Prometheus: keys by verdict, each key's verdict as a
// state set with its last check times, checks by outcome, check latency, alert deliveries, the
// checker's pauses, the upstream outage and suspected upstream-wide changes, build information, plus Go and process metrics.
// Label values are key ids and fixed words, never an email or a key.
//
// No series is born or dies when a verdict changes: every key has one series per state, 1 for
// its verdict and 0 for the others, so a scrape of N keys always holds the same series and
// Prometheus keeps no dead ones (a verdict as a label value of a single series would start a
// new series at each change).
package metrics

import (
	"bufio"
	"context"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
)

// defaultCacheFor bounds how often a scrape reads the pairs and deliveries tables.
const defaultCacheFor = 5 * time.Second

// States are the values of staxkeys_key_verdict's state label, one series each per key.
var States = []domain.Verdict{domain.Pending, domain.Valid, domain.Revoked, domain.Denied}

// Options tunes New; zero fields take defaults.
type Options struct {
	// Version is the version staxkeys_build_info reports ("dev" when empty).
	Version string
	// Now is the time pauses are judged against; nil means time.Now. Pass the checker's clock.
	Now func() time.Time
	// CacheFor is how long one read of the pairs and deliveries tables serves scrapes, so that
	// frequent scrapes of many keys stay cheap (default 5s; negative: read at every scrape).
	CacheFor time.Duration
}

// Metrics owns a registry with staxkeys' collectors. It is a checker.Observer, and its
// DeliveryAttempted hears of alert deliveries (notify.Notifier.OnAttempt).
type Metrics struct {
	reg      *prometheus.Registry
	checks   *prometheus.CounterVec
	latency  prometheus.Histogram
	sent     *prometheus.CounterVec
	failures *prometheus.CounterVec
	givenUp  *prometheus.CounterVec
	state    *stateCollector
}

// New registers the collectors. status reports the checker; nil when there is none.
func New(db *store.DB, status func() checker.Status, opts Options) *Metrics {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheFor == 0 {
		opts.CacheFor = defaultCacheFor
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "staxkeys_checks_total",
		Help: "Checks sent to the Stax.ai API, by outcome (valid, revoked, denied, error).",
	}, []string{"outcome"})
	for _, o := range []domain.Outcome{domain.OutcomeValid, domain.OutcomeRevoked, domain.OutcomeDenied, domain.OutcomeUndecided} {
		m.checks.WithLabelValues(string(o))
	}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "staxkeys_check_duration_seconds",
		Help:    "Time the Stax.ai API took to answer a check (or to fail).",
		Buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	})
	m.sent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "staxkeys_deliveries_sent_total",
		Help: "Alert deliveries sent, by channel.",
	}, []string{"channel"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "staxkeys_delivery_failures_total",
		Help: "Failed tries to deliver an alert, by channel; each is retried with backoff unless it was the last.",
	}, []string{"channel"})
	m.givenUp = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "staxkeys_deliveries_given_up_total",
		Help: "Alert deliveries given up after their last failed try (or a permanent error), by channel.",
	}, []string{"channel"})
	for _, ch := range notify.Channels() {
		m.sent.WithLabelValues(string(ch))
		m.failures.WithLabelValues(string(ch))
		m.givenUp.WithLabelValues(string(ch))
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "staxkeys_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: buildLabels(opts.Version),
	})
	build.Set(1)
	m.state = &stateCollector{db: db, status: status, now: opts.Now, cacheFor: opts.CacheFor}
	m.reg.MustRegister(m.checks, m.latency, m.sent, m.failures, m.givenUp, build, m.state,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Revision is the VCS revision staxkeys_build_info reports, stamped at build time where the
// build has no checkout to read it from (the Containerfile's REVISION argument:
// -ldflags "-X github.com/staxkeys/staxkeys/internal/metrics.Revision=abc123").
var Revision = ""

// buildLabels are staxkeys_build_info's labels: the version, the VCS revision (stamped, or read
// from the build information when built in a checkout) and the Go version.
func buildLabels(version string) prometheus.Labels {
	l := prometheus.Labels{"version": version, "revision": "unknown", "goversion": runtime.Version()}
	if Revision != "" {
		l["revision"] = Revision
	} else if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				l["revision"] = s.Value
			}
		}
	}
	return l
}

// CheckRecorded counts one finished check (checker.Observer).
func (m *Metrics) CheckRecorded(_ domain.Key, rec store.CheckRecord) {
	m.checks.WithLabelValues(string(rec.Check.Outcome)).Inc()
	m.latency.Observe(rec.Check.Latency.Seconds())
}

// OutageChanged is part of checker.Observer; the outage gauge reads the checker's status instead.
func (m *Metrics) OutageChanged(bool, time.Time, time.Time, string) {}

// SuspicionChanged is part of checker.Observer; the suspicion gauges read checker.Status instead.
func (m *Metrics) SuspicionChanged(domain.Suspicion) {}

// PauseChanged is part of checker.Observer; the pause gauges read checker.Status instead.
func (m *Metrics) PauseChanged(bool, time.Time, time.Time, string) {}

// DeliveryAttempted counts one try to deliver an alert (register it with notify.Notifier.OnAttempt).
func (m *Metrics) DeliveryAttempted(channel string, sent, final bool) {
	switch {
	case sent:
		m.sent.WithLabelValues(channel).Inc()
	case final:
		m.failures.WithLabelValues(channel).Inc()
		m.givenUp.WithLabelValues(channel).Inc()
	default:
		m.failures.WithLabelValues(channel).Inc()
	}
}

// Handler serves the metrics in the Prometheus text format.
//
// The per-key series (six per key) are written from the cached snapshot straight into the
// text format after the rest, which the registry gathers and encodes: through the registry,
// each of them cost an object built, sorted, hashed and encoded at every scrape, and a scrape
// of 2,000 keys took about 90 ms even from the cached snapshot (BenchmarkScrape). The answer is therefore always the text format,
// uncompressed (a scraper's Accept and Accept-Encoding are set aside): the registry's part
// and the per-key part must be in the same format, and compressing tens of megabytes at
// every scrape of 100,000 keys would cost what was saved.
func (m *Metrics) Handler() http.Handler {
	reg := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.Clone(r.Context())
		r.Header.Del("Accept")
		r.Header.Del("Accept-Encoding")
		reg.ServeHTTP(w, r)
		s := m.state.last() // the snapshot the registry's part was collected from
		if s.err != nil {
			return
		}
		bw := bufio.NewWriterSize(w, 64<<10)
		writeKeySeries(bw, s.verdicts)
		bw.Flush()
	})
}

// writeKeySeries writes the per-key families in the text format, as the registry would have
// (values formatted alike), in key order.
func writeKeySeries(w *bufio.Writer, verdicts []store.KeyVerdict) {
	var b []byte
	head := func(name, help string) {
		w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n")
	}
	sample := func(name string, id []byte, state string, v float64) {
		b = append(b[:0], name...)
		b = append(b, `{key_id="`...)
		b = append(b, id...)
		if state != "" {
			b = append(b, `",state="`...)
			b = append(b, state...)
		}
		b = append(b, `"} `...)
		b = appendValue(b, v)
		b = append(b, '\n')
		w.Write(b)
	}
	var id []byte
	head(nameKeyVerdict, helpKeyVerdict)
	for _, pv := range verdicts {
		id = strconv.AppendInt(id[:0], pv.ID, 10)
		for _, st := range States {
			sample(nameKeyVerdict, id, string(st), b2f(pv.Verdict == st))
		}
	}
	head(nameKeyLastCheck, helpKeyLastCheck)
	for _, pv := range verdicts {
		id = strconv.AppendInt(id[:0], pv.ID, 10)
		sample(nameKeyLastCheck, id, "", seconds(pv.LastCheckAt))
	}
	head(nameKeyLastDecided, helpKeyLastDecided)
	for _, pv := range verdicts {
		id = strconv.AppendInt(id[:0], pv.ID, 10)
		sample(nameKeyLastDecided, id, "", seconds(pv.VerdictAt))
	}
}

// appendValue formats v as the Prometheus text encoder does.
func appendValue(b []byte, v float64) []byte {
	switch v {
	case 0:
		return append(b, '0')
	case 1:
		return append(b, '1')
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// The per-key families, written by writeKeySeries rather than through the registry.
const (
	nameKeyVerdict = "staxkeys_key_verdict"
	helpKeyVerdict = "Each key's verdict as a state set: 1 for the state it is in, 0 for the others (pending, valid, revoked, denied)."

	nameKeyLastCheck = "staxkeys_key_last_check_timestamp_seconds"
	helpKeyLastCheck = "When the key was last checked, whatever the outcome (0 before its first check)."

	nameKeyLastDecided = "staxkeys_key_last_decided_check_timestamp_seconds"
	helpKeyLastDecided = "When a check last had a decisive answer from Stax.ai confirming the key's verdict (0 while pending)."
)

var (
	descKeys = prometheus.NewDesc("staxkeys_pairs",
		"Registered keys by verdict (undecided counts keys whose last check failed, whatever their verdict).",
		[]string{"verdict"}, nil)
	// Keys expected dead (deleted at Stax.ai): still accepted is a problem, the worst kind, and
	// an alert rule's `staxkeys_pairs_still_accepted > 0`; retired ones are done. Both are also
	// in staxkeys_pairs under their verdict (valid; revoked or denied), which stays Stax.ai's word.
	descStillAccepted = prometheus.NewDesc("staxkeys_pairs_still_accepted",
		"Keys expected dead (deleted at Stax.ai after a leak or a rotation) that Stax.ai still accepts.", nil, nil)
	descRetired = prometheus.NewDesc("staxkeys_pairs_retired",
		"Keys expected dead that Stax.ai refuses (revoked or denied): retired as expected.", nil, nil)
	descDeliveries = prometheus.NewDesc("staxkeys_deliveries",
		"Alert deliveries in the log by channel and status: pending (queued or awaiting a retry), failed (given up), sent.",
		[]string{"channel", "status"}, nil)
	descLastCycle = prometheus.NewDesc("staxkeys_checker_last_cycle_timestamp_seconds",
		"When the checker last had no key overdue (0 before the first time).", nil, nil)
	descRunning = prometheus.NewDesc("staxkeys_checker_running",
		"1 while the background checker runs.", nil, nil)
	descOutage = prometheus.NewDesc("staxkeys_upstream_outage",
		"1 while the Stax.ai API looks down (only gentle probes are sent).", nil, nil)
	descOutageSince = prometheus.NewDesc("staxkeys_upstream_outage_since_timestamp_seconds",
		"When the current outage began (0 when there is none).", nil, nil)
	descPaused = prometheus.NewDesc("staxkeys_checker_paused",
		"1 while Stax.ai's rate limiting (a 429) holds every check back.", nil, nil)
	descPausedUntil = prometheus.NewDesc("staxkeys_checker_paused_until_timestamp_seconds",
		"When the last pause asked by Stax.ai ends or ended (0 if there was none).", nil, nil)
	descTeamsPaused = prometheus.NewDesc("staxkeys_teams_paused",
		"Teams whose checks wait for the Retry-After of their own 429 (a pause of every check is staxkeys_checker_paused).", nil, nil)
	descSuspicion = prometheus.NewDesc("staxkeys_upstream_suspicion",
		"1 while many keys changing the same way at once are held as a suspected upstream-wide change.", nil, nil)
	descSuspicionKeys = prometheus.NewDesc("staxkeys_upstream_suspicion_keys",
		"Keys held in the suspected upstream-wide change so far (0 when there is none).", nil, nil)
	descInterval = prometheus.NewDesc("staxkeys_checker_effective_interval_seconds",
		"How often each key is checked, after stretching for the rate cap.", nil, nil)
	descUp = prometheus.NewDesc("staxkeys_database_up",
		"1 when the database answered the last scrape.", nil, nil)
)

// stateCollector reads the current state at scrape time, caching the tables briefly so
// frequent scrapes of many keys stay cheap.
type stateCollector struct {
	db       *store.DB
	status   func() checker.Status
	now      func() time.Time
	cacheFor time.Duration

	mu  sync.Mutex
	at  time.Time
	snp snapshot // replaced, never modified in place: Collect may still read an old one
}

// snapshot is one read of the tables.
type snapshot struct {
	counts     domain.StatusCounts
	verdicts   []store.KeyVerdict
	deliveries map[string]domain.DeliveryCounts
	err        error
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descKeys, descStillAccepted, descRetired, descDeliveries, descLastCycle, descRunning, descOutage, descOutageSince, descPaused, descPausedUntil,
		descTeamsPaused, descSuspicion, descSuspicionKeys, descInterval, descUp} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	s := c.load()
	up := 1.0
	if s.err != nil {
		up = 0
	} else {
		for v, n := range map[string]int{"pending": s.counts.Pending, "valid": s.counts.Valid, "revoked": s.counts.Revoked,
			"denied": s.counts.Denied, "undecided": s.counts.Undecided} {
			gauge(descKeys, float64(n), v)
		}
		gauge(descStillAccepted, float64(s.counts.StillAccepted))
		gauge(descRetired, float64(s.counts.RetiredRevoked+s.counts.RetiredDenied))
		for _, chn := range notify.Channels() {
			d := s.deliveries[string(chn)]
			gauge(descDeliveries, float64(d.Pending), string(chn), string(domain.DeliveryPending))
			gauge(descDeliveries, float64(d.Failed), string(chn), string(domain.DeliveryFailed))
			gauge(descDeliveries, float64(d.Sent), string(chn), string(domain.DeliverySent))
		}
	}
	gauge(descUp, up)
	if c.status == nil {
		return
	}
	st := c.status()
	outageSince := time.Time{}
	if st.Outage {
		outageSince = st.OutageSince
	}
	gauge(descLastCycle, seconds(st.LastCycleAt))
	gauge(descRunning, b2f(st.Running))
	gauge(descOutage, b2f(st.Outage))
	gauge(descOutageSince, seconds(outageSince))
	gauge(descPaused, b2f(st.Paused(c.now())))
	gauge(descPausedUntil, seconds(st.PausedUntil))
	gauge(descTeamsPaused, float64(st.TeamsPaused))
	members := 0
	if st.Suspicion != nil {
		members = st.Suspicion.Count
	}
	gauge(descSuspicion, b2f(st.Suspicion != nil))
	gauge(descSuspicionKeys, float64(members))
	gauge(descInterval, st.EffectiveInterval.Seconds())
}

// last returns the snapshot the last Collect read or reused.
func (c *stateCollector) last() snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snp
}

func (c *stateCollector) load() snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cacheFor > 0 && !c.at.IsZero() && time.Since(c.at) < c.cacheFor {
		return c.snp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.at = time.Now()
	var s snapshot
	if s.counts, s.err = c.db.CountKeys(ctx); s.err == nil {
		if s.verdicts, s.err = c.db.KeyVerdicts(ctx); s.err == nil {
			s.deliveries, s.err = c.db.CountDeliveriesByChannel(ctx)
		}
	}
	c.snp = s
	return s
}

// seconds is t as Unix seconds with milliseconds, 0 for the zero time.
func seconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1000
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
