package secret_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/secret"
)

func newKey(t testing.TB) secret.MasterKey {
	t.Helper()
	k, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func seal(t testing.TB, r *secret.Keyring, pt, ad string) []byte {
	t.Helper()
	c, err := r.Seal([]byte(pt), secret.RawAD([]byte(ad)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	r := secret.NewKeyring(newKey(t))
	for _, tc := range []struct{ name, pt, ad string }{
		{"empty", "", "pair:1"},
		{"api key", "sk_live_0123456789abcdef", "pair:42"},
		{"no ad", "x", ""},
		{"long", strings.Repeat("k", 10000), "pair:7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := seal(t, r, tc.pt, tc.ad)
			if len(tc.pt) >= 8 && bytes.Contains(c, []byte(tc.pt)) {
				t.Fatal("ciphertext contains plaintext")
			}
			got, err := r.Open(c, secret.RawAD([]byte(tc.ad)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.pt {
				t.Fatalf("got %q, want %q", got, tc.pt)
			}
		})
	}
}

func TestFreshNonce(t *testing.T) {
	r := secret.NewKeyring(newKey(t))
	a, b := seal(t, r, "same", "pair:1"), seal(t, r, "same", "pair:1")
	if bytes.Equal(a[9:21], b[9:21]) || bytes.Equal(a, b) {
		t.Fatal("two seals reused a nonce")
	}
}

func TestWrongKey(t *testing.T) {
	a, b := newKey(t), newKey(t)
	ra, rb := secret.NewKeyring(a), secret.NewKeyring(b)
	c := seal(t, ra, "secret", "pair:1")

	t.Run("unknown key id", func(t *testing.T) {
		if _, err := rb.Open(c, secret.RawAD([]byte("pair:1"))); !errors.Is(err, secret.ErrUnknownKey) {
			t.Fatalf("err = %v, want ErrUnknownKey", err)
		}
	})
	t.Run("forged key id", func(t *testing.T) {
		// Relabel the ciphertext with b's id: the id is found but the
		// key (and the authenticated header) are wrong.
		forged := bytes.Clone(c)
		id := b.ID()
		copy(forged[1:9], id[:])
		if _, err := rb.Open(forged, secret.RawAD([]byte("pair:1"))); !errors.Is(err, secret.ErrDecrypt) {
			t.Fatalf("err = %v, want ErrDecrypt", err)
		}
	})
}

func TestTamper(t *testing.T) {
	r := secret.NewKeyring(newKey(t))
	c := seal(t, r, "sk_live_0123456789abcdef", "pair:1")
	for _, tc := range []struct {
		name string
		at   int
		want error
	}{
		{"version", 0, secret.ErrMalformed},
		{"key id", 3, secret.ErrUnknownKey},
		{"nonce", 12, secret.ErrDecrypt},
		{"body", 25, secret.ErrDecrypt},
		{"tag", len(c) - 1, secret.ErrDecrypt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(c)
			bad[tc.at] ^= 0x01
			pt, err := r.Open(bad, secret.RawAD([]byte("pair:1")))
			if !errors.Is(err, tc.want) || pt != nil {
				t.Fatalf("Open = %q, %v; want %v", pt, err, tc.want)
			}
		})
	}
	for _, n := range []int{0, 1, 9, 21, 36, len(c) - 1} {
		t.Run(fmt.Sprintf("truncated to %d", n), func(t *testing.T) {
			_, err := r.Open(c[:n], secret.RawAD([]byte("pair:1")))
			if err == nil {
				t.Fatal("truncated ciphertext opened")
			}
		})
	}
}

func TestSwappedRecord(t *testing.T) {
	r := secret.NewKeyring(newKey(t))
	c := seal(t, r, "key one", "pair:1")
	if _, err := r.Open(c, secret.RawAD([]byte("pair:2"))); !errors.Is(err, secret.ErrDecrypt) {
		t.Fatalf("err = %v, want ErrDecrypt", err)
	}
}

func TestRotation(t *testing.T) {
	old, nw := newKey(t), newKey(t)
	c := seal(t, secret.NewKeyring(old), "legacy", "pair:1")
	r := secret.NewKeyring(nw, old)

	if got, err := r.Open(c, secret.RawAD([]byte("pair:1"))); err != nil || string(got) != "legacy" {
		t.Fatalf("Open old = %q, %v", got, err)
	}
	if r.PrimaryID() != nw.ID() {
		t.Fatal("primary is not the new key")
	}
	id, err := secret.SealedBy(c)
	if err != nil || id != old.ID() {
		t.Fatalf("SealedBy(old) = %v, %v", id, err)
	}
	resealed := seal(t, r, "legacy", "pair:1")
	if id, _ := secret.SealedBy(resealed); id != nw.ID() {
		t.Fatalf("new seal used %v, want %v", id, nw.ID())
	}
	if _, err := secret.NewKeyring(nw).Open(resealed, secret.RawAD([]byte("pair:1"))); err != nil {
		t.Fatalf("new key alone cannot open resealed row: %v", err)
	}
}

func TestSealedBy(t *testing.T) {
	k := newKey(t)
	c := seal(t, secret.NewKeyring(k), "x", "a")
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"genuine", c, nil},
		{"nil", nil, secret.ErrMalformed},
		{"short", c[:20], secret.ErrMalformed},
		{"bad version", append([]byte{2}, c[1:]...), secret.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := secret.SealedBy(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && id != k.ID() {
				t.Fatalf("id = %v, want %v", id, k.ID())
			}
		})
	}
}

func TestCanary(t *testing.T) {
	k := newKey(t)
	r := secret.NewKeyring(k)
	canary, err := r.NewCanary()
	if err != nil {
		t.Fatal(err)
	}
	other := seal(t, r, "not the canary", "staxkeys canary")
	for _, tc := range []struct {
		name   string
		r      *secret.Keyring
		canary []byte
		want   error
	}{
		{"right key", r, canary, nil},
		{"rotated keyring", secret.NewKeyring(newKey(t), k), canary, nil},
		{"wrong key", secret.NewKeyring(newKey(t)), canary, secret.ErrWrongMasterKey},
		{"garbage", r, []byte("garbage"), secret.ErrWrongMasterKey},
		{"empty", r, nil, secret.ErrWrongMasterKey},
		{"wrong value", r, other, secret.ErrWrongMasterKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.r.CheckCanary(tc.canary); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	k := newKey(t)
	r := secret.NewKeyring(k)
	fp := r.Fingerprint("a@example.com", "sk_1")
	if len(fp) != 32 {
		t.Fatalf("len = %d", len(fp))
	}
	for _, tc := range []struct {
		name string
		got  []byte
		same bool
	}{
		{"deterministic", secret.NewKeyring(k).Fingerprint("a@example.com", "sk_1"), true},
		{"other key", secret.NewKeyring(newKey(t)).Fingerprint("a@example.com", "sk_1"), false},
		{"other part", r.Fingerprint("a@example.com", "sk_2"), false},
		{"boundary", r.Fingerprint("a@example.coms", "k_1"), false},
		{"joined", r.Fingerprint("a@example.comsk_1"), false},
		{"extra empty part", r.Fingerprint("a@example.com", "sk_1", ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if bytes.Equal(fp, tc.got) != tc.same {
				t.Fatalf("equal = %v, want %v", !tc.same, tc.same)
			}
		})
	}
	if bytes.Equal(r.Fingerprint("ab", "c"), r.Fingerprint("a", "bc")) {
		t.Fatal(`("ab","c") == ("a","bc")`)
	}
}

func TestDeriveKey(t *testing.T) {
	k := newKey(t)
	r := secret.NewKeyring(k)
	hash, block := r.DeriveKey("session cookie hash", 32), r.DeriveKey("session cookie block", 32)
	if len(hash) != 32 || len(block) != 32 || bytes.Equal(hash, block) {
		t.Fatal("purposes not distinct")
	}
	if !bytes.Equal(hash, secret.NewKeyring(k).DeriveKey("session cookie hash", 32)) {
		t.Fatal("not deterministic")
	}
	if bytes.Equal(hash, k[:]) || bytes.Equal(hash, r.Fingerprint()) {
		t.Fatal("derived key collides with another use")
	}
	if len(r.DeriveKey("long", 64)) != 64 {
		t.Fatal("wrong length")
	}
}

func TestMasterKeyNeverPrinted(t *testing.T) {
	k := newKey(t)
	leaks := []string{k.Encode(), base64.RawURLEncoding.EncodeToString(k[:]), hex.EncodeToString(k[:]),
		fmt.Sprint([32]byte(k)), fmt.Sprintf("%#v", [32]byte(k)), string(k[:])}

	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	log.Info("start", "key", k, "ptr", &k, slog.Any("nested", struct{ Key secret.MasterKey }{k}))
	js, err := json.Marshal(struct {
		Key secret.MasterKey
		Ptr *secret.MasterKey
	}{k, &k})
	if err != nil {
		t.Fatal(err)
	}

	outputs := map[string]string{
		"%v":       fmt.Sprintf("%v", k),
		"%s":       fmt.Sprintf("%s", k),
		"%+v":      fmt.Sprintf("%+v", k),
		"%#v":      fmt.Sprintf("%#v", k),
		"%x":       fmt.Sprintf("%x", k),
		"%d":       fmt.Sprintf("%d", k),
		"%q":       fmt.Sprintf("%q", k),
		"pointer":  fmt.Sprintf("%v", &k),
		"struct":   fmt.Sprintf("%+v", struct{ K secret.MasterKey }{k}),
		"keyring":  fmt.Sprintf("%+v %#v", secret.NewKeyring(k), *secret.NewKeyring(k)),
		"Println":  fmt.Sprintln(k),
		"String":   k.String(),
		"GoString": k.GoString(),
		"slog":     logged.String(),
		"json":     string(js),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			for _, l := range leaks {
				if strings.Contains(out, l) {
					t.Fatalf("output leaks the key: %s", out)
				}
			}
			if name != "keyring" && !strings.Contains(out, "[redacted]") {
				t.Fatalf("output not redacted: %s", out)
			}
		})
	}
}

func TestParseMasterKey(t *testing.T) {
	k := newKey(t)
	t.Run("valid encodings", func(t *testing.T) {
		for _, s := range []string{
			k.Encode(),
			"  \n" + k.Encode() + "\n",
			base64.RawStdEncoding.EncodeToString(k[:]),
			base64.URLEncoding.EncodeToString(k[:]),
			base64.RawURLEncoding.EncodeToString(k[:]),
		} {
			got, err := secret.ParseMasterKey(s)
			if err != nil || got != k {
				t.Fatalf("ParseMasterKey: %v", err)
			}
		}
	})
	for _, tc := range []struct{ name, in, want string }{
		{"short", base64.StdEncoding.EncodeToString([]byte("sixteen byte key")), "(got 16 bytes)"},
		{"long", base64.StdEncoding.EncodeToString(make([]byte, 33)), "(got 33 bytes)"},
		{"empty", "", "(got 0 bytes)"},
		{"not base64", "correct horse battery staple!!", "not valid base64"},
		{"hex", hex.EncodeToString(k[:]), "(got 48 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secret.ParseMasterKey(tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "secret: master key must be base64 of 32 bytes") || !strings.Contains(msg, tc.want) {
				t.Fatalf("error = %q, want it to mention %q", msg, tc.want)
			}
			if tc.in != "" && strings.Contains(msg, tc.in) {
				t.Fatalf("error echoes input: %q", msg)
			}
		})
	}
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestLoadOrCreateMasterKey(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix permissions")
	}
	dataDir := filepath.Join(t.TempDir(), "data")

	t.Run("generates", func(t *testing.T) {
		k, src, created, err := secret.LoadOrCreateMasterKey("", "", dataDir)
		if err != nil || !created {
			t.Fatalf("created = %v, err = %v", created, err)
		}
		path := filepath.Join(dataDir, "master.key")
		if src != (secret.Source{Kind: "generated", Path: path}) {
			t.Fatalf("source = %+v", src)
		}
		if m := mode(t, path); m != 0o600 {
			t.Fatalf("file mode %04o", m)
		}
		if m := mode(t, dataDir); m != 0o700 {
			t.Fatalf("dir mode %04o", m)
		}
		entries, _ := os.ReadDir(dataDir)
		if len(entries) != 1 {
			t.Fatalf("temp file left behind: %v", entries)
		}

		k2, src2, created2, err := secret.LoadOrCreateMasterKey("", "", dataDir)
		if err != nil || created2 || k2 != k || src2 != src {
			t.Fatalf("second load: same=%v created=%v src=%+v err=%v", k2 == k, created2, src2, err)
		}
	})

	envKey, fileKey := newKey(t), newKey(t)
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := secret.WriteMasterKeyFile(keyFile, fileKey); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, keyFile); m != 0o600 {
		t.Fatalf("WriteMasterKeyFile mode %04o", m)
	}
	writeFile := func(t *testing.T, content string, perm os.FileMode) string {
		p := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(p, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil { // umask-proof
			t.Fatal(err)
		}
		return p
	}

	for _, tc := range []struct {
		name            string
		env, file, data string
		want            secret.MasterKey
		wantSrc         secret.Source
		wantErr         []string
	}{
		{name: "env wins", env: envKey.Encode(), file: keyFile, data: dataDir, want: envKey, wantSrc: secret.Source{Kind: "env"}},
		{name: "file over data dir", file: keyFile, data: dataDir, want: fileKey, wantSrc: secret.Source{Kind: "file", Path: keyFile}},
		{name: "bad env", env: "hunter2", wantErr: []string{"environment", "base64 of 32 bytes"}},
		{name: "file 0644 refused", file: writeFile(t, fileKey.Encode(), 0o644), wantErr: []string{"chmod 600", "key"}},
		{name: "file 0640 refused", file: writeFile(t, fileKey.Encode(), 0o640), wantErr: []string{"chmod 600"}},
		{name: "bad content", file: writeFile(t, "hunter2hunter2", 0o600), wantErr: []string{"in file", "base64 of 32 bytes"}},
		{name: "missing file", file: filepath.Join(t.TempDir(), "nope"), wantErr: []string{"nope"}},
		{name: "nothing", wantErr: []string{"no master key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, src, created, err := secret.LoadOrCreateMasterKey(tc.env, tc.file, tc.data)
			if created {
				t.Fatal("created a key")
			}
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				msg := err.Error()
				for _, w := range append(tc.wantErr, "secret: ") {
					if !strings.Contains(msg, w) {
						t.Fatalf("error %q does not mention %q", msg, w)
					}
				}
				if strings.Contains(msg, "hunter2") || strings.Contains(msg, fileKey.Encode()) {
					t.Fatalf("error leaks the key: %q", msg)
				}
				if tc.file != "" && strings.Contains(tc.wantErr[0], "chmod") && !strings.Contains(msg, tc.file) {
					t.Fatalf("error %q does not name the path", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k != tc.want || src != tc.wantSrc {
				t.Fatalf("got key match=%v src=%+v, want src=%+v", k == tc.want, src, tc.wantSrc)
			}
		})
	}

	t.Run("WriteMasterKeyFile replaces", func(t *testing.T) {
		nk := newKey(t)
		if err := secret.WriteMasterKeyFile(keyFile, nk); err != nil {
			t.Fatal(err)
		}
		k, _, _, err := secret.LoadOrCreateMasterKey("", keyFile, "")
		if err != nil || k != nk {
			t.Fatalf("match=%v err=%v", k == nk, err)
		}
	})
}

func TestHint(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abc", ""},
		{"1234567", ""},
		{"12345678", "5678"},
		{"sk_live_0123456789abcdef", "cdef"},
		{"ключ-ключ-ключ", "ключ"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := secret.Hint(tc.in); got != tc.want {
				t.Fatalf("Hint(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	r := secret.NewKeyring(newKey(f))
	ad := secret.KeyAD(1)
	genuine := seal(f, r, "sk_live_0123456789abcdef", "pair:1")
	f.Add(genuine)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(genuine[:36])
	f.Add(append([]byte{2}, genuine[1:]...))
	f.Add(append(bytes.Clone(genuine), 0))
	f.Add(seal(f, secret.NewKeyring(newKey(f)), "other", "pair:1"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pt, err := r.Open(in, ad)
		if err == nil {
			if !bytes.Equal(in, genuine) || string(pt) != "sk_live_0123456789abcdef" {
				t.Fatalf("forged ciphertext opened: %x", in)
			}
			return
		}
		if pt != nil {
			t.Fatal("plaintext returned with an error")
		}
		if !errors.Is(err, secret.ErrMalformed) && !errors.Is(err, secret.ErrUnknownKey) && !errors.Is(err, secret.ErrDecrypt) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	r := secret.NewKeyring(newKey(b))
	pt, ad := []byte("sk_live_0123456789abcdef0123456789abcdef"), secret.KeyAD(42)
	for b.Loop() {
		if _, err := r.Seal(pt, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	r := secret.NewKeyring(newKey(b))
	ad := secret.KeyAD(42)
	c := seal(b, r, "sk_live_0123456789abcdef0123456789abcdef", "pair:42")
	for b.Loop() {
		if _, err := r.Open(c, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// TestADSpellings pins the bytes of each associated data: every stored ciphertext carries them,
// so a change would make every stored secret unopenable.
func TestADSpellings(t *testing.T) {
	r := secret.NewKeyring(newKey(t))
	for _, tc := range []struct {
		ad   secret.AD
		want string
	}{
		{secret.KeyAD(42), "pair:42"},
		{secret.SettingAD("audit_key"), "setting:audit_key"},
		{secret.CanaryAD(), "staxkeys canary"},
	} {
		if _, err := r.Open(seal(t, r, "v", tc.want), tc.ad); err != nil {
			t.Errorf("a value sealed with %q does not open with its constructor: %v", tc.want, err)
		}
	}
	if _, err := r.Open(seal(t, r, "v", "pair:42"), secret.KeyAD(43)); !errors.Is(err, secret.ErrDecrypt) {
		t.Errorf("key 42's ciphertext opened as key 43's: %v", err)
	}
}

func TestReseal(t *testing.T) {
	from, to := secret.NewKeyring(newKey(t)), secret.NewKeyring(newKey(t))
	sealed := seal(t, from, "sk_live_0123456789abcdef", "pair:7")
	resealed, fp, err := from.ResealKey(sealed, secret.KeyAD(7), to)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := to.Open(resealed, secret.KeyAD(7)); err != nil || string(got) != "sk_live_0123456789abcdef" {
		t.Fatalf("resealed opens to %q, %v", got, err)
	}
	if _, err := from.Open(resealed, secret.KeyAD(7)); err == nil {
		t.Fatal("the old key opens the resealed value")
	}
	if !bytes.Equal(fp, to.KeyFingerprint("sk_live_0123456789abcdef")) || bytes.Equal(fp, from.KeyFingerprint("sk_live_0123456789abcdef")) {
		t.Fatal("ResealKey's fingerprint is not the new keyring's")
	}
	if _, err := from.Reseal(sealed, secret.KeyAD(8), to); !errors.Is(err, secret.ErrDecrypt) {
		t.Fatalf("Reseal under the wrong AD: %v", err)
	}
}
