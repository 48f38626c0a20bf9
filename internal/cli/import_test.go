package cli

import (
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/internal/app"
	"github.com/staxkeys/staxkeys/internal/config"
	"github.com/staxkeys/staxkeys/store"
)

const (
	cliKey1 = "sk_live_CLIIMPORT_one_012345"
	cliKey2 = "sk_live_CLIIMPORT_two_012345"
	cliKey3 = "sk_live_CLIIMPORT_three_0123"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keys.csv")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func keyCount(t *testing.T, dir string) int {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(dir, "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.KeyCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func assertNoKey(t *testing.T, what, s string) {
	t.Helper()
	for _, k := range []string{cliKey1, cliKey2, cliKey3, "CLIIMPORT"} {
		if strings.Contains(s, k) {
			t.Errorf("%s contains a key (%s):\n%s", what, k, s)
		}
	}
}

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, "label,email,key\n"+
		"\"=HYPERLINK(\"\"http://x\"\")\",a@example.com,"+cliKey1+"\n"+ // line 2: good (a formula-like label)
		"two,not an email,"+cliKey2+"\n"+ // line 3: bad email
		"three,c@example.com,"+cliKey3+",extra\n"+ // line 4: a field too many
		"dup,A@example.com,"+cliKey1+"\n") // line 5: repeats line 2

	r := runCLI(t, dir, "", "import", file, "--init")
	if r.code() != 1 || !strings.Contains(r.err.Error(), "2 bad rows: nothing imported") {
		t.Fatalf("import with bad rows: exit %d, %v", r.code(), r.err)
	}
	for _, want := range []string{"line 3: bad row: email must", "line 4: bad row: the row has 4 fields", "line 5: duplicate of line 2"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	assertNoKey(t, "the report", r.stderr+r.stdout+r.err.Error())
	if n := keyCount(t, dir); n != 0 {
		t.Fatalf("%d pairs after a refused import, want 0", n)
	}

	r = runCLI(t, dir, "", "import", file, "--skip-bad")
	if r.err != nil || !strings.Contains(r.stdout, "imported 1 key; 1 duplicate row skipped; 2 bad rows skipped") {
		t.Fatalf("--skip-bad: %v, %q", r.err, r.stdout)
	}
	// Again from standard input: everything is a duplicate now, which is not an error.
	r = runCLI(t, dir, "label,email,key\nagain,a@example.com,"+cliKey1+"\n", "import", "-")
	if r.err != nil || !strings.Contains(r.stderr, "line 2: already registered as pair 1") || !strings.Contains(r.stdout, "imported 0 keys") {
		t.Errorf("re-import: %v, %q, %q", r.err, r.stdout, r.stderr)
	}
	if n := keyCount(t, dir); n != 1 {
		t.Errorf("%d pairs, want 1", n)
	}
	if r := runCLI(t, dir, "", "import", writeFile(t, "label,mail,key\nx,x@example.com,"+cliKey2+"\n")); r.code() != 1 ||
		!strings.Contains(r.err.Error(), "line 1: the first line must be a header") || !strings.Contains(r.err.Error(), "no email column") {
		t.Errorf("a file without the email column: exit %d, %v", r.code(), r.err)
	}
	if r := runCLI(t, dir, "", "import"); r.code() != exitUsage {
		t.Errorf("no file: exit %d", r.code())
	}

	// Export: never a key, formulas neutralised, private file, never overwritten.
	r = runCLI(t, dir, "", "export")
	if r.err != nil {
		t.Fatal(r.err)
	}
	assertNoKey(t, "the export", r.stdout)
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][0] != "id" || rows[1][1] != "'=HYPERLINK(\"http://x\")" || rows[1][2] != "a@example.com" ||
		rows[1][3] != cliKey1[len(cliKey1)-4:] || rows[1][4] != "pending" {
		t.Errorf("export rows %q", rows)
	}
	out := filepath.Join(t.TempDir(), "export.csv")
	if r := runCLI(t, dir, "", "export", out); r.err != nil {
		t.Fatal(r.err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file: %v, mode %v", err, fi.Mode())
	}
	if r := runCLI(t, dir, "", "export", out); r.code() != 1 {
		t.Errorf("overwriting an export: exit %d", r.code())
	}

	// The trail has the import and the exports.
	cfg := config.Default()
	cfg.DataDir = dir
	data, err := app.Open(context.Background(), cfg, newLogger(cfg, io.Discard), app.MayCreate)
	if err != nil {
		t.Fatal(err)
	}
	defer data.DB.Close()
	entries, _, err := data.DB.ListAudit(context.Background(), store.AuditQuery{Action: "pairs."})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+" "+e.Detail)
	}
	// Every import is recorded, also one that added nothing, with the same detail as an import
	// from the page.
	want := []string{"pairs.export 1 pairs", "pairs.export 1 pairs",
		"pairs.import 0 added, 1 duplicates skipped, 0 bad rows skipped",
		"pairs.import 1 added, 1 duplicates skipped, 2 bad rows skipped; pairs 1; bad lines 3, 4"}
	if strings.Join(actions, "|") != strings.Join(want, "|") {
		t.Errorf("audit %q, want %q", actions, want)
	}
}
