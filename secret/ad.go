package secret

import "strconv"

// AD is the associated data a value is sealed with: the place it is stored. A ciphertext copied
// to another place fails to open there. The constructors below are the only spellings of it, so
// no caller builds one by hand; their bytes must never change, since every stored ciphertext
// carries them.
type AD struct{ b []byte }

// KeyAD binds a registered API key to its row in pairs. The "pair:" prefix is the table's old
// name, kept because every sealed key was sealed with it.
func KeyAD(id int64) AD { return AD{[]byte("pair:" + strconv.FormatInt(id, 10))} }

// SettingAD binds a sealed setting to its name.
func SettingAD(name string) AD { return AD{[]byte("setting:" + name)} }

// CanaryAD binds the master-key canary (NewCanary).
func CanaryAD() AD { return AD{[]byte(canaryAD)} }

// KeyFingerprint is the keyed fingerprint of an API key alone, stored beside its sealed copy so
// that the same key under another email, or the same (key, email) twice, is found without
// opening anything. It changes with the master key.
func (r *Keyring) KeyFingerprint(key string) []byte { return r.Fingerprint("key", key) }

// Reseal opens sealed (bound to ad) under r and seals it again under to, for master-key
// rotation. The plaintext never leaves this package.
func (r *Keyring) Reseal(sealed []byte, ad AD, to *Keyring) ([]byte, error) {
	pt, err := r.Open(sealed, ad)
	if err != nil {
		return nil, err
	}
	return to.Seal(pt, ad)
}

// ResealKey is Reseal for a sealed API key, which also returns the key's fingerprint under
// to, since that is keyed by the master key too.
func (r *Keyring) ResealKey(sealed []byte, ad AD, to *Keyring) (resealed, fingerprint []byte, err error) {
	pt, err := r.Open(sealed, ad)
	if err != nil {
		return nil, nil, err
	}
	if resealed, err = to.Seal(pt, ad); err != nil {
		return nil, nil, err
	}
	return resealed, to.KeyFingerprint(string(pt)), nil
}

// TOTPAD binds an admin's TOTP secret to their row in totp.
func TOTPAD(adminID int64) AD { return AD{[]byte("totp:" + strconv.FormatInt(adminID, 10))} }

// HeldFormAD binds the secrets of a form that failed validation, sealed into the page sent
// back (notify.Notifier.Hold) so they need not be typed again. Never stored.
func HeldFormAD(form string) AD { return AD{[]byte("held-form:" + form)} }

// ChannelAD binds an alert channel's sealed URL to its row in channels.
func ChannelAD(id int64) AD { return AD{[]byte("channel:" + strconv.FormatInt(id, 10))} }
