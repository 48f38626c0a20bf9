package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"

	"github.com/staxkeys/staxkeys/internal/app"
)

func runServe(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg, err := parseFlags(fs, env, args, "Runs the web dashboard and the background key checker.")
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.Stderr)

	if err := app.PrepareDataDir(cfg.DataDir); err != nil {
		return err
	}
	unlock, err := app.LockDataDir(cfg.DataDir)
	if errors.Is(err, app.ErrLocked) {
		return fmt.Errorf("%w (%s): one server per data directory", err, cfg.DataDir)
	}
	if err != nil {
		return err
	}
	defer unlock()
	data, err := app.Open(ctx, cfg, log, app.MayCreate)
	if err != nil {
		return err
	}
	defer func() {
		if err := data.Close(); err != nil {
			log.Error("close database", slog.String("error", err.Error()))
		}
	}()
	srv, err := app.NewServer(cfg, data, version())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Addr, err)
	}
	// `staxkeys check` beside this server asks it, over the control socket, to do the checks.
	control := func(ctx context.Context) func() {
		return serveControl(ctx, cfg.DataDir, controlHandler(srv.Checker, data.DB, log), log)
	}
	return srv.Run(ctx, ln, control)
}
