package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/staxkeys/staxkeys/internal/config"
)

// ErrLocked means another process holds the data directory's lock: a server is running on it.
var ErrLocked = errors.New("a staxkeys server is running on this data directory")

// PrepareDataDir creates the data directory private to this user, or explains why it cannot:
// a directory that cannot be created or written is a configuration error (exit 78); a write
// that fails in a writable directory (a full disk) is not.
func PrepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return configError(fmt.Errorf("cannot create the data directory %s: %w", dir, err))
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return configError(fmt.Errorf("the data directory %s is not writable: %w", dir, err))
	}
	name := probe.Name()
	_, werr := probe.Write(make([]byte, 4096))
	cerr := probe.Close()
	os.Remove(name)
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("cannot write to the data directory %s (is the disk full?): %w", dir, err)
	}
	return nil
}

// CheckDataDir refuses a data directory without a database, for commands that must not create
// one. It creates nothing, not even the directory.
func CheckDataDir(cfg config.Config) error {
	fi, err := os.Stat(cfg.DataDir)
	if err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return configError(fmt.Errorf("no staxkeys database in the data directory %s (%v): %s", cfg.DataDir, err, initHint))
	}
	if _, err := os.Stat(cfg.DBPath()); err != nil {
		return configError(fmt.Errorf("no staxkeys database in the data directory %s (%s is missing): %s", cfg.DataDir, filepath.Base(cfg.DBPath()), initHint))
	}
	return nil
}
