package web_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestAccessLogStatus: the access log line carries the status the client got, also when a
// handler returned a plain error (domain.ErrNotFound for an unknown key) that the error
// handler mapped to HTTP, not the 200 a response starts with.
func TestAccessLogStatus(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/keys/999999", http.StatusNotFound},
		{"/keys/not-a-number", http.StatusNotFound},
		{"/api/v1/keys", http.StatusUnauthorized},
	} {
		p := c.Get(tc.path)
		if p.StatusCode != tc.want {
			t.Fatalf("GET %s = %d, want %d", tc.path, p.StatusCode, tc.want)
		}
		var line string
		for _, l := range strings.Split(e.Log.String(), "\n") {
			if strings.Contains(l, "msg=request") && strings.Contains(l, "path="+tc.path+" ") {
				line = l
			}
		}
		if !strings.Contains(line, "status="+strconv.Itoa(tc.want)+" ") {
			t.Errorf("GET %s answered %d but the access log says %q", tc.path, tc.want, line)
		}
	}
}
