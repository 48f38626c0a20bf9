package checker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/staxkeys/staxkeys/store"
)

// maxBatch bounds one group commit: enough to make one WAL sync serve a busy moment, small
// enough that a transaction stays short beside readers.
const maxBatch = 50

// gatherWindow is how long the writer holds a result back for others to join its commit,
// while more checks are in flight. A commit costs far more than a row (a profile of a
// 10,000-key cycle: 1.7 results per commit without the wait, 60 % of the checker's CPU in the
// writer), and that CPU is taken from the checks whose answers are arriving. A pair stays in
// flight, and out of the schedule, for those few more milliseconds; nothing else waits.
const gatherWindow = 5 * time.Millisecond

// writer stores finished checks through one goroutine that commits them in groups: while one
// transaction commits, the checks finishing meanwhile queue up and go into the next, and
// while other checks are still out, a result waits up to gather for them. A check's
// concurrency slot is free before its write begins, so the next request to Stax.ai never
// waits for the database; the pair stays in flight until its result is stored.
//
// A lone check (nothing else in flight) is written at once; the goroutine runs only while
// there is something to write.
type writer struct {
	db *store.DB
	// inFlight counts the checks in flight, those queued here included; the writer waits
	// for more only while some of them are not queued yet.
	inFlight func() int
	gather   time.Duration

	mu      sync.Mutex
	queue   []writeReq
	running bool
	more    chan struct{} // a result was queued while the goroutine waited

	commits atomic.Int64 // transactions committed, for the benchmarks' checks-per-commit figure
}

type writeReq struct {
	rec  store.CheckRecord
	at   time.Time // when it was queued
	done chan error
}

// write stores rec and returns when it is committed (or failed). It runs detached from any
// caller's context, bounded by writeTimeout, so an answer that did arrive is kept even when
// shutdown begins.
func (w *writer) write(rec store.CheckRecord) error {
	done := make(chan error, 1)
	w.mu.Lock()
	w.queue = append(w.queue, writeReq{rec: rec, at: time.Now(), done: done})
	if !w.running {
		w.running = true
		if w.more == nil {
			w.more = make(chan struct{}, 1)
		}
		go w.loop()
	} else if w.waitFor() == 0 {
		// Only a result that ends the wait wakes the goroutine: waking it for each result,
		// to find it must wait on, put a goroutine switch in front of every next request.
		select {
		case w.more <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	return <-done
}

func (w *writer) loop() {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		if wait := w.waitFor(); wait > 0 {
			w.mu.Unlock()
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-w.more:
			case <-timer.C:
			}
			continue
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

// waitFor returns how much longer the queue should wait for more results before its commit:
// zero once it fills a batch, once every check in flight is queued, or once its oldest result
// has waited gather. The caller holds w.mu.
func (w *writer) waitFor() time.Duration {
	n := len(w.queue)
	if n >= maxBatch || w.inFlight == nil || w.inFlight() <= n {
		return 0
	}
	return max(0, w.gather-time.Since(w.queue[0].at))
}
