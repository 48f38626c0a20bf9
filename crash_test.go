//go:build linux

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
	"github.com/staxkeys/staxkeys/tests/systest"
)

// fsizeLauncher turns this test binary into a launcher when set ("LIMIT BINARY"): it lowers
// its own RLIMIT_FSIZE, then becomes the staxkeys binary, which keeps the limit. A file-size
// limit is how the tests simulate a full disk: writes past it fail with EFBIG, as they would
// with ENOSPC (Go ignores SIGXFSZ). Nothing else here changes the test process's limits.
const fsizeLauncher = "STAXKEYS_TEST_FSIZE_LAUNCHER"

func init() {
	spec := os.Getenv(fsizeLauncher)
	if spec == "" {
		return
	}
	limit, bin, _ := strings.Cut(spec, " ")
	n, err := strconv.ParseUint(limit, 10, 64)
	if err == nil {
		err = syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n})
	}
	if err == nil {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, fsizeLauncher+"=") {
				env = append(env, kv)
			}
		}
		err = syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), env)
	}
	fmt.Fprintln(os.Stderr, "fsize launcher:", err)
	os.Exit(3)
}

// buildStaxkeys builds the real binary into dir, as an operator would install it.
func buildStaxkeys(t *testing.T, dir string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "staxkeys")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryCrashAndDisk runs the built binary as an operator does. SIGKILL in the middle of
// a stream of writes loses no acknowledged write and leaves the database sound; a data
// directory that cannot be written, or a full disk, stops the start with a clear message.
func TestBinaryCrashAndDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildStaxkeys(t, t.TempDir())
	t.Run("SIGKILL mid-write", func(t *testing.T) { testCrash(t, bin) })
	t.Run("unusable data directory", func(t *testing.T) { testUnwritableDataDir(t, bin) })
	t.Run("full disk", func(t *testing.T) { testFullDisk(t, bin) })
}

// ack is a write the server acknowledged.
type ack struct {
	label, email, key string
	pending           string // a label sent in a PATCH that got no answer: it may or may not have landed
}

