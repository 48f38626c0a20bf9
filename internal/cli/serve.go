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
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/vault"
	"github.com/staxkeys/staxkeys/web"
)

// shutdownGrace is how long in-flight requests get to finish after SIGINT or SIGTERM.
const shutdownGrace = 15 * time.Second

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
	data, err := openData(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := data.db.Close(); err != nil {
			log.Error("close database", slog.String("error", err.Error()))
		}
	}()
	v := vault.New(data.db, data.keys)
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
		AuditKey:        data.auditKey,
		SessionIdle:     cfg.SessionIdle,
		SessionMax:      cfg.SessionMax,
	}, data.db, v, log, web.WithChecker(chk), web.WithMetrics(mets.Handler(), cfg.MetricsToken), web.WithNotifier(alerts))

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Addr, err)
	}
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
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

	// The alert worker resumes what a previous run left queued, and stops with ctx too.
	alertsDone := runNotifier(ctx, alerts, log)

	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-served
	<-checkerDone
	<-alertsDone
	log.Info("stopped")
	return nil
}

// newChecker builds the checker with its Stax.ai client from the configuration.
func newChecker(cfg config.Config, db *store.DB, v *vault.Vault, log *slog.Logger) (*checker.Checker, error) {
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
