package web_test

import (
	"net/http"
	"testing"
)

// TestAPIWrongMethod: a known API path asked (with a valid token) with a method it does not
// take answers 405 with Allow; an unknown path stays 404.
func TestAPIWrongMethod(t *testing.T) {
	e := newTestServer(t)
	tok := e.token(t, "methods", false)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodPut, "/api/v1/keys/1", http.StatusMethodNotAllowed, "DELETE, GET, PATCH"},
		{http.MethodDelete, "/api/v1/keys", http.StatusMethodNotAllowed, "GET, POST"},
		{http.MethodGet, "/api/v1/keys/1/check", http.StatusMethodNotAllowed, "POST"},
		{http.MethodGet, "/api/v1/nothing", http.StatusNotFound, ""},
	} {
		req, err := http.NewRequest(tc.method, e.TS.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.status, tc.allow)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" && ct != "application/json; charset=UTF-8" {
			t.Errorf("%s %s: Content-Type %q, want JSON", tc.method, tc.path, ct)
		}
	}
}
