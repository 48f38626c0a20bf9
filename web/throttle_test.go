package web

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestThrottleMemoryIsBounded (issue 13, finding 9): however many emails and addresses are
// tried, the throttle remembers at most its cap of keys (each a fixed-size hash of what was
// typed, however long), and forgets them after the window.
func TestThrottleMemoryIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := newLoginThrottle(func() time.Time { return now })
	th.max = 1000
	long := strings.Repeat("x", 5000)
	for i := range 5000 {
		now = now.Add(time.Millisecond)
		r, wait := th.reserve(limit{accountThrottleKey(fmt.Sprintf("%s-%d@example.com", long, i)), accountFailures},
			limit{addrThrottleKey("ip", fmt.Sprintf("10.0.%d.%d", i/250, i%250)), ipFailures})
		if wait > 0 {
			t.Fatalf("attempt %d refused", i)
		}
		r.failed()
		if n := th.size(); n > th.max {
			t.Fatalf("%d keys remembered, cap %d", n, th.max)
		}
	}
	// Keys whose failures aged out make room first: after the window, a new round of keys
	// leaves none of the old ones.
	first := hashThrottleKey(accountThrottleKey(long + "-0@example.com"))
	now = now.Add(failureWindow + time.Second)
	for i := range th.max {
		th.fail(fmt.Sprintf("account:new-%d", i))
	}
	th.mu.Lock()
	_, kept := th.entries[first]
	n := len(th.entries)
	th.mu.Unlock()
	if kept || n > th.max {
		t.Errorf("after the window: the oldest key kept %v, %d keys", kept, n)
	}
}

// TestThrottleKeys: an account is one key whatever the case and spaces of the email; an IPv6
// client is counted per /64.
func TestThrottleKeys(t *testing.T) {
	if accountThrottleKey(" Admin@Example.COM ") != accountThrottleKey("admin@example.com") {
		t.Error("case or spaces make another account key")
	}
	a, b := addrThrottleKey("ip", "2001:db8:1:2:aaaa::1"), addrThrottleKey("ip", "2001:db8:1:2:ffff::9")
	if a != b || a == addrThrottleKey("ip", "2001:db8:1:3::1") {
		t.Errorf("IPv6 keys %q %q", a, b)
	}
	if addrThrottleKey("ip", "192.0.2.1") == addrThrottleKey("ip", "192.0.2.2") {
		t.Error("two IPv4 addresses share a key")
	}
	if addrThrottleKey("ip", "::ffff:192.0.2.1") != addrThrottleKey("ip", "192.0.2.1") {
		t.Error("an IPv4-mapped address is another client")
	}
}

// TestThrottleReservesAtomically (issue 13, finding 2): reservations made at once never exceed
// the limit, and one that was not evaluated (cancel) counts for nothing.
func TestThrottleReservesAtomically(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := newLoginThrottle(func() time.Time { return now })
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []*reservation
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, wait := th.reserve(limit{"account:a", accountFailures}); wait == 0 {
				mu.Lock()
				got = append(got, r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != accountFailures {
		t.Fatalf("%d reservations granted at once, want %d", len(got), accountFailures)
	}
	if _, wait := th.reserve(limit{"account:a", accountFailures}); wait <= 0 {
		t.Fatal("a sixth reservation was granted while five are pending")
	}
	got[0].cancel()
	r, wait := th.reserve(limit{"account:a", accountFailures})
	if wait > 0 {
		t.Fatal("a cancelled reservation still counts")
	}
	// A success while others are pending clears nothing; failures then fill the limit.
	r.succeeded()
	for _, r := range got[1:] {
		r.failed()
	}
	if _, wait := th.reserve(limit{"account:a", accountFailures}); wait != 0 {
		t.Fatalf("4 failures refuse the fifth attempt (wait %s)", wait)
	}
	// 5 failures and one attempt pending: refused until the oldest failure ages out.
	th.fail("account:a")
	if _, wait := th.reserve(limit{"account:a", accountFailures}); wait <= 0 || wait > failureWindow {
		t.Fatalf("over the limit: wait %s", wait)
	}
}

// BenchmarkThrottleFlood measures one failed attempt for a new account from a new address on
// a full throttle: what a flood of new keys costs per request.
func BenchmarkThrottleFlood(b *testing.B) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := newLoginThrottle(func() time.Time { return now })
	for i := range maxTracked {
		th.fail(fmt.Sprintf("account:seed-%d", i))
	}
	b.ResetTimer()
	for i := range b.N {
		now = now.Add(time.Microsecond)
		r, wait := th.reserve(limit{fmt.Sprintf("account:%d@example.com", i), accountFailures},
			limit{fmt.Sprintf("ip:10.%d.%d.%d", i>>16&255, i>>8&255, i&255), ipFailures})
		if wait > 0 {
			b.Fatal("refused")
		}
		r.failed()
	}
}
