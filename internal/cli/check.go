package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/app"
	"github.com/staxkeys/staxkeys/internal/config"
	"github.com/staxkeys/staxkeys/store"
)

// checkRow is one pair in the report of `staxkeys check`, in its table and in --json, and on
// the wire when a running server does the checks (see cycle.go).
type checkRow struct {
	ID      int64          `json:"id"`
	Label   string         `json:"label"`
	Email   string         `json:"email"`
	Verdict domain.Verdict `json:"verdict"`
	// Standing weighs the verdict against what is expected of the key: a key expected dead
	// that is still accepted fails the run, a retired one does not (domain.Key.Standing).
	Standing domain.Standing `json:"standing"`
	Outcome  string          `json:"last_check"` // the outcome of the pair's last check, "-" if none, "not checked"
	Reason   string          `json:"reason"`
	Checked  bool            `json:"checked"` // checked by this run
}

// checkReport is the whole report: --json prints it as one object.
type checkReport struct {
	Rows        []checkRow `json:"keys"`
	Outage      bool       `json:"outage"`      // Stax.ai looked down; the remaining keys were not checked
	Interrupted bool       `json:"interrupted"` // the run was cut short; unchecked keys keep their standing verdict
	ByServer    bool       `json:"by_server"`   // the running server did the checks, within its own rate budget
	ExitCode    int        `json:"exit_code"`
}

// rowOf turns a cycle's result into a report row.
func rowOf(r checker.KeyResult) checkRow {
	p := r.Key
	row := checkRow{ID: p.ID, Label: p.Label, Email: p.Email, Verdict: p.Verdict, Standing: p.Standing(), Outcome: "-", Checked: r.Err == nil}
	if p.LastCheck != nil {
		row.Outcome, row.Reason = string(p.LastCheck.Outcome), p.LastCheck.Reason
	}
	if r.Err != nil {
		row.Outcome, row.Reason = "not checked", notCheckedReason(r.Err)
	}
	return row
}

func notCheckedReason(err error) string {
	switch {
	case errors.Is(err, checker.ErrOutage):
		return "Stax.ai looks down"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "interrupted"
	}
	return err.Error()
}

// code is the report's exit code by the worst row.
func (rep *checkReport) code() int {
	code := exitOK
	for _, r := range rep.Rows {
		switch {
		case r.Standing.Problem():
			code = exitBadKey
		case code == exitOK && (r.Verdict == domain.Pending || !r.Checked || r.Outcome == "-" ||
			r.Outcome == string(domain.OutcomeUndecided)):
			code = exitUndecided
		}
	}
	if code == exitOK && rep.Outage {
		code = exitUndecided
	}
	return code
}

const checkAbout = `Checks every registered key once against Stax.ai and prints a table (or --json).
Beside a running server (same data directory) the server does the checks, within its own
rate budget, so the two never ask Stax.ai at twice the configured rate. Progress goes to
standard error when it is a terminal; Ctrl-C prints what was checked so far and exits 130.`

// runCheck checks every pair once, prints a report, and exits by the worst verdict.
func runCheck(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	cfg, err := parseFlags(fs, env, args, checkAbout)
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.Stderr)
	data, err := app.Open(ctx, cfg, log, app.MustExist)
	if err != nil {
		return err
	}
	defer data.DB.Close()
	prog := newProgress(env.Stderr, "checked")
	started := time.Now()

	var rep *checkReport
	if unlock, lerr := app.LockDataDir(cfg.DataDir); errors.Is(lerr, app.ErrLocked) {
		rep, err = checkByServer(ctx, cfg.DataDir, prog)
		if err != nil && ctx.Err() != nil {
			// The stream is cut; what the server checked before is in the database.
			rep, err = reportSince(context.WithoutCancel(ctx), data.DB, started), nil
			rep.ByServer, rep.Interrupted = true, true
		}
	} else {
		if lerr == nil {
			// No server: release at once, so that one can start meanwhile. (It would then
			// check beside this run for its remainder, as before this lock existed.)
			unlock()
		}
		rep, err = checkHere(ctx, cfg, data, log, prog)
	}
	prog.done()
	if err != nil {
		var exit *ExitError
		if errors.As(err, &exit) {
			return err
		}
		return &ExitError{Code: exitSoftware, Err: err}
	}
	rep.ExitCode = rep.code()
	if rep.Interrupted {
		rep.ExitCode = exitInterrupt
	}
	if *asJSON {
		if err := writeJSON(env.Stdout, rep); err != nil {
			return err
		}
	} else if err := printCheckTable(env.Stdout, rep.Rows); err != nil {
		return err
	}
	switch {
	case rep.Interrupted:
		return &ExitError{Code: exitInterrupt, Err: errors.New("interrupted: the keys marked \"not checked\" keep their standing verdict")}
	case rep.Outage:
		fmt.Fprintln(env.Stderr, "Stax.ai looks down: the remaining keys were not checked")
	}
	if rep.ExitCode != exitOK {
		return &ExitError{Code: rep.ExitCode}
	}
	return nil
}

