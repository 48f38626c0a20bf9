// Package loadtest puts staxkeys under load the way a busy team would: concurrent clients read
// and write through the dashboard pages and the JSON API while the background checker checks
// every key against the fake Stax.ai API about once a second. It counts server errors (5xx),
// transport failures and "database is locked" / SQLITE_BUSY lines in the server's log, and
// measures latency (p50, p99, max) and throughput per endpoint.
//
// cmd/staxload runs it from the command line (32 clients for 30 s by default); a short run is
// a test. Every request loop is bounded in time and in count, and every server listens on
// 127.0.0.1.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/staxkeys/staxkeys/tests/staxfake"
	"github.com/staxkeys/staxkeys/tests/systest"
)

// Config says how hard and how long to push.
type Config struct {
	// Bin is a built staxkeys binary to run as a process; "" runs the program in this process.
	Bin string
	// Clients is how many clients run at once; each is a logged-in browser and an API client.
	Clients int
	// Duration is how long the clients send requests.
	Duration time.Duration
	// MaxRequests bounds the requests of one client, whatever the duration.
	MaxRequests int
	// Keys is how many pairs are registered before the clients start.
	Keys int
	// FakeLatency is added to every answer of the fake Stax.ai API.
	FakeLatency time.Duration
	// CheckInterval and CheckConcurrency tune the checker (STAXKEYS_CHECK_*).
	CheckInterval    time.Duration
	CheckConcurrency int
	// Progress receives a line per phase; nil is quiet.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	if c.Clients <= 0 {
		c.Clients = 32
	}
	if c.Duration <= 0 {
		c.Duration = 30 * time.Second
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = 1_000_000
	}
	if c.Keys <= 0 {
		c.Keys = 200
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = time.Second
	}
	if c.CheckConcurrency <= 0 {
		c.CheckConcurrency = 8
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// Stat is what one endpoint saw.
type Stat struct {
	Endpoint string
	Count    int
	// Classes counts answers by status class, [2] 2xx ... [5] 5xx. [0] counts the 503s of
	// /readyz that say only that the checker is behind its schedule: a readiness verdict
	// (the machine cannot check every key as often as configured), not a server error.
	Classes       [6]int
	P50, P99, Max time.Duration
	PerSecond     float64
}

// Report is the outcome of a run.
type Report struct {
	Config          Config
	Elapsed         time.Duration
	Endpoints       []Stat
	Total           Stat
	TransportErrors []string // requests that got no answer
	BusyLines       []string // server log lines saying "database is locked" or SQLITE_BUSY
	ErrorLines      []string // server log lines at level ERROR
	Checks          int64    // requests the checker sent to the fake Stax.ai
	KeysAtEnd       int
}

// Server5xx counts answers with a 5xx status.
func (r *Report) Server5xx() int { return r.Total.Classes[5] }

// OK reports a clean run: no 5xx, no transport error, no busy database, no error logged.
func (r *Report) OK() bool {
	return r.Server5xx() == 0 && len(r.TransportErrors) == 0 && len(r.BusyLines) == 0 && len(r.ErrorLines) == 0
}

// Run starts the fake Stax.ai API and staxkeys on a fresh data directory, registers pairs,
// drives the clients for the configured time, stops the server and reports.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	fake, err := staxfake.Start(staxfake.Options{Default: staxfake.Valid, Latency: cfg.FakeLatency})
	if err != nil {
		return nil, err
	}
	defer fake.Close()
	dir, err := os.MkdirTemp("", "staxload-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	env := map[string]string{
		"STAXKEYS_DATA_DIR":          dir,
		"STAXKEYS_API_URL":           fake.URL(),
		"STAXKEYS_CHECK_INTERVAL":    cfg.CheckInterval.String(),
		"STAXKEYS_CHECK_CONCURRENCY": fmt.Sprint(cfg.CheckConcurrency),
		"STAXKEYS_CHECK_RATE":        "0",
		"STAXKEYS_CHECK_TIMEOUT":     "5s",
	}
	const email, password = "load@example.com", "load test passphrase"
	if err := systest.CreateAdmin(ctx, cfg.Bin, env, email, password); err != nil {
		return nil, err
	}
	token, err := systest.CreateToken(ctx, cfg.Bin, env, "load")
	if err != nil {
		return nil, err
	}
	prog, err := systest.Start(ctx, systest.Options{Bin: cfg.Bin, Env: env, Args: []string{"--addr", "127.0.0.1:0"}})
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			prog.Kill()
		}
	}()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 4 * cfg.Clients
	transport.MaxIdleConnsPerHost = 4 * cfg.Clients

	fmt.Fprintf(cfg.Progress, "registering %d pairs\n", cfg.Keys)
	pool := &keyPool{}
	if err := seed(ctx, systest.NewAPI(prog.URL, token, transport), pool, cfg.Keys); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Progress, "logging in %d clients\n", cfg.Clients)
	clients := make([]*client, cfg.Clients)
	for i := range clients {
		b := systest.NewBrowser(prog.URL, transport)
		if err := b.Login(ctx, email, password); err != nil {
			return nil, err
		}
		clients[i] = &client{id: i, browser: b, api: systest.NewAPI(prog.URL, token, transport), pool: pool,
			rnd: rand.New(rand.NewPCG(uint64(i), 42)), timings: map[string][]time.Duration{}, classes: map[string]*[6]int{}}
	}

	checksBefore := fake.Requests()
	fmt.Fprintf(cfg.Progress, "running %d clients for %v\n", cfg.Clients, cfg.Duration)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for n := 0; n < cfg.MaxRequests && time.Now().Before(deadline) && ctx.Err() == nil; n++ {
				c.step(ctx)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	checks := fake.Requests() - checksBefore

	r := &Report{Config: cfg, Elapsed: elapsed, Checks: checks}
	if res, err := systest.NewAPI(prog.URL, token, transport).Do(ctx, http.MethodGet, "/api/v1/keys?limit=1", nil); err == nil {
		var page struct{ Total int }
		_ = res.JSON(&page)
		r.KeysAtEnd = page.Total
	}
	fmt.Fprintln(cfg.Progress, "stopping the server")
	stopped = true
	if err := prog.Stop(); err != nil {
		return nil, fmt.Errorf("loadtest: the server did not stop cleanly: %w", err)
	}
	r.collect(clients, prog.Log.String())
	return r, nil
}

