package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/cli"
	"github.com/staxkeys/staxkeys/internal/config"
	"github.com/staxkeys/staxkeys/internal/password"
	"github.com/staxkeys/staxkeys/store"
)

// waitLimit bounds every wait for the program; it is generous because CI machines can be slow,
// and a healthy run never comes near it.
const waitLimit = 20 * time.Second

// syncBuffer collects what the program writes from its goroutines and wakes a waiting test.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{notify: make(chan struct{}, 1)} }

// Write appends p and wakes a test waiting in waitLog.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	n, err := b.buf.Write(p)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// program is one run of staxkeys in the background.
type program struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
	stdout *syncBuffer
	stderr *syncBuffer
}

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func start(t *testing.T, args []string, vars map[string]string) *program {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &program{t: t, cancel: cancel, done: make(chan error, 1), stdout: newSyncBuffer(), stderr: newSyncBuffer()}
	// Tests stop servers all the time and nothing routes to them: no drain unless asked for.
	if _, ok := vars["STAXKEYS_SHUTDOWN_DRAIN"]; !ok {
		withDrain := map[string]string{"STAXKEYS_SHUTDOWN_DRAIN": "0"}
		for k, v := range vars {
			withDrain[k] = v
		}
		vars = withDrain
	}
	go func() { p.done <- run(ctx, args, envOf(vars), strings.NewReader(""), p.stdout, p.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(waitLimit):
			t.Error("the program did not stop")
		}
	})
	return p
}

// waitLog waits until stderr matches re and returns the submatches; it fails if run returns first.
func (p *program) waitLog(re *regexp.Regexp) []string {
	p.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		select {
		case <-p.stderr.notify:
		case err := <-p.done:
			p.t.Fatalf("run returned %v before logging %s; stderr:\n%s", err, re, p.stderr.String())
		case <-deadline.C:
			p.t.Fatalf("no %s within %v; stderr:\n%s", re, waitLimit, p.stderr.String())
		}
	}
}

// result waits for run to return.
func (p *program) result() error {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(waitLimit):
		p.t.Fatalf("run did not return within %v; stderr:\n%s", waitLimit, p.stderr.String())
		return nil
	}
}

// stop cancels the context, as SIGINT does, and returns what run returned.
func (p *program) stop() error {
	p.t.Helper()
	p.cancel()
	return p.result()
}

var listening = regexp.MustCompile(`msg="staxkeys listening" url=(\S+)`)

// command runs a one-off command to completion with stdin.
func command(t *testing.T, vars map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, envOf(vars), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exit *cli.ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	return 1
}

func noRedirects() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		Timeout:       waitLimit,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, *goquery.Document) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return resp, doc
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// offlineAPI is where the checker is pointed in these tests: a local port nothing answers on, so
// a test can never reach the real Stax.ai (there are no keys to check anyway).
const offlineAPI = "http://127.0.0.1:9"

func TestServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI}

	p := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	base := p.waitLog(listening)[1]
	c := noRedirects()

	resp, _ := get(t, c, base+"/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/setup" {
		t.Fatalf("GET / = %d to %q, want 303 to /setup", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, doc := get(t, c, base+"/setup")
	if resp.StatusCode != http.StatusOK || doc.Find(`[data-testid="setup-form"]`).Length() != 1 {
		t.Fatalf("GET /setup = %d without a setup form", resp.StatusCode)
	}

	t.Run("admin create beside the running server", func(t *testing.T) {
		if _, stderr, err := command(t, vars, "correct horse battery\n", "admin", "create", "--email", "a@example.com", "--password-stdin"); err != nil {
			t.Fatalf("admin create: %v\n%s", err, stderr)
		}
		if resp, _ := get(t, c, base+"/setup"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET /setup = %d after an admin exists, want 404", resp.StatusCode)
		}
		resp, doc := get(t, c, base+"/login")
		token := doc.Find(`input[name="_csrf"]`).AttrOr("value", "")
		if resp.StatusCode != http.StatusOK || token == "" {
			t.Fatalf("GET /login = %d, token %q", resp.StatusCode, token)
		}
		resp, err := c.PostForm(base+"/login", url.Values{"_csrf": {token}, "email": {"a@example.com"}, "password": {"correct horse battery"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("login = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, doc := get(t, c, base+"/"); resp.StatusCode != http.StatusOK || doc.Find(`[data-testid="admin-email"]`).Text() != "a@example.com" {
			t.Fatalf("GET / after login = %d", resp.StatusCode)
		}
	})

	if err := p.stop(); err != nil {
		t.Fatalf("run returned %v after cancel, want nil (graceful); stderr:\n%s", err, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), `msg=stopped`) {
		t.Errorf("no stop message in:\n%s", p.stderr.String())
	}

	keyFile := filepath.Join(dir, "master.key")
	for path, want := range map[string]os.FileMode{dir: 0o700, keyFile: 0o600, filepath.Join(dir, "staxkeys.db"): 0o600} {
		if got := mode(t, path); got != want {
			t.Errorf("%s has mode %04o, want %04o", filepath.Base(path), got, want)
		}
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.stderr.String(), strings.TrimSpace(string(key))) {
		t.Error("the master key was logged")
	}

	t.Run("wrong master key", func(t *testing.T) {
		other := make([]byte, 32)
		rand.Read(other)
		wrong := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI, "STAXKEYS_MASTER_KEY": base64.StdEncoding.EncodeToString(other)}
		err := start(t, []string{"--addr", "127.0.0.1:0"}, wrong).result()
		if err == nil || !strings.Contains(err.Error(), "the master key does not match this database") {
			t.Fatalf("run = %v, want the master key mismatch", err)
		}
		if strings.Contains(err.Error(), wrong["STAXKEYS_MASTER_KEY"]) {
			t.Error("the error shows the key")
		}
		if after, _ := os.ReadFile(keyFile); !bytes.Equal(after, key) {
			t.Error("the key file changed")
		}
	})

	t.Run("restart with the generated key", func(t *testing.T) {
		p := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
		base := p.waitLog(listening)[1]
		if resp, _ := get(t, noRedirects(), base+"/"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2F" {
			t.Fatalf("GET / = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if err := p.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestServeCheckerOff stops a server started with STAXKEYS_CHECKER=false.
func TestServeCheckerOff(t *testing.T) {
	p := start(t, []string{"--addr", "127.0.0.1:0"}, map[string]string{"STAXKEYS_DATA_DIR": t.TempDir(), "STAXKEYS_CHECKER": "false"})
	p.waitLog(listening)
	if err := p.stop(); err != nil {
		t.Fatalf("run returned %v after cancel, want nil", err)
	}
}

func TestAdminCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir}

	out, stderr, err := command(t, vars, "correct horse battery\n", "admin", "create", "--init", "--email", "a@example.com", "--password-stdin")
	if err != nil || !strings.Contains(out, "a@example.com") {
		t.Fatalf("admin create = %v; stdout %q stderr %q", err, out, stderr)
	}
	out, _, err = command(t, vars, "", "admin", "list")
	if err != nil || !regexp.MustCompile(`(?m)^1\s+a@example\.com\s`).MatchString(out) {
		t.Fatalf("admin list = %v:\n%s", err, out)
	}

	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"duplicate", "another long password\n", []string{"admin", "create", "--email", "A@Example.com", "--password-stdin"}, 1, "already exists"},
		{"short password", "short\n", []string{"admin", "create", "--email", "b@example.com", "--password-stdin"}, 64, "at least 12"},
		{"no password", "", []string{"admin", "create", "--email", "b@example.com", "--password-stdin"}, 64, "no password"},
		{"password only as a flag", "", []string{"admin", "create", "--email", "b@example.com"}, 64, "--password-stdin"},
		{"bad email", "correct horse battery\n", []string{"admin", "create", "--email", "not-an-email", "--password-stdin"}, 64, "email"},
		{"stray argument", "", []string{"admin", "list", "extra"}, 64, "unexpected argument"},
		{"unknown flag", "", []string{"admin", "list", "--bogus"}, 64, "bogus"},
		{"no subcommand", "", []string{"admin"}, 64, "subcommand"},
		{"unknown subcommand", "", []string{"admin", "delete"}, 64, "delete"},
		{"reset unknown admin", "correct horse battery\n", []string{"admin", "reset-password", "--email", "nobody@example.com", "--password-stdin"}, 1, "nobody@example.com"},
		{"reset short password", "short\n", []string{"admin", "reset-password", "--email", "a@example.com", "--password-stdin"}, 64, "at least 12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := command(t, vars, tc.stdin, tc.args...)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, tc.code)
			}
			var exit *cli.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("error %T is not a *cli.ExitError", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
	out, _, _ = command(t, vars, "", "admin", "list")
	if n := strings.Count(out, "@example.com"); n != 1 {
		t.Fatalf("%d admins after the refused commands:\n%s", n, out)
	}

	t.Run("reset-password", func(t *testing.T) {
		ctx := context.Background()
		db, err := store.Open(ctx, filepath.Join(dir, "staxkeys.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		a, err := db.AdminByEmail(ctx, "a@example.com")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if err := db.CreateSession(ctx, store.Session{IDHash: []byte("live"), AdminID: a.ID, CreatedAt: now, LastSeenAt: now}); err != nil {
			t.Fatal(err)
		}

		out, stderr, err := command(t, vars, "a whole new passphrase\r\n", "admin", "reset-password", "--email", "A@example.com", "--password-stdin")
		if err != nil {
			t.Fatalf("reset-password = %v; %s", err, stderr)
		}
		if strings.Contains(out+stderr, "a whole new passphrase") {
			t.Error("the password was printed")
		}
		a, err = db.AdminByEmail(ctx, "a@example.com")
		if err != nil {
			t.Fatal(err)
		}
		for pw, want := range map[string]bool{"a whole new passphrase": true, "correct horse battery": false} {
			if ok, err := password.Verify(pw, a.PasswordHash); ok != want || err != nil {
				t.Errorf("Verify(%q) = %v, %v; want %v", pw, ok, err, want)
			}
		}
		if _, err := db.SessionByHash(ctx, []byte("live")); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("the admin's session survived the reset: %v", err)
		}
	})
}

// TestUserCommands creates users with roles from the command line, lists them, changes a role
// and refuses to demote the last admin. admin create still makes an admin.
func TestUserCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir}
	pw := "correct horse battery\n"
	if out, stderr, err := command(t, vars, pw, "admin", "create", "--init", "--email", "a@example.com", "--password-stdin"); err != nil {
		t.Fatalf("admin create = %v; %s %s", err, out, stderr)
	}
	out, stderr, err := command(t, vars, pw, "user", "create", "--email", "v@example.com", "--role", "viewer", "--password-stdin")
	if err != nil || !strings.Contains(out, "role viewer") {
		t.Fatalf("user create = %v; stdout %q stderr %q", err, out, stderr)
	}
	if _, _, err := command(t, vars, pw, "user", "create", "--email", "e@example.com", "--role", "editor", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"no role", pw, []string{"user", "create", "--email", "x@example.com", "--password-stdin"}, 64, "--role"},
		{"unknown role", pw, []string{"user", "create", "--email", "x@example.com", "--role", "owner", "--password-stdin"}, 64, "owner"},
		{"demote the last admin", "", []string{"user", "set-role", "--email", "a@example.com", "--role", "editor"}, 1, "last admin"},
		{"set-role of nobody", "", []string{"user", "set-role", "--email", "n@example.com", "--role", "editor"}, 1, "n@example.com"},
		{"set-role to nothing", "", []string{"user", "set-role", "--email", "v@example.com", "--role", ""}, 64, "--role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := command(t, vars, tc.stdin, tc.args...)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, tc.code)
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v does not mention %q", err, tc.msg)
			}
		})
	}
	if out, _, err := command(t, vars, "", "user", "set-role", "--email", "V@example.com", "--role", "admin"); err != nil || !strings.Contains(out, "now admin") {
		t.Fatalf("set-role = %v; %s", err, out)
	}
	out, _, err = command(t, vars, "", "user", "list")
	for _, want := range []string{`(?m)^1\s+a@example\.com\s+admin\s`, `(?m)^2\s+v@example\.com\s+admin\s`, `(?m)^3\s+e@example\.com\s+editor\s`} {
		if err != nil || !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("user list = %v, want %s:\n%s", err, want, out)
		}
	}
	if strings.Contains(out, "x@example.com") {
		t.Error("a refused user create added the user")
	}
	// Now that v is an admin too, a may be demoted.
	if _, _, err := command(t, vars, "", "user", "set-role", "--email", "a@example.com", "--role", "viewer"); err != nil {
		t.Fatal(err)
	}
}

// settingsTable returns every setting's variable with the default the help must show, straight
// from the config package, so a setting added later is covered too.
func settingsTable(t *testing.T) map[string]string {
	t.Helper()
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	cfg := config.Default()
	var vars, flags []string
	seen := map[string]bool{}
	collect := func() {
		fs.VisitAll(func(f *flag.Flag) {
			if !seen[f.Name] {
				seen[f.Name] = true
				flags = append(flags, f.Name)
			}
		})
	}
	// Bind asks for each variable and then registers its flag, so the flag that appears between
	// two questions belongs to the first of them.
	if err := config.Bind(fs, &cfg, func(name string) string { collect(); vars = append(vars, name); return "" }); err != nil {
		t.Fatal(err)
	}
	collect()
	if len(vars) != len(flags) || len(vars) < 10 {
		t.Fatalf("%d variables, %d flags", len(vars), len(flags))
	}
	want := map[string]string{}
	for i, v := range vars {
		d := fs.Lookup(flags[i]).DefValue
		if d == "" {
			d = "-"
		}
		want[v] = d
	}
	return want
}

func TestHelp(t *testing.T) {
	want := settingsTable(t)
	for k, v := range map[string]string{"STAXKEYS_ADDR": "127.0.0.1:8080", "STAXKEYS_DATA_DIR": "./data", "STAXKEYS_MASTER_KEY": "-", "STAXKEYS_CHECKER": "true"} {
		if want[k] != v {
			t.Fatalf("config says %s defaults to %q, expected %q", k, want[k], v)
		}
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}, {"admin", "create", "--help"}, {"admin", "list", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, _, err := command(t, nil, "", args...)
			if code := exitCode(err); code != 0 {
				t.Fatalf("exit code %d (%v), want 0", code, err)
			}
			listed := map[string]string{}
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) >= 3 && strings.HasPrefix(f[1], "STAXKEYS_") {
					listed[f[1]] = f[2]
				}
			}
			for v, d := range want {
				if got, ok := listed[v]; !ok {
					t.Errorf("%s is not listed", v)
				} else if got != d {
					t.Errorf("%s listed with default %q, want %q", v, got, d)
				}
			}
			if len(listed) != len(want) {
				t.Errorf("listed %d variables, config has %d", len(listed), len(want))
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	_, stderr, err := command(t, nil, "", "frobnicate")
	if code := exitCode(err); code != 64 {
		t.Fatalf("exit code %d (%v), want 64", code, err)
	}
	if !strings.Contains(err.Error(), "frobnicate") || !strings.Contains(stderr, "Usage:") {
		t.Errorf("error %q, stderr %q", err, stderr)
	}
	_, _, err = command(t, nil, "", "--bogus-flag")
	if code := exitCode(err); code != 64 {
		t.Fatalf("unknown flag: exit code %d (%v), want 64", code, err)
	}
	_, _, err = command(t, map[string]string{"STAXKEYS_LOG_FORMAT": "xml"}, "", "admin", "list")
	if code := exitCode(err); code != 78 || !strings.Contains(err.Error(), "STAXKEYS_LOG_FORMAT") {
		t.Fatalf("bad setting: exit code %d (%v), want 78 naming the variable", code, err)
	}
}

func TestVersion(t *testing.T) {
	out, _, err := command(t, nil, "", "version")
	if err != nil || !regexp.MustCompile(`^staxkeys \S+\n$`).MatchString(out) {
		t.Fatalf("version = %q, %v", out, err)
	}
}

// TestUnusableDataDir points the data directory where nothing can be written: every command
// explains itself instead of panicking or starting half-way.
func TestUnusableDataDir(t *testing.T) {
	var dir string
	if os.Geteuid() == 0 {
		// Permissions do not stop root; a path through a regular file stops everyone.
		file := filepath.Join(t.TempDir(), "not-a-dir")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(file, "sub")
	} else {
		dir = filepath.Join(t.TempDir(), "read-only")
		if err := os.Mkdir(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
	}
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_CHECKER": "false"}

	t.Run("serve", func(t *testing.T) {
		err := start(t, []string{"--addr", "127.0.0.1:0"}, vars).result()
		if err == nil || !strings.Contains(err.Error(), "data directory") || !strings.Contains(err.Error(), dir) {
			t.Fatalf("run = %v, want an error about the data directory %s", err, dir)
		}
	})
	for _, args := range [][]string{{"admin", "list"}, {"admin", "create", "--email", "a@example.com", "--password-stdin"}} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			_, _, err := command(t, vars, "correct horse battery\n", args...)
			if err == nil || !strings.Contains(err.Error(), "data directory") {
				t.Fatalf("run = %v, want an error about the data directory", err)
			}
		})
	}
}

