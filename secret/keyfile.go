package secret

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// MasterKeyFileName is the name of the generated master key file inside the
// data directory.
const MasterKeyFileName = "master.key"

// maxKeyFile bounds how much of a key file is read, so pointing the key file
// at something huge fails fast instead of filling memory.
const maxKeyFile = 4096

// Source says where LoadOrCreateMasterKey found the master key, so startup
// can log it (the location, never the key).
type Source struct {
	// Kind is "env", "file" (an explicit key file), or "generated" (the
	// data-directory file, whether made now or on an earlier start).
	Kind string
	// Path is the key file's path; empty for "env".
	Path string
}

// LoadOrCreateMasterKey finds the master key, in order of precedence: the
// base64 envValue if non-empty; else the file keyFile if non-empty; else
// <dataDir>/master.key, generated (mode 0600, directory 0700) when missing so
// a first start needs no setup. created reports whether a key was generated.
//
// Key files readable by group or others are refused rather than used, because
// anyone who can read the file can read every stored API key.
func LoadOrCreateMasterKey(envValue, keyFile, dataDir string) (k MasterKey, src Source, created bool, err error) {
	switch {
	case envValue != "":
		k, err = parseKey(envValue, " from the environment")
		return k, Source{Kind: "env"}, false, err
	case keyFile != "":
		k, err = readKeyFile(keyFile)
		return k, Source{Kind: "file", Path: keyFile}, false, err
	case dataDir == "":
		return MasterKey{}, Source{}, false, errors.New("secret: no master key given and no data directory to keep one in")
	}
	path := filepath.Join(dataDir, MasterKeyFileName)
	src = Source{Kind: "generated", Path: path}
	k, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, src, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return MasterKey{}, src, false, fmt.Errorf("secret: create data directory: %w", err)
	}
	if k, err = GenerateMasterKey(); err != nil {
		return MasterKey{}, src, false, err
	}
	if err := WriteMasterKeyFile(path, k); err != nil {
		return MasterKey{}, src, false, err
	}
	return k, src, true, nil
}

// readKeyFile reads and parses a key file after checking its permissions.
// A missing file yields an error matching fs.ErrNotExist.
func readKeyFile(path string) (MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return MasterKey{}, fmt.Errorf("secret: open master key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return MasterKey{}, fmt.Errorf("secret: stat master key file: %w", err)
	}
	// Windows has no Unix permission bits to check.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return MasterKey{}, fmt.Errorf("secret: master key file %s is readable by group or others (mode %04o); run: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile))
	if err != nil {
		return MasterKey{}, fmt.Errorf("secret: read master key file %s: %w", path, err)
	}
	defer clear(b)
	return parseKey(string(b), " in file "+path)
}

// WriteMasterKeyFile atomically replaces path with k in base64, mode 0600:
// the key is written to a temporary file in the same directory and renamed
// into place, so a crash never leaves a truncated key behind.
func WriteMasterKeyFile(path string, k MasterKey) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("secret: write master key file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("secret: write master key file: %w", err)
	}
	if _, err = f.WriteString(k.Encode() + "\n"); err != nil {
		return fmt.Errorf("secret: write master key file: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("secret: write master key file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("secret: write master key file: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("secret: write master key file: %w", err)
	}
	// Make the rename durable; best effort, as not every platform can sync
	// a directory.
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
