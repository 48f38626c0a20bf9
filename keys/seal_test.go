package keys_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// MustOpenVault opens a fresh database in a temporary directory with a vault over it.
func MustOpenVault(tb testing.TB) (*keys.Vault, *store.DB) {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "staxkeys.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		tb.Fatal(err)
	}
	return keys.New(db, secret.NewKeyring(mk)), db
}

func mustAdd(t *testing.T, v *keys.Vault, label, email, key string) domain.Key {
	t.Helper()
	p, err := v.Add(context.Background(), keys.Input{Label: label, Email: email, Key: key})
	if err != nil {
		t.Fatalf("add %s: %v", email, err)
	}
	return p
}

func mustKey(t *testing.T, v *keys.Vault, db *store.DB, id int64) string {
	t.Helper()
	p, err := db.KeyByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	k, err := v.Key(p)
	if err != nil {
		t.Fatalf("open key of pair %d: %v", id, err)
	}
	return k
}

// fieldsOf returns the names of the fields a validation error marks, sorted; nil when err is nil.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *domain.ValidationError", err)
	}
	var names []string
	for k, msg := range ve.Fields {
		if msg == "" {
			t.Errorf("field %s has an empty message", k)
		}
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

const goodKey = "sk_live_0123456789abcdef"

func TestValidate(t *testing.T) {
	local := strings.Repeat("a", 64)
	label63 := strings.Repeat("b", 63)
	// 64 + 1 + 63+1+63+1+57+4 = 254 bytes.
	email254 := local + "@" + label63 + "." + label63 + "." + strings.Repeat("c", 57) + ".com"
	if len(email254) != 254 {
		t.Fatalf("fixture is %d bytes", len(email254))
	}

	cases := []struct {
		name       string
		in         keys.Input
		requireKey bool
		fields     []string
	}{
		{"good", keys.Input{Label: "Billing", Email: "billing@acme.com", Key: goodKey}, true, nil},
		{"good, no label", keys.Input{Email: "billing@acme.com", Key: goodKey}, true, nil},
		{"surrounding space trimmed", keys.Input{Label: "  x  ", Email: "  billing@acme.com ", Key: " " + goodKey + " "}, true, nil},
		{"plus and dots", keys.Input{Email: "first.last+tag@mail.acme.co.uk", Key: goodKey}, true, nil},

		{"email missing", keys.Input{Key: goodKey}, true, []string{"email"}},
		{"email 254 bytes", keys.Input{Email: email254, Key: goodKey}, true, nil},
		{"email 255 bytes", keys.Input{Email: "a" + email254, Key: goodKey}, true, []string{"email"}},
		{"email no at", keys.Input{Email: "billing.acme.com", Key: goodKey}, true, []string{"email"}},
		{"email two ats", keys.Input{Email: "a@b@acme.com", Key: goodKey}, true, []string{"email"}},
		{"email no domain dot", keys.Input{Email: "a@localhost", Key: goodKey}, true, []string{"email"}},
		{"email double dot", keys.Input{Email: "a@acme..com", Key: goodKey}, true, []string{"email"}},
		{"email trailing dot", keys.Input{Email: "a@acme.com.", Key: goodKey}, true, []string{"email"}},
		{"email with name", keys.Input{Email: "Billing <billing@acme.com>", Key: goodKey}, true, []string{"email"}},
		{"email with space", keys.Input{Email: "bill ing@acme.com", Key: goodKey}, true, []string{"email"}},
		{"email CRLF header injection", keys.Input{Email: "a@acme.com\r\nX-Evil: 1", Key: goodKey}, true, []string{"email"}},
		{"email LF", keys.Input{Email: "a@acme.com\nb", Key: goodKey}, true, []string{"email"}},
		{"email CR", keys.Input{Email: "a\r@acme.com", Key: goodKey}, true, []string{"email"}},
		{"email NUL", keys.Input{Email: "a\x00@acme.com", Key: goodKey}, true, []string{"email"}},
		{"email DEL", keys.Input{Email: "a\x7f@acme.com", Key: goodKey}, true, []string{"email"}},
		{"email tab", keys.Input{Email: "a\t@acme.com", Key: goodKey}, true, []string{"email"}},
		{"email Cyrillic a in local part", keys.Input{Email: "\u0430dmin@acme.com", Key: goodKey}, true, []string{"email"}},
		{"email Cyrillic a in domain", keys.Input{Email: "admin@\u0430cme.com", Key: goodKey}, true, []string{"email"}},
		{"email fullwidth letter", keys.Input{Email: "\uff41@acme.com", Key: goodKey}, true, []string{"email"}},
		{"email accented", keys.Input{Email: "jos\u00e9@acme.com", Key: goodKey}, true, []string{"email"}},
		{"email zero-width space", keys.Input{Email: "a\u200b@acme.com", Key: goodKey}, true, []string{"email"}},
		{"email invalid UTF-8", keys.Input{Email: "a\xff@acme.com", Key: goodKey}, true, []string{"email"}},

		{"key missing", keys.Input{Email: "a@acme.com"}, true, []string{"key"}},
		{"key missing on update", keys.Input{Email: "a@acme.com"}, false, nil},
		{"key 16", keys.Input{Email: "a@acme.com", Key: strings.Repeat("k", 16)}, true, nil},
		{"key 15", keys.Input{Email: "a@acme.com", Key: strings.Repeat("k", 15)}, true, []string{"key"}},
		{"key 15 on update", keys.Input{Email: "a@acme.com", Key: strings.Repeat("k", 15)}, false, []string{"key"}},
		{"key 256", keys.Input{Email: "a@acme.com", Key: strings.Repeat("k", 256)}, true, nil},
		{"key 257", keys.Input{Email: "a@acme.com", Key: strings.Repeat("k", 257)}, true, []string{"key"}},
		{"key all visible ASCII", keys.Input{Email: "a@acme.com", Key: "!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"}, true, nil},
		{"key inner space", keys.Input{Email: "a@acme.com", Key: "sk_live_0123 456789abcdef"}, true, []string{"key"}},
		{"key inner tab", keys.Input{Email: "a@acme.com", Key: "sk_live_0123\t456789abcdef"}, true, []string{"key"}},
		{"key newline", keys.Input{Email: "a@acme.com", Key: "sk_live_0123\n456789abcdef"}, true, []string{"key"}},
		{"key NUL", keys.Input{Email: "a@acme.com", Key: "sk_live_0123\x00456789abcdef"}, true, []string{"key"}},
		{"key non-ASCII", keys.Input{Email: "a@acme.com", Key: "sk_live_0123\u00e9456789abcdef"}, true, []string{"key"}},
		{"key non-breaking space", keys.Input{Email: "a@acme.com", Key: "sk_live_0123\u00a0456789abcdef"}, true, []string{"key"}},

		{"label 100 runes", keys.Input{Label: strings.Repeat("\u00e9", 100), Email: "a@acme.com", Key: goodKey}, true, nil},
		{"label 101 runes", keys.Input{Label: strings.Repeat("\u00e9", 101), Email: "a@acme.com", Key: goodKey}, true, []string{"label"}},
		{"label newline", keys.Input{Label: "a\nb", Email: "a@acme.com", Key: goodKey}, true, []string{"label"}},
		{"label tab", keys.Input{Label: "a\tb", Email: "a@acme.com", Key: goodKey}, true, []string{"label"}},
		{"label NUL", keys.Input{Label: "a\x00b", Email: "a@acme.com", Key: goodKey}, true, []string{"label"}},
		{"label line separator", keys.Input{Label: "a\u2028b", Email: "a@acme.com", Key: goodKey}, true, []string{"label"}},
		{"label invalid UTF-8", keys.Input{Label: "a\xffb", Email: "a@acme.com", Key: goodKey}, true, []string{"label"}},

		{"every field at once", keys.Input{Label: "a\nb", Email: "nope", Key: "short"}, true, []string{"email", "key", "label"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := keys.Validate(tc.in, tc.requireKey)
			if got := fieldsOf(t, err); !slices.Equal(got, tc.fields) {
				t.Fatalf("fields = %v, want %v (error %v)", got, tc.fields, err)
			}
			if errors.Is(err, domain.ErrConflict) {
				t.Error("a malformed value is reported as a conflict")
			}
			if err == nil && (out.Label != strings.TrimSpace(tc.in.Label) || out.Email != strings.TrimSpace(tc.in.Email) || out.Key != strings.TrimSpace(tc.in.Key)) {
				t.Errorf("normalized = %+v", out)
			}
			if err != nil && tc.in.Key != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.in.Key)) {
				t.Error("the error message contains the key")
			}
		})
	}
}

