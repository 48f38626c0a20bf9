package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/staxkeys/staxkeys/internal/app"
)

// Exit codes. Cron and CI branch on them, so each kind of trouble has its own: a usage slip,
// a setting that cannot work, a missing or wrong master key and an interrupt are never
// mistaken for "a key is revoked". The numbers above 2 follow BSD's sysexits.h.
const (
	exitOK        = 0  // success; check: every key valid
	exitBadKey    = 1  // check: a key is revoked or denied; other commands: the command failed
	exitUndecided = 2  // check: a key is undecided or unchecked, or Stax.ai is in trouble
	exitUsage     = 64 // EX_USAGE: unknown command or flag, missing or extra argument
	exitSoftware  = 70 // EX_SOFTWARE: check could not run (the database failed)
	exitMasterKey = 77 // EX_NOPERM: no master key, or not the one the database was made with
	exitConfig    = 78 // EX_CONFIG: a setting is invalid, or no database in the data directory
	exitInterrupt = 130
)

// exitCodes documents the exit codes for --help and the README.
const exitCodes = `Exit status:
  0    success; check: every key is valid
  1    check: a key is revoked or denied; other commands: the command failed
  2    check: a key is undecided or not checked, or Stax.ai is down or rate-limiting
  64   usage error: unknown command or flag, missing or extra argument
  70   check could not run (the database failed)
  77   no master key, or not the one this database was created with
  78   configuration: an invalid setting, or no database in the data directory
  130  interrupted (SIGINT or SIGTERM)`

func printExitCodes(w io.Writer) { fmt.Fprintln(w, exitCodes) }

func usageError(err error) error  { return &ExitError{Code: exitUsage, Err: err} }
func configError(err error) error { return &ExitError{Code: exitConfig, Err: err} }

// withExitCode gives a failure of the composition root (a bad setting, a missing or wrong
// master key) its exit code; other errors pass as they are.
func withExitCode(err error) error {
	var exit *ExitError
	var f *app.Failure
	if err == nil || errors.As(err, &exit) || !errors.As(err, &f) {
		return err
	}
	switch f.Kind {
	case app.Config:
		return &ExitError{Code: exitConfig, Err: err}
	case app.MasterKey:
		return &ExitError{Code: exitMasterKey, Err: err}
	}
	return err
}

// interrupted turns what a command returned after ctx ended into exit 130, keeping its
// message; a command that finished its work anyway keeps its own result.
func interrupted(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	var exit *ExitError
	if errors.As(err, &exit) && (exit.Code == exitOK || exit.Code == exitInterrupt || exit.Code == exitUsage) {
		return err
	}
	if exit != nil && exit.Err == nil {
		return &ExitError{Code: exitInterrupt, Err: errors.New("interrupted")}
	}
	return &ExitError{Code: exitInterrupt, Err: fmt.Errorf("interrupted: %w", err)}
}