// keyPool is the pairs the clients know of, shared between them.
type keyPool struct {
	mu     sync.Mutex
	ids    []int64
	emails map[int64]string
}

func (p *keyPool) add(id int64, email string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.emails == nil {
		p.emails = map[int64]string{}
	}
	p.ids = append(p.ids, id)
	p.emails[id] = email
}

// pick returns a random known pair, or 0 when there is none.
func (p *keyPool) pick(rnd *rand.Rand) (int64, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		return 0, ""
	}
	id := p.ids[rnd.IntN(len(p.ids))]
	return id, p.emails[id]
}

func (p *keyPool) remove(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.ids, id); i >= 0 {
		p.ids = slices.Delete(p.ids, i, i+1)
	}
	delete(p.emails, id)
}

var keySeq atomic.Int64

// newKey returns a label, email and key no other pair has.
func newKey(prefix string) (string, string, string) {
	n := keySeq.Add(1)
	return fmt.Sprintf("%s %d", prefix, n), fmt.Sprintf("team%d@load.example.com", n), fmt.Sprintf("sk_load_%09d_abcdefghij", n)
}

func seed(ctx context.Context, api *systest.API, pool *keyPool, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				label, email, key := newKey("Seeded")
				p, err := api.Add(ctx, label, email, key)
				if err != nil {
					errs <- err
					return
				}
				pool.add(p.ID, email)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// client is one simulated user: a browser session and an API token.
type client struct {
	id      int
	browser *systest.Browser
	api     *systest.API
	pool    *keyPool
	rnd     *rand.Rand
	mine    []int64 // pairs this client added, the only ones it deletes

	timings   map[string][]time.Duration
	classes   map[string]*[6]int
	transport []string
}

// op is one kind of request and how often it is chosen.
type op struct {
	weight int
	run    func(c *client, ctx context.Context) (endpoint string, r *systest.Response, err error)
}

var ops = []op{
	// Reads: about 70% of the requests.
	{18, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		views := []string{"/", "/?status=valid", "/?q=team1", "/?sort=-checked", "/?page=2", "/?status=undecided&sort=label"}
		r, err := c.browser.Get(ctx, views[c.rnd.IntN(len(views))])
		return "GET / (dashboard)", r, err
	}},
	{8, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		id, _ := c.pool.pick(c.rnd)
		r, err := c.browser.Get(ctx, fmt.Sprint("/keys/", id))
		return "GET /keys/:id", r, err
	}},
	{2, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		r, err := c.browser.Get(ctx, "/keys/new")
		return "GET /keys/new", r, err
	}},
	{2, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		r, err := c.browser.Get(ctx, "/tokens")
		return "GET /tokens", r, err
	}},
	{14, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		queries := []string{"?limit=50", "?status=valid&limit=20", "?q=team&sort=label", "?sort=-added&limit=10&offset=20"}
		r, err := c.api.Do(ctx, http.MethodGet, "/api/v1/keys"+queries[c.rnd.IntN(len(queries))], nil)
		return "GET /api/v1/keys", r, err
	}},
	{10, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		id, _ := c.pool.pick(c.rnd)
		r, err := c.api.Do(ctx, http.MethodGet, fmt.Sprint("/api/v1/keys/", id), nil)
		return "GET /api/v1/keys/:id", r, err
	}},
	{4, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		id, _ := c.pool.pick(c.rnd)
		r, err := c.api.Do(ctx, http.MethodGet, fmt.Sprint("/api/v1/keys/", id, "/checks?limit=30"), nil)
		return "GET /api/v1/keys/:id/checks", r, err
	}},
	{4, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		r, err := c.api.Do(ctx, http.MethodGet, "/api/v1/status", nil)
		return "GET /api/v1/status", r, err
	}},
	{2, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		r, err := c.browser.Get(ctx, "/healthz")
		return "GET /healthz", r, err
	}},
	{2, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		r, err := c.browser.Get(ctx, "/readyz")
		return readyz, r, err
	}},
	{2, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		r, err := c.browser.Get(ctx, "/static/app.css")
		return "GET /static/*", r, err
	}},
	// Writes: about 30%.
	{8, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		label, email, key := newKey("API")
		r, err := c.api.Do(ctx, http.MethodPost, "/api/v1/keys", map[string]string{"label": label, "email": email, "key": key})
		if err == nil && r.Status == http.StatusCreated {
			var p systest.Key
			if r.JSON(&p) == nil {
				c.pool.add(p.ID, email)
				c.mine = append(c.mine, p.ID)
			}
		}
		return "POST /api/v1/keys", r, err
	}},
	{5, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		id, _ := c.pool.pick(c.rnd)
		r, err := c.api.Do(ctx, http.MethodPatch, fmt.Sprint("/api/v1/keys/", id), map[string]string{"label": fmt.Sprintf("patched by %d", c.id)})
		return "PATCH /api/v1/keys/:id", r, err
	}},
	{2, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		id := c.takeOwn()
		r, err := c.api.Do(ctx, http.MethodDelete, fmt.Sprint("/api/v1/keys/", id), nil)
		return "DELETE /api/v1/keys/:id", r, err
	}},
	{3, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		id, _ := c.pool.pick(c.rnd)
		r, err := c.api.Do(ctx, http.MethodPost, fmt.Sprint("/api/v1/keys/", id, "/check"), nil)
		return "POST /api/v1/keys/:id/check", r, err
	}},
	{5, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		label, email, key := newKey("UI")
		r, err := c.browser.Post(ctx, "/keys", url.Values{"label": {label}, "email": {email}, "key": {key}})
		return "POST /keys (add form)", r, err
	}},
	{4, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		id, email := c.pool.pick(c.rnd)
		r, err := c.browser.Post(ctx, fmt.Sprint("/keys/", id), url.Values{"label": {fmt.Sprintf("edited by %d", c.id)}, "email": {email}})
		return "POST /keys/:id (edit form)", r, err
	}},
	{2, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		id, _ := c.pool.pick(c.rnd)
		r, err := c.browser.Post(ctx, fmt.Sprint("/keys/", id, "/check"), url.Values{"back": {"list"}})
		return "POST /keys/:id/check", r, err
	}},
	{1, func(c *client, ctx context.Context) (string, *systest.Response, error) {
		id := c.takeOwn()
		r, err := c.browser.Post(ctx, fmt.Sprint("/keys/", id, "/delete"), nil)
		return "POST /keys/:id/delete", r, err
	}},
}

