// Package secret seals and opens API keys under a master key, and derives
// the other keys staxkeys needs from it.
//
// The master key never encrypts anything directly: every use (sealing,
// fingerprints, session cookies) gets its own subkey through HKDF-SHA256, so
// a weakness in one use cannot spill into another.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// MasterKeySize is the length of a master key in bytes; 32 bytes gives
// AES-256 and HMAC-SHA256 their full strength.
const MasterKeySize = 32

var (
	// ErrWrongMasterKey is returned by CheckCanary when the loaded keys are
	// not the ones this database was sealed with, so startup can stop before
	// writing rows nobody can read back.
	ErrWrongMasterKey = errors.New("secret: the master key does not match this database")
	// ErrUnknownKey means the ciphertext names a master key that is not in
	// the keyring, typically an old key dropped too early during rotation.
	ErrUnknownKey = errors.New("secret: sealed with a master key that is not loaded")
	// ErrDecrypt means authentication failed: the ciphertext was altered, or
	// it was sealed for a different record (different associated data).
	ErrDecrypt = errors.New("secret: ciphertext does not open (tampered, or sealed for another record)")
	// ErrMalformed means the bytes are not a ciphertext this package wrote.
	ErrMalformed = errors.New("secret: malformed ciphertext")
)

const (
	version     = 1
	headerSize  = 1 + len(KeyID{}) // version byte + key id
	nonceSize   = 12
	tagSize     = 16
	minSealed   = headerSize + nonceSize + tagSize
	redacted    = "[redacted]"
	idPrefix    = "staxkeys master key id\x00"
	infoAEAD    = "staxkeys aes-256-gcm v1"
	infoFP      = "staxkeys fingerprint v1"
	infoDerive  = "staxkeys derive v1\x00" // NUL keeps purposes apart from the fixed infos above
	canaryAD    = "staxkeys canary"
	canaryValue = "staxkeys canary value v1"
)

// MasterKey is the 32-byte secret everything else is derived from. All of its
// printing and marshalling methods yield "[redacted]" so it cannot leak
// through a log line or a JSON dump; use Encode to export it deliberately.
type MasterKey [MasterKeySize]byte

// KeyID names a master key without revealing it, so ciphertexts can record
// which key sealed them and rotation can find rows still on an old key.
type KeyID [8]byte

// String returns the key id as hex, which is safe to log.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// ID returns the public identifier of k: the first 8 bytes of SHA-256 over a
// domain-separation prefix and the key.
func (k MasterKey) ID() KeyID {
	h := sha256.New()
	h.Write([]byte(idPrefix))
	h.Write(k[:])
	var id KeyID
	copy(id[:], h.Sum(nil))
	return id
}

// Encode returns k as standard base64; it is the only way to get the key
// material out, so every call site is an intentional export.
func (k MasterKey) Encode() string { return base64.StdEncoding.EncodeToString(k[:]) }

// String returns "[redacted]" so %v and %s never print the key.
func (k MasterKey) String() string { return redacted }

// GoString returns "[redacted]" so %#v never prints the key.
func (k MasterKey) GoString() string { return redacted }

// Format prints "[redacted]" for every verb, including %x and %d, which would
// otherwise format the underlying bytes.
func (k MasterKey) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// MarshalText returns "[redacted]" so encoding/json and friends never emit
// the key.
func (k MasterKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue makes slog print "[redacted]" instead of the key.
func (k MasterKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// GenerateMasterKey returns a fresh random master key from crypto/rand.
func GenerateMasterKey() (MasterKey, error) {
	var k MasterKey
	if _, err := rand.Read(k[:]); err != nil {
		return MasterKey{}, fmt.Errorf("secret: generate master key: %w", err)
	}
	return k, nil
}

// ParseMasterKey decodes a base64 master key (standard or URL-safe alphabet,
// padded or not, surrounding whitespace ignored). The error never echoes the
// input, since the input is meant to be secret.
func ParseMasterKey(s string) (MasterKey, error) { return parseKey(s, "") }

// parseKey is ParseMasterKey with where ("" or e.g. " in file x") spliced into
// the error so callers can say where a bad key came from.
func parseKey(s, where string) (MasterKey, error) {
	s = strings.TrimSpace(s)
	got := -1
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) == MasterKeySize {
			var k MasterKey
			copy(k[:], b)
			clear(b)
			return k, nil
		}
		got = len(b)
		clear(b)
	}
	if got < 0 {
		return MasterKey{}, fmt.Errorf("secret: master key%s must be base64 of %d bytes (not valid base64)", where, MasterKeySize)
	}
	return MasterKey{}, fmt.Errorf("secret: master key%s must be base64 of %d bytes (got %d bytes)", where, MasterKeySize, got)
}

// Keyring holds the primary master key (which seals) and older ones (which
// still open), so keys can rotate without a flag day. It is immutable and
// safe for concurrent use.
//
// Its fields are pointers so that printing a Keyring with %+v shows addresses,
// never key material.
type Keyring struct {
	primary *entry
	byID    map[KeyID]*entry
}

type entry struct {
	id     KeyID
	master MasterKey
	aead   cipher.AEAD
	fpKey  []byte
}

// NewKeyring returns a keyring that seals with primary and opens with primary
// or any of older.
func NewKeyring(primary MasterKey, older ...MasterKey) *Keyring {
	r := &Keyring{byID: make(map[KeyID]*entry, 1+len(older))}
	r.primary = r.add(primary)
	for _, k := range older {
		r.add(k)
	}
	return r
}

