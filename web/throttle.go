package web

import (
	"sync"
	"time"
)

// Login throttling: after this many failures within the window, further attempts for the same
// account (or from the same address) are refused until the oldest failure ages out.
const (
	accountFailures = 5
	ipFailures      = 20
	failureWindow   = 15 * time.Minute
	maxTracked      = 10000
)

// loginThrottle counts recent failed logins per account and per client address, in memory:
// a restart forgets them, which costs an attacker nothing worth having.
type loginThrottle struct {
	mu       sync.Mutex
	failures map[string][]time.Time
	now      func() time.Time
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{failures: map[string][]time.Time{}, now: now}
}

// wait returns how long key must wait before another attempt, 0 if it may try now.
func (t *loginThrottle) wait(key string, limit int) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	recent := t.recent(key)
	if len(recent) < limit {
		return 0
	}
	return recent[len(recent)-limit].Add(failureWindow).Sub(t.now())
}

func (t *loginThrottle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.failures) > maxTracked {
		for k := range t.failures {
			if len(t.recent(k)) == 0 {
				delete(t.failures, k)
			}
		}
	}
	for _, k := range keys {
		t.failures[k] = append(t.recent(k), t.now())
	}
}

func (t *loginThrottle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.failures, key)
}

// recent drops failures older than the window and returns the rest; the caller holds mu.
func (t *loginThrottle) recent(key string) []time.Time {
	cut := t.now().Add(-failureWindow)
	f := t.failures[key]
	i := 0
	for i < len(f) && !f[i].After(cut) {
		i++
	}
	if i == len(f) {
		delete(t.failures, key)
		return nil
	}
	f = f[i:]
	t.failures[key] = f
	return f
}