var totalWeight = func() int {
	n := 0
	for _, o := range ops {
		n += o.weight
	}
	return n
}()

// takeOwn removes and returns one of this client's own pairs, or 0 (a 404) when it has none.
func (c *client) takeOwn() int64 {
	if len(c.mine) == 0 {
		return 0
	}
	id := c.mine[len(c.mine)-1]
	c.mine = c.mine[:len(c.mine)-1]
	c.pool.remove(id)
	return id
}

// step sends one request chosen at random by weight and records the answer.
func (c *client) step(ctx context.Context) {
	n := c.rnd.IntN(totalWeight)
	for _, o := range ops {
		if n -= o.weight; n >= 0 {
			continue
		}
		start := time.Now()
		endpoint, r, err := o.run(c, ctx)
		d := time.Since(start)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				c.transport = append(c.transport, endpoint+": "+err.Error())
			}
			return
		}
		c.timings[endpoint] = append(c.timings[endpoint], d)
		cl := c.classes[endpoint]
		if cl == nil {
			cl = new([6]int)
			c.classes[endpoint] = cl
		}
		switch k := r.Status / 100; {
		case r.Status == http.StatusServiceUnavailable && endpoint == readyz && onlyCheckerBehind(r):
			cl[0]++
		case k >= 1 && k <= 5:
			cl[k]++
		}
		return
	}
}

const readyz = "GET /readyz"

