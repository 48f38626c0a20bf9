// Package app is the composition root: it opens a data directory (its lock, master key,
// database, canary and audit key) and wires the services, the checker, the alerts and the web
// server over it. The commands in internal/cli parse flags and call it; nothing imports app
// but them.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/staxkeys/staxkeys/accounts"
	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/factors"
	"github.com/staxkeys/staxkeys/internal/config"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// Kind is a kind of failure that the command line gives an exit code of its own.
type Kind int

const (
	// Config: a setting cannot work, or the data directory has no database.
	Config Kind = iota + 1
	// MasterKey: no master key, or not the one the database was created with.
	MasterKey
)

// Failure is an error of a Kind.
type Failure struct {
	Kind Kind
	Err  error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

func configError(err error) error    { return &Failure{Kind: Config, Err: err} }
func masterKeyError(err error) error { return &Failure{Kind: MasterKey, Err: err} }

// Mode says whether Open may create the database (and a master key) when the data directory
// has none: only serve, init, and admin create or import with --init, may. Everything else
// refuses, so a mistyped STAXKEYS_DATA_DIR is an error, not a new empty installation.
type Mode int

const (
	MustExist Mode = iota
	MayCreate
)

// InitMode is the Mode of a command with an --init flag.
func InitMode(init bool) Mode {
	if init {
		return MayCreate
	}
	return MustExist
}

// initHint says how a database comes to exist, for the error of a command that found none.
const initHint = "check STAXKEYS_DATA_DIR; a database is created only by `staxkeys serve`, `staxkeys init`, or `staxkeys admin create` / `staxkeys import` with --init"

// Data is an opened data directory: the database with the keyring that opens its secrets and
// the audit trail chained by its audit key.
type Data struct {
	DB       *store.DB
	Keys     *secret.Keyring
	Source   secret.Source // where the master key came from
	AuditKey []byte
	Trail    *audit.Log
	Log      *slog.Logger
}

// KeyService is the key use cases over the data. chk may be nil for commands run beside (or
// without) a server: there is no checker to nudge, a running server sees the change by
// data_version.
func (d *Data) KeyService(chk keys.Checker) *keys.Service {
	return keys.NewService(keys.New(d.DB, d.Keys), d.Trail, chk, d.Log)
}

// Accounts is the admin and token use cases over the data.
func (d *Data) Accounts() *accounts.Service { return accounts.New(d.DB, d.Trail, d.Log) }

// Factors is the second-factor use cases over the data.
func (d *Data) Factors() *factors.Service { return factors.New(d.DB, d.Keys, d.Trail, d.Log) }

// Close closes the database.
func (d *Data) Close() error { return d.DB.Close() }

// Open prepares the data directory, loads (or, when mode allows, generates) the master key,
// opens the database and refuses a master key that does not fit it.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, mode Mode) (*Data, error) {
	if mode == MayCreate {
		if err := PrepareDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	} else if err := CheckDataDir(cfg); err != nil {
		return nil, err
	}
	mk, src, created, err := loadMasterKey(cfg, mode)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("generated a new master key; keep a copy of it apart from the data, and in production supply it by STAXKEYS_MASTER_KEY or STAXKEYS_MASTER_KEY_FILE outside the data directory",
			slog.String("path", src.Path))
	}
	db, err := openDB(ctx, cfg, mode)
	if err != nil {
		return nil, err
	}
	for _, w := range db.Warnings() {
		log.Warn("database file permissions", slog.String("problem", w))
	}
	ring := secret.NewKeyring(mk)
	canary, err := db.SettingOrInit(ctx, store.SettingCanary, ring.NewCanary)
	if err == nil {
		err = ring.CheckCanary(canary)
	}
	if err != nil {
		db.Close()
		if errors.Is(err, secret.ErrWrongMasterKey) {
			return nil, masterKeyError(fmt.Errorf("the master key does not match this database (%s); start with the master key it was created with", db.Path()))
		}
		return nil, err
	}
	auditKey, err := loadAuditKey(ctx, db, ring)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Data{DB: db, Keys: ring, Source: src, AuditKey: auditKey, Log: log, Trail: audit.New(db, auditKey, log)}, nil
}

// OpenStore opens an existing database, for commands that need no keys.
func OpenStore(ctx context.Context, cfg config.Config) (*store.DB, error) {
	if err := CheckDataDir(cfg); err != nil {
		return nil, err
	}
	return openDB(ctx, cfg, MustExist)
}

// openDB opens the database in a data directory already prepared or checked.
func openDB(ctx context.Context, cfg config.Config, mode Mode) (*store.DB, error) {
	open := store.OpenExisting
	if mode == MayCreate {
		open = store.Open
	}
	db, err := open(ctx, cfg.DBPath())
	if errors.Is(err, store.ErrNoDatabase) {
		return nil, configError(fmt.Errorf("no staxkeys database in the data directory %s: %s", cfg.DataDir, initHint))
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open the database: %w", err)
	}
	return db, nil
}

// loadMasterKey loads the master key; only a command that may create the database may also
// generate the key into the data directory (a refused command used to leave a stray master.key).
func loadMasterKey(cfg config.Config, mode Mode) (secret.MasterKey, secret.Source, bool, error) {
	if mode == MustExist && cfg.MasterKey == "" && cfg.MasterKeyFile == "" {
		path := filepath.Join(cfg.DataDir, secret.MasterKeyFileName)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return secret.MasterKey{}, secret.Source{}, false, masterKeyError(fmt.Errorf(
				"no master key: set STAXKEYS_MASTER_KEY or STAXKEYS_MASTER_KEY_FILE (no %s in the data directory)", secret.MasterKeyFileName))
		}
	}
	mk, src, created, err := secret.LoadOrCreateMasterKey(cfg.MasterKey, cfg.MasterKeyFile, cfg.DataDir)
	if err != nil {
		return mk, src, false, masterKeyError(err)
	}
	return mk, src, created, nil
}

// The audit key is random rather than derived from the master key so that rotating the
// master key only re-seals it.
var auditKeyAD = secret.SettingAD(store.SettingAuditKey)

// loadAuditKey opens the audit chain's key, creating it on first start.
func loadAuditKey(ctx context.Context, db *store.DB, ring *secret.Keyring) ([]byte, error) {
	sealed, err := db.SettingOrInit(ctx, store.SettingAuditKey, func() ([]byte, error) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		return ring.Seal(k, auditKeyAD)
	})
	if err != nil {
		return nil, err
	}
	k, err := ring.Open(sealed, auditKeyAD)
	if err != nil {
		return nil, fmt.Errorf("cannot open the audit key: %w", err)
	}
	return k, nil
}

// CheckMasterKey tells whether ring still opens the database's canary: /readyz asks it, so a
// database swapped under a running server is noticed.
func CheckMasterKey(db *store.DB, ring *secret.Keyring) func(context.Context) error {
	return func(ctx context.Context) error {
		canary, err := db.Setting(ctx, store.SettingCanary)
		if err != nil {
			return err
		}
		return ring.CheckCanary(canary)
	}
}
