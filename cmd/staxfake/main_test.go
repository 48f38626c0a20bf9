package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// syncBuffer lets the test read what run writes from another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDemoPairDeterministic(t *testing.T) {
	keyRe := regexp.MustCompile(`^[a-z0-9]{40}$`)
	seen := map[string]bool{}
	for i := 1; i <= 100; i++ {
		label, email, key := demoPair(7, i)
		l2, e2, k2 := demoPair(7, i)
		if label != l2 || email != e2 || key != k2 {
			t.Fatal("demoPair is not deterministic")
		}
		if !keyRe.MatchString(key) || seen[key] {
			t.Fatalf("key %d malformed or repeated", i)
		}
		seen[key] = true
		if email != "team"+strings.TrimPrefix(label, "Demo team ")+"@example.com" {
			t.Errorf("label %q email %q", label, email)
		}
	}
	if _, _, k := demoPair(8, 1); seen[k] {
		t.Error("another seed gives the same key")
	}
}

func TestRunServesDemoPairs(t *testing.T) {
	dir := t.TempDir()
	pairs := filepath.Join(dir, "pairs.csv")
	content := "label,email,key,behavior\n# a comment\nOps,ops@example.com,opskey,denied\nDev,dev@example.com,devkey\n"
	if err := os.WriteFile(pairs, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-keys", "3", "-seed", "5", "-pairs-file", pairs}, &stdout, &stderr)
	}()
	urlRe := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := urlRe.FindStringSubmatch(stderr.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("no listening URL logged; stderr: %s", stderr.String())
	}

	recs, err := csv.NewReader(strings.NewReader(stdout.String())).ReadAll()
	if err != nil || len(recs) != 4 || strings.Join(recs[0], ",") != "label,email,key" {
		t.Fatalf("stdout CSV = %q (%v)", stdout.String(), err)
	}
	status := func(email, key string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.Header.Set("Email", email)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, r := range recs[1:] {
		if st := status(r[1], r[2]); st != 200 {
			t.Errorf("demo pair %s: status %d", r[0], st)
		}
		if strings.Contains(stderr.String(), r[2]) {
			t.Error("a key was logged to stderr")
		}
	}
	if st := status("ops@example.com", "opskey"); st != 403 {
		t.Errorf("pairs-file denied pair: status %d", st)
	}
	if st := status("dev@example.com", "devkey"); st != 200 {
		t.Errorf("pairs-file default-valid pair: status %d", st)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop when its context ended")
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("A,a@example.com,secretkey,bogus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-default", "nonsense"},
		{"-keys", "-1"},
		{"extra"},
		{"-addr", "127.0.0.1:0", "-pairs-file", bad},
		{"-addr", "127.0.0.1:0", "-pairs-file", filepath.Join(dir, "missing.csv")},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if err == nil {
			t.Errorf("run(%q) succeeded", args)
			continue
		}
		if strings.Contains(err.Error(), "secretkey") || strings.Contains(err.Error(), "a@example.com") {
			t.Errorf("error leaks pair content: %v", err)
		}
	}
	if _, err := staxfake.ParseBehavior("valid"); err != nil {
		t.Fatal(err)
	}
}
