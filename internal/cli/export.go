package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/app"
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
	data, err := app.Open(ctx, cfg, newLogger(cfg, env.Stderr), app.MustExist)
	if err != nil {
		return err
	}
	defer data.DB.Close()
	// The file is created first, so an export refused (an existing file) is not recorded as made.
	var f *os.File
	if file != "" && file != "-" {
		f, err = os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return &ExitError{Code: 1, Err: fmt.Errorf("%s already exists; an export never overwrites", file)}
		}
		if err != nil {
			return err
		}
	}
	var b bytes.Buffer
	n, err := data.KeyService(nil).Export(ctx, domain.CLIPrincipal, &b)
	if f == nil {
		if err != nil {
			return err
		}
		_, err = env.Stdout.Write(b.Bytes())
		return err
	}
	if err == nil {
		_, err = f.Write(b.Bytes())
	}
	if err := errors.Join(err, f.Close()); err != nil {
		os.Remove(file)
		return fmt.Errorf("cannot write %s: %w", file, err)
	}
	fmt.Fprintf(env.Stderr, "exported %d keys to %s\n", n, file)
	return nil
}