// checkHere runs the cycle in this process: no server runs on the data directory.
func checkHere(ctx context.Context, cfg config.Config, data *app.Data, log *slog.Logger, prog *progress) (*checkReport, error) {
	chk, err := app.NewChecker(cfg, data, version())
	if err != nil {
		return nil, err
	}
	n, err := data.DB.KeyCount(ctx)
	if err != nil {
		return nil, err
	}
	prog.total(n)
	ups, stop := chk.Subscribe()
	var wg sync.WaitGroup
	wg.Go(func() { countProgress(ups, prog.add) })
	results, err := chk.RunCycle(ctx)
	stop()
	wg.Wait()
	rep := &checkReport{}
	for _, r := range results {
		if r.Err != nil && r.Key.Email == "" {
			// A cycle cut short returns bare ids for the pairs it never reached: report
			// them as stored, with their standing verdict.
			if p, err := data.DB.KeyByID(context.WithoutCancel(ctx), r.Key.ID); err == nil {
				r.Key = p
			}
		}
		rep.Rows = append(rep.Rows, rowOf(r))
	}
	switch {
	case errors.Is(err, checker.ErrOutage):
		rep.Outage = true
	case err != nil && ctx.Err() != nil:
		rep.Interrupted = true
	case err != nil:
		return nil, err
	}
	return rep, nil
}

// countProgress calls add once for each pair the updates first name, until ups closes.
func countProgress(ups <-chan checker.Update, add func()) {
	seen := map[int64]bool{}
	for u := range ups {
		if u.KeyID != 0 && !seen[u.KeyID] {
			seen[u.KeyID] = true
			add()
		}
	}
}

// reportSince reports every pair from the database: those checked since start as checked,
// the others as not checked (interrupted).
func reportSince(ctx context.Context, db *store.DB, start time.Time) *checkReport {
	rep := &checkReport{}
	pairs, err := db.AllKeys(ctx)
	if err != nil {
		return rep
	}
	for _, p := range pairs {
		checked := p.LastCheck != nil && !p.LastCheck.At.Before(start.Truncate(time.Millisecond))
		var err error
		if !checked {
			err = context.Canceled
		}
		rep.Rows = append(rep.Rows, rowOf(checker.KeyResult{Key: p, Err: err}))
	}
	return rep
}

func printCheckTable(w io.Writer, rows []checkRow) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLABEL\tEMAIL\tVERDICT\tLAST CHECK\tREASON")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Label, r.Email, verdictCell(r), r.Outcome, r.Reason)
	}
	return tw.Flush()
}

// progress writes "checked 120/2000" to a terminal's standard error, rewriting one line, at
// most a few times a second. It writes nothing when standard error is not a terminal (cron
// mail and CI logs get the report alone).
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	verb     string
	n, of    int
	lastDraw time.Time
	drawn    bool
}

func newProgress(w io.Writer, verb string) *progress {
	f, ok := w.(*os.File)
	if !ok || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return &progress{}
	}
	return &progress{w: w, verb: verb}
}

func (p *progress) total(n int) {
	p.mu.Lock()
	p.of = n
	p.mu.Unlock()
}

func (p *progress) set(n, of int) {
	p.mu.Lock()
	p.n, p.of = n, of
	p.drawLocked(false)
	p.mu.Unlock()
}

func (p *progress) add() {
	p.mu.Lock()
	p.n++
	p.drawLocked(false)
	p.mu.Unlock()
}

func (p *progress) drawLocked(force bool) {
	if p.w == nil || (!force && time.Since(p.lastDraw) < 200*time.Millisecond) {
		return
	}
	p.lastDraw, p.drawn = time.Now(), true
	fmt.Fprintf(p.w, "\r%s %d/%d", p.verb, p.n, p.of)
}

// done ends the progress line, so the report starts on a clean one.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w != nil && p.drawn {
		p.drawLocked(true)
		fmt.Fprintln(p.w)
	}
}

// verdictCell is the table's VERDICT: the verdict, and for a key expected dead what it means.
func verdictCell(r checkRow) string {
	switch r.Standing {
	case domain.StandingStillAccepted:
		return string(r.Verdict) + " (still accepted, should be dead)"
	case domain.StandingRetired:
		return string(r.Verdict) + " (retired)"
	}
	return string(r.Verdict)
}
