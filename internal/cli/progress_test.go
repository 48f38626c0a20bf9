package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProgressOnlyOnATerminal: cron mail and CI logs get no progress lines; a terminal gets
// one line, rewritten, ended before the report.
func TestProgressOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "checked")
	p.total(3)
	p.add()
	p.done()
	if buf.Len() != 0 {
		t.Errorf("progress written to a non-terminal: %q", buf.String())
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if p := newProgress(f, "checked"); p.w != nil {
		t.Error("a regular file was taken for a terminal")
	}

	term := &progress{w: &buf, verb: "checked"} // as newProgress builds it for a terminal
	term.total(3)
	for range 3 {
		term.add()
	}
	term.done()
	out := buf.String()
	if !strings.HasPrefix(out, "\rchecked 1/3") || !strings.HasSuffix(out, "\rchecked 3/3\n") {
		t.Errorf("terminal progress %q", out)
	}
}
