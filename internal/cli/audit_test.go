package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/internal/app"
	"github.com/staxkeys/staxkeys/internal/config"
)

// cliResult is what one run of a command printed and returned.
type cliResult struct {
	stdout, stderr string
	err            error
}

// code is the exit status the run would end with.
func (r cliResult) code() int {
	var ee *ExitError
	switch {
	case r.err == nil:
		return 0
	case errors.As(r.err, &ee):
		return ee.Code
	}
	return 1
}

// runCLI runs staxkeys with args over the data directory dir.
func runCLI(t *testing.T, dir, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_LOG_LEVEL": "error"}
	err := Run(context.Background(), args, Env{
		Getenv: func(k string) string { return vars[k] },
		Stdin:  strings.NewReader(stdin), Stdout: &out, Stderr: &errOut,
	})
	return cliResult{stdout: out.String(), stderr: errOut.String(), err: err}
}

// seedAudit records n CLI actions in a fresh data directory and returns it.
func seedAudit(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	ctx := context.Background()
	data, err := app.Open(ctx, cfg, newLogger(cfg, io.Discard), app.MayCreate)
	if err != nil {
		t.Fatal(err)
	}
	defer data.DB.Close()
	env := Env{Stderr: io.Discard}
	for i := range n {
		record(ctx, env, data, "test.action", audit.Target("thing:"+string(rune('a'+i))), "detail")
	}
	return dir
}

// tamper runs SQL on the database as an attacker holding the file would, dropping the
// triggers that keep staxkeys itself from changing the trail.
func tamper(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range append([]string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"}, stmts...) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestAuditVerify(t *testing.T) {
	tests := []struct {
		name   string
		tamper []string
		code   int
		want   string
	}{
		{name: "intact", code: 0, want: "audit trail intact: 5 entries verified"},
		{name: "edited row", tamper: []string{"UPDATE audit_log SET detail = 'nothing to see' WHERE id = 3"},
			code: 1, want: "audit trail broken at entry 3: the entry was changed"},
		{name: "edited actor with a forged MAC", tamper: []string{"UPDATE audit_log SET actor = 'someone-else', mac = zeroblob(32) WHERE id = 2"},
			code: 1, want: "audit trail broken at entry 2: the entry was changed"},
		{name: "deleted row", tamper: []string{"DELETE FROM audit_log WHERE id = 2"},
			code: 1, want: "audit trail broken at entry 3: entries 2 to 2 are missing"},
		{name: "deleted newest rows", tamper: []string{"DELETE FROM audit_log WHERE id >= 4"},
			code: 1, want: "audit trail broken at entry 4: entries after the last one present were deleted"},
		{name: "deleted head record", tamper: []string{"DELETE FROM settings WHERE name = 'audit_head'"},
			code: 1, want: "audit trail broken: the record of the newest entry is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := seedAudit(t, 5)
			if len(tt.tamper) > 0 {
				tamper(t, dir, tt.tamper...)
			}
			r := runCLI(t, dir, "", "audit", "verify")
			msg := r.stdout
			if r.err != nil {
				msg = r.err.Error()
			}
			if r.code() != tt.code || !strings.Contains(msg, tt.want) {
				t.Errorf("exit %d, %q; want exit %d, %q", r.code(), msg, tt.code, tt.want)
			}
		})
	}
}

func TestAuditList(t *testing.T) {
	dir := seedAudit(t, 3)
	r := runCLI(t, dir, "", "audit", "list", "--target", "thing:b")
	if r.err != nil {
		t.Fatal(r.err)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "test.action") || !strings.Contains(lines[1], "cli") {
		t.Errorf("list:\n%s", r.stdout)
	}
	r = runCLI(t, dir, "", "audit", "list", "--csv", "--action", "test.")
	if r.err != nil || strings.Count(r.stdout, "\n") != 4 || !strings.HasPrefix(r.stdout, "id,at,actor,action,target,ip,detail\n") {
		t.Errorf("csv: %v\n%s", r.err, r.stdout)
	}
	if r := runCLI(t, dir, "", "audit", "list", "--since", "yesterday"); r.code() != exitUsage {
		t.Errorf("a bad date: exit %d", r.code())
	}
	if r := runCLI(t, dir, "", "audit"); r.code() != exitUsage {
		t.Errorf("no subcommand: exit %d", r.code())
	}
}
