package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// litestreamBinary finds Litestream: $STAXKEYS_LITESTREAM, else litestream on the PATH.
func litestreamBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STAXKEYS_LITESTREAM"); p != "" {
		return p
	}
	p, err := exec.LookPath("litestream")
	if err != nil {
		t.Skip("litestream is not installed (set STAXKEYS_LITESTREAM or put it on the PATH; " +
			"go install github.com/benbjohnson/litestream/cmd/litestream@v0.3.13); the recipe in docs/OPERATIONS.md is not exercised")
	}
	return p
}

// TestLitestreamRecipe runs docs/OPERATIONS.md's recipe with the real Litestream: replicate a
// running server's database to a file replica, work beside it (commands stay fast while
// Litestream holds its read lock), restore, start a server on the restored copy with the same
// master key, and verify the audit trail.
func TestLitestreamRecipe(t *testing.T) {
	ls := litestreamBinary(t)
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	for e, k := range cliKeys {
		fake.Set(e, k, staxfake.Valid)
	}
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": fake.URL(), "STAXKEYS_MASTER_KEY": mk.Encode(),
		"STAXKEYS_CHECK_RATE": "0", "STAXKEYS_SHUTDOWN_DRAIN": "0"}
	srv := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	base := srv.waitLog(listening)[1]

	cfg := filepath.Join(root, "litestream.yml")
	replica := filepath.Join(root, "replica")
	if err := os.WriteFile(cfg, []byte("dbs:\n  - path: "+filepath.Join(dir, "staxkeys.db")+"\n    replicas:\n      - type: file\n        path: "+replica+"\n        sync-interval: 100ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := exec.Command(ls, "replicate", "-config", cfg)
	var repLog strings.Builder
	rep.Stdout, rep.Stderr = &repLog, &repLog
	if err := rep.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stopReplicate := func() {
		if !stopped {
			stopped = true
			rep.Process.Signal(syscall.SIGTERM)
			rep.Wait()
		}
	}
	t.Cleanup(stopReplicate)
	waitFile(t, replica)

	timed := func(what string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		took := time.Since(start)
		t.Logf("beside Litestream: %s took %v", what, took.Round(time.Millisecond))
		if took > 3*time.Second {
			t.Errorf("%s took %v beside Litestream, want well under the old 10 s stall", what, took)
		}
	}
	var tok string
	timed("token create", func() {
		out, _ := mustCommand(t, vars, 0, "", "token", "create", "--name", "rw")
		tok = lastLine(t, out)
	})
	timed("token list", func() { mustCommand(t, vars, 0, "", "token", "list") })
	timed("import", func() { mustCommand(t, vars, 0, "", "import", csvOf(t, "alpha@acme.com", "bravo@acme.com")) })
	timed("POST /api/v1/keys", func() { addViaAPI(t, base, tok, "charlie@acme.com") })
	timed("audit verify", func() { mustCommand(t, vars, 0, "", "audit", "verify") })
	time.Sleep(time.Second) // a few sync intervals, so the replica has the last writes
	timed("server shutdown", func() {
		if err := srv.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	time.Sleep(500 * time.Millisecond)
	stopReplicate()

	restored := filepath.Join(root, "restored")
	if err := os.Mkdir(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ls, "restore", "-config", cfg, "-o", filepath.Join(restored, "staxkeys.db"), filepath.Join(dir, "staxkeys.db")).CombinedOutput()
	if err != nil {
		t.Fatalf("litestream restore: %v\n%s\nreplicate log:\n%s", err, out, repLog.String())
	}
	again := map[string]string{}
	for k, v := range vars {
		again[k] = v
	}
	again["STAXKEYS_DATA_DIR"] = restored
	mustCommand(t, again, 0, "", "audit", "verify")
	srv2 := start(t, []string{"--addr", "127.0.0.1:0"}, again)
	base2 := srv2.waitLog(listening)[1]
	status, body := apiCall(t, base2, tok, "GET", "/api/v1/status", "")
	if status != 200 || !strings.Contains(body, `"total":3`) {
		t.Errorf("the restored server: %d %s", status, body)
	}
	if m := mode(t, filepath.Join(restored, "staxkeys.db")); m != 0o600 {
		t.Errorf("restored database mode %04o, want 0600", m)
	}
	if err := srv2.stop(); err != nil {
		t.Fatal(err)
	}
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", path, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
