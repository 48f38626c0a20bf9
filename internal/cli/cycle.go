package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/store"
)

// A running server and `staxkeys check` on the same data directory share one politeness
// budget: the command asks the server, over a Unix socket in the data directory, to run the
// cycle on its own checker, whose rate limiter, concurrency bound, 429 pause and in-flight set
// then hold for both. The socket needs no token: the data directory is the owner's alone
// (0700), the socket 0600, and whoever can reach it could read the database anyway. The
// alternative, a lease in the database that both checkers respect, would have meant
// rewriting the checker's scheduler; this leaves the checker as it is.

// socketName is the server's control socket inside the data directory.
const socketName = "staxkeys.sock"

// cycleLine is one line of the server's answer: progress while the cycle runs, then one line
// per pair and a last line with the outcome.
type cycleLine struct {
	Done   int       `json:"done,omitempty"`
	Total  int       `json:"total,omitempty"`
	Row    *checkRow `json:"row,omitempty"`
	End    bool      `json:"end,omitempty"`
	Outage bool      `json:"outage,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// listenControl opens the control socket. A stale socket file left by a killed server is
// removed first: the caller holds the data directory's lock, so no live server owns it.
func listenControl(dir string) (net.Listener, error) {
	path := filepath.Join(dir, socketName)
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("cli: control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("cli: control socket %s: %w", path, err)
	}
	return ln, nil
}

// controlHandler serves the control socket: POST /cycle runs one cycle of chk and streams it.
func controlHandler(chk *checker.Checker, db *store.DB, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cycle", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		w.Header().Set("Content-Type", "application/x-ndjson")
		flusher, _ := w.(http.Flusher)
		var mu sync.Mutex
		enc := json.NewEncoder(w)
		send := func(l cycleLine) {
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(l)
			if flusher != nil {
				flusher.Flush()
			}
		}
		total, err := db.KeyCount(ctx)
		if err != nil {
			send(cycleLine{End: true, Error: err.Error()})
			return
		}
		send(cycleLine{Total: total})
		ups, stop := chk.Subscribe()
		var wg sync.WaitGroup
		done := 0
		wg.Go(func() {
			countProgress(ups, func() {
				done++
				// A progress line at most every 200 checks or so keeps the stream small.
				if done == total || done%max(1, total/200) == 0 {
					send(cycleLine{Done: min(done, total), Total: total})
				}
			})
		})
		log.Info("check: a cycle asked for by `staxkeys check`", slog.Int("pairs", total))
		results, err := chk.RunCycle(ctx)
		stop()
		wg.Wait()
		if ctx.Err() != nil {
			return // the command went away; nothing to send to
		}
		for _, res := range results {
			if res.Err != nil && res.Key.Email == "" {
				if p, err := db.KeyByID(ctx, res.Key.ID); err == nil {
					res.Key = p
				}
			}
			row := rowOf(res)
			send(cycleLine{Row: &row})
		}
		end := cycleLine{End: true}
		switch {
		case errors.Is(err, checker.ErrOutage):
			end.Outage = true
		case err != nil:
			end.Error = err.Error()
		}
		send(end)
	})
	return mux
}

// serveControl serves the control socket until ctx ends; a socket that cannot be opened (a
// data directory path too long for one, say) is logged, and `check` beside this server then
// refuses to run rather than double the rate.
func serveControl(ctx context.Context, dir string, h http.Handler, log *slog.Logger) (wait func()) {
	ln, err := listenControl(dir)
	if err != nil {
		log.Warn("no control socket: `staxkeys check` cannot run beside this server", slog.String("error", err.Error()))
		return func() {}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
		os.Remove(filepath.Join(dir, socketName))
	}
}

// checkByServer asks the server running on dir to run the cycle and collects its report.
func checkByServer(ctx context.Context, dir string, prog *progress) (*checkReport, error) {
	path := filepath.Join(dir, socketName)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://staxkeys/cycle", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ExitError{Code: exitUndecided, Err: fmt.Errorf(
			"a server runs on this data directory but its control socket %s does not answer (%v); not checking beside it, which would double the rate to Stax.ai", path, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &ExitError{Code: exitUndecided, Err: fmt.Errorf("the running server refused the check: %s", resp.Status)}
	}
	rep := &checkReport{ByServer: true}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l cycleLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("cli: the server's answer: %w", err)
		}
		switch {
		case l.Row != nil:
			rep.Rows = append(rep.Rows, *l.Row)
		case l.End:
			if l.Error != "" {
				return nil, fmt.Errorf("the server's cycle: %s", l.Error)
			}
			rep.Outage = l.Outage
			return rep, nil
		case l.Total > 0:
			prog.set(l.Done, l.Total)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, &ExitError{Code: exitUndecided, Err: fmt.Errorf("the running server stopped answering before the cycle ended: %v", sc.Err())}
}