func TestAddThenKey(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	p, err := v.Add(ctx, keys.Input{Label: " Billing ", Email: " billing@acme.com ", Key: " " + goodKey + " "})
	if err != nil {
		t.Fatal(err)
	}
	if p.Label != "Billing" || p.Email != "billing@acme.com" || p.KeyHint != "cdef" {
		t.Errorf("stored %q %q %q", p.Label, p.Email, p.KeyHint)
	}
	if bytes.Contains(p.KeySealed, []byte(goodKey)) {
		t.Fatal("the sealed key contains the plaintext")
	}
	if got := mustKey(t, v, db, p.ID); got != goodKey {
		t.Fatalf("Key = %q, want %q", got, goodKey)
	}
	if _, err := v.Add(ctx, keys.Input{Email: "bad", Key: goodKey}); fieldsOf(t, err) == nil {
		t.Fatal("an invalid pair was added")
	}
}

// TestKeyBoundToRow moves a sealed key into another row behind the store's back: it must not open
// there, because the row id is part of what was sealed.
func TestKeyBoundToRow(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	p1 := mustAdd(t, v, "", "one@acme.com", "key-number-one-0123456789")
	p2 := mustAdd(t, v, "", "two@acme.com", "key-number-two-0123456789")

	raw, err := sql.Open("sqlite", "file:"+db.Path()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, "UPDATE pairs SET key_sealed = (SELECT key_sealed FROM pairs WHERE id = ?) WHERE id = ?", p1.ID, p2.ID); err != nil {
		t.Fatal(err)
	}

	moved, err := db.KeyByID(ctx, p2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(moved.KeySealed, p1.KeySealed) {
		t.Fatal("the raw update did not take")
	}
	k, err := v.Key(moved)
	if err == nil {
		t.Fatalf("a key sealed for pair %d opened in pair %d (as %q)", p1.ID, p2.ID, k)
	}
	if !errors.Is(err, secret.ErrDecrypt) {
		t.Errorf("error = %v, want secret.ErrDecrypt", err)
	}
	if strings.Contains(err.Error(), "key-number") {
		t.Error("the error message contains a key")
	}
	if got := mustKey(t, v, db, p1.ID); got != "key-number-one-0123456789" {
		t.Errorf("the original row: %q", got)
	}
}

func TestDuplicateKey(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	mustAdd(t, v, "", "billing@acme.com", goodKey)

	for _, email := range []string{"billing@acme.com", "BILLING@ACME.COM", "Billing@Acme.com", " billing@acme.com "} {
		t.Run(email, func(t *testing.T) {
			_, err := v.Add(ctx, keys.Input{Label: "again", Email: email, Key: goodKey})
			if !errors.Is(err, domain.ErrConflict) {
				t.Fatalf("error = %v, want ErrConflict", err)
			}
			if got := fieldsOf(t, err); !slices.Equal(got, []string{"key"}) {
				t.Errorf("fields = %v, want [key]", got)
			}
		})
	}
	// The same key under another email, or another key under the same email, is allowed.
	mustAdd(t, v, "", "ops@acme.com", goodKey)
	mustAdd(t, v, "", "billing@acme.com", "another-key-0123456789")
	if c, _ := db.CountKeys(ctx); c.Total != 3 {
		t.Fatalf("%d pairs, want 3", c.Total)
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	a := mustAdd(t, v, "A", "a@acme.com", "shared-key-0123456789")
	b := mustAdd(t, v, "B", "b@acme.com", "shared-key-0123456789")

	t.Run("without a key keeps the key", func(t *testing.T) {
		got, err := v.Update(ctx, b.ID, keys.Input{Label: "B2", Email: "b2@acme.com"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Label != "B2" || got.Email != "b2@acme.com" || got.KeyHint != b.KeyHint || !bytes.Equal(got.KeySealed, b.KeySealed) {
			t.Fatalf("after update: %+v", got)
		}
		if k := mustKey(t, v, db, b.ID); k != "shared-key-0123456789" {
			t.Fatalf("key = %q", k)
		}
	})
	t.Run("an email edit does not open the key", func(t *testing.T) {
		// A vault under another master key cannot open b's key, yet edits its label and email:
		// duplicates are found by the stored fingerprint, not by re-deriving one from the key.
		mk, err := secret.GenerateMasterKey()
		if err != nil {
			t.Fatal(err)
		}
		blind := keys.New(db, secret.NewKeyring(mk))
		if _, err := blind.Update(ctx, b.ID, keys.Input{Label: "B3", Email: "b3@acme.com"}); err != nil {
			t.Fatalf("email-only edit needed the key: %v", err)
		}
		if _, err := v.Update(ctx, b.ID, keys.Input{Label: "B2", Email: "b2@acme.com"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an email change that collides is refused", func(t *testing.T) {
		// b holds the same key as a, so b taking a's email (in any case) would duplicate a.
		_, err := v.Update(ctx, b.ID, keys.Input{Label: "B", Email: "A@ACME.COM"})
		if !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("error = %v, want ErrConflict", err)
		}
		if got, _ := db.KeyByID(ctx, b.ID); got.Email != "b2@acme.com" {
			t.Errorf("a refused update changed the email to %q", got.Email)
		}
	})
	t.Run("new key replaces it", func(t *testing.T) {
		got, err := v.Update(ctx, a.ID, keys.Input{Label: "A", Email: "a@acme.com", Key: "brand-new-key-0123456789WXYZ"})
		if err != nil {
			t.Fatal(err)
		}
		if got.KeyHint != "WXYZ" || got.Verdict != domain.Pending {
			t.Errorf("after key change: %+v", got)
		}
		if k := mustKey(t, v, db, a.ID); k != "brand-new-key-0123456789WXYZ" {
			t.Fatalf("key = %q", k)
		}
		same, _ := db.KeysWithFingerprint(ctx, v.KeyFingerprint("shared-key-0123456789"))
		if len(same) != 1 || same[0].ID != b.ID {
			t.Errorf("pairs with the old key = %v, want only %d", same, b.ID)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		_, err := v.Update(ctx, a.ID, keys.Input{Email: "nope", Key: "short"})
		if got := fieldsOf(t, err); !slices.Equal(got, []string{"email", "key"}) {
			t.Fatalf("fields = %v", got)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		if _, err := v.Update(ctx, 999, keys.Input{Email: "z@acme.com"}); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("error = %v, want ErrNotFound", err)
		}
		if _, err := v.Update(ctx, 999, keys.Input{Email: "z@acme.com", Key: goodKey}); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("with key: error = %v, want ErrNotFound", err)
		}
	})
}

// TestNoPlaintextOnDisk scans the database file and its write-ahead log for the keys, both while
// the log still holds the rows and after Close folds it into the database.
func TestNoPlaintextOnDisk(t *testing.T) {
	ctx := context.Background()
	v, db := MustOpenVault(t)
	plain := []string{
		"sk_live_0123456789abcdef",
		"AKIAIOSFODNN7EXAMPLEKEY1",
		strings.Repeat("Zq9", 80),
		"short-but-valid-key!",
	}
	for i, k := range plain {
		mustAdd(t, v, "label", "team"+string(rune('a'+i))+"@acme.com", k)
	}
	// An update re-seals, leaving old pages behind in the log.
	p, _ := db.KeyByID(ctx, 1)
	if _, err := v.Update(ctx, p.ID, keys.Input{Email: p.Email, Key: "replacement-key-0123456789"}); err != nil {
		t.Fatal(err)
	}
	plain = append(plain, "replacement-key-0123456789")

	path := db.Path()
	read := func(name string) []byte {
		b, err := os.ReadFile(name)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return b
	}
	scan := func(when string, files map[string][]byte) {
		var all []byte
		for name, b := range files {
			all = append(all, b...)
			for _, k := range plain {
				if bytes.Contains(b, []byte(k)) {
					t.Errorf("%s: %s contains the key %q", when, name, k)
				}
			}
		}
		// The rows are there in readable form, so the scan looked at the right bytes.
		if !bytes.Contains(all, []byte("teamb@acme.com")) {
			t.Errorf("%s: the pairs' emails are not in the files either; the scan proves nothing", when)
		}
	}

	open := map[string][]byte{"db": read(path), "wal": read(path + "-wal")}
	if len(open["wal"]) == 0 {
		t.Fatal("the write-ahead log is empty while the database is open")
	}
	scan("open", open)

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	scan("closed", map[string][]byte{"db": read(path), "wal": read(path + "-wal")})
}
