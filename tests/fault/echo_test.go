package fault

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/tests/staxfake"
	"github.com/staxkeys/staxkeys/tests/systest"
)

// TestEchoedKeysNeverKept runs the whole program against an upstream whose auth errors echo the
// key altered (upper-cased, split by zero-width spaces, all but its last 4 characters), as seen
// in issue 11. The answers are real auth errors (401 in Stax.ai's shape), so the checks say
// revoked; what they quote must hold none of the key. Each last check's reason names it only as
// [key], and nothing the program keeps or shows (its debug log, the database with its WAL, the
// dashboard, each key's page, the API's pairs and histories) holds 10 characters of a key in a
// row, in any case, once zero-width spaces are taken out. staxapi's tests prove the finer claim
// (no 6 in a row); 10 keeps the random bytes of sealed keys and nonces from matching by chance.
func TestEchoedKeysNeverKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake, err := staxfake.Start(staxfake.Options{Default: staxfake.Valid})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()

	dir := t.TempDir()
	env := map[string]string{
		"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": fake.URL(), "STAXKEYS_CHECK_TIMEOUT": "1s",
		"STAXKEYS_CHECK_INTERVAL": "1h", "STAXKEYS_CHECK_RATE": "0", "STAXKEYS_LOG_LEVEL": "debug",
	}
	if err := systest.CreateAdmin(ctx, "", env, adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	tok, err := systest.CreateToken(ctx, "", env, "echo")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := systest.Start(ctx, systest.Options{Env: env, Args: []string{"--addr", "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	running := true
	defer func() {
		if running {
			_ = prog.Stop()
		}
	}()
	rec := &systest.Recorder{}
	b := systest.NewBrowser(prog.URL, rec)
	if err := b.Login(ctx, adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	api := systest.NewAPI(prog.URL, tok, rec)

	const said = "Stax.ai said: Invalid API key [key] for [email] (HTTP 401)"
	cases := []struct {
		behavior staxfake.Behavior
		reason   string
	}{
		{staxfake.EchoKeyUpper, said},
		{staxfake.EchoKeyZWSP, said},
		{staxfake.EchoKeyPrefix, "Stax.ai said: Invalid API key [key]**** for [email] (HTTP 401)"},
	}
	var keys []string
	want := map[int64]string{}
	for i, c := range cases {
		key := fmt.Sprintf("sk_live_ECHO%d_w3i21te0ab%02d_Zq8mXv4nRt7pLk2", i, i)
		email := fmt.Sprintf("team%d@example.com", i)
		fake.Set(email, key, c.behavior)
		p, err := api.Add(ctx, string(c.behavior), email, key)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
		want[p.ID] = c.reason
	}
	if _, err := api.Add(ctx, "steady", "team9@example.com", "sk_live_STEADY_Hs3kd9Qw0pZx"); err != nil {
		t.Fatal(err)
	}

	// A new pair is checked at once.
	deadline := time.Now().Add(waitLimit)
	for id, reason := range want {
		for {
			p, err := api.Pair(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if p.LastCheck != nil && p.LastCheck.Outcome == "revoked" {
				if p.LastCheck.Reason != reason {
					t.Errorf("pair %d: reason %q, want %q", id, p.LastCheck.Reason, reason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pair %d was not checked: %+v\nlog tail:\n%s", id, p.LastCheck, tail(prog.Log.String(), 3000))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := b.Get(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	for id := range want {
		if _, err := b.Get(ctx, fmt.Sprint("/keys/", id)); err != nil {
			t.Fatal(err)
		}
		if _, err := api.Do(ctx, http.MethodGet, fmt.Sprint("/api/v1/keys/", id, "/checks"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := api.Keys(ctx); err != nil {
		t.Fatal(err)
	}
	if err := prog.Stop(); err != nil {
		t.Fatal(err)
	}
	running = false

	hay := []haystack{{"the server's log", prog.Log.Bytes()}}
	for i, x := range rec.Exchanges() {
		var h bytes.Buffer
		_ = x.Header.Write(&h)
		hay = append(hay, haystack{fmt.Sprintf("answer %d to %s %s", i, x.Method, x.URL), append(h.Bytes(), x.Body...)})
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == secret.MasterKeyFileName {
			return nil
		}
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		hay = append(hay, haystack{"file " + d.Name(), data})
		return nil
	})

	// Read everything as an admin would see it: case aside, zero-width spaces gone, in any of
	// the escapes the log, JSON, HTML or a URL might give them.
	zw := strings.NewReplacer("\u200b", "", `\u200b`, "", `\\u200b`, "", "&#8203;", "", "%e2%80%8b", "")
	const run = 10
	for _, h := range hay {
		seen := zw.Replace(strings.ToLower(string(h.data)))
		for n, k := range keys {
			k = strings.ToLower(k)
			for i := 0; i+run <= len(k); i++ {
				if strings.Contains(seen, k[i:i+run]) {
					t.Errorf("%s holds %q, %d characters in a row of key %d (%s)", h.name, k[i:i+run], run, n, cases[n].behavior)
					break
				}
			}
		}
	}
	t.Logf("searched %d haystacks for %d keys", len(hay), len(keys))
}
