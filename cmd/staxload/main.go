// Command staxload puts a staxkeys server under load and reports: 32 concurrent clients read
// and write through the dashboard pages and the JSON API for 30 s, while the background
// checker checks every key about once a second against the fake Stax.ai API. It prints p50,
// p99 and max latency and throughput per endpoint, and counts 5xx answers, transport errors
// and "database is locked" / SQLITE_BUSY lines in the server's log; it exits 1 if any of those
// is not zero.
//
//	go run ./cmd/staxload                            # the server in this process
//	go build -o /tmp/staxkeys . && go run ./cmd/staxload -bin /tmp/staxkeys   # as a process
//
// Everything listens on 127.0.0.1 and every client's loop is bounded by -duration and
// -max-requests. bench/loadtest's test runs a 3-second version.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/staxkeys/staxkeys/bench/loadtest"
)

func main() {
	var cfg loadtest.Config
	flag.StringVar(&cfg.Bin, "bin", "", "a built staxkeys binary to run as a process (default: the server runs in this process)")
	flag.IntVar(&cfg.Clients, "clients", 32, "concurrent clients, each a logged-in browser and an API client")
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long the clients send requests")
	flag.IntVar(&cfg.MaxRequests, "max-requests", 1_000_000, "at most this many requests per client")
	flag.IntVar(&cfg.Keys, "pairs", 200, "pairs registered before the run")
	flag.DurationVar(&cfg.FakeLatency, "latency", 20*time.Millisecond, "latency of the fake Stax.ai API")
	flag.DurationVar(&cfg.CheckInterval, "check-interval", 5*time.Second, "STAXKEYS_CHECK_INTERVAL: how often each key is checked")
	flag.IntVar(&cfg.CheckConcurrency, "check-concurrency", 16, "STAXKEYS_CHECK_CONCURRENCY")
	flag.Parse()
	cfg.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	report, err := loadtest.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "staxload:", err)
		os.Exit(2)
	}
	report.Print(os.Stdout)
	if !report.OK() {
		os.Exit(1)
	}
}
