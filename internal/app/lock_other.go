//go:build !unix

package app

// LockDataDir is a no-op where flock is not available.
func LockDataDir(string) (func(), error) { return func() {}, nil }