func (r *Keyring) add(k MasterKey) *entry {
	id := k.ID()
	if e, ok := r.byID[id]; ok {
		return e
	}
	block, err := aes.NewCipher(derive(k, infoAEAD, 32))
	if err != nil {
		panic("secret: aes: " + err.Error()) // unreachable: the key is always 32 bytes
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("secret: gcm: " + err.Error()) // unreachable: standard nonce and tag sizes
	}
	e := &entry{id: id, master: k, aead: aead, fpKey: derive(k, infoFP, 32)}
	r.byID[id] = e
	return e
}

// derive runs HKDF-SHA256 over k with info; it panics only on an impossible
// length, which callers check first.
func derive(k MasterKey, info string, n int) []byte {
	b, err := hkdf.Key(sha256.New, k[:], nil, info, n)
	if err != nil {
		panic("secret: hkdf: " + err.Error())
	}
	return b
}

// PrimaryID returns the id of the key new ciphertexts are sealed with.
func (r *Keyring) PrimaryID() KeyID { return r.primary.id }

// Seal encrypts plaintext with AES-256-GCM under the primary key's sealing
// subkey and a fresh random nonce, bound to ad (where it is stored) so a ciphertext cannot be
// moved to another row.
//
// Format: version (1) | KeyID (8) | nonce (12) | ciphertext+tag. The version
// and KeyID are also authenticated, so neither can be altered.
func (r *Keyring) Seal(plaintext []byte, ad AD) ([]byte, error) {
	e := r.primary
	out := make([]byte, headerSize+nonceSize, minSealed+len(plaintext))
	out[0] = version
	copy(out[1:headerSize], e.id[:])
	nonce := out[headerSize:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secret: nonce: %w", err)
	}
	return e.aead.Seal(out, nonce, plaintext, fullAD(out[:headerSize], ad.b)), nil
}

// fullAD prefixes the caller's associated data with the fixed-size header,
// binding version and key id without ambiguity.
func fullAD(header, ad []byte) []byte {
	return append(append(make([]byte, 0, len(header)+len(ad)), header...), ad...)
}

// Open reverses Seal with whichever loaded key the ciphertext names. It
// returns ErrMalformed for truncated input or an unknown version,
// ErrUnknownKey for a key id not in the keyring, and ErrDecrypt when
// authentication fails (tampering, or the wrong ad).
func (r *Keyring) Open(sealed []byte, ad AD) ([]byte, error) {
	id, err := SealedBy(sealed)
	if err != nil {
		return nil, err
	}
	e, ok := r.byID[id]
	if !ok {
		return nil, ErrUnknownKey
	}
	nonce := sealed[headerSize : headerSize+nonceSize]
	pt, err := e.aead.Open(nil, nonce, sealed[headerSize+nonceSize:], fullAD(sealed[:headerSize], ad.b))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// SealedBy returns the KeyID recorded in a ciphertext, so rotation can find
// the rows that are not yet sealed under the primary key. It does not
// authenticate the id; Open does.
func SealedBy(sealed []byte) (KeyID, error) {
	if len(sealed) < minSealed || sealed[0] != version {
		return KeyID{}, ErrMalformed
	}
	return KeyID(sealed[1:headerSize]), nil
}

// Fingerprint returns a 32-byte HMAC-SHA256 over parts under a subkey of the
// primary key, so duplicate (email, key) pairs can be found without
// decrypting anything. Each part is length-prefixed, so ("ab", "c") and
// ("a", "bc") differ. Fingerprints change when the primary key rotates.
func (r *Keyring) Fingerprint(parts ...string) []byte {
	m := hmac.New(sha256.New, r.primary.fpKey)
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// DeriveKey returns n bytes derived from the primary key for the named
// purpose (for example "session cookie hash"); different purposes get
// independent keys. It panics if n is not in 1..8160 (the HKDF-SHA256 limit),
// which is a programming error.
func (r *Keyring) DeriveKey(purpose string, n int) []byte {
	if n <= 0 || n > 255*sha256.Size {
		panic(fmt.Sprintf("secret: DeriveKey length %d out of range", n))
	}
	return derive(r.primary.master, infoDerive+purpose, n)
}

// NewCanary seals a fixed known value, to be stored alongside the data, so a
// later start can tell whether it was given the right master key before it
// touches any real row.
func (r *Keyring) NewCanary() ([]byte, error) {
	return r.Seal([]byte(canaryValue), CanaryAD())
}

// CheckCanary returns nil when canary opens to the known value under a loaded
// key, and ErrWrongMasterKey otherwise (including for garbage input).
func (r *Keyring) CheckCanary(canary []byte) error {
	pt, err := r.Open(canary, CanaryAD())
	if err != nil || !hmac.Equal(pt, []byte(canaryValue)) {
		return ErrWrongMasterKey
	}
	return nil
}

// Hint returns the last 4 characters of an API key for display next to
// "••••". Keys shorter than 8 characters get "", because 4 characters would
// be half the key or more.
func Hint(key string) string {
	if utf8.RuneCountInString(key) < 8 {
		return ""
	}
	i := len(key)
	for range 4 {
		_, size := utf8.DecodeLastRuneInString(key[:i])
		i -= size
	}
	return key[i:]
}
