package checker

import (
	"sync"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// validRecord is what a valid answer for pair id records.
func validRecord(tb testing.TB, e *env, id int64) store.CheckRecord {
	tb.Helper()
	res := staxapi.Result{Outcome: domain.OutcomeValid, HTTPStatus: 200, Reason: "accepted"}
	return Decide(e.pair(tb, id), res, e.clock.Now(), testConfig(), time.Hour, func() float64 { return 0.5 })
}

// writeAll hands every record to w at once, each from its own goroutine as checks do, and
// fails the test on any error or when the writes do not end.
func writeAll(t *testing.T, w *writer, recs []store.CheckRecord) {
	t.Helper()
	errs := make(chan error, len(recs))
	var wg sync.WaitGroup
	for _, r := range recs {
		wg.Go(func() { errs <- w.write(r) })
	}
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(waitLimit):
		t.Fatalf("the writes did not end within %s", waitLimit)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// While other checks are in flight, a result waits for theirs and they share one commit
// (before, each result that found the writer idle was committed on its own).
func TestWriterGroupsTheChecksInFlight(t *testing.T) {
	e := newEnv(t, staxfake.Options{Default: staxfake.Valid})
	const n = 10
	var recs []store.CheckRecord
	for i := range n {
		recs = append(recs, validRecord(t, e, e.add(t, i, staxfake.Valid).ID))
	}
	// The window is far longer than the test: the commit can only come from the last of
	// the n checks in flight arriving.
	w := &writer{db: e.db, gather: time.Hour, inFlight: func() int { return n }}
	writeAll(t, w, recs)
	if got := w.commits.Load(); got != 1 {
		t.Errorf("%d results of the %d checks in flight took %d commits, want 1", n, n, got)
	}
	for _, r := range recs {
		if cs := e.checks(t, r.Check.KeyID); len(cs) != 1 {
			t.Errorf("pair %d has %d checks stored, want 1", r.Check.KeyID, len(cs))
		}
	}
}

// A check with nothing else in flight is written at once, not after the gather window.
func TestWriterWritesALoneCheckAtOnce(t *testing.T) {
	e := newEnv(t, staxfake.Options{Default: staxfake.Valid})
	p := e.add(t, 1, staxfake.Valid)
	w := &writer{db: e.db, gather: time.Hour, inFlight: func() int { return 1 }}
	writeAll(t, w, []store.CheckRecord{validRecord(t, e, p.ID)})
	if got := e.pair(t, p.ID).Verdict; got != domain.Valid {
		t.Errorf("verdict %q after the write, want %q", got, domain.Valid)
	}
}

// A full batch is committed without waiting for the rest of the checks in flight.
func TestWriterCommitsAFullBatchAtOnce(t *testing.T) {
	e := newEnv(t, staxfake.Options{Default: staxfake.Valid})
	var recs []store.CheckRecord
	for i := range maxBatch {
		recs = append(recs, validRecord(t, e, e.add(t, i, staxfake.Valid).ID))
	}
	w := &writer{db: e.db, gather: time.Hour, inFlight: func() int { return 10 * maxBatch }}
	writeAll(t, w, recs)
	if got := w.commits.Load(); got != 1 {
		t.Errorf("a full batch took %d commits, want 1", got)
	}
}
