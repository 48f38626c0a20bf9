package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/staxkeys/staxkeys/secret"
)

// The settings whose values are sealed under the master key. Their owners read and write them
// by these names; ResealAll re-seals every one of them.
const (
	SettingCanary        = "master_key_canary"            // tells whether the master key fits the data
	SettingAuditKey      = "audit_key"                    // the random key chaining the audit trail
	SettingWebhookURL    = "notify_webhook_url"           // alert settings' secrets
	SettingWebhookSecret = "notify_webhook_secret"        //
	SettingSlackURL      = "notify_slack_url"             //
	SettingSMTPPassword  = "notify_smtp_password"         //
	SettingPagerDutyKey  = "notify_pagerduty_routing_key" //
	SettingOpsgenieKey   = "notify_opsgenie_api_key"      //
)

// sealedSettings maps each sealed setting to the associated data it is sealed with.
var sealedSettings = map[string]secret.AD{
	SettingCanary:        secret.CanaryAD(),
	SettingAuditKey:      secret.SettingAD(SettingAuditKey),
	SettingWebhookURL:    secret.SettingAD(SettingWebhookURL),
	SettingWebhookSecret: secret.SettingAD(SettingWebhookSecret),
	SettingSlackURL:      secret.SettingAD(SettingSlackURL),
	SettingSMTPPassword:  secret.SettingAD(SettingSMTPPassword),
	SettingPagerDutyKey:  secret.SettingAD(SettingPagerDutyKey),
	SettingOpsgenieKey:   secret.SettingAD(SettingOpsgenieKey),
}

// sealedPlace is one place the database keeps values sealed under the master key. ResealAll
// walks sealedPlaces, so a new sealed column is rotated as soon as it is listed here.
type sealedPlace struct {
	what   string                             // for errors
	rows   string                             // selects (row id, sealed value)
	update string                             // sets the new sealed value (and fingerprint) of a row id
	ad     func(id string) (secret.AD, error) // the associated data of a row
	keyed  bool                               // update also takes the API key's new fingerprint
}

var sealedPlaces = []sealedPlace{
	{
		what:   "key",
		rows:   "SELECT id, key_sealed FROM pairs ORDER BY id",
		update: "UPDATE pairs SET key_sealed = ?, key_fingerprint = ? WHERE id = ?",
		ad: func(id string) (secret.AD, error) {
			n, err := strconv.ParseInt(id, 10, 64)
			return secret.KeyAD(n), err
		},
		keyed: true,
	},
	{
		what:   "totp secret",
		rows:   "SELECT admin_id, secret_sealed FROM totp ORDER BY admin_id",
		update: "UPDATE totp SET secret_sealed = ? WHERE admin_id = ?",
		ad: func(id string) (secret.AD, error) {
			n, err := strconv.ParseInt(id, 10, 64)
			return secret.TOTPAD(n), err
		},
	},
	{
		what:   "channel URL",
		rows:   "SELECT id, url_sealed FROM channels ORDER BY id",
		update: "UPDATE channels SET url_sealed = ? WHERE id = ?",
		ad: func(id string) (secret.AD, error) {
			n, err := strconv.ParseInt(id, 10, 64)
			return secret.ChannelAD(n), err
		},
	},
	{
		what:   "setting",
		rows:   "SELECT name, value FROM settings ORDER BY name",
		update: "UPDATE settings SET value = ? WHERE name = ?",
		ad: func(name string) (secret.AD, error) {
			ad, ok := sealedSettings[name]
			if !ok {
				return secret.AD{}, errNotSealed
			}
			return ad, nil
		},
	},
}

var errNotSealed = fmt.Errorf("not a sealed value")

// ResealAll moves every sealed value in the database from one master key to another, in one
// transaction: either every secret moves or none does. It returns the number of API keys
// re-sealed. Afterwards the old ciphertexts are wiped from free pages and the WAL.
func (db *DB) ResealAll(ctx context.Context, from, to *secret.Keyring) (int, error) {
	keys := 0
	err := db.write(ctx, func(tx *sql.Tx) error {
		for _, place := range sealedPlaces {
			n, err := resealPlace(ctx, tx, place, from, to)
			if err != nil {
				return err
			}
			if place.keyed {
				keys += n
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: reseal: %w", err)
	}
	if err := db.Checkpoint(ctx); err != nil {
		return keys, fmt.Errorf("store: reseal: checkpoint: %w", err)
	}
	if _, err := db.w.ExecContext(ctx, "VACUUM"); err != nil {
		return keys, fmt.Errorf("store: reseal: vacuum: %w", err)
	}
	return keys, db.Checkpoint(ctx)
}

func resealPlace(ctx context.Context, tx *sql.Tx, place sealedPlace, from, to *secret.Keyring) (int, error) {
	type row struct {
		id     string
		sealed []byte
	}
	rows, err := tx.QueryContext(ctx, place.rows)
	if err != nil {
		return 0, err
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.sealed); err != nil {
			rows.Close()
			return 0, err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range all {
		ad, err := place.ad(r.id)
		if err == errNotSealed {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("%s %s: %w", place.what, r.id, err)
		}
		var args []any
		if place.keyed {
			sealed, fp, err := from.ResealKey(r.sealed, ad, to)
			if err != nil {
				return n, fmt.Errorf("%s %s: %w", place.what, r.id, err)
			}
			args = []any{sealed, fp, r.id}
		} else {
			sealed, err := from.Reseal(r.sealed, ad, to)
			if err != nil {
				return n, fmt.Errorf("%s %s: %w", place.what, r.id, err)
			}
			args = []any{sealed, r.id}
		}
		if _, err := tx.ExecContext(ctx, place.update, args...); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
