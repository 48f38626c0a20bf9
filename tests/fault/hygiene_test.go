package fault

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/tests/staxfake"
	"github.com/staxkeys/staxkeys/tests/systest"
)

// haystack is one thing that must not hold a secret: a log, an HTTP answer, a file.
type haystack struct {
	name string
	data []byte
}

// TestSecretHygiene runs a full flow through the real program (setup, a failed and a good
// login, keys added through the pages and the API, keys replaced, checks against the fake,
// `staxkeys check`, a reveal with the password, a second admin, a password reset, a master
// key rotation with a restart, a backup) and then searches everything it produced (every
// log line of every run and command, every HTTP answer's headers and body, the database with
// its WAL and shared-memory files, taken while the server ran and after, and the backup) for
// the plaintext keys, the passwords and the old and new master keys in every encoding. The
// one place a key may appear is the answer to the one reveal.
func TestSecretHygiene(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake, err := staxfake.Start(staxfake.Options{Default: staxfake.Valid})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()

	dir := t.TempDir()
	env := map[string]string{
		"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": fake.URL(), "STAXKEYS_CHECK_INTERVAL": "1h",
		"STAXKEYS_CHECK_RATE": "0", "STAXKEYS_LOG_LEVEL": "debug",
	}
	const (
		adminMail    = "owner@example.com"
		pwSetup      = "Setup-Passphrase-0f7c2e1d"
		pwWrong      = "Wrong-Passphrase-8a9b3c4d"
		pwReset      = "Reset-Passphrase-5e6f7a8b"
		pwSecond     = "Second-Admin-Passphrase-1c2d"
		kUI1, kUI2   = "sk_live_HYGIENE_ui_one_4b1d9a7c", "sk_live_HYGIENE_ui_two_2f8e6c0a"
		kAPI1, kAPI2 = "sk_live_HYGIENE_api_one_7a3c5e9b", "sk_live_HYGIENE_api_two_9d0b4f6e"
		kEdit        = "sk_live_HYGIENE_edited_3e5a7c9d"
		kPatch       = "sk_live_HYGIENE_patched_1b3d5f7a"
	)
	keys := []string{kUI1, kUI2, kAPI1, kAPI2, kEdit, kPatch}
	passwords := []string{pwSetup, pwWrong, pwReset, pwSecond}
	fake.Set("api1@example.com", kAPI1, staxfake.Revoked) // a revoked answer, reason and event too

	var (
		hay  []haystack
		rec  = &systest.Recorder{}
		runs []*systest.Program
	)
	command := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := systest.Command(ctx, "", env, stdin, args...)
		hay = append(hay, haystack{"stdout of " + strings.Join(args, " "), []byte(out)}, haystack{"stderr of " + strings.Join(args, " "), []byte(errOut)})
		if err != nil && args[0] != "check" {
			t.Fatalf("staxkeys %s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	start := func() (*systest.Program, *systest.Browser) {
		t.Helper()
		p, err := systest.Start(ctx, systest.Options{Env: env, Args: []string{"--addr", "127.0.0.1:0"}})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, p)
		return p, systest.NewBrowser(p.URL, rec)
	}
	want := func(status int, what string) func(*systest.Response, error) *systest.Response {
		return func(r *systest.Response, err error) *systest.Response {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if r.Status != status {
				t.Fatalf("%s answered %d, want %d: %.300s", what, r.Status, status, r.Body)
			}
			return r
		}
	}
	snapshots := 0
	snapshotFiles := func() { // the database files as they are while the server runs
		t.Helper()
		snapshots++
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if b, err := os.ReadFile(filepath.Join(dir, "staxkeys.db"+suffix)); err == nil {
				hay = append(hay, haystack{fmt.Sprintf("staxkeys.db%s while running (%d)", suffix, snapshots), b})
			}
		}
	}

	// First run: setup, logins, keys through both doors, checks, a reveal.
	prog, b := start()
	oldKey := readMasterKey(t, dir)
	if err := b.Setup(ctx, adminMail, pwSetup); err != nil {
		t.Fatal(err)
	}
	want(http.StatusSeeOther, "logout")(b.Post(ctx, "/logout", nil))
	r, err := b.Post(ctx, "/login", url.Values{"email": {adminMail}, "password": {pwWrong}})
	want(http.StatusUnauthorized, "login with the wrong password")(r, err)
	if err := b.Login(ctx, adminMail, pwSetup); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][3]string{{"UI one", "ui1@example.com", kUI1}, {"UI two", "ui2@example.com", kUI2}} {
		want(http.StatusSeeOther, "add "+p[0])(b.Post(ctx, "/keys", url.Values{"label": {p[0]}, "email": {p[1]}, "key": {p[2]}}))
	}
	page := want(http.StatusCreated, "create a token")(b.Post(ctx, "/tokens", url.Values{"name": {"hygiene"}, "your_password": {pwSetup}}))
	tok := regexp.MustCompile(`sk_[A-Za-z0-9_-]{43}`).Find(page.Body)
	if tok == nil {
		t.Fatal("the tokens page shows no new token")
	}
	api := systest.NewAPI(prog.URL, string(tok), rec)
	api1, err := api.Add(ctx, "API one", "api1@example.com", kAPI1)
	if err != nil {
		t.Fatal(err)
	}
	api2, err := api.Add(ctx, "API two", "api2@example.com", kAPI2)
	if err != nil {
		t.Fatal(err)
	}
	want(http.StatusOK, "replace a key through the API")(api.Do(ctx, http.MethodPatch, fmt.Sprint("/api/v1/keys/", api2.ID), map[string]string{"key": kPatch}))
	pairs, err := api.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, p := range pairs {
		ids[p.Label] = p.ID
	}
	want(http.StatusSeeOther, "replace a key through the page")(b.Post(ctx, fmt.Sprint("/keys/", ids["UI two"]), url.Values{"label": {"UI two"}, "email": {"ui2@example.com"}, "key": {kEdit}}))
	for _, id := range ids {
		r, _, err := api.Check(ctx, id)
		want(http.StatusOK, fmt.Sprint("check pair ", id))(r, err)
	}
	if p, err := api.Pair(ctx, api1.ID); err != nil || p.Verdict != "revoked" {
		t.Fatalf("the revoked key is %s (%v)", p.Verdict, err)
	}
	command("", "check")
	for _, path := range []string{"/", fmt.Sprint("/keys/", ids["UI one"]), fmt.Sprint("/keys/", ids["UI two"], "/edit"), "/tokens", "/readyz", "/healthz/keys", "/metrics"} {
		if _, err := b.Get(ctx, path); err != nil {
			t.Fatal(err)
		}
	}
	want(http.StatusOK, "history")(api.Do(ctx, http.MethodGet, fmt.Sprint("/api/v1/keys/", api1.ID, "/checks"), nil))

	// The reveal: a wrong password first, then the right one. Only that answer may hold kUI1.
	revealPath := fmt.Sprint("/keys/", ids["UI one"], "/reveal")
	want(http.StatusOK, "the reveal form")(b.Get(ctx, revealPath))
	r, err = b.Post(ctx, revealPath, url.Values{"password": {pwWrong}})
	want(http.StatusUnauthorized, "reveal with a wrong password")(r, err)
	before := len(rec.Exchanges())
	reveal := want(http.StatusOK, "reveal")(b.Post(ctx, revealPath, url.Values{"password": {pwSetup}}))
	revealIndex := len(rec.Exchanges()) - 1
	if revealIndex != before || !bytes.Contains(reveal.Body, []byte(kUI1)) {
		t.Fatalf("the reveal did not show the key (answer %d of %d)", revealIndex, before)
	}
	if bytes.Count(reveal.Body, []byte(kUI1)) != 1 {
		t.Errorf("the reveal shows the key %d times", bytes.Count(reveal.Body, []byte(kUI1)))
	}

	// Admins from the command line, beside the running server.
	command(pwSecond+"\n", "admin", "create", "--email", "second@example.com", "--password-stdin")
	command(pwReset+"\n", "admin", "reset-password", "--email", adminMail, "--password-stdin")
	command("", "admin", "list")
	command("", "token", "list")
	if err := b.Login(ctx, adminMail, pwReset); err != nil {
		t.Fatal(err)
	}
	snapshotFiles()
	if err := prog.Stop(); err != nil {
		t.Fatal(err)
	}

	// Rotate the master key, start again with the new one, use the keys.
	command("", "rotate-master-key")
	newKey := readMasterKey(t, dir)
	if newKey == oldKey {
		t.Fatal("the master key did not change")
	}
	prog, b = start()
	api = systest.NewAPI(prog.URL, string(tok), rec)
	if err := b.Login(ctx, adminMail, pwReset); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		r, p, err := api.Check(ctx, id)
		want(http.StatusOK, fmt.Sprint("check after rotation ", id))(r, err)
		if p.LastCheck == nil || strings.Contains(p.LastCheck.Reason, "could not be opened") {
			t.Fatalf("pair %d after rotation: %+v", id, p.LastCheck)
		}
	}
	if _, err := b.Get(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	snapshotFiles()
	if err := prog.Stop(); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	command("", "backup", backup)

	// Gather everything.
	for i, p := range runs {
		hay = append(hay, haystack{fmt.Sprintf("log of server run %d", i+1), p.Log.Bytes()})
	}
	for i, x := range rec.Exchanges() {
		if i == revealIndex {
			continue
		}
		var h bytes.Buffer
		x.Header.Write(&h)
		hay = append(hay, haystack{fmt.Sprintf("answer %d to %s %s (%d)", i, x.Method, x.URL, x.Status), append(h.Bytes(), x.Body...)})
	}
	files := []string{backup}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != secret.MasterKeyFileName {
			files = append(files, path)
		}
		return nil
	})
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		hay = append(hay, haystack{"file " + filepath.Base(f), b})
	}

	needles := map[string][]byte{}
	for _, k := range keys {
		needles["key "+k] = []byte(k)
	}
	for _, p := range passwords {
		needles["password "+p] = []byte(p)
	}
	for name, k := range map[string]secret.MasterKey{"old master key": oldKey, "new master key": newKey} {
		needles[name+" (raw)"] = k[:]
		needles[name+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(k[:]))
		needles[name+" (base64, unpadded)"] = []byte(base64.RawStdEncoding.EncodeToString(k[:]))
		needles[name+" (base64url)"] = []byte(base64.RawURLEncoding.EncodeToString(k[:]))
		needles[name+" (hex)"] = []byte(hex.EncodeToString(k[:]))
	}
	total := 0
	for _, h := range hay {
		total += len(h.data)
		for name, n := range needles {
			if bytes.Contains(h.data, n) {
				t.Errorf("%s holds the %s", h.name, name)
			}
		}
	}
	t.Logf("searched %d haystacks (%d KiB: logs, command outputs, %d HTTP answers, %d files) for %d secrets",
		len(hay), total>>10, len(rec.Exchanges())-1, len(files), len(needles))
}

func readMasterKey(t *testing.T, dir string) secret.MasterKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, secret.MasterKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	k, err := secret.ParseMasterKey(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
