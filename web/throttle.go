package web

import (
	"crypto/sha256"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// Login throttling: after this many failures within the window, further attempts for the same
// account (or from the same address) are refused until the oldest failure ages out.
const (
	accountFailures = 5
	ipFailures      = 20
	failureWindow   = 15 * time.Minute
	// maxTracked caps the keys the throttle remembers. Each costs about 100 bytes, so the cap
	// bounds its memory to about a megabyte however many emails and addresses are tried.
	maxTracked = 10000
)

// throttleKey is a key's SHA-256, cut to 16 bytes: the memory an entry takes does not grow with
// what an attacker types as an email, and no email sits in memory in clear.
type throttleKey [16]byte

func hashThrottleKey(s string) throttleKey {
	sum := sha256.Sum256([]byte(s))
	return throttleKey(sum[:16])
}

// accountThrottleKey names an account as a login would find it: the same email in another case,
// or with spaces around it, is the same account and shares its limit.
func accountThrottleKey(email string) string {
	return "account:" + strings.ToLower(strings.TrimSpace(email))
}

// addrThrottleKey names a client address. IPv6 clients are counted per /64, the block one
// subscriber is usually given, so an attacker cannot step through their own addresses.
func addrThrottleKey(kind, ip string) string {
	switch a := net.ParseIP(ip); {
	case a == nil:
	case a.To4() != nil:
		ip = a.To4().String() // "::ffff:192.0.2.1" is the same client as "192.0.2.1"
	default:
		ip = a.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return kind + ":" + ip
}

// throttleEntry is what is known of one key: recent failures, oldest first, and attempts
// being evaluated now (reserved, not yet known to be right or wrong).
type throttleEntry struct {
	failures []time.Time
	pending  int
	last     time.Time // the last reservation or failure, for eviction
}

// loginThrottle counts recent failed logins per account and per client address, in memory:
// a restart forgets them, which costs an attacker nothing worth having. An attempt is counted
// (reserved) before its password is hashed, under the same lock that checks the limit, so any
// number of concurrent guesses evaluates at most the limit.
type loginThrottle struct {
	mu      sync.Mutex
	entries map[throttleKey]*throttleEntry
	now     func() time.Time
	max     int
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	return &loginThrottle{entries: map[throttleKey]*throttleEntry{}, now: now, max: maxTracked}
}

// limit is one key with the number of failures it may have within the window.
type limit struct {
	key   string
	limit int
}

// reservation is an attempt counted on its keys while it is evaluated; exactly one of its
// methods ends it.
type reservation struct {
	t    *loginThrottle
	keys []throttleKey
	done bool
}

// reserve counts one attempt on every key if each is under its limit, atomically; otherwise it
// counts nothing and returns how long the caller must wait.
func (t *loginThrottle) reserve(limits ...limit) (*reservation, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	keys := make([]throttleKey, len(limits))
	var wait time.Duration
	for i, l := range limits {
		keys[i] = hashThrottleKey(l.key)
		wait = max(wait, t.waitLocked(keys[i], l.limit, now))
	}
	if wait > 0 {
		return nil, wait
	}
	for _, k := range keys {
		e := t.entry(k, now)
		e.pending++
		e.last = now
	}
	return &reservation{t: t, keys: keys}, 0
}

// failed turns the attempt into a failure on every key.
func (r *reservation) failed() {
	r.end(func(e *throttleEntry, now time.Time) {
		e.failures = append(e.failures, now)
		e.last = now
	})
}

// succeeded ends the attempt without a failure and clears the failures of the first key (the
// account), unless other attempts on it are still being evaluated: a right password sent
// among a burst of guesses must not wipe the count that holds the rest of the burst back.
func (r *reservation) succeeded() {
	first := true
	r.end(func(e *throttleEntry, _ time.Time) {
		if first && e.pending == 0 {
			e.failures = nil
		}
		first = false
	})
}

// cancel ends an attempt that was never evaluated (the hashing gate was full): it counts as
// nothing.
func (r *reservation) cancel() { r.end(func(*throttleEntry, time.Time) {}) }

func (r *reservation) end(f func(e *throttleEntry, now time.Time)) {
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	now := t.now()
	for _, k := range r.keys {
		e := t.entry(k, now)
		if e.pending > 0 {
			e.pending--
		}
		f(e, now)
		if e.pending == 0 && len(t.recent(e, now)) == 0 {
			delete(t.entries, k)
		}
	}
}

// wait returns how long key must wait before another attempt, 0 if it may try now.
func (t *loginThrottle) wait(key string, limit int) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waitLocked(hashThrottleKey(key), limit, t.now())
}

// fail records a failure on every key at once, for checks that need no reservation (an API
// token is one cheap lookup, not an argon2 computation).
func (t *loginThrottle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		e := t.entry(hashThrottleKey(k), now)
		e.failures = append(e.failures, now)
		e.last = now
	}
}

// size is the number of keys remembered.
func (t *loginThrottle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// waitLocked is wait for a hashed key; the caller holds mu.
func (t *loginThrottle) waitLocked(k throttleKey, limit int, now time.Time) time.Duration {
	e, ok := t.entries[k]
	if !ok {
		return 0
	}
	recent := t.recent(e, now)
	n := len(recent) + e.pending
	if n < limit {
		return 0
	}
	// The count drops below the limit when enough failures age out; attempts still being
	// evaluated may become failures too, so while they alone fill the limit, ask for a second.
	if expire := n - limit + 1; expire <= len(recent) {
		if w := recent[expire-1].Add(failureWindow).Sub(now); w > 0 {
			return w
		}
	}
	return time.Second
}

// entry returns key's entry, creating it (and making room) if needed; the caller holds mu.
func (t *loginThrottle) entry(k throttleKey, now time.Time) *throttleEntry {
	if e, ok := t.entries[k]; ok {
		return e
	}
	if len(t.entries) >= t.max {
		t.makeRoom(now)
	}
	e := &throttleEntry{last: now}
	t.entries[k] = e
	return e
}

// makeRoom drops every key with nothing recent and, if the throttle is still full, the
// sixteenth of the keys used least recently among those not being evaluated, so that a flood
// of new keys pays for one sweep per many inserts rather than one per insert. Under such a
// flood the oldest counts go first; the flood itself is held back by the per-address limit.
// The caller holds mu.
func (t *loginThrottle) makeRoom(now time.Time) {
	type aged struct {
		k    throttleKey
		last time.Time
	}
	var idle []aged
	for k, e := range t.entries {
		if e.pending > 0 {
			continue
		}
		if len(t.recent(e, now)) == 0 {
			delete(t.entries, k)
			continue
		}
		idle = append(idle, aged{k, e.last})
	}
	if len(t.entries) < t.max {
		return
	}
	slices.SortFunc(idle, func(a, b aged) int { return a.last.Compare(b.last) })
	for _, a := range idle[:min(len(idle), max(1, t.max/16))] {
		delete(t.entries, a.k)
	}
}

// recent drops failures older than the window and returns the rest; the caller holds mu.
func (t *loginThrottle) recent(e *throttleEntry, now time.Time) []time.Time {
	cut := now.Add(-failureWindow)
	i := 0
	for i < len(e.failures) && !e.failures[i].After(cut) {
		i++
	}
	if i > 0 {
		e.failures = append(e.failures[:0], e.failures[i:]...)
	}
	return e.failures
}