func testCrash(t *testing.T, bin string) {
	ctx := context.Background()
	fake, err := staxfake.Start(staxfake.Options{Default: staxfake.Valid})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	dir := t.TempDir()
	env := map[string]string{
		"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": fake.URL(),
		// The checker writes too, all the time: every new pair is due at once.
		"STAXKEYS_CHECK_INTERVAL": "1s", "STAXKEYS_CHECK_RATE": "0", "STAXKEYS_CHECK_CONCURRENCY": "4",
	}
	tok, err := systest.CreateToken(ctx, bin, env, "t")
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked = map[int64]*ack{}
		seq   atomic.Int64
	)
	for round := 1; round <= 3; round++ {
		prog, err := systest.Start(ctx, systest.Options{Bin: bin, Env: env, Args: []string{"--addr", "127.0.0.1:0"}})
		if err != nil {
			t.Fatal(err)
		}
		want := len(acked) + 250
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				api := systest.NewAPI(prog.URL, tok, nil)
				var mine []int64
				for i := 0; i < 2000; i++ { // bounded: the kill ends it long before
					n := seq.Add(1)
					label, email, key := fmt.Sprintf("crash %d", n), fmt.Sprintf("w%d.n%d@example.com", w, n), fmt.Sprintf("sk_crash_%08d_0123456789", n)
					r, err := api.Do(ctx, http.MethodPost, "/api/v1/keys", map[string]string{"label": label, "email": email, "key": key})
					if err != nil {
						return // the server is gone
					}
					var p systest.Key
					if r.Status != http.StatusCreated || r.JSON(&p) != nil {
						t.Errorf("POST /api/v1/keys answered %d: %.200s", r.Status, r.Body)
						return
					}
					mu.Lock()
					acked[p.ID] = &ack{label: label, email: email, key: key}
					mu.Unlock()
					mine = append(mine, p.ID)
					if n%3 != 0 {
						continue
					}
					// Rename one of this writer's pairs: only this writer touches it.
					id := mine[int(n)%len(mine)]
					relabel := fmt.Sprintf("renamed %d", n)
					mu.Lock()
					acked[id].pending = relabel
					mu.Unlock()
					r, err = api.Do(ctx, http.MethodPatch, fmt.Sprint("/api/v1/keys/", id), map[string]string{"label": relabel})
					if err != nil {
						return
					}
					mu.Lock()
					if r.Status == http.StatusOK {
						acked[id].label = relabel
					}
					acked[id].pending = ""
					mu.Unlock()
				}
			})
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= want || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		prog.Kill() // SIGKILL, writers mid-request
		wg.Wait()
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n < want {
			t.Fatalf("round %d: only %d acknowledged writes before the deadline; log:\n%s", round, n, prog.Log.String())
		}
		if !strings.Contains(prog.Err().Error(), "killed") {
			t.Fatalf("round %d: the server ended with %v, not by the kill", round, prog.Err())
		}
		verifyAfterCrash(t, dir, acked)
		t.Logf("round %d: %d writes acknowledged in all, every one intact after SIGKILL", round, n)
	}

	// The program starts again on what the kills left and serves every pair.
	prog, err := systest.Start(ctx, systest.Options{Bin: bin, Env: env, Args: []string{"--addr", "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	api := systest.NewAPI(prog.URL, tok, nil)
	r, err := api.Do(ctx, http.MethodGet, "/api/v1/keys?limit=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Total int }
	if err := r.JSON(&page); err != nil || page.Total < len(acked) {
		t.Fatalf("after restart the API lists %d pairs (%v); %d were acknowledged", page.Total, err, len(acked))
	}
	if r, err := api.Do(ctx, http.MethodGet, "/readyz", nil); err != nil || r.Status != http.StatusOK {
		t.Fatalf("/readyz after the crashes: %v %v", r, err)
	}
	if err := prog.Stop(); err != nil {
		t.Fatalf("graceful stop after the crashes: %v\n%s", err, prog.Log.String())
	}
	for _, line := range strings.Split(prog.Log.String(), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "database is locked") || strings.Contains(line, "SQLITE_BUSY") {
			t.Errorf("log: %s", line)
		}
	}
}

// verifyAfterCrash opens the database as the next start would and checks it: integrity_check
// says ok, foreign keys hold, every acknowledged pair is there with its label (or the label of
// a rename in flight at the kill), its email and its key, and every pair's key opens.
func verifyAfterCrash(t *testing.T, dir string, acked map[int64]*ack) {
	t.Helper()
	ctx := context.Background()
	mk, _, created, err := secret.LoadOrCreateMasterKey("", "", dir)
	if err != nil || created {
		t.Fatalf("master key after the crash: %v (created %v)", err, created)
	}
	db, err := store.Open(ctx, filepath.Join(dir, "staxkeys.db"))
	if err != nil {
		t.Fatalf("the database does not open after SIGKILL: %v", err)
	}
	defer db.Close()
	if res, err := db.IntegrityCheck(ctx); err != nil || res != "ok" {
		t.Fatalf("PRAGMA integrity_check = %q, %v", res, err)
	}
	raw, err := sql.Open("sqlite", "file:"+db.Path()+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if rows, err := raw.Query("PRAGMA foreign_key_check"); err != nil {
		t.Fatal(err)
	} else {
		if rows.Next() {
			t.Error("PRAGMA foreign_key_check reports orphans")
		}
		rows.Close()
	}
	v := keys.New(db, secret.NewKeyring(mk))
	for id, a := range acked {
		p, err := db.KeyByID(ctx, id)
		if errors.Is(err, domain.ErrNotFound) {
			t.Errorf("acknowledged pair %d (%s) is gone", id, a.email)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Email != a.email || (p.Label != a.label && (a.pending == "" || p.Label != a.pending)) {
			t.Errorf("pair %d: %q %q, acknowledged %q %q (in flight %q)", id, p.Label, p.Email, a.label, a.email, a.pending)
		}
		if key, err := v.Key(p); err != nil || key != a.key {
			t.Errorf("pair %d: key %q, %v; acknowledged %q", id, key, err, a.key)
		}
	}
	all, err := db.AllKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if _, err := v.Key(p); err != nil {
			t.Errorf("pair %d (not necessarily acknowledged) holds a key that does not open: %v", p.ID, err)
		}
	}
}

// exitOf runs a command to completion and returns its exit code and output.
func exitOf(t *testing.T, env []string, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%v did not exit (it should refuse to start): %s", args, out)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// assertCleanFailure checks a refused start: exit status wantCode, one line that names the
// problem, and no panic or goroutine dump.
func assertCleanFailure(t *testing.T, code, wantCode int, out string, want ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit status %d, want %d; output:\n%s", code, wantCode, out)
	}
	if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
		t.Errorf("a panic instead of a message:\n%s", out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the output does not say %q:\n%s", w, out)
		}
	}
}

func testUnwritableDataDir(t *testing.T, bin string) {
	// Permissions do not stop root, and CI often runs as root: a path through a regular file
	// stops everyone. Without root, a directory of mode 0500 is tried too.
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]string{"under a file": filepath.Join(file, "data")}
	if os.Geteuid() != 0 {
		ro := filepath.Join(t.TempDir(), "read-only")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(ro, 0o700) })
		dirs["read-only"] = ro
	}
	for name, dir := range dirs {
		for _, args := range [][]string{{"--addr", "127.0.0.1:0"}, {"token", "create", "--name", "t"}, {"backup", filepath.Join(t.TempDir(), "b.db")}} {
			t.Run(name+" "+args[0], func(t *testing.T) {
				env := systest.Environ(map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_CHECKER": "false"})
				code, out := exitOf(t, env, bin, args...)
				assertCleanFailure(t, code, 78, out, "data directory", dir) // a configuration error
			})
		}
	}
}

