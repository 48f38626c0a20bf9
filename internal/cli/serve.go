package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/internal/config"
	"github.com/staxkeys/staxkeys/internal/metrics"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/web"
)

// shutdownGrace is how long in-flight requests get to finish after SIGINT or SIGTERM.
const shutdownGrace = 15 * time.Second

// watchPoll is how often serve asks the database whether another process committed to it.
// PRAGMA data_version on a held connection costs microseconds.
const watchPoll = time.Second

func runServe(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg, err := parseFlags(fs, env, args, "Runs the web dashboard and the background key checker.")
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.Stderr)

	if err := prepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if errors.Is(err, errLocked) {
		return fmt.Errorf("%w (%s): one server per data directory", err, cfg.DataDir)
	}
	if err != nil {
		return err
	}
	defer unlock()
	data, err := openData(ctx, cfg, log, mayCreate)
	if err != nil {
		return err
	}
	defer func() {
		if err := data.db.Close(); err != nil {
			log.Error("close database", slog.String("error", err.Error()))
		}
	}()
	v := keys.New(data.db, data.keys)
	chk, err := newChecker(cfg, data.db, v, log)
	if err != nil {
		return err
	}
	mets := metrics.New(data.db, chk.Status, metrics.Options{Version: version()})
	chk.AddObserver(mets)
	alerts, err := newNotifier(cfg, data, log)
	if err != nil {
		return err
	}
	alerts.OnAttempt(mets.DeliveryAttempted)
	chk.AddObserver(alerts)
	srv := web.New(web.Config{
		CookieSecure:    cfg.CookieSecure,
		SessionHashKey:  data.keys.DeriveKey("session cookie hash", 32),
		SessionBlockKey: data.keys.DeriveKey("session cookie block", 32),
		Version:         version(),
		CheckerEnabled:  cfg.CheckerEnabled,
		MasterKeyLoaded: true,
		MasterKeyCheck:  checkMasterKey(data.db, data.keys),
		SessionIdle:     cfg.SessionIdle,
		SessionMax:      cfg.SessionMax,
		PageConcurrency: cfg.PageConcurrency,
	}, data.db, web.Services{
		Keys:     keys.NewService(v, data.trail, chk, log),
		Accounts: data.accounts(),
		Audit:    data.trail,
	}, log, web.WithChecker(chk), web.WithMetrics(mets.Handler(), cfg.MetricsToken), web.WithNotifier(alerts))

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Addr, err)
	}
	// Requests live on their own context, which nothing here cancels, not the signal's: those
	// that arrive during the drain, and those still in flight when it ends, get their full
	// answer (Shutdown waits for them). Only their client leaving cancels them.
	reqCtx := context.WithoutCancel(ctx)
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
	}
	// The live-update streams never finish on their own: Shutdown ends them first.
	httpSrv.RegisterOnShutdown(srv.EndStreams)
	// `staxkeys check` beside this server asks it, over the control socket, to do the checks;
	// open before "listening" is logged, so that whoever waits for that line can use it.
	controlDone := serveControl(ctx, cfg.DataDir, controlHandler(chk, data.db, log), log)
	log.Info("staxkeys listening", slog.String("url", "http://"+ln.Addr().String()),
		slog.String("version", version()), slog.String("data_dir", cfg.DataDir),
		slog.String("master_key_source", data.source.Kind))

	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()

	// The checker stops with ctx; its in-flight checks are cancelled and write nothing.
	checkerDone := make(chan struct{})
	go func() {
		defer close(checkerDone)
		if !cfg.CheckerEnabled {
			log.Warn("the background checker is off (STAXKEYS_CHECKER=false): keys are checked only on demand")
			return
		}
		if err := chk.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("checker stopped", slog.String("error", err.Error()))
		}
	}()
	// Beside it, Watch keeps the scheduler's heartbeat (readiness) and brings it work that
	// another process (`staxkeys import`, `admin create`, another tool) committed, within
	// a second, by the database's data_version.
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if !cfg.CheckerEnabled {
			return
		}
		var changed func(context.Context) (bool, error)
		if w, err := data.db.WatchChanges(ctx); err != nil {
			log.Warn("cannot watch the database for changes by other processes", slog.String("error", err.Error()))
		} else {
			defer w.Close()
			changed = w.Changed
		}
		chk.Watch(ctx, watchPoll, changed)
	}()

	// The alert worker resumes what a previous run left queued, and stops with ctx too.
	alertsDone := runNotifier(ctx, alerts, log)

	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	// Drain: /readyz answers 503 while the server still serves, so that Kubernetes or a load
	// balancer stops routing to it before the listener closes.
	srv.Drain()
	if cfg.ShutdownDrain > 0 {
		log.Info("shutting down: draining (readiness fails, requests are still served)", slog.Duration("drain", cfg.ShutdownDrain))
		drain := time.NewTimer(cfg.ShutdownDrain)
		select {
		case <-drain.C:
		case err := <-served:
			drain.Stop()
			return fmt.Errorf("server stopped: %w", err)
		}
	}
	// Shutdown closes the listener, ends the live-update streams (its hook) and waits, up to
	// shutdownGrace, for the requests still in flight to finish with their full answer.
	log.Info("shutting down: closing the listener")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutting down: requests still in flight after the grace are cut", slog.Duration("grace", shutdownGrace))
		httpSrv.Close()
	} else if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-served
	<-checkerDone
	<-watchDone
	controlDone()
	<-alertsDone
	log.Info("stopped")
	return nil
}

// newChecker builds the checker with its Stax.ai client from the configuration.
func newChecker(cfg config.Config, db *store.DB, v *keys.Vault, log *slog.Logger) (*checker.Checker, error) {
	client, err := staxapi.New(staxapi.Config{
		BaseURL:   cfg.APIURL,
		ProbePath: cfg.ProbePath,
		Timeout:   cfg.CheckTimeout,
		UserAgent: "staxkeys/" + version(),
	})
	if err != nil {
		return nil, err
	}
	return checker.New(db, v, client, checker.Config{
		Interval:      cfg.CheckInterval,
		Concurrency:   cfg.CheckConcurrency,
		Rate:          cfg.CheckRate,
		Confirm:       cfg.CheckConfirm,
		HistoryDays:   cfg.HistoryDays,
		SuspectHold:   cfg.CheckSuspectHold,
		MaxRetryAfter: cfg.CheckMaxRetryAfter,
	}, nil, log), nil
}
