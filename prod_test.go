package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
	"github.com/staxkeys/staxkeys/tests/systest"
)

// These tests drive staxkeys as production runs it: kubelet-style probes, cron, Litestream.

// csvOf writes a CSV file of the given cliKeys emails for `staxkeys import`.
func csvOf(t *testing.T, emails ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("label,email,key\n")
	for _, e := range emails {
		b.WriteString(strings.Split(e, "@")[0] + "," + e + "," + cliKeys[e] + "\n")
	}
	path := filepath.Join(t.TempDir(), "keys.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustCommand runs a command and fails the test unless it exits with want.
func mustCommand(t *testing.T, vars map[string]string, want int, stdin string, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := command(t, vars, stdin, args...)
	if got := exitCode(err); got != want {
		t.Fatalf("staxkeys %s: exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, err, want, out, errOut)
	}
	return out, errOut
}

// TestCommandsRefuseAMissingDatabase: a mistyped STAXKEYS_DATA_DIR is a configuration error
// (78) naming the directory, and creates nothing: no directory, no database, no master key.
// Only serve, init and admin create / import with --init create a database.
func TestCommandsRefuseAMissingDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo", "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI}
	for _, args := range [][]string{
		{"check"}, {"check", "--json"}, {"token", "list"}, {"token", "create", "--name", "x"}, {"token", "revoke", "1"},
		{"admin", "list"}, {"admin", "create", "--email", "a@example.com", "--password-stdin"},
		{"admin", "reset-password", "--email", "a@example.com", "--password-stdin"},
		{"audit", "verify"}, {"audit", "list"}, {"export"}, {"backup", filepath.Join(t.TempDir(), "b.db")},
		{"rotate-master-key"}, {"import", "-"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, _, err := command(t, vars, "correct horse battery\n", args...)
			if code := exitCode(err); code != 78 {
				t.Fatalf("exit %d (%v), want 78", code, err)
			}
			if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "STAXKEYS_DATA_DIR") {
				t.Errorf("the error does not name the data directory and its setting: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused command created %s: %v", filepath.Dir(dir), err)
	}

	// An explicit --init creates it, with a generated master key as serve's first start does.
	mustCommand(t, vars, 0, "correct horse battery\n", "admin", "create", "--init", "--email", "a@example.com", "--password-stdin")
	if m := mode(t, filepath.Join(dir, "staxkeys.db")); m != 0o600 {
		t.Errorf("database mode %04o", m)
	}
	mustCommand(t, vars, 0, "", "admin", "list")
}

// TestMasterKeyErrors: no master key, or the wrong one, exits 77, distinct from a revoked key
// (1) and from configuration (78); and a refused command writes no stray master.key.
func TestMasterKeyErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := secret.GenerateMasterKey()
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI, "STAXKEYS_MASTER_KEY": mk.Encode()}
	mustCommand(t, vars, 0, "", "init")
	mustCommand(t, vars, 0, "", "init") // again: it exists, the key opens it

	without := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI}
	_, _, err = command(t, without, "", "check")
	if code := exitCode(err); code != 77 || !strings.Contains(err.Error(), "STAXKEYS_MASTER_KEY") {
		t.Fatalf("check without a master key: exit %d (%v), want 77 naming the setting", code, err)
	}
	if _, err := os.Stat(filepath.Join(dir, secret.MasterKeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused check wrote a master key file: %v", err)
	}
	wrong := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI, "STAXKEYS_MASTER_KEY": other.Encode()}
	for _, args := range [][]string{{"check"}, {"token", "create", "--name", "x"}, {"audit", "verify"}} {
		_, _, err = command(t, wrong, "", args...)
		if code := exitCode(err); code != 77 || !strings.Contains(err.Error(), "does not match") {
			t.Errorf("%s with the wrong master key: exit %d (%v), want 77", strings.Join(args, " "), code, err)
		}
	}
	badKey := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI, "STAXKEYS_MASTER_KEY": "not base64!"}
	if _, _, err := command(t, badKey, "", "check"); exitCode(err) != 77 {
		t.Errorf("a malformed master key: exit %d (%v), want 77", exitCode(err), err)
	}
}

