package store

import (
	"context"
	"database/sql"
	"sync"
)

// prepared keeps the statements of the checker's hot paths (due pairs, recording a check,
// loading a pair) prepared once, so SQLite does not parse them again for every check.
type prepared struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// stmt returns query prepared on pool. It is prepared without the caller's context: a request
// cut short must not leave a half-prepared statement behind for everyone else.
func (ps *prepared) stmt(pool *sql.DB, query string) (*sql.Stmt, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s, ok := ps.m[query]; ok {
		return s, nil
	}
	s, err := pool.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	if ps.m == nil {
		ps.m = map[string]*sql.Stmt{}
	}
	ps.m[query] = s
	return s, nil
}

func (ps *prepared) close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for q, s := range ps.m {
		s.Close()
		delete(ps.m, q)
	}
}
