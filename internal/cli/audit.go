package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/staxkeys/staxkeys/internal/app"
	"github.com/staxkeys/staxkeys/internal/export"
	"github.com/staxkeys/staxkeys/store"
)

func runAudit(ctx context.Context, env Env, args []string) error {
	return dispatch(ctx, env, "audit", []subcommand{
		{"verify", "check that no entry was changed or deleted (exit 1 naming the first broken entry)", runAuditVerify},
		{"list", "print entries, newest first, filtered", runAuditList},
	}, args)
}

// runAuditVerify walks the hash chain: exit 0 with the count when it is intact, exit 1 naming
// the first entry that does not verify.
func runAuditVerify(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, `print {"intact":…,"verified":…,"broken_at":…,"reason":…}`)
	cfg, err := parseFlags(fs, env, args, "Checks the audit trail's chain: each entry's MAC covers the entry and the one before,\nand a sealed record names the newest, so an edited, inserted or deleted entry (the newest\nincluded) is found. Exit status: 0 intact, 1 broken.")
	if err != nil {
		return err
	}
	data, err := app.Open(ctx, cfg, newLogger(cfg, env.Stderr), app.MustExist)
	if err != nil {
		return err
	}
	defer data.DB.Close()
	brk, n, err := data.DB.VerifyAudit(ctx, data.AuditKey)
	if err != nil {
		return err
	}
	if *asJSON {
		type verifyJSON struct {
			Intact   bool   `json:"intact"`
			Verified int    `json:"verified"`
			BrokenAt int64  `json:"broken_at,omitempty"`
			Reason   string `json:"reason,omitempty"`
		}
		out := verifyJSON{Intact: brk == nil, Verified: n}
		if brk != nil {
			out.BrokenAt, out.Reason = brk.ID, brk.Reason
		}
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
		if brk != nil {
			return &ExitError{Code: 1}
		}
		return nil
	}
	switch {
	case brk == nil:
		fmt.Fprintf(env.Stdout, "audit trail intact: %d entries verified\n", n)
		return nil
	case brk.ID > 0:
		return &ExitError{Code: 1, Err: fmt.Errorf("audit trail broken at entry %d: %s (%d entries before it verified)", brk.ID, brk.Reason, n)}
	}
	return &ExitError{Code: 1, Err: fmt.Errorf("audit trail broken: %s (%d entries verified)", brk.Reason, n)}
}

func runAuditList(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("audit list", flag.ContinueOnError)
	action := fs.String("action", "", "only this action, or a family ending in a dot (pair.)")
	actor := fs.String("actor", "", "only actors containing this")
	target := fs.String("target", "", "only this target, such as pair:12")
	since := fs.String("since", "", "only entries on or after this date (YYYY-MM-DD, UTC)")
	until := fs.String("until", "", "only entries on or before this date (YYYY-MM-DD, UTC)")
	limit := fs.Int("limit", 100, "at most this many entries (0: all)")
	asCSV := fs.Bool("csv", false, "print CSV instead of a table")
	cfg, err := parseFlags(fs, env, args, "Prints the audit trail, newest first.")
	if err != nil {
		return err
	}
	q := store.AuditQuery{Action: *action, Actor: *actor, Target: *target, Limit: max(*limit, 0)}
	if *since != "" {
		if q.Since, err = time.Parse(time.DateOnly, *since); err != nil {
			return usageError(errors.New("--since: give a date as YYYY-MM-DD"))
		}
	}
	if *until != "" {
		t, err := time.Parse(time.DateOnly, *until)
		if err != nil {
			return usageError(errors.New("--until: give a date as YYYY-MM-DD"))
		}
		q.Until = t.AddDate(0, 0, 1)
	}
	db, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	entries, total, err := db.ListAudit(ctx, q)
	if err != nil {
		return err
	}
	if *asCSV {
		return export.WriteAudit(env.Stdout, entries)
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWHEN (UTC)\tACTOR\tACTION\tTARGET\tIP\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.UTC().Format("2006-01-02 15:04:05"),
			oneLine(e.Actor), e.Action, oneLine(e.Target), e.IP, oneLine(e.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if total > len(entries) {
		fmt.Fprintf(env.Stderr, "%d of %d entries shown (see --limit)\n", len(entries), total)
	}
	return nil
}

// oneLine keeps a recorded value (an email typed at a failed login, say) from breaking the
// table or the terminal.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
