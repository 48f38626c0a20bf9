// Package keys owns the registered API keys: it is the one place plaintext keys are handled
// (validated, sealed under the master key, opened for checks and deliberate reveals) and the one
// place every operation on a key is carried out, audited and handed to the checker.
package keys

import (
	"context"
	"fmt"

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

// Input is a pair as an admin or a client typed it. On update an empty Key keeps the key.
type Input struct {
	Label string
	Email string
	Key   string
	// Tags as typed; Validate normalises them (see domain.NormalizeTags).
	Tags []string
	// Expected is what is expected of the key; "" is domain.ExpectValid. Update leaves it to
	// Service.Update (store.SetExpected), which validates it here with the rest.
	Expected domain.Expect
}

// Add validates and registers a new pair.
func (v *Vault) Add(ctx context.Context, in Input) (domain.Key, error) {
	in, err := Validate(in, true)
	if err != nil {
		return domain.Key{}, err
	}
	return v.db.CreateKey(ctx, store.NewKey{
		Label:          in.Label,
		Email:          in.Email,
		Tags:           in.Tags,
		KeyHint:        secret.Hint(in.Key),
		KeyFingerprint: v.KeyFingerprint(in.Key),
		Seal:           v.sealer(in.Key),
		Expected:       in.Expected,
	})
}

// Update validates and applies a change to pair id; in.Tags replace its tags. The stored key is not opened unless it is
// replaced: duplicates are found by a unique index on (key fingerprint, email).
func (v *Vault) Update(ctx context.Context, id int64, in Input) (domain.Key, error) {
	in, err := Validate(in, false)
	if err != nil {
		return domain.Key{}, err
	}
	up := store.KeyUpdate{Label: in.Label, Email: in.Email, Tags: in.Tags}
	if in.Key != "" {
		up.KeyHint = secret.Hint(in.Key)
		up.KeyFingerprint = v.KeyFingerprint(in.Key)
		up.Seal = v.sealer(in.Key)
	}
	return v.db.UpdateKey(ctx, id, up)
}

// Key opens a pair's sealed key. Callers must not log, store or render it except in a reveal.
func (v *Vault) Key(p domain.Key) (string, error) {
	b, err := v.keys.Open(p.KeySealed, secret.KeyAD(p.ID))
	if err != nil {
		return "", fmt.Errorf("vault: open key of pair %d: %w", p.ID, err)
	}
	return string(b), nil
}

// KeyFingerprint returns the fingerprint of a key alone, to find the same key under other emails.
func (v *Vault) KeyFingerprint(key string) []byte { return v.keys.KeyFingerprint(key) }

func (v *Vault) sealer(key string) func(id int64) ([]byte, error) {
	return func(id int64) ([]byte, error) { return v.keys.Seal([]byte(key), secret.KeyAD(id)) }
}