// TestVersionAndHelp: --version and -v print the version; version --help and every command's
// --help show its usage with its arguments and the exit codes.
func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		out, _, err := command(t, nil, "", args...)
		if err != nil || !regexp.MustCompile(`^staxkeys \S+\n$`).MatchString(out) {
			t.Errorf("staxkeys %s = %q, %v", args[0], out, err)
		}
	}
	for args, want := range map[string]string{
		"version --help": "Usage: staxkeys version", "backup --help": "Usage: staxkeys backup FILE|-",
		"import --help": "Usage: staxkeys import FILE|-", "export --help": "Usage: staxkeys export [FILE|-]",
		"token revoke --help": "Usage: staxkeys token revoke ID", "check --help": "130  interrupted",
		"init --help": "Usage: staxkeys init", "--help": "78   configuration",
	} {
		out, _, err := command(t, nil, "", strings.Fields(args)...)
		if exitCode(err) != 0 || !strings.Contains(out, want) {
			t.Errorf("staxkeys %s: %v; no %q in:\n%s", args, err, want, out)
		}
	}
	if _, _, err := command(t, nil, "", "version", "extra"); exitCode(err) != 64 {
		t.Errorf("version extra: exit %d, want 64", exitCode(err))
	}
}

// TestJSONOutput: check, token list, admin list and audit verify print JSON with --json.
func TestJSONOutput(t *testing.T) {
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	fake.Set("alpha@acme.com", cliKeys["alpha@acme.com"], staxfake.Valid)
	fake.Set("delta@acme.com", cliKeys["delta@acme.com"], staxfake.Revoked)
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": fake.URL(), "STAXKEYS_CHECK_RATE": "0"}
	mustCommand(t, vars, 0, "correct horse battery\n", "admin", "create", "--init", "--email", "a@example.com", "--password-stdin")
	tokOut, _ := mustCommand(t, vars, 0, "", "token", "create", "--name", "ci")
	tok := lastLine(t, tokOut)
	mustCommand(t, vars, 0, "", "import", csvOf(t, "alpha@acme.com"))

	out, _ := mustCommand(t, vars, 0, "", "check", "--json")
	var rep struct {
		Keys []struct {
			ID      int64  `json:"id"`
			Email   string `json:"email"`
			Verdict string `json:"verdict"`
			Checked bool   `json:"checked"`
		} `json:"keys"`
		ExitCode int  `json:"exit_code"`
		ByServer bool `json:"by_server"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("check --json: %v\n%s", err, out)
	}
	if len(rep.Keys) != 1 || rep.Keys[0].Verdict != "valid" || !rep.Keys[0].Checked || rep.ExitCode != 0 || rep.ByServer {
		t.Errorf("check --json: %+v", rep)
	}
	mustCommand(t, vars, 0, "", "import", csvOf(t, "delta@acme.com"))
	out, _ = mustCommand(t, vars, 1, "", "check", "--json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.ExitCode != 1 || len(rep.Keys) != 2 {
		t.Errorf("check --json with a revoked key: %v %+v", err, rep)
	}

	out, _ = mustCommand(t, vars, 0, "", "token", "list", "--json")
	var tokens []struct {
		ID        int64      `json:"id"`
		Name      string     `json:"name"`
		ReadOnly  bool       `json:"read_only"`
		RevokedAt *time.Time `json:"revoked_at"`
	}
	if err := json.Unmarshal([]byte(out), &tokens); err != nil || len(tokens) != 1 || tokens[0].Name != "ci" || tokens[0].RevokedAt != nil {
		t.Errorf("token list --json: %v %+v\n%s", err, tokens, out)
	}
	if strings.Contains(out, tok) {
		t.Error("token list --json shows the token")
	}
	out, _ = mustCommand(t, vars, 0, "", "admin", "list", "--json")
	var admins []struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	}
	if err := json.Unmarshal([]byte(out), &admins); err != nil || len(admins) != 1 || admins[0].Email != "a@example.com" {
		t.Errorf("admin list --json: %v %+v", err, admins)
	}
	out, _ = mustCommand(t, vars, 0, "", "audit", "verify", "--json")
	var verify struct {
		Intact   bool `json:"intact"`
		Verified int  `json:"verified"`
	}
	if err := json.Unmarshal([]byte(out), &verify); err != nil || !verify.Intact || verify.Verified < 2 {
		t.Errorf("audit verify --json: %v %+v", err, verify)
	}
	for _, k := range cliKeys {
		if strings.Contains(out, k) {
			t.Error("a key was printed")
		}
	}

	// backup - writes a database that opens to standard output.
	var buf bytes.Buffer
	if err := run(context.Background(), []string{"backup", "-"}, envOf(vars), strings.NewReader(""), &buf, &bytes.Buffer{}); err != nil {
		t.Fatalf("backup -: %v", err)
	}
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenExisting(context.Background(), copyPath)
	if err != nil {
		t.Fatalf("the backup from standard output does not open: %v", err)
	}
	defer db.Close()
	if n, err := db.KeyCount(context.Background()); err != nil || n != 2 {
		t.Errorf("the backup holds %d pairs (%v), want 2", n, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".backup-*")); len(leftovers) != 0 {
		t.Errorf("backup - left %v in the data directory", leftovers)
	}
}

// TestCheckInterrupted: Ctrl-C during `check` prints what was checked so far, marks the rest
// "not checked", and exits 130, not 1 like a revoked key.
func TestCheckInterrupted(t *testing.T) {
	fake, err := staxfake.Start(staxfake.Options{SlowDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	emails := []string{"alpha@acme.com", "bravo@acme.com", "charlie@acme.com"}
	for _, e := range emails {
		fake.Set(e, cliKeys[e], staxfake.Slow)
	}
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": fake.URL(), "STAXKEYS_CHECK_RATE": "0",
		"STAXKEYS_CHECK_CONCURRENCY": "1", "STAXKEYS_CHECK_TIMEOUT": "1h"}
	mustCommand(t, vars, 0, "", "import", csvOf(t, emails...), "--init")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"check"}, envOf(vars), strings.NewReader(""), &out, &errOut) }()
	deadline := time.Now().Add(waitLimit)
	for fake.Requests() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("check sent no request")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // as SIGINT does
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(waitLimit):
		t.Fatal("check did not stop after the interrupt")
	}
	if code := exitCode(runErr); code != 130 {
		t.Fatalf("interrupted check: exit %d (%v), want 130\n%s", code, runErr, out.String())
	}
	if n := len(regexp.MustCompile(`(?m)^\d+\s+\S+\s+\S+@acme\.com\s+pending\s+not checked\s+interrupted$`).FindAllString(out.String(), -1)); n != 3 {
		t.Errorf("%d rows marked not checked, want 3; the partial report:\n%s", n, out.String())
	}
}

// TestServeDrainsOnShutdown: after SIGTERM, /readyz answers 503 "draining" while the server
// still serves, for STAXKEYS_SHUTDOWN_DRAIN; /livez stays 200; then the server stops.
func TestServeDrainsOnShutdown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI, "STAXKEYS_SHUTDOWN_DRAIN": "3s"}
	p := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	base := p.waitLog(listening)[1]
	out, _ := mustCommand(t, vars, 0, "", "token", "create", "--name", "lb")
	tok := lastLine(t, out)
	c := noRedirects()
	if status, body := apiCall(t, base, "", http.MethodGet, "/readyz", ""); status != http.StatusOK {
		t.Fatalf("readyz before shutdown: %d %s", status, body)
	}
	p.cancel()
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := c.Get(base + "/readyz")
		if err != nil {
			t.Fatalf("the listener closed before a drain was seen: %v", err)
		}
		var b struct {
			Checks map[string]string `json:"checks"`
		}
		json.NewDecoder(resp.Body).Decode(&b)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && b.Checks["shutdown"] == "draining" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz %d %v, never draining", resp.StatusCode, b.Checks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, _ := apiCall(t, base, "", http.MethodGet, "/livez", ""); status != http.StatusOK {
		t.Errorf("livez while draining: %d", status)
	}
	// Requests that still arrive are served in full, database included.
	if status, body := apiCall(t, base, tok, http.MethodGet, "/api/v1/status", ""); status != http.StatusOK {
		t.Errorf("an API call while draining: %d %s", status, body)
	}
	if status, body := apiCall(t, base, tok, http.MethodPost, "/api/v1/keys", `{"label":"l","email":"alpha@acme.com","key":"`+cliKeys["alpha@acme.com"]+`"}`); status != http.StatusCreated {
		t.Errorf("an API write while draining: %d %s", status, body)
	}
	if err := p.result(); err != nil {
		t.Fatalf("serve after the drain: %v", err)
	}
	if !strings.Contains(p.stderr.String(), "draining") {
		t.Errorf("the log does not mention the drain:\n%s", p.stderr.String())
	}
}

// TestServeFinishesInFlightOnSIGTERM runs the built binary: a check in flight when SIGTERM
// arrives (the fake Stax.ai answers it slowly) still gets its full answer, an open live-update
// stream is ended by the shutdown rather than waited on, and the process exits 0.
func TestServeFinishesInFlightOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildStaxkeys(t, t.TempDir())
	ctx := context.Background()
	fake, err := staxfake.Start(staxfake.Options{Default: staxfake.Valid})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	env := map[string]string{
		"STAXKEYS_DATA_DIR": t.TempDir(), "STAXKEYS_API_URL": fake.URL(),
		// Checks only on demand, so the fake's one request is the test's; no drain, so the
		// listener closes while the check is still in flight.
		"STAXKEYS_CHECKER": "false", "STAXKEYS_SHUTDOWN_DRAIN": "0", "STAXKEYS_CHECK_TIMEOUT": "20s",
	}
	tok, err := systest.CreateToken(ctx, bin, env, "ops")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := systest.Start(ctx, systest.Options{Bin: bin, Env: env, Args: []string{"--addr", "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Kill()
	api := systest.NewAPI(prog.URL, tok, nil)
	pair, err := api.Add(ctx, "alpha", "alpha@acme.com", cliKeys["alpha@acme.com"])
	if err != nil {
		t.Fatal(err)
	}
	b := systest.NewBrowser(prog.URL, nil)
	if err := b.Setup(ctx, "admin@acme.com", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, prog.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Not b.HTTP: its timeout would end the stream.
	stream, err := (&http.Client{Jar: b.HTTP.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %d", stream.StatusCode)
	}
	streamEnded := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream.Body)
		streamEnded <- err
	}()

	fake.SetLatency(3 * time.Second)
	type checked struct {
		r    *systest.Response
		pair systest.Key
		err  error
	}
	answered := make(chan checked, 1)
	go func() {
		r, p, err := api.Check(ctx, pair.ID)
		answered <- checked{r, p, err}
	}()
	for deadline := time.Now().Add(waitLimit); fake.Requests() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the check never reached the fake")
		}
	}
	stopped := make(chan error, 1)
	go func() { stopped <- prog.Stop() }() // SIGTERM

	select {
	case err := <-streamEnded:
		if err != nil {
			t.Errorf("the live-update stream was cut, not ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the live-update stream was still open 10 s after SIGTERM")
	}
	got := <-answered
	if got.err != nil || got.r.Status != http.StatusOK {
		var status int
		var body []byte
		if got.r != nil {
			status, body = got.r.Status, got.r.Body
		}
		t.Fatalf("the check in flight at SIGTERM got %d %q, %v; log:\n%s", status, body, got.err, prog.Log.String())
	}
	if got.pair.ID != pair.ID || got.pair.Verdict != "valid" || got.pair.LastCheck == nil {
		t.Errorf("the check in flight at SIGTERM answered %s, not the checked key", got.r.Body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("serve after SIGTERM: %v; log:\n%s", err, prog.Log.String())
	}
	if !strings.Contains(prog.Log.String(), `msg=stopped`) {
		t.Errorf("the log does not end with stopped:\n%s", prog.Log.String())
	}
}

// TestWorkBesideServer: keys imported by the CLI beside a running server are checked at once,
// not at the server's next planned wake-up (here an hour away); and `check` beside the server
// has the server do the checks, within its one rate budget.
func TestWorkBesideServer(t *testing.T) {
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	for e, k := range cliKeys {
		fake.Set(e, k, staxfake.Valid)
	}
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": fake.URL(), "STAXKEYS_CHECK_INTERVAL": "1h",
		"STAXKEYS_CHECK_RATE": "0"}
	// A socket file left by a server that was killed does not stop the next one.
	mustCommand(t, vars, 0, "", "init")
	if err := os.WriteFile(filepath.Join(dir, "staxkeys.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	p.waitLog(listening)

	mustCommand(t, vars, 0, "", "import", csvOf(t, "alpha@acme.com", "bravo@acme.com", "charlie@acme.com"))
	db, err := store.OpenExisting(context.Background(), filepath.Join(dir, "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(waitLimit)
	for {
		pairs, err := db.AllKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		valid := 0
		for _, pr := range pairs {
			if pr.Verdict == domain.Valid {
				valid++
			}
		}
		if len(pairs) == 3 && valid == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d imported keys checked within %v; the server did not pick them up", valid, len(pairs), waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}

	before := fake.Requests()
	out, _ := mustCommand(t, vars, 0, "", "check", "--json")
	var rep struct {
		ByServer bool `json:"by_server"`
		Keys     []struct {
			Checked bool `json:"checked"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.ByServer || len(rep.Keys) != 3 {
		t.Fatalf("check beside the server: %v %s", err, out)
	}
	if n := fake.Requests() - before; n < 3 {
		t.Errorf("%d requests for 3 keys", n)
	}
	if !strings.Contains(p.stderr.String(), "a cycle asked for by `staxkeys check`") {
		t.Errorf("the server did not run the cycle:\n%s", p.stderr.String())
	}
	if m := mode(t, filepath.Join(dir, "staxkeys.sock")); m != 0o600 {
		t.Errorf("control socket mode %04o, want 0600", m)
	}

	// A server whose socket cannot be reached: check refuses rather than check beside it at
	// twice the rate.
	os.Remove(filepath.Join(dir, "staxkeys.sock"))
	before = fake.Requests()
	_, _, err = command(t, vars, "", "check")
	if code := exitCode(err); code != 2 || !strings.Contains(err.Error(), "double the rate") {
		t.Errorf("check beside a server without its socket: exit %d (%v), want 2", code, err)
	}
	if n := fake.Requests() - before; n != 0 {
		t.Errorf("check sent %d requests of its own beside the server", n)
	}
}

// TestBesideALongReader holds a read transaction on the database for the whole test, as
// Litestream does while it replicates, and times what the issue saw stall for 10 s: CLI
// commands, an API write, and the server's shutdown. The bound (3 s) is far above a healthy
// figure and far below the old stall, so a slow machine cannot fail it.
func TestBesideALongReader(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI, "STAXKEYS_SHUTDOWN_DRAIN": "0"}
	p := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	base := p.waitLog(listening)[1]
	tok := lastLine(t, func() string { o, _ := mustCommand(t, vars, 0, "", "token", "create", "--name", "rw"); return o }())

	reader, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	conn, err := reader.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(context.Background(), "SELECT count(*) FROM pairs").Scan(&n); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	const bound = 3 * time.Second
	timed := func(what string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		took := time.Since(start)
		t.Logf("beside a long reader: %s took %v", what, took.Round(time.Millisecond))
		if took > bound {
			t.Errorf("%s took %v beside a long reader, want well under the old 10 s stall", what, took)
		}
	}
	timed("token list", func() { mustCommand(t, vars, 0, "", "token", "list") })
	timed("admin list", func() { mustCommand(t, vars, 0, "", "admin", "list") })
	timed("token create", func() { mustCommand(t, vars, 0, "", "token", "create", "--name", "other") })
	timed("POST /api/v1/keys", func() { addViaAPI(t, base, tok, "alpha@acme.com") })
	timed("audit verify", func() { mustCommand(t, vars, 0, "", "audit", "verify") })
	timed("shutdown", func() {
		if err := p.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

// TestCheckBesideServerInterrupted: Ctrl-C on a `check` that the server runs stops the server's
// cycle too, and the command still prints its partial report and exits 130.
func TestCheckBesideServerInterrupted(t *testing.T) {
	fake, err := staxfake.Start(staxfake.Options{SlowDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	emails := []string{"alpha@acme.com", "bravo@acme.com"}
	for _, e := range emails {
		fake.Set(e, cliKeys[e], staxfake.Valid)
	}
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": fake.URL(), "STAXKEYS_CHECK_RATE": "0",
		"STAXKEYS_CHECK_CONCURRENCY": "1", "STAXKEYS_CHECK_TIMEOUT": "1h", "STAXKEYS_CHECK_INTERVAL": "1h"}
	mustCommand(t, vars, 0, "", "import", csvOf(t, emails...), "--init")
	srv := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	srv.waitLog(listening)
	db, err := store.OpenExisting(context.Background(), filepath.Join(dir, "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(waitLimit)
	for { // the server's own first checks, valid, before Stax.ai turns slow
		pairs, _ := db.AllKeys(context.Background())
		if len(pairs) == 2 && pairs[0].Verdict == domain.Valid && pairs[1].Verdict == domain.Valid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not check the imported keys: %+v", pairs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, e := range emails {
		fake.Set(e, cliKeys[e], staxfake.Slow)
	}
	before := fake.Requests()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"check"}, envOf(vars), strings.NewReader(""), &out, &bytes.Buffer{}) }()
	for fake.Requests() == before {
		if time.Now().After(deadline.Add(waitLimit)) {
			t.Fatal("the server sent no request for the check")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(waitLimit):
		t.Fatal("check did not stop after the interrupt")
	}
	if code := exitCode(runErr); code != 130 {
		t.Fatalf("interrupted check beside the server: exit %d (%v), want 130\n%s", code, runErr, out.String())
	}
	if n := len(regexp.MustCompile(`(?m)^\d+\s+\S+\s+\S+@acme\.com\s+valid\s+not checked\s+interrupted$`).FindAllString(out.String(), -1)); n != 2 {
		t.Errorf("%d rows marked not checked with their standing verdict, want 2:\n%s", n, out.String())
	}
	// The server's cycle stopped with the command: its slow request was abandoned, and the
	// server still answers.
	waitFor := time.Now().Add(waitLimit)
	for !strings.Contains(srv.stderr.String(), "a cycle asked for by `staxkeys check`") {
		if time.Now().After(waitFor) {
			t.Fatal("the server did not run the cycle")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := srv.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestHealthcheckCommand: the binary probes its own server, for a container's HEALTHCHECK.
func TestHealthcheckCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI}
	p := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	base := p.waitLog(listening)[1]
	probe := map[string]string{"STAXKEYS_ADDR": strings.TrimPrefix(base, "http://")}
	// Listening comes before ready: /readyz waits for the checker's first beat, which a
	// loaded machine may take a moment to give.
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(10 * time.Millisecond) {
		if _, _, err := command(t, probe, "", "healthcheck", "--path", "/readyz"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		out, _ := mustCommand(t, probe, 0, "", "healthcheck", "--path", path)
		if out != path+" ok\n" {
			t.Errorf("healthcheck %s: %q", path, out)
		}
	}
	mustCommand(t, probe, 64, "", "healthcheck", "--path", "/metrics")
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	_, _, err := command(t, probe, "", "healthcheck")
	if code := exitCode(err); code != 1 || !strings.Contains(err.Error(), "/healthz") {
		t.Errorf("healthcheck of a stopped server: exit %d (%v), want 1", code, err)
	}
}
