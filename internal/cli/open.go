package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"

	"github.com/staxkeys/staxkeys/internal/config"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// canarySetting names the sealed value that tells whether the master key fits the database.
const canarySetting = "master_key_canary"

// auditKeySetting names the sealed random key that chains the audit trail. It is random rather
// than derived from the master key so that rotating the master key only re-seals it.
const auditKeySetting = "audit_key"

var auditKeyAD = []byte("setting:" + auditKeySetting)

// opened is the database with the keyring that opens its secrets.
type opened struct {
	db       *store.DB
	keys     *secret.Keyring
	source   secret.Source
	auditKey []byte
}

// openData prepares the data directory, loads (or on first start generates) the master key,
// opens the database and refuses a master key that does not fit it.
func openData(ctx context.Context, cfg config.Config, log *slog.Logger) (*opened, error) {
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	mk, src, created, err := secret.LoadOrCreateMasterKey(cfg.MasterKey, cfg.MasterKeyFile, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("generated a new master key; keep a copy of it apart from the data, and in production supply it by STAXKEYS_MASTER_KEY or STAXKEYS_MASTER_KEY_FILE outside the data directory",
			slog.String("path", src.Path))
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	keys := secret.NewKeyring(mk)
	canary, err := db.SettingOrInit(ctx, canarySetting, keys.NewCanary)
	if err == nil {
		err = keys.CheckCanary(canary)
	}
	if err != nil {
		db.Close()
		if errors.Is(err, secret.ErrWrongMasterKey) {
			return nil, fmt.Errorf("the master key does not match this database (%s); start with the master key it was created with", db.Path())
		}
		return nil, err
	}
	auditKey, err := loadAuditKey(ctx, db, keys)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &opened{db: db, keys: keys, source: src, auditKey: auditKey}, nil
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
func (o *opened) audit(ctx context.Context, env Env, action, target, detail string) {
	err := o.db.AppendAudit(ctx, o.auditKey, store.AuditEntry{Actor: "cli", Action: action, Target: target, Detail: detail})
	if err != nil {
		fmt.Fprintln(env.Stderr, "staxkeys: could not record the action in the audit trail:", err)
	}
}

// openStore prepares the data directory and opens the database, for commands that need no keys.
func openStore(ctx context.Context, cfg config.Config) (*store.DB, error) {
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	return openDB(ctx, cfg)
}

// openDB opens the database in a data directory already prepared.
func openDB(ctx context.Context, cfg config.Config) (*store.DB, error) {
	db, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		return nil, fmt.Errorf("cannot open the database: %w", err)
	}
	return db, nil
}
