package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/staxkeys/staxkeys/internal/app"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// runBackup writes a consistent copy of the live database, checks it, and says where. FILE "-"
// writes the copy to standard output (for a pipe to gzip, age or a remote), after checking it
// in a private temporary file in the data directory.
func runBackup(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	target, args := leadingFile(args, true)
	cfg, err := parseFlags(fs, env, args, "Writes a consistent copy of the database to FILE (mode 0600), or to standard output for -,\nsafe while the server runs. The copy holds keys sealed under the master key: keep the key apart.")
	if err != nil {
		return err
	}
	if target == "" {
		return usageError(errors.New("backup needs a FILE to write, or - for standard output (staxkeys backup FILE)"))
	}
	db, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	toStdout := target == "-"
	if toStdout {
		tmp, err := os.CreateTemp(cfg.DataDir, ".backup-*.db")
		if err != nil {
			return fmt.Errorf("cannot create a temporary file for the backup: %w", err)
		}
		target = tmp.Name()
		tmp.Close()
		os.Remove(target) // Backup creates it afresh, private, and never overwrites
		defer os.Remove(target)
	}
	if err := db.Backup(ctx, target); errors.Is(err, store.ErrExists) {
		return &ExitError{Code: 1, Err: fmt.Errorf("%s already exists; a backup never overwrites", target)}
	} else if err != nil {
		return err
	}
	if err := checkBackup(ctx, target); err != nil {
		return err
	}
	if toStdout {
		f, err := os.Open(target)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.Copy(env.Stdout, f); err != nil {
			return fmt.Errorf("cannot write the backup to standard output: %w", err)
		}
		fmt.Fprintln(env.Stderr, "backup written to standard output (integrity check ok)")
		return nil
	}
	fmt.Fprintf(env.Stdout, "backup written to %s (integrity check ok)\n", target)
	return nil
}

// checkBackup opens the copy at path and runs integrity_check on it.
func checkBackup(ctx context.Context, path string) error {
	copyDB, err := store.OpenExisting(ctx, path)
	if err != nil {
		return fmt.Errorf("the backup was written but does not open: %w", err)
	}
	res, err := copyDB.IntegrityCheck(ctx)
	copyDB.Close()
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	if err != nil || res != "ok" {
		return fmt.Errorf("the backup at %s failed its integrity check: %v %s", path, err, res)
	}
	return nil
}

// startNote reminds the operator to start the server with the new key.
const startNote = "Start the server again with the new key."

// runRotateMasterKey re-seals every key under a new master key in one transaction. The new
// key goes where the old one came from (a file) or, when it came from the environment, is
// printed for the operator to store. Afterwards the old key opens nothing.
func runRotateMasterKey(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("rotate-master-key", flag.ContinueOnError)
	cfg, err := parseFlags(fs, env, args, "Re-encrypts every stored key under a new master key, in one transaction. Stop the server\nfirst: a running server holds the old key and would seal new keys under it.")
	if err != nil {
		return err
	}
	// A running server keeps the old key in memory and would seal keys added after the rotation
	// under it, where nothing could open them: refuse rather than lose keys.
	if err := app.CheckDataDir(cfg); err != nil {
		return err
	}
	unlock, err := app.LockDataDir(cfg.DataDir)
	if errors.Is(err, app.ErrLocked) {
		return &ExitError{Code: 1, Err: fmt.Errorf("%w: stop it, rotate the master key, then start it again with the new key", err)}
	}
	if err != nil {
		return err
	}
	defer unlock()
	log := newLogger(cfg, env.Stderr)
	data, err := app.Open(ctx, cfg, log, app.MustExist)
	if err != nil {
		return err
	}
	defer data.DB.Close()

	newKey, err := secret.GenerateMasterKey()
	if err != nil {
		return err
	}
	newRing := secret.NewKeyring(newKey)
	// The new key is on disk (beside the old one) before the data depends on it, so a crash at
	// any point leaves a key that opens the data.
	var pending string
	if data.Source.Path != "" {
		pending = data.Source.Path + ".new"
		if err := secret.WriteMasterKeyFile(pending, newKey); err != nil {
			return fmt.Errorf("cannot write the new master key next to %s: %w", data.Source.Path, err)
		}
	}
	// Every sealed value the store lists moves: the keys, the canary, the audit key and the
	// alert settings' secrets.
	n, err := data.DB.ResealAll(ctx, data.Keys, newRing)
	if err != nil {
		if pending != "" {
			os.Remove(pending)
		}
		return fmt.Errorf("rotation failed and nothing changed: %w", err)
	}
	record(ctx, env, data, "master_key.rotate", "", fmt.Sprintf("%d keys re-sealed", n))
	if pending != "" {
		if err := os.Rename(pending, data.Source.Path); err != nil {
			return fmt.Errorf("the keys are now sealed under the new master key, which is in %s; move it to %s: %w", pending, data.Source.Path, err)
		}
		fmt.Fprintf(env.Stdout, "re-sealed %d keys under a new master key, written to %s\n%s\n", n, filepath.Clean(data.Source.Path), startNote)
		return nil
	}
	fmt.Fprintf(env.Stdout, "re-sealed %d keys under a new master key. %s\nIt came from the environment: store this new value in STAXKEYS_MASTER_KEY now; the old one no longer works:\n%s\n", n, startNote, newKey.Encode())
	return nil
}
