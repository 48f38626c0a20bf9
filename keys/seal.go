// Package keys owns the registered API keys: it is the one place plaintext keys are handled
// (validated, sealed under the master key, opened for checks and deliberate reveals) and the one
// place every operation on a key is carried out, audited and handed to the checker.
package keys

import (
	"context"
	"fmt"
	"strconv"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// Vault combines the store with the keyring.
type Vault struct {
	db   *store.DB
	keys *secret.Keyring
}

// New returns a Vault over db sealing with keys.
func New(db *store.DB, keys *secret.Keyring) *Vault { return &Vault{db: db, keys: keys} }

// PairInput is a pair as an admin or a client typed it. On update an empty Key keeps the key.
type PairInput struct {
	Label string
	Email string
	Key   string
}

// associatedData binds a ciphertext to its row, so a sealed key copied into another row fails to open.
func associatedData(id int64) []byte { return []byte("pair:" + strconv.FormatInt(id, 10)) }

// Add validates and registers a new pair.
func (v *Vault) Add(ctx context.Context, in PairInput) (domain.Key, error) {
	in, err := Validate(in, true)
	if err != nil {
		return domain.Key{}, err
	}
	return v.db.CreatePair(ctx, store.NewPair{
		Label:           in.Label,
		Email:           in.Email,
		KeyHint:         secret.Hint(in.Key),
		PairFingerprint: v.pairFingerprint(in.Email, in.Key),
		KeyFingerprint:  v.KeyFingerprint(in.Key),
		Seal:            v.sealer(in.Key),
	})
}

// Update validates and applies a change to pair id. The pair fingerprint depends on the key,
// so changing only the email needs the stored key opened to recompute it.
func (v *Vault) Update(ctx context.Context, id int64, in PairInput) (domain.Key, error) {
	in, err := Validate(in, false)
	if err != nil {
		return domain.Key{}, err
	}
	up := store.PairUpdate{Label: in.Label, Email: in.Email}
	if in.Key != "" {
		up.KeyHint = secret.Hint(in.Key)
		up.KeyFingerprint = v.KeyFingerprint(in.Key)
		up.PairFingerprint = v.pairFingerprint(in.Email, in.Key)
		up.Seal = v.sealer(in.Key)
	} else {
		p, err := v.db.PairByID(ctx, id)
		if err != nil {
			return domain.Key{}, err
		}
		key, err := v.Key(p)
		if err != nil {
			return domain.Key{}, err
		}
		up.PairFingerprint, up.FromSealed = v.pairFingerprint(in.Email, key), p.KeySealed
	}
	return v.db.UpdatePair(ctx, id, up)
}

// Key opens a pair's sealed key. Callers must not log, store or render it except in a reveal.
func (v *Vault) Key(p domain.Key) (string, error) {
	b, err := v.keys.Open(p.KeySealed, associatedData(p.ID))
	if err != nil {
		return "", fmt.Errorf("vault: open key of pair %d: %w", p.ID, err)
	}
	return string(b), nil
}

// KeyFingerprint returns the fingerprint of a key alone, to find the same key under other emails.
func (v *Vault) KeyFingerprint(key string) []byte { return v.keys.Fingerprint("key", key) }

func (v *Vault) sealer(key string) func(id int64) ([]byte, error) {
	return func(id int64) ([]byte, error) { return v.keys.Seal([]byte(key), associatedData(id)) }
}

func (v *Vault) pairFingerprint(email, key string) []byte {
	return v.keys.Fingerprint("pair", normalizeEmail(email), key)
}

// Reseal seals a pair's key under this vault's master key and recomputes its fingerprints,
// for master-key rotation.
func (v *Vault) Reseal(p domain.Key, key string) (store.Reseal, error) {
	sealed, err := v.sealer(key)(p.ID)
	if err != nil {
		return store.Reseal{}, err
	}
	return store.Reseal{
		KeySealed:       sealed,
		PairFingerprint: v.pairFingerprint(p.Email, key),
		KeyFingerprint:  v.KeyFingerprint(key),
	}, nil
}