// TestSecuritySettingsChecked: a session lifetime or an alert allow-list that cannot work stops
// the start with exit code 78 (configuration) naming the variable, before anything listens.
func TestSecuritySettingsChecked(t *testing.T) {
	base := map[string]string{"STAXKEYS_DATA_DIR": t.TempDir(), "STAXKEYS_CHECKER": "false", "STAXKEYS_API_URL": "http://127.0.0.1:9"}
	for name, bad := range map[string]map[string]string{
		"STAXKEYS_SESSION_IDLE": {"STAXKEYS_SESSION_IDLE": "10s"},
		"STAXKEYS_SESSION_MAX":  {"STAXKEYS_SESSION_IDLE": "2h", "STAXKEYS_SESSION_MAX": "1h"},
		"STAXKEYS_ALERT_ALLOW":  {"STAXKEYS_ALERT_ALLOW": "10.0.0.0/33"},
	} {
		t.Run(name, func(t *testing.T) {
			vars := maps.Clone(base)
			maps.Copy(vars, bad)
			err := start(t, []string{"--addr", "127.0.0.1:0"}, vars).result()
			if code := exitCode(err); code != 78 || !strings.Contains(err.Error(), name) {
				t.Fatalf("run = %v (exit %d), want exit 78 naming %s", err, code, name)
			}
		})
	}
}
