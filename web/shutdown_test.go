package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// slowCheck is what a check of a key costs at the fake in these tests: long enough that the
// test acts while the request is in flight.
const slowCheck = 1500 * time.Millisecond

// reply is one HTTP answer as the client got it, or the error it got instead.
type reply struct {
	status int
	header http.Header
	body   string
	err    error
}

// postCheck sends POST /api/v1/keys/:id/check to base in the background and returns where its
// answer will arrive, once the fake has the check in flight.
func postCheck(t *testing.T, ctx context.Context, fake *staxfake.Server, base, token string, id int64) <-chan reply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/api/v1/keys/%d/check", base, id), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	before := fake.Requests()
	out := make(chan reply, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			out <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- reply{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
	}()
	deadline := time.Now().Add(waitLimit)
	for fake.Requests() == before {
		if time.Now().After(deadline) {
			t.Fatal("the check never reached the fake")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return out
}

func waitAnswer(t *testing.T, ch <-chan reply) reply {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(waitLimit):
		t.Fatalf("no answer within %s", waitLimit)
		return reply{}
	}
}

// TestShutdownFinishesInFlightRequest: a request in flight when the server shuts down is
// waited for and gets its full answer; Shutdown returns once it has.
func TestShutdownFinishesInFlightRequest(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{CheckTimeout: 10 * time.Second})
	e.TS.Config.RegisterOnShutdown(e.Server.EndStreams)
	p := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	tok := e.token(t, "ops", false)
	e.Fake.SetLatency(slowCheck)

	got := postCheck(t, context.Background(), e.Fake, e.TS.URL, tok, p.ID)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.TS.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	var a reply
	select {
	case a = <-got:
	default:
		t.Fatal("Shutdown returned before the request in flight was answered")
	}
	if a.err != nil || a.status != http.StatusOK {
		t.Fatalf("the request in flight got %d %q, %v", a.status, a.body, a.err)
	}
	var pair struct {
		ID      int64  `json:"id"`
		Verdict string `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(a.body), &pair); err != nil || pair.ID != p.ID || pair.Verdict != "valid" {
		t.Fatalf("the request in flight got %q (%v), not the checked key", a.body, err)
	}
}

// TestShutdownEndsEventStreams: an open live-update stream does not hold up Shutdown; the
// server's shutdown hook ends it cleanly, as its session's end does.
func TestShutdownEndsEventStreams(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{})
	e.TS.Config.RegisterOnShutdown(e.Server.EndStreams)
	c := e.LoggedIn(t)
	s := openEvents(t, e.Env, c, "/events")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.TS.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a live-update stream open: %v after %s", err, time.Since(start))
	}
	s.ended()
	if s.err != nil {
		t.Fatalf("the stream was cut, not ended: %v", s.err)
	}
	t.Logf("Shutdown with an open stream took %s", time.Since(start))
}

// TestCancelledRequestAnswered: a request cancelled on the server's side while its client still
// waits gets an answer (503 with Retry-After), never an empty 200; one whose client left gets
// nothing and a debug line.
func TestCancelledRequestAnswered(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{CheckTimeout: 10 * time.Second})
	p := e.addKey(t, "Billing", "billing@acme.com", apiKeyA, staxfake.Valid)
	tok := e.token(t, "ops", false)
	e.Fake.SetLatency(slowCheck)

	t.Run("cut by the server", func(t *testing.T) {
		// A server whose requests' context it cancels itself, as serve's shutdown used to.
		base, cut := context.WithCancelCause(context.Background())
		defer cut(nil)
		srv := &http.Server{Handler: e.Server, BaseContext: func(net.Listener) context.Context { return base }}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		defer srv.Close()

		got := postCheck(t, context.Background(), e.Fake, "http://"+ln.Addr().String(), tok, p.ID)
		cut(errors.New("the server is stopping"))
		a := waitAnswer(t, got)
		if a.err != nil || a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
			t.Fatalf("a request cut by the server got %d %q (Retry-After %q), %v", a.status, a.body, a.header.Get("Retry-After"), a.err)
		}
		var body struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(a.body), &body); err != nil || body.Error == "" {
			t.Fatalf("the 503's body %q is not an API error (%v)", a.body, err)
		}
	})

	t.Run("client gone", func(t *testing.T) {
		logFrom := len(e.Log.String())
		ctx, leave := context.WithCancel(context.Background())
		got := postCheck(t, ctx, e.Fake, e.TS.URL, tok, p.ID)
		leave()
		if a := waitAnswer(t, got); a.err == nil {
			t.Fatalf("the client that left got %d %q", a.status, a.body)
		}
		deadline := time.Now().Add(waitLimit)
		for !strings.Contains(e.Log.String(), `msg="request abandoned by the client"`) {
			if time.Now().After(deadline) {
				t.Fatalf("no debug line for the abandoned request; log:\n%s", e.Log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if line := logLine(e.Log.String(), "request abandoned by the client"); !strings.Contains(line, "level=DEBUG") || !strings.Contains(line, "/check") {
			t.Errorf("abandoned request logged as %q", line)
		}
		if log := e.Log.String()[logFrom:]; strings.Contains(log, `msg="request failed"`) {
			t.Errorf("a client leaving was logged as a failure:\n%s", log)
		}
	})
}

// logLine returns the first line of log that contains s.
func logLine(log, s string) string {
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	return ""
}