func testFullDisk(t *testing.T, bin string) {
	launch := func(t *testing.T, limit int, dir string) (int, string) {
		t.Helper()
		env := append(systest.Environ(map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_CHECKER": "false"}),
			fmt.Sprintf("%s=%d %s", fsizeLauncher, limit, bin))
		return exitOf(t, env, os.Args[0], "--addr", "127.0.0.1:0")
	}
	t.Run("nothing can be written", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		code, out := launch(t, 0, dir)
		assertCleanFailure(t, code, 1, out, "cannot write to the data directory", "is the disk full?")
	})
	// The start's write probe passes, then the disk fills while the database is created or
	// migrated: the start fails, naming the database, and the next start (with space again)
	// finishes the work on a sound database.
	for _, limit := range []int{8 << 10, 64 << 10, 200 << 10} {
		t.Run(fmt.Sprintf("disk full after %d KiB", limit>>10), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			code, out := launch(t, limit, dir)
			assertCleanFailure(t, code, 1, out, "cannot open the database")
			recoverAfterFullDisk(t, bin, dir)
		})
	}
	t.Run("database on a full disk at restart", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		recoverAfterFullDisk(t, bin, dir) // a first, normal start creates the database
		code, out := launch(t, 4096, dir)
		assertCleanFailure(t, code, 1, out, "cannot open the database")
		recoverAfterFullDisk(t, bin, dir)
	})
}

// recoverAfterFullDisk starts the binary with room to write and checks it serves and stops
// cleanly, on a database that passes integrity_check.
func recoverAfterFullDisk(t *testing.T, bin, dir string) {
	t.Helper()
	ctx := context.Background()
	prog, err := systest.Start(ctx, systest.Options{Bin: bin, Env: map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_CHECKER": "false"}, Args: []string{"--addr", "127.0.0.1:0"}})
	if err != nil {
		t.Fatalf("the start after the disk was freed failed: %v", err)
	}
	resp, err := http.Get(prog.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz after the disk was freed: %d", resp.StatusCode)
	}
	if err := prog.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	db, err := store.Open(ctx, filepath.Join(dir, "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res, err := db.IntegrityCheck(ctx); err != nil || res != "ok" {
		t.Fatalf("integrity_check after a full disk = %q, %v", res, err)
	}
}
