// Package static holds the CSS and JavaScript served from the binary.
//
// Third-party files live in vendor/ and are refreshed with vendor.sh (see
// vendor/VERSIONS for the pinned versions and checksums). app.css and app.js
// are hand-written.
//
// Templates should reference assets with a content hash so the server can
// send long-lived cache headers, e.g. in templ:
//
//	<link rel="stylesheet" href={ "/static/app.css?v=" + static.Hash("app.css") }/>
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"maps"
	"slices"
	"strings"
)

// FS holds vendor/, app.css and app.js. Paths are relative, e.g.
// "app.css" or "vendor/htmx.min.js".
//
//go:embed vendor app.css app.js
var FS embed.FS

// hashLen is the number of hex digits kept from each sha256.
const hashLen = 10

var (
	hashes  = hashFiles()
	version = combine(hashes)
)

// Hash returns the first 10 hex digits of the sha256 of the named embedded
// file ("app.css", "vendor/htmx.min.js"; a leading "/" or "static/" is
// ignored), or "" if there is no such file. Hashes are computed once, at
// package initialisation.
func Hash(name string) string {
	name = strings.TrimPrefix(name, "/")
	name = strings.TrimPrefix(name, "static/")
	return hashes[name]
}

// Version returns a 10-hex-digit hash over all embedded files; it changes
// whenever any of them does.
func Version() string {
	return version
}

func hashFiles() map[string]string {
	m := make(map[string]string)
	err := fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := FS.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[path] = hex.EncodeToString(sum[:])[:hashLen]
		return nil
	})
	if err != nil {
		panic("static: hashing embedded files: " + err.Error())
	}
	return m
}

func combine(m map[string]string) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(m)) {
		h.Write([]byte(name + "\x00" + m[name] + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))[:hashLen]
}
