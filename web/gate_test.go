package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/web"
)

// TestPageGate: while the gate's places are taken, a page or API read waits instead of running,
// and runs once a place is free; writes and the live-update stream are never held behind it.
func TestPageGate(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{PageConcurrency: 1})
	c := e.LoggedIn(t)
	token := e.token(t, "gate", true)

	for _, tt := range []struct {
		name   string
		path   string
		header http.Header
	}{
		{"dashboard", "/", nil},
		{"key list API", "/api/v1/keys", http.Header{"Authorization": {"Bearer " + token}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			release := web.HoldPageGate(e.Server)
			released := false
			defer func() {
				if !released {
					release()
				}
			}()
			req, err := http.NewRequest(http.MethodGet, e.TS.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			hc := &http.Client{Jar: c.Jar, Transport: e.TS.Client().Transport, Timeout: waitLimit,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			done := make(chan int, 1)
			go func() {
				resp, err := hc.Do(req)
				if err != nil {
					done <- -1
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
			// Only ever a pass on a slow machine, never a false failure: a request that is
			// held cannot answer, however long we wait.
			select {
			case code := <-done:
				t.Fatalf("GET %s answered %d while every place of the gate was taken", tt.path, code)
			case <-time.After(200 * time.Millisecond):
			}
			release()
			released = true
			select {
			case code := <-done:
				if code != http.StatusOK {
					t.Fatalf("GET %s after the gate opened: %d, want 200", tt.path, code)
				}
			case <-time.After(waitLimit):
				t.Fatalf("GET %s still waiting after the gate opened", tt.path)
			}
		})
	}

	t.Run("writes pass", func(t *testing.T) {
		release := web.HoldPageGate(e.Server)
		defer release()
		req, err := http.NewRequest(http.MethodDelete, e.TS.URL+"/api/v1/keys/999999", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.token(t, "writer", false))
		resp, err := (&http.Client{Timeout: waitLimit}).Do(req)
		if err != nil {
			t.Fatalf("DELETE behind a full gate: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("DELETE /api/v1/keys/999999: %d, want 404", resp.StatusCode)
		}
	})

	t.Run("live updates pass", func(t *testing.T) {
		release := web.HoldPageGate(e.Server)
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.TS.URL+"/events", nil)
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Jar: c.Jar, Transport: e.TS.Client().Transport}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET /events behind a full gate: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("GET /events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}
