package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/app"
	"github.com/staxkeys/staxkeys/keys"
)

// runImport registers the pairs of a CSV file (label,email,key with a header row). A file
// with bad rows imports nothing unless --skip-bad; every bad row and every duplicate is
// reported by line number, without its values.
func runImport(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	skipBad := fs.Bool("skip-bad", false, "import the good rows of a file that has bad rows (by default nothing is imported)")
	initDB := fs.Bool("init", false, "create the database (and a master key, when none is set) if the data directory has none")
	file, args := leadingFile(args, true)
	cfg, err := parseFlags(fs, env, args, "staxkeys import FILE: registers the keys of a CSV file whose first line is the header\nlabel,email,key (FILE - reads standard input). Every row is checked first; bad rows and\nduplicates are reported by line number. A file with bad rows imports nothing unless --skip-bad.\nExit status: 0 imported (or nothing new), 1 nothing imported because of errors.")
	if err != nil {
		return err
	}
	if file == "" {
		return usageError(errors.New("import needs a FILE to read (staxkeys import FILE, or - for standard input)"))
	}
	var src io.Reader = env.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return &ExitError{Code: 1, Err: fmt.Errorf("cannot open %s: %w", file, errors.Unwrap(err))}
		}
		defer f.Close()
		src = f
	}
	data, err := app.Open(ctx, cfg, newLogger(cfg, env.Stderr), app.InitMode(*initDB))
	if err != nil {
		return err
	}
	defer data.DB.Close()
	v := data.KeyService(nil)

	plan, err := v.PlanImport(ctx, src)
	var fe *keys.ImportFileError
	if errors.As(err, &fe) {
		where := ""
		if fe.Line > 0 {
			where = fmt.Sprintf("line %d: ", fe.Line)
		}
		return &ExitError{Code: 1, Err: fmt.Errorf("%s: %s%s; nothing imported", file, where, fe.Msg)}
	}
	if err != nil {
		return err
	}
	for _, r := range plan.Rows {
		for _, note := range rowNotes(r) {
			fmt.Fprintf(env.Stderr, "%s: line %d: %s\n", file, r.Line, note)
		}
	}
	c := plan.Counts()
	if c.Bad > 0 && !*skipBad {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d bad %s: nothing imported (fix the file, or import the %d good %s only with --skip-bad)",
			c.Bad, plural(c.Bad, "row", "rows"), c.Good, plural(c.Good, "row", "rows"))}
	}
	prog := newProgress(env.Stderr, "imported")
	prog.total(len(plan.Rows))
	plan.Progress = func(done int) { prog.set(done, len(plan.Rows)) }
	res, err := v.Import(ctx, domain.CLIPrincipal, plan, *skipBad)
	if err == nil {
		prog.set(len(plan.Rows), len(plan.Rows))
	}
	prog.done()
	if err != nil && ctx.Err() != nil {
		// Interrupted: each key was added in its own transaction; say how far it got.
		fmt.Fprintf(env.Stdout, "interrupted: imported %d %s before the interrupt; importing the same file again adds the rest\n",
			len(res.Added), plural(len(res.Added), "key", "keys"))
		return &ExitError{Code: exitInterrupt, Err: errors.New("interrupted")}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "imported %d %s; %d duplicate %s skipped; %d bad %s skipped\n",
		len(res.Added), plural(len(res.Added), "key", "keys"), len(res.Duplicates), plural(len(res.Duplicates), "row", "rows"),
		len(res.Skipped), plural(len(res.Skipped), "row", "rows"))
	if len(res.Added) == 0 && c.Bad > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

// rowNotes says what is wrong with or worth knowing about a row: never one of its values.
func rowNotes(r keys.ImportRow) []string {
	var out []string
	for _, f := range []string{"row", "label", "email", "key"} {
		if msg := r.Problems[f]; msg != "" {
			out = append(out, "bad row: "+msg)
		}
	}
	switch {
	case r.DuplicateOf > 0:
		out = append(out, fmt.Sprintf("duplicate of line %d (same email and key); imported once", r.DuplicateOf))
	case r.Registered > 0:
		out = append(out, fmt.Sprintf("already registered as pair %d; not imported again", r.Registered))
	}
	if r.SharedWithLine > 0 {
		out = append(out, fmt.Sprintf("note: the same key is on line %d under another email", r.SharedWithLine))
	}
	if r.SharedWithKey > 0 {
		out = append(out, fmt.Sprintf("note: the same key is registered under another email (pair %d)", r.SharedWithKey))
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
