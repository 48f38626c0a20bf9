package web

import "time"

// SetKeepAliveEvery shortens the event stream's keep-alive (and session re-check) for a test;
// the returned function restores it. Streams opened before the call keep their old period.
func SetKeepAliveEvery(d time.Duration) (restore func()) {
	old := keepAliveEvery
	keepAliveEvery = d
	return func() { keepAliveEvery = old }
}
