package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/staxkeys/staxkeys/internal/export"
)

// runExport writes every pair with its verdict and dates as CSV, to FILE or standard output.
// It never writes a key: only the last four characters every page shows.
func runExport(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	file, args := leadingFile(args, true)
	cfg, err := parseFlags(fs, env, args, "staxkeys export [FILE]: writes every key's label, email, key hint, verdict, last check,\nage and last valid time as CSV to FILE (mode 0600; never overwritten) or standard output.\nThe export never contains a key.")
	if err != nil {
		return err
	}
	data, err := openData(ctx, cfg, newLogger(cfg, env.Stderr), mustExist)
	if err != nil {
		return err
	}
	defer data.db.Close()
	var b bytes.Buffer
	n, err := export.AllPairs(ctx, &b, data.db, time.Now())
	if err != nil {
		return err
	}
	if file == "" || file == "-" {
		if _, err := env.Stdout.Write(b.Bytes()); err != nil {
			return err
		}
	} else {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return &ExitError{Code: 1, Err: fmt.Errorf("%s already exists; an export never overwrites", file)}
		}
		if err != nil {
			return err
		}
		_, werr := f.Write(b.Bytes())
		if err := errors.Join(werr, f.Close()); err != nil {
			os.Remove(file)
			return fmt.Errorf("cannot write %s: %w", file, err)
		}
		fmt.Fprintf(env.Stderr, "exported %d keys to %s\n", n, file)
	}
	data.audit(ctx, env, "pairs.export", "", fmt.Sprintf("%d pairs", n))
	return nil
}
