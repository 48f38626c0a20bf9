// Package apitoken mints API tokens and checks presented ones against their stored hashes.
package apitoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// Scheme starts every token, so a leaked one is easy to recognise (and to scan for).
const Scheme = "sk_"

// prefixLen is how much of a token is kept in clear to find its row: "sk_" and 8 characters.
const prefixLen = len(Scheme) + 8

// encodedLen is the length of a whole token: "sk_" and 43 characters of base64 (32 bytes).
const encodedLen = len(Scheme) + 43

// ErrInvalid means the presented token is malformed, unknown, revoked or wrong.
var ErrInvalid = errors.New("apitoken: invalid token")

// MaxNameLen bounds a token's name.
const MaxNameLen = 100

func hash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// Create mints a token with role, stores its prefix and hash, and returns the token: the only time it exists in clear.
func Create(ctx context.Context, db *store.DB, name string, role domain.Role, createdBy string) (string, domain.Token, error) {
	name = strings.TrimSpace(name)
	if msg := CheckName(name); msg != "" {
		return "", domain.Token{}, &domain.ValidationError{Fields: map[string]string{"name": msg}}
	}
	if !role.Valid() {
		return "", domain.Token{}, domain.Invalid("role", "choose viewer, editor or admin")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", domain.Token{}, fmt.Errorf("apitoken: %w", err)
	}
	tok := Scheme + base64.RawURLEncoding.EncodeToString(raw)
	t, err := db.CreateToken(ctx, domain.Token{
		Name: name, Prefix: tok[:prefixLen], Hash: hash(tok), Role: role, CreatedBy: createdBy,
	})
	if err != nil {
		return "", domain.Token{}, err
	}
	return tok, t, nil
}

// CheckName returns what is wrong with a token name, or "".
func CheckName(name string) string {
	switch {
	case name == "":
		return "name is required"
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "name must not contain control characters"
	case utf8.RuneCountInString(name) > MaxNameLen:
		return "name must be at most 100 characters"
	}
	return ""
}

// Authenticate returns the live token matching tok, comparing hashes in constant time.
func Authenticate(ctx context.Context, db *store.DB, tok string) (domain.Token, error) {
	if len(tok) != encodedLen || !strings.HasPrefix(tok, Scheme) {
		return domain.Token{}, ErrInvalid
	}
	t, err := db.TokenByPrefix(ctx, tok[:prefixLen])
	if errors.Is(err, domain.ErrNotFound) {
		// Spend the same comparison as a found token, so timing says nothing about prefixes.
		subtle.ConstantTimeCompare(hash(tok), make([]byte, sha256.Size))
		return domain.Token{}, ErrInvalid
	}
	if err != nil {
		return domain.Token{}, err
	}
	if subtle.ConstantTimeCompare(hash(tok), t.Hash) != 1 {
		return domain.Token{}, ErrInvalid
	}
	return t, nil
}
