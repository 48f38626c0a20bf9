// Command staxfake runs the programmable Stax.ai stand-in from
// tests/staxfake, so demos and benchmarks can point staxkeys at it.
//
//	go run ./cmd/staxfake [-addr 127.0.0.1:9999] [-latency 50ms] [-default revoked]
//	                      [-keys N [-seed S]] [-pairs-file FILE]
//
// With -keys N it registers N demo pairs as valid and prints them to stdout
// as CSV (label,email,key) ready to import. Logs go to stderr.
package main

import (
	"context"
	"crypto/sha512"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(2)
	}
}

// run is main without the process: testable, and it returns when ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("staxfake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9999", "listen address")
	latency := fs.Duration("latency", 0, "delay added to every API answer")
	def := fs.String("default", string(staxfake.Revoked), "behaviour for unknown pairs: "+behaviorList())
	keys := fs.Int("keys", 0, "register this many demo pairs as valid and print them as CSV")
	seed := fs.Int64("seed", 1, "seed for the demo keys; the same seed gives the same keys")
	pairsFile := fs.String("pairs-file", "", "CSV of label,email,key[,behavior] to register")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("staxfake: unexpected arguments %q", fs.Args())
	}
	if *keys < 0 {
		return errors.New("staxfake: -keys must not be negative")
	}
	defBehavior, err := staxfake.ParseBehavior(*def)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "staxfake: ", log.LstdFlags)

	s, err := staxfake.Start(staxfake.Options{Addr: *addr, Latency: *latency, Default: defBehavior})
	if err != nil {
		return err
	}
	defer s.Close()

	if *pairsFile != "" {
		n, err := loadKeys(s, *pairsFile)
		if err != nil {
			return err
		}
		logger.Printf("registered %d pairs from %s", n, *pairsFile)
	}
	if *keys > 0 {
		w := csv.NewWriter(stdout)
		_ = w.Write([]string{"label", "email", "key"})
		for i := 1; i <= *keys; i++ {
			label, email, key := demoPair(*seed, i)
			s.Set(email, key, staxfake.Valid)
			_ = w.Write([]string{label, email, key})
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return fmt.Errorf("staxfake: writing the demo pairs: %w", err)
		}
	}

	u := s.URL()
	logger.Printf("listening on %s (unknown pairs answer %q, latency %s)", u, defBehavior, *latency)
	logger.Printf("control API: curl -X POST %s/_fake/keys -d '{\"email\":\"a@example.com\",\"key\":\"...\",\"behavior\":\"valid\"}'", u)
	logger.Printf("             curl -X POST %s/_fake/team -d '{\"email\":\"a@example.com\",\"behavior\":\"ratelimited\"}'   (every key of one team; \"\" clears)", u)
	logger.Printf("             curl -X POST %s/_fake/all -d '{\"behavior\":\"bad-gateway\"}'   (\"\" clears)", u)
	logger.Printf("             curl -X POST %s/_fake/latency -d '{\"latency\":\"50ms\"}'", u)
	logger.Printf("             curl %s/_fake/stats", u)
	logger.Printf("behaviours: %s", behaviorList())

	<-ctx.Done()
	logger.Printf("stopping after %d requests", s.Requests())
	return nil
}

func behaviorList() string {
	var names []string
	for _, b := range staxfake.Behaviors() {
		names = append(names, string(b))
	}
	return strings.Join(names, ", ")
}

// demoPair derives pair i from the seed with SHA-512 rather than math/rand,
// so the same seed prints the same keys on every Go version.
func demoPair(seed int64, i int) (label, email, key string) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	sum := sha512.Sum512([]byte("staxfake-demo-key/" + strconv.FormatInt(seed, 10) + "/" + strconv.Itoa(i)))
	b := make([]byte, 40)
	for j := range b {
		b[j] = alphabet[int(sum[j])%len(alphabet)]
	}
	return fmt.Sprintf("Demo team %d", i), fmt.Sprintf("team%d@example.com", i), string(b)
}

// loadKeys registers the pairs of a CSV file. Errors name the line, never
// its content, since the content is credentials.
func loadKeys(s *staxfake.Server, path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("staxfake: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.Comment = '#'
	r.TrimLeadingSpace = true
	n := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return n, fmt.Errorf("staxfake: %s line %d: malformed CSV", path, line)
		}
		if n == 0 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "label") {
			continue // header row
		}
		if len(rec) < 3 || len(rec) > 4 {
			return n, fmt.Errorf("staxfake: %s line %d: want label,email,key[,behavior], got %d fields", path, line, len(rec))
		}
		email, key := strings.TrimSpace(rec[1]), strings.TrimSpace(rec[2])
		if email == "" || key == "" {
			return n, fmt.Errorf("staxfake: %s line %d: empty email or key", path, line)
		}
		b := staxfake.Valid
		if len(rec) == 4 && strings.TrimSpace(rec[3]) != "" {
			if b, err = staxfake.ParseBehavior(rec[3]); err != nil {
				return n, fmt.Errorf("staxfake: %s line %d: %w", path, line, err)
			}
		}
		s.Set(email, key, b)
		n++
	}
}
