package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/staxkeys/staxkeys/accounts"
	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/config"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// The canary tells whether the master key fits the database. The audit key chains the audit
// trail; it is random rather than derived from the master key so that rotating the master key
// only re-seals it.
const (
	canarySetting   = store.SettingCanary
	auditKeySetting = store.SettingAuditKey
)

var auditKeyAD = secret.SettingAD(auditKeySetting)

// opened is the database with the keyring that opens its secrets.
type opened struct {
	db       *store.DB
	keys     *secret.Keyring
	source   secret.Source
	auditKey []byte
	log      *slog.Logger
	trail    *audit.Log
}

// keyService is the key use cases over the data, for commands run beside (or without) a
// server: there is no checker to nudge, a running server sees the change by data_version.
func (o *opened) keyService() *keys.Service {
	return keys.NewService(keys.New(o.db, o.keys), o.trail, nil, o.log)
}

// accounts is the admin and token use cases over the data.
func (o *opened) accounts() *accounts.Service { return accounts.New(o.db, o.trail, o.log) }

// openMode says whether a command may create the database (and a master key) when the data
// directory has none: only serve, and admin create or import with --init, may. Everything else
// refuses, so a mistyped STAXKEYS_DATA_DIR is an error, not a new empty installation.
type openMode int

const (
	mustExist openMode = iota
	mayCreate
)

// initMode is the openMode of a command with an --init flag.
func initMode(init bool) openMode {
	if init {
		return mayCreate
	}
	return mustExist
}

// initHint says how a database comes to exist, for the error of a command that found none.
const initHint = "check STAXKEYS_DATA_DIR; a database is created only by `staxkeys serve`, `staxkeys init`, or `staxkeys admin create` / `staxkeys import` with --init"

// checkDataDir refuses a data directory without a database, for commands that must not create
// one. It creates nothing, not even the directory.
func checkDataDir(cfg config.Config) error {
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

// loadMasterKey loads the master key; only a command that may create the database may also
// generate the key into the data directory (a refused command used to leave a stray master.key).
func loadMasterKey(cfg config.Config, mode openMode) (secret.MasterKey, secret.Source, bool, error) {
	if mode == mustExist && cfg.MasterKey == "" && cfg.MasterKeyFile == "" {
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

// openData prepares the data directory, loads (or on first start generates) the master key,
// opens the database and refuses a master key that does not fit it.
func openData(ctx context.Context, cfg config.Config, log *slog.Logger, mode openMode) (*opened, error) {
	if mode == mayCreate {
		if err := prepareDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	} else if err := checkDataDir(cfg); err != nil {
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
	keys := secret.NewKeyring(mk)
	canary, err := db.SettingOrInit(ctx, canarySetting, keys.NewCanary)
	if err == nil {
		err = keys.CheckCanary(canary)
	}
	if err != nil {
		db.Close()
		if errors.Is(err, secret.ErrWrongMasterKey) {
			return nil, masterKeyError(fmt.Errorf("the master key does not match this database (%s); start with the master key it was created with", db.Path()))
		}
		return nil, err
	}
	auditKey, err := loadAuditKey(ctx, db, keys)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &opened{db: db, keys: keys, source: src, auditKey: auditKey, log: log, trail: audit.New(db, auditKey, log)}, nil
}

// checkMasterKey tells whether keys still opens the database's canary: /readyz asks it, so a
// database swapped under a running server is noticed.
func checkMasterKey(db *store.DB, keys *secret.Keyring) func(context.Context) error {
	return func(ctx context.Context) error {
		canary, err := db.Setting(ctx, canarySetting)
		if err != nil {
			return err
		}
		return keys.CheckCanary(canary)
	}
}

// loadAuditKey opens the audit chain's key, creating it on first start.
func loadAuditKey(ctx context.Context, db *store.DB, keys *secret.Keyring) ([]byte, error) {
	sealed, err := db.SettingOrInit(ctx, auditKeySetting, func() ([]byte, error) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		return keys.Seal(k, auditKeyAD)
	})
	if err != nil {
		return nil, err
	}
	k, err := keys.Open(sealed, auditKeyAD)
	if err != nil {
		return nil, fmt.Errorf("cannot open the audit key: %w", err)
	}
	return k, nil
}

// audit records an action taken from the command line. A failure is reported, not fatal:
// the action itself already happened.
func (o *opened) audit(ctx context.Context, env Env, action audit.Action, target audit.Target, detail string) {
	if err := o.trail.Record(ctx, domain.CLIPrincipal, action, target, detail); err != nil {
		fmt.Fprintln(env.Stderr, "staxkeys: could not record the action in the audit trail:", err)
	}
}

// openStore opens an existing database, for commands that need no keys.
func openStore(ctx context.Context, cfg config.Config) (*store.DB, error) {
	if err := checkDataDir(cfg); err != nil {
		return nil, err
	}
	return openDB(ctx, cfg, mustExist)
}

// openDB opens the database in a data directory already prepared or checked.
func openDB(ctx context.Context, cfg config.Config, mode openMode) (*store.DB, error) {
	open := store.OpenExisting
	if mode == mayCreate {
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

// runInit creates the database, and the master key when none is set, in the data directory: what
// the first start of serve does, for an install step (a container's init, a provisioning
// script) that must not start the server. On an existing database it only checks the key.
func runInit(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	cfg, err := parseFlags(fs, env, args, "Creates the database (and a master key, when none is set) in the data directory, as the\nfirst start of serve does; on an existing database it checks that the master key opens it.")
	if err != nil {
		return err
	}
	_, statErr := os.Stat(cfg.DBPath())
	data, err := openData(ctx, cfg, newLogger(cfg, env.Stderr), mayCreate)
	if err != nil {
		return err
	}
	defer data.db.Close()
	if statErr == nil {
		fmt.Fprintf(env.Stdout, "the database %s exists and the master key opens it\n", data.db.Path())
		return nil
	}
	fmt.Fprintf(env.Stdout, "created the database %s\n", data.db.Path())
	return nil
}
