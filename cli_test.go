package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pquerna/otp/totp"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/factors"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// The keys of these tests, registered at the fake Stax.ai; none may be printed or logged.
var cliKeys = map[string]string{
	"alpha@acme.com":   "sk_live_CLIKEY_alpha_0123456789",
	"bravo@acme.com":   "sk_live_CLIKEY_bravo_ABCDEFGHIJ",
	"charlie@acme.com": "sk_live_CLIKEY_charlie_zyxwvu",
	"delta@acme.com":   "sk_live_CLIKEY_delta_987654321",
}

var tokenLine = regexp.MustCompile(`^sk_[A-Za-z0-9_-]{43}$`)

// lastLine returns the last line of out, which must end with a newline.
func lastLine(t *testing.T, out string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !strings.HasSuffix(out, "\n") || len(lines) == 0 {
		t.Fatalf("output %q does not end with a line", out)
	}
	return lines[len(lines)-1]
}

// apiCall sends one JSON API request with a bearer token and returns the status and body.
func apiCall(t *testing.T, base, token, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := noRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// addViaAPI registers email's key through the API and returns the new pair's id.
func addViaAPI(t *testing.T, base, token, email string) int64 {
	t.Helper()
	status, body := apiCall(t, base, token, http.MethodPost, "/api/v1/keys", `{"label":"`+strings.Split(email, "@")[0]+`","email":"`+email+`","key":"`+cliKeys[email]+`"}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /api/v1/keys for %s: %d %s", email, status, body)
	}
	m := regexp.MustCompile(`"id":(\d+)`).FindStringSubmatch(body)
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// openVault opens the data directory's database with the master key in keyFile, for checking
// what the commands left behind.
func openVault(t *testing.T, dbPath string, key secret.MasterKey) (*store.DB, *keys.Vault) {
	t.Helper()
	db, err := store.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, keys.New(db, secret.NewKeyring(key))
}

// enrolTOTP creates an admin with a confirmed authenticator app in the database at dbPath,
// sealed under key, and returns the app's secret.
func enrolTOTP(t *testing.T, dbPath string, key secret.MasterKey, email string) string {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := db.CreateAdmin(ctx, email, "not a real hash", domain.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	f := factors.New(db, secret.NewKeyring(key), nil, nil)
	p := domain.AdminPrincipal(a, "")
	en, err := f.BeginTOTP(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCode(en.Secret, db.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ConfirmTOTP(ctx, p, code); err != nil {
		t.Fatal(err)
	}
	return en.Secret
}

// TestAdminReset2FA removes a lost authenticator app from the command line, recorded.
func TestAdminReset2FA(t *testing.T) {
	key, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_MASTER_KEY": key.Encode(), "STAXKEYS_CHECKER": "false"}
	if _, stderr, err := command(t, vars, "correct horse battery\n", "admin", "create", "--init", "--email", "a@example.com", "--password-stdin"); err != nil {
		t.Fatalf("admin create: %v\n%s", err, stderr)
	}
	dbPath := filepath.Join(dir, "staxkeys.db")
	enrolTOTP(t, dbPath, key, "b@example.com")
	func() {
		db, err := store.Open(context.Background(), dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		b, err := db.AdminByEmail(context.Background(), "b@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddPasskey(context.Background(), store.Passkey{AdminID: b.ID, CredentialID: []byte("c1"), Name: "Phone", Credential: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}()

	if _, _, err := command(t, vars, "", "admin", "reset-2fa", "--email", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "nobody@example.com") {
		t.Errorf("reset-2fa of an unknown admin: %v", err)
	}
	out, stderr, err := command(t, vars, "", "admin", "reset-2fa", "--email", "B@example.com")
	if err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("reset-2fa = %v; stdout %q stderr %q", err, out, stderr)
	}
	db, err := store.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b, err := db.AdminByEmail(context.Background(), "b@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if has, err := db.HasSecondFactor(context.Background(), b.ID); has || err != nil {
		t.Errorf("after reset-2fa: has a factor %v, %v", has, err)
	}
	if pks, err := db.PasskeysOf(context.Background(), b.ID); len(pks) != 0 || err != nil {
		t.Errorf("after reset-2fa: passkeys %v, %v", pks, err)
	}
	entries, _, err := db.ListAudit(context.Background(), store.AuditQuery{Action: "factor.remove"})
	if err != nil || len(entries) != 1 || entries[0].Actor != "cli" {
		t.Errorf("reset-2fa audited as %+v, %v", entries, err)
	}
}

func readKeyFile(t *testing.T, path string) secret.MasterKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := secret.ParseMasterKey(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// assertKeysOpen checks that every pair's key opens under v and is the one registered.
func assertKeysOpen(t *testing.T, db *store.DB, v *keys.Vault, want int) {
	t.Helper()
	pairs, err := db.AllKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != want {
		t.Fatalf("%d pairs, want %d", len(pairs), want)
	}
	for _, p := range pairs {
		k, err := v.Key(p)
		if err != nil {
			t.Errorf("pair %d does not open: %v", p.ID, err)
		} else if k != cliKeys[p.Email] {
			t.Errorf("pair %d opens to another key", p.ID)
		}
	}
}

// assertKeysSealed checks that no pair's key opens under v.
func assertKeysSealed(t *testing.T, db *store.DB, v *keys.Vault) {
	t.Helper()
	pairs, err := db.AllKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		if _, err := v.Key(p); err == nil {
			t.Errorf("pair %d still opens under the old master key", p.ID)
		}
	}
}

// TestCommandsBesideServer runs every command against the data directory of a running server,
// whose checker asks a fake Stax.ai: tokens made on the command line work against the server's
// API, `check` exits by the worst verdict, backups are consistent copies, and rotating the master
// key leaves every key readable under the new key only.
func TestCommandsBesideServer(t *testing.T) {
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	for email, key := range cliKeys {
		fake.Set(email, key, staxfake.Valid)
	}
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": fake.URL(), "STAXKEYS_CHECK_RATE": "0"}
	srv := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	base := srv.waitLog(listening)[1]
	keyFile := filepath.Join(dir, secret.MasterKeyFileName)
	oldKey := readKeyFile(t, keyFile)
	var printed []string // everything the commands wrote

	run := func(t *testing.T, wantCode int, args ...string) string {
		t.Helper()
		out, errOut, err := command(t, vars, "", args...)
		printed = append(printed, out, errOut)
		if got := exitCode(err); got != wantCode {
			t.Fatalf("staxkeys %s: exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, err, wantCode, out, errOut)
		}
		return out
	}

	// token create prints the token alone on the last line; it works against the running server.
	out := run(t, 0, "token", "create", "--name", "nightly CI")
	rw := lastLine(t, out)
	if !tokenLine.MatchString(rw) {
		t.Fatalf("last line %q is not a token; stdout:\n%s", rw, out)
	}
	if status, body := apiCall(t, base, rw, http.MethodGet, "/api/v1/keys", ""); status != http.StatusOK {
		t.Fatalf("the new token: %d %s", status, body)
	}
	ro := lastLine(t, run(t, 0, "token", "create", "--name", "grafana", "--read-only"))
	if status, _ := apiCall(t, base, ro, http.MethodGet, "/api/v1/status", ""); status != http.StatusOK {
		t.Errorf("read-only token reading: %d", status)
	}
	if status, _ := apiCall(t, base, ro, http.MethodPost, "/api/v1/keys", `{}`); status != http.StatusForbidden {
		t.Errorf("read-only token writing: %d, want 403", status)
	}
	// --role editor: changes keys, no more.
	ed := lastLine(t, run(t, 0, "token", "create", "--name", "ci", "--role", "editor"))
	if status, body := apiCall(t, base, ed, http.MethodPost, "/api/v1/keys", `{"email":"x@acme.com","key":"short"}`); status == http.StatusForbidden {
		t.Errorf("editor token writing: %d %s, want anything but 403", status, body)
	}
	run(t, 64, "token", "create", "--name", "bad role", "--role", "owner")
	run(t, 64, "token", "create", "--name", "both", "--role", "editor", "--read-only")
	out = run(t, 0, "token", "list")
	if !regexp.MustCompile(`(?m)^1\s+nightly CI\s+sk_\S+…\s+admin\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^2\s+grafana\s+sk_\S+…\s+viewer\s.*active$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^3\s+ci\s+sk_\S+…\s+editor\s.*active$`).MatchString(out) {
		t.Errorf("token list:\n%s", out)
	}
	if strings.Contains(out, rw) || strings.Contains(out, ro) || strings.Contains(out, ed) {
		t.Error("token list shows a token")
	}
	run(t, 64, "token", "create") // no name
	run(t, 64, "token", "create", "--name", "bad\x01name")

	alpha := addViaAPI(t, base, rw, "alpha@acme.com")
	addViaAPI(t, base, rw, "bravo@acme.com")

	t.Run("check: all valid", func(t *testing.T) {
		out := run(t, 0, "check")
		if !regexp.MustCompile(`(?m)^ID\s+LABEL\s+EMAIL\s+VERDICT\s+LAST CHECK\s+REASON$`).MatchString(out) {
			t.Errorf("no table header in:\n%s", out)
		}
		if n := len(regexp.MustCompile(`(?m)^\d+\s+\S+\s+\S+@acme\.com\s+valid\s+valid\s`).FindAllString(out, -1)); n != 2 {
			t.Errorf("%d valid rows, want 2:\n%s", n, out)
		}
	})

	t.Run("check: undecided", func(t *testing.T) {
		// One key's answers fail, not all: three faults in a row would put the server, which
		// does the checks of `check` beside it, into an outage that outlasts this subtest.
		fake.Set("charlie@acme.com", cliKeys["charlie@acme.com"], staxfake.BadGateway)
		defer fake.Set("charlie@acme.com", cliKeys["charlie@acme.com"], staxfake.Valid)
		addViaAPI(t, base, rw, "charlie@acme.com") // still pending after this cycle
		out := run(t, 2, "check")
		if !strings.Contains(out, "HTTP 502") && !strings.Contains(out, "not checked") {
			t.Errorf("the table does not say why:\n%s", out)
		}
		// The verdicts stand.
		db, _ := openVault(t, filepath.Join(dir, "staxkeys.db"), oldKey)
		if p, err := db.KeyByID(context.Background(), alpha); err != nil || p.Verdict != domain.Valid {
			t.Errorf("pair %d after an undecided cycle: %s, %v", alpha, p.Verdict, err)
		}
	})

	t.Run("check: revoked", func(t *testing.T) {
		fake.Set("delta@acme.com", cliKeys["delta@acme.com"], staxfake.Revoked)
		addViaAPI(t, base, rw, "delta@acme.com")
		out := run(t, 1, "check")
		if !regexp.MustCompile(`(?m)^\d+\s+delta\s+delta@acme\.com\s+revoked\s+revoked\s+Stax\.ai said`).MatchString(out) {
			t.Errorf("no revoked row:\n%s", out)
		}
	})

	t.Run("token revoke", func(t *testing.T) {
		out := run(t, 0, "token", "revoke", "2")
		if !strings.Contains(out, "revoked token 2") {
			t.Errorf("stdout %q", out)
		}
		if status, _ := apiCall(t, base, ro, http.MethodGet, "/api/v1/status", ""); status != http.StatusUnauthorized {
			t.Errorf("revoked token: %d, want 401", status)
		}
		if status, _ := apiCall(t, base, rw, http.MethodGet, "/api/v1/status", ""); status != http.StatusOK {
			t.Errorf("the other token: %d", status)
		}
		run(t, 1, "token", "revoke", "2")  // already revoked
		run(t, 1, "token", "revoke", "99") // no such token
		run(t, 64, "token", "revoke")
		run(t, 0, "token", "revoke", "--id", "1")
		if status, _ := apiCall(t, base, rw, http.MethodGet, "/api/v1/status", ""); status != http.StatusUnauthorized {
			t.Errorf("revoked token: %d, want 401", status)
		}
	})

	t.Run("backup", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "copy.db")
		out := run(t, 0, "backup", target)
		if !strings.Contains(out, "integrity check ok") {
			t.Errorf("stdout %q", out)
		}
		if m := mode(t, target); m != 0o600 {
			t.Errorf("backup mode %04o, want 0600", m)
		}
		db, v := openVault(t, target, oldKey)
		if res, err := db.IntegrityCheck(context.Background()); err != nil || res != "ok" {
			t.Errorf("integrity_check = %q, %v", res, err)
		}
		assertKeysOpen(t, db, v, 4)
		// Exactly the first verdict, although `check` raced the server's own checker over the
		// pending pair: RecordCheck refuses an answer decided from a verdict that has moved on.
		if evs, _ := db.ListEvents(context.Background(), alpha, 10); len(evs) != 1 || evs[0].New != domain.Valid {
			t.Errorf("the copy holds the events %+v of pair %d, want its first verdict", evs, alpha)
		}
		before, _ := os.ReadFile(target)
		run(t, 1, "backup", target) // never overwrites
		if after, _ := os.ReadFile(target); !bytes.Equal(before, after) {
			t.Error("the refused backup changed the file")
		}
		run(t, 64, "backup")
	})

	t.Run("help and version", func(t *testing.T) {
		for _, args := range [][]string{
			{"--help"}, {"serve", "--help"}, {"admin", "--help"}, {"token", "--help"}, {"token", "create", "--help"}, {"token", "list", "--help"},
			{"token", "revoke", "--help"}, {"check", "--help"}, {"rotate-master-key", "--help"}, {"backup", "--help"},
			{"admin", "create", "--help"}, {"admin", "list", "--help"}, {"admin", "reset-password", "--help"}, {"admin", "reset-2fa", "--help"},
		} {
			out := run(t, 0, args...)
			if !strings.Contains(out, "Usage: staxkeys") {
				t.Errorf("staxkeys %s: no usage in:\n%s", strings.Join(args, " "), out)
			}
		}
		if out := run(t, 0, "version"); !regexp.MustCompile(`^staxkeys \S+\n$`).MatchString(out) {
			t.Errorf("version %q", out)
		}
	})

	t.Run("rotate-master-key", func(t *testing.T) {
		// The one command that refuses to run beside a server: the server holds the old key.
		if out := run(t, 1, "rotate-master-key"); strings.Contains(out, "re-sealed") {
			t.Fatalf("rotated beside a running server: %q", out)
		}
		if err := srv.stop(); err != nil {
			t.Fatalf("the server beside the commands: %v", err)
		}
		out := run(t, 0, "rotate-master-key")
		if !strings.Contains(out, "re-sealed 4 keys") || !strings.Contains(out, keyFile) {
			t.Errorf("stdout %q", out)
		}
		newKey := readKeyFile(t, keyFile)
		if newKey.ID() == oldKey.ID() {
			t.Fatal("the key file still holds the old key")
		}
		if m := mode(t, keyFile); m != 0o600 {
			t.Errorf("key file mode %04o", m)
		}
		if strings.Contains(out, newKey.Encode()) {
			t.Error("a key that went to a file was printed too")
		}

		db, v := openVault(t, filepath.Join(dir, "staxkeys.db"), newKey)
		assertKeysOpen(t, db, v, 4)
		assertKeysSealed(t, db, keys.New(db, secret.NewKeyring(oldKey)))

		// The old key no longer opens the data: neither the server nor a command starts with it.
		old := map[string]string{"STAXKEYS_MASTER_KEY": oldKey.Encode()}
		for k, v := range vars {
			old[k] = v
		}
		err := start(t, []string{"--addr", "127.0.0.1:0"}, old).result()
		if err == nil || !strings.Contains(err.Error(), "the master key does not match this database") {
			t.Errorf("start with the old key: %v", err)
		}
		if _, _, err := command(t, old, "", "check"); err == nil || !strings.Contains(err.Error(), "the master key does not match this database") {
			t.Errorf("check with the old key: %v", err)
		}
		// With the new key (from the same file) the server starts and checks keys again.
		srv2 := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
		srv2.waitLog(listening)
		out = run(t, 1, "check") // delta is still revoked; the others open and answer valid
		if n := len(regexp.MustCompile(`(?m)\svalid\s+valid\s+Stax\.ai accepted`).FindAllString(out, -1)); n != 3 {
			t.Errorf("%d keys checked valid after the rotation, want 3:\n%s", n, out)
		}
		if err := srv2.stop(); err != nil {
			t.Fatal(err)
		}
	})

	// Nothing printed or logged holds a key or a token.
	logs := strings.Join(printed, "\n") + srv.stderr.String()
	for _, k := range cliKeys {
		if strings.Contains(logs, k) {
			t.Errorf("key %s…%s was printed or logged", k[:8], k[len(k)-2:])
		}
	}
	if strings.Contains(srv.stderr.String(), rw) || strings.Contains(srv.stderr.String(), ro) {
		t.Error("a token was logged")
	}
}

// TestRotateMasterKeyFromEnvironment: a master key that came from STAXKEYS_MASTER_KEY has
// nowhere to be written, so the new one is printed alone on the last line; afterwards the data
// opens with it and not with the old one.
func TestRotateMasterKeyFromEnvironment(t *testing.T) {
	oldKey, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_MASTER_KEY": oldKey.Encode(), "STAXKEYS_CHECKER": "false"}
	srv := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	base := srv.waitLog(listening)[1]
	out, _, err := command(t, vars, "", "token", "create", "--name", "setup")
	if err != nil {
		t.Fatal(err)
	}
	tok := lastLine(t, out)
	addViaAPI(t, base, tok, "alpha@acme.com")
	addViaAPI(t, base, tok, "bravo@acme.com")

	// A running server holds the old key and would seal new keys under it: rotation refuses.
	if _, _, err := command(t, vars, "", "rotate-master-key"); err == nil ||
		!strings.Contains(err.Error(), "a staxkeys server is running on this data directory") {
		t.Fatalf("rotate-master-key beside a running server: %v, want a refusal", err)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	totpSecret := enrolTOTP(t, filepath.Join(dir, "staxkeys.db"), oldKey, "rotate@example.com")
	out, stderr, err := command(t, vars, "", "rotate-master-key")
	if err != nil {
		t.Fatalf("rotate-master-key: %v\n%s", err, stderr)
	}
	newKey, err := secret.ParseMasterKey(lastLine(t, out))
	if err != nil {
		t.Fatalf("the last line is not a master key: %v\n%s", err, out)
	}
	if newKey.ID() == oldKey.ID() {
		t.Fatal("the printed key is the old one")
	}
	if !strings.Contains(out, "re-sealed 2 keys") || !strings.Contains(out, "STAXKEYS_MASTER_KEY") {
		t.Errorf("stdout %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, secret.MasterKeyFileName)); err == nil {
		t.Error("a key file was written although the key came from the environment")
	}

	db, v := openVault(t, filepath.Join(dir, "staxkeys.db"), newKey)
	assertKeysOpen(t, db, v, 2)
	assertKeysSealed(t, db, keys.New(db, secret.NewKeyring(oldKey)))
	// The TOTP secret moved with the keys: it opens under the new key only.
	a, err := db.AdminByEmail(context.Background(), "rotate@example.com")
	if err != nil {
		t.Fatal(err)
	}
	row, err := db.TOTPOf(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := secret.NewKeyring(newKey).Open(row.Sealed, secret.TOTPAD(a.ID)); err != nil || string(got) != totpSecret {
		t.Errorf("the TOTP secret under the new key: %q, %v", got, err)
	}
	if _, err := secret.NewKeyring(oldKey).Open(row.Sealed, secret.TOTPAD(a.ID)); err == nil {
		t.Error("the TOTP secret still opens under the old key")
	}

	err = start(t, []string{"--addr", "127.0.0.1:0"}, vars).result()
	if err == nil || !strings.Contains(err.Error(), "the master key does not match this database") {
		t.Errorf("start with the old key: %v", err)
	}
	vars["STAXKEYS_MASTER_KEY"] = newKey.Encode()
	srv = start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	srv.waitLog(listening)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{oldKey.Encode(), newKey.Encode()} {
		if strings.Contains(srv.stderr.String(), k) {
			t.Error("a master key was logged")
		}
	}
}
