package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/app"
)

// record records an action taken from the command line. A failure is reported, not fatal:
// the action itself already happened.
func record(ctx context.Context, env Env, data *app.Data, action audit.Action, target audit.Target, detail string) {
	if err := data.Trail.Record(ctx, domain.CLIPrincipal, action, target, detail); err != nil {
		fmt.Fprintln(env.Stderr, "staxkeys: could not record the action in the audit trail:", err)
	}
}

// runInit creates the database, and the master key when none is set, in the data directory: what
// the first start of serve does, for an install step (a container's init, a provisioning
// script) that must not start the server. On an existing database it only checks the key.
func runInit(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	cfg, err := parseFlags(fs, env, args, "Creates the database (and a master key, when none is set) in the data directory, as the\nfirst start of serve does; on an existing database it checks that the master key opens it.")
	if err != nil {
		return err
	}
	_, statErr := os.Stat(cfg.DBPath())
	data, err := app.Open(ctx, cfg, newLogger(cfg, env.Stderr), app.MayCreate)
	if err != nil {
		return err
	}
	defer data.DB.Close()
	if statErr == nil {
		fmt.Fprintf(env.Stdout, "the database %s exists and the master key opens it\n", data.DB.Path())
		return nil
	}
	fmt.Fprintf(env.Stdout, "created the database %s\n", data.DB.Path())
	return nil
}
