//go:build !unix

package cli

import "errors"

var errLocked = errors.New("a staxkeys server is running on this data directory")

// lockDataDir is a no-op where flock is not available.
func lockDataDir(string) (func(), error) { return func() {}, nil }
