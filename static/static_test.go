package static

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

var files = []string{
	"app.css",
	"app.js",
	"vendor/htmx.min.js",
	"vendor/sse.js",
	"vendor/pico.min.css",
	"vendor/VERSIONS",
}

func TestEmbeddedFiles(t *testing.T) {
	for _, name := range files {
		b, err := FS.ReadFile(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}

func TestHTMXIsVersion2(t *testing.T) {
	b, err := FS.ReadFile("vendor/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`version:"2.`)) {
		t.Error(`htmx.min.js does not contain version:"2.`)
	}
}

// TestVersionsFile checks that vendor/VERSIONS matches the vendored files,
// so hand edits to vendor/ are caught.
func TestVersionsFile(t *testing.T) {
	b, err := FS.ReadFile("vendor/VERSIONS")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(strings.TrimSpace(line), "\t")
		if len(f) != 4 {
			t.Errorf("bad VERSIONS line %q", line)
			continue
		}
		data, err := FS.ReadFile("vendor/" + f[2])
		if err != nil {
			t.Errorf("VERSIONS lists %s: %v", f[2], err)
			continue
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != f[3] {
			t.Errorf("%s: sha256 %s, VERSIONS says %s (re-run static/vendor.sh)", f[2], got, f[3])
		}
		n++
	}
	if n != 3 {
		t.Errorf("VERSIONS lists %d files, want 3", n)
	}
}

var hex10 = regexp.MustCompile(`^[0-9a-f]{10}$`)

func TestHash(t *testing.T) {
	for _, name := range files {
		if h := Hash(name); !hex10.MatchString(h) {
			t.Errorf("Hash(%q) = %q, want 10 hex digits", name, h)
		}
	}
	if Hash("/static/app.css") != Hash("app.css") {
		t.Error(`Hash("/static/app.css") != Hash("app.css")`)
	}
	if h := Hash("nope.css"); h != "" {
		t.Errorf("Hash of a missing file = %q, want empty", h)
	}
	if Hash("app.css") == Hash("app.js") {
		t.Error("app.css and app.js hash the same")
	}
	if v := Version(); !hex10.MatchString(v) {
		t.Errorf("Version() = %q, want 10 hex digits", v)
	}
}