// onlyCheckerBehind reports whether a 503 from /readyz fails on the checker's schedule alone.
func onlyCheckerBehind(r *systest.Response) bool {
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	if r.JSON(&body) != nil || len(body.Checks) == 0 {
		return false
	}
	for name, v := range body.Checks {
		if (name == "checker") == (v == "ok") {
			return false
		}
	}
	return true
}

// NotReady counts the 503s of /readyz that only said the checker was behind its schedule.
func (r *Report) NotReady() int { return r.Total.Classes[0] }

// collect merges the clients' numbers and reads the server's log.
func (r *Report) collect(clients []*client, log string) {
	timings := map[string][]time.Duration{}
	classes := map[string]*[6]int{}
	for _, c := range clients {
		for ep, ds := range c.timings {
			timings[ep] = append(timings[ep], ds...)
		}
		for ep, cl := range c.classes {
			if classes[ep] == nil {
				classes[ep] = new([6]int)
			}
			for k := range cl {
				classes[ep][k] += cl[k]
			}
		}
		r.TransportErrors = append(r.TransportErrors, c.transport...)
	}
	var all []time.Duration
	r.Total.Endpoint = "total"
	for ep, ds := range timings {
		s := stat(ep, ds, r.Elapsed)
		s.Classes = *classes[ep]
		r.Endpoints = append(r.Endpoints, s)
		all = append(all, ds...)
		for k := range s.Classes {
			r.Total.Classes[k] += s.Classes[k]
		}
	}
	slices.SortFunc(r.Endpoints, func(a, b Stat) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	classesTotal := r.Total.Classes
	r.Total = stat("total", all, r.Elapsed)
	r.Total.Classes = classesTotal
	for _, line := range strings.Split(log, "\n") {
		low := strings.ToLower(line)
		if strings.Contains(low, "database is locked") || strings.Contains(low, "sqlite_busy") {
			r.BusyLines = append(r.BusyLines, line)
		}
		// The request log says ERROR for every 5xx, readiness verdicts included; those are
		// counted above from the answers themselves.
		if strings.Contains(line, "level=ERROR") && !strings.Contains(line, "path=/readyz status=503") {
			r.ErrorLines = append(r.ErrorLines, line)
		}
	}
}

func stat(endpoint string, ds []time.Duration, elapsed time.Duration) Stat {
	s := Stat{Endpoint: endpoint, Count: len(ds)}
	if len(ds) == 0 {
		return s
	}
	slices.Sort(ds)
	s.P50, s.P99, s.Max = ds[len(ds)*50/100], ds[min(len(ds)-1, len(ds)*99/100)], ds[len(ds)-1]
	s.PerSecond = float64(len(ds)) / elapsed.Seconds()
	return s
}

// Print writes the report as a table.
func (r *Report) Print(w io.Writer) {
	c := r.Config
	mode := "in process"
	if c.Bin != "" {
		mode = c.Bin
	}
	fmt.Fprintf(w, "staxkeys under load: %d clients for %v (at most %d requests each), server %s\n", c.Clients, r.Elapsed.Round(time.Millisecond), c.MaxRequests, mode)
	fmt.Fprintf(w, "checker every %v, %d at once, against the fake Stax.ai (+%v latency); %d pairs at the start, %d at the end\n\n",
		c.CheckInterval, c.CheckConcurrency, c.FakeLatency, c.Keys, r.KeysAtEnd)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\trequests\treq/s\tp50\tp99\tmax\t2xx\t3xx\t4xx\t5xx\tnot ready\t")
	for _, s := range append(r.Endpoints, r.Total) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", s.Endpoint, s.Count, s.PerSecond,
			ms(s.P50), ms(s.P99), ms(s.Max), s.Classes[2], s.Classes[3], s.Classes[4], s.Classes[5], s.Classes[0])
	}
	tw.Flush()
	fmt.Fprintf(w, "\nchecks sent by the checker: %d (%.1f/s)\n", r.Checks, float64(r.Checks)/r.Elapsed.Seconds())
	fmt.Fprintf(w, "5xx answers: %d; transport errors: %d; \"database is locked\"/SQLITE_BUSY log lines: %d; ERROR log lines: %d\n",
		r.Server5xx(), len(r.TransportErrors), len(r.BusyLines), len(r.ErrorLines))
	if n := r.NotReady(); n > 0 {
		fmt.Fprintf(w, "/readyz said 503 \"checker behind schedule\" %d times: the checker could not check every key every %v on this machine under this load\n",
			n, c.CheckInterval)
	}
	for _, list := range [][]string{r.TransportErrors, r.BusyLines, r.ErrorLines} {
		for i, l := range list {
			if i == 5 {
				fmt.Fprintf(w, "  … and %d more\n", len(list)-5)
				break
			}
			fmt.Fprintln(w, "  "+l)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
