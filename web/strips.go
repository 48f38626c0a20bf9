package web

import (
	"context"
	"sync"

	"github.com/staxkeys/staxkeys/domain"
)

// maxCachedStrips bounds the strip cache; past it the cache starts afresh.
const maxCachedStrips = 20000

// stripCache keeps each pair's strip of recent checks between dashboard loads. A strip changes
// only when a check is recorded, and the pair row says when its last check was, so an entry is
// valid exactly while its newest check is the pair's last check: no timer, no invalidation,
// and correct even when another process (staxkeys check) records checks.
type stripCache struct {
	mu      sync.Mutex
	entries map[int64][]domain.Check
}

// strips returns the strips of pairs, reading only the stale or missing ones from the database.
func (s *Server) strips(ctx context.Context, pairs []domain.Key) (map[int64][]domain.Check, error) {
	out := make(map[int64][]domain.Check, len(pairs))
	var missing []int64
	sc := &s.stripCache
	sc.mu.Lock()
	for _, p := range pairs {
		cs, ok := sc.entries[p.ID]
		if ok && stripCurrent(cs, p) {
			out[p.ID] = cs
		} else {
			missing = append(missing, p.ID)
		}
	}
	sc.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	fresh, err := s.db.RecentOutcomes(ctx, missing, stripLength)
	if err != nil {
		return nil, err
	}
	sc.mu.Lock()
	if sc.entries == nil || len(sc.entries)+len(fresh) > maxCachedStrips {
		sc.entries = make(map[int64][]domain.Check, len(fresh))
	}
	for _, id := range missing {
		out[id] = fresh[id]
		sc.entries[id] = fresh[id]
	}
	sc.mu.Unlock()
	return out, nil
}

// stripCurrent reports whether a cached strip ends with the pair's last check.
func stripCurrent(cs []domain.Check, p domain.Key) bool {
	if p.LastCheck == nil {
		return len(cs) == 0
	}
	return len(cs) > 0 && cs[len(cs)-1].At.Equal(p.LastCheck.At) && cs[len(cs)-1].Outcome == p.LastCheck.Outcome
}
