package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/vault"
)

// Exit codes of `staxkeys check`, for cron and CI.
const (
	exitAllValid  = 0
	exitBadKey    = 1 // a pair is revoked or denied
	exitUndecided = 2 // a pair is undecided or pending, and none is bad
)

// runCheck checks every pair once, prints a table, and exits by the worst verdict.
func runCheck(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	cfg, err := parseFlags(fs, env, args, "Checks every registered key once against Stax.ai and prints a table.\nExit status: 0 all valid, 1 any revoked or denied, 2 any undecided or not yet checked.")
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.Stderr)
	data, err := openData(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer data.db.Close()
	chk, err := newChecker(cfg, data.db, vault.New(data.db, data.keys), log)
	if err != nil {
		return err
	}
	results, err := chk.RunCycle(ctx)
	if err != nil && !errors.Is(err, checker.ErrOutage) {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLABEL\tEMAIL\tVERDICT\tLAST CHECK\tREASON")
	code := exitAllValid
	for _, r := range results {
		p := r.Pair
		outcome, reason := "-", ""
		if p.LastCheck != nil {
			outcome, reason = string(p.LastCheck.Outcome), p.LastCheck.Reason
		}
		if r.Err != nil {
			outcome, reason = "not checked", r.Err.Error()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Label, p.Email, p.Verdict, outcome, reason)
		switch {
		case p.Verdict == store.Revoked || p.Verdict == store.Denied:
			code = exitBadKey
		case code == exitAllValid && (p.Verdict == store.Pending || r.Err != nil ||
			p.LastCheck == nil || p.LastCheck.Outcome == store.OutcomeError):
			code = exitUndecided
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if errors.Is(err, checker.ErrOutage) {
		fmt.Fprintln(env.Stderr, "Stax.ai looks down: the remaining keys were not checked")
	}
	if code != exitAllValid {
		return &ExitError{Code: code}
	}
	return nil
}
