// Package password hashes admin passwords with argon2id and checks them in constant time.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// MinLength is the shortest password accepted; length matters more than character classes.
const MinLength = 12

// MaxLength bounds the work an attacker can make us do per login attempt.
const MaxLength = 1024

// Params are argon2id's cost settings. The defaults follow OWASP's recommendation
// (19 MiB, 2 passes, 1 lane): about 30 ms on a small server.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Default is used for new hashes. Stored hashes carry their own parameters, so raising these
// later does not break existing logins.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const saltLen, keyLen = 16, 32

var b64 = base64.RawStdEncoding

// ErrMalformed means a stored hash is not in the PHC argon2id format.
var ErrMalformed = errors.New("password: malformed hash")

// Check returns what is wrong with a new password, or "" when it is acceptable. related are
// words the password must not be built on (the admin's email).
func Check(pw string, related ...string) string {
	switch n := utf8.RuneCountInString(pw); {
	case !utf8.ValidString(pw):
		return "password is not valid UTF-8"
	case n < MinLength:
		return fmt.Sprintf("password must be at least %d characters", MinLength)
	case len(pw) > MaxLength:
		return fmt.Sprintf("password must be at most %d bytes", MaxLength)
	case strings.TrimSpace(pw) == "":
		return "password must not be only spaces"
	}
	if guessable(pw, related) {
		return "this password is too common or too easy to guess (a known password, a word with digits, " +
			"a repeat or a sequence); choose a passphrase of several unrelated words"
	}
	return ""
}

// Hash returns the PHC-format argon2id hash of pw with a fresh random salt.
func Hash(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	p := Default
	sum := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(sum)), nil
}

// Verify reports whether pw matches the stored hash.
func Verify(pw, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory == 0 || p.Memory > 1<<22 || p.Time == 0 || p.Time > 64 || p.Threads == 0 {
		return false, ErrMalformed
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformed
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, ErrMalformed
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when no account matches, so a login for an unknown email
// takes as long as one for a known email and reveals nothing by its timing. It is a constant
// (made with the Default parameters) rather than computed at start-up, which would cost every
// process 19 MiB of argon2 memory before it served anything.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$BnGL2UZy17mpKXEvBxyx/w$UZBH5aQ1Phm/SQns9UAX/UF15VlF3Q7+414XBvE6+A0"

// VerifyNothing spends the time of one Verify; call it when there is no hash to check.
func VerifyNothing(pw string) { _, _ = Verify(pw, dummyHash) }
