package checker

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/staxkeys/staxkeys/store"
)

// maxBatch bounds one group commit: enough to make one WAL sync serve a busy moment, small
// enough that a transaction stays short beside readers.
const maxBatch = 50

// writer stores finished checks through one goroutine that commits them in groups: while one
// transaction commits, the checks finishing meanwhile queue up and go into the next. A check's
// concurrency slot is free before its write begins, so the next request to Stax.ai never
// waits for the database; the pair stays in flight until its result is stored.
//
// No timer is involved, so a lone check is written at once; the goroutine runs only while
// there is something to write.
type writer struct {
	db *store.DB

	mu      sync.Mutex
	queue   []writeReq
	running bool

	commits atomic.Int64 // transactions committed, for the benchmarks' checks-per-commit figure
}

type writeReq struct {
	rec  store.CheckRecord
	done chan error
}

// write stores rec and returns when it is committed (or failed). It runs detached from any
// caller's context, bounded by writeTimeout, so an answer that did arrive is kept even when
// shutdown begins.
func (w *writer) write(rec store.CheckRecord) error {
	done := make(chan error, 1)
	w.mu.Lock()
	w.queue = append(w.queue, writeReq{rec: rec, done: done})
	if !w.running {
		w.running = true
		go w.loop()
	}
	w.mu.Unlock()
	return <-done
}

func (w *writer) loop() {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		n := min(len(w.queue), maxBatch)
		batch := w.queue[:n:n]
		w.queue = w.queue[n:]
		w.mu.Unlock()

		recs := make([]store.CheckRecord, len(batch))
		for i, r := range batch {
			recs[i] = r.rec
		}
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		errs := w.db.RecordChecks(ctx, recs)
		cancel()
		w.commits.Add(1)
		for i, r := range batch {
			r.done <- errs[i]
		}
	}
}
