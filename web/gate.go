package web

import (
	"fmt"
	"net/http"
	"runtime"

	"github.com/labstack/echo/v4"
)

// pageGate bounds how many page and API reads run their handlers at once. Issue 18 measured
// the checker falling from about 880 to under 500 checks/s while wrk loaded the dashboard: 32
// runnable handler goroutines queue in front of the checker's few, each woken check waits its
// turn on the two cores, and its concurrency slot is held the whole time. Requests beyond the
// limit wait parked (costing no CPU) instead of running, so the checker's goroutines find a free
// core. The pages pay for it while a cycle runs (a quarter to two fifths of their throughput in
// BENCHMARKS.md): the trade issue 18 asks for, the checker first.
type pageGate chan struct{}

// defaultPageConcurrency is one handler per core: the handlers can still fill the cores, but no
// longer queue 32 deep in front of the checker's goroutines. One fewer than the cores was
// measured too (BENCHMARKS.md): fairer still, but it halved the pages' throughput and, for
// reasons not found, slowed the server's first cycle by a tenth.
func defaultPageConcurrency() int { return max(1, runtime.GOMAXPROCS(0)) }

func newPageGate(n int) pageGate {
	if n <= 0 {
		n = defaultPageConcurrency()
	}
	return make(pageGate, n)
}

// middleware takes a place before a read (GET or HEAD) and gives it back after; a client that
// leaves while waiting gives up its turn. Only reads wait: a page or API load is reads, while
// writes are few, made by a person, and several of them verify a password (argon2, about a
// second, bounded by its own gate), which would hold a place and stall every page meanwhile.
// Long-lived streams (the live updates) must not pass through it, or they would keep their place
// for ever.
func (g pageGate) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if m := c.Request().Method; m != http.MethodGet && m != http.MethodHead {
			return next(c)
		}
		select {
		case g <- struct{}{}:
		case <-c.Request().Context().Done():
			// The client left (context.Canceled, which the error handler answers with nothing).
			return fmt.Errorf("web: waiting for a page place: %w", c.Request().Context().Err())
		}
		defer func() { <-g }()
		return next(c)
	}
}
