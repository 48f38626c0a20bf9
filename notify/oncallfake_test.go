package notify_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// The local stand-ins for PagerDuty and Opsgenie check each request against what the
// providers document, and answer as they do: 202 for an accepted event, 400 naming what is
// wrong otherwise. A test that gets a 400 fails, through the delivery's error and the
// fake's own record of the problems.
//
// PagerDuty Events API v2, POST /v2/enqueue
// (developer.pagerduty.com/docs/events-api-v2/trigger-events, .../resolve-events):
// routing_key (string, 32 characters), event_action (trigger, acknowledge or resolve),
// dedup_key (string, at most 255 characters; required to resolve), and to trigger a payload
// with summary (string, 1 to 1024 characters), source (non-empty string), severity
// (critical, error, warning or info), optional timestamp (ISO 8601), component, group, class
// (strings) and custom_details (an object); optional links ([{href, text}]), images, client,
// client_url. Nothing else.
//
// Opsgenie Alert API (docs.opsgenie.com/docs/alert-api): POST /v2/alerts with the header
// Authorization: GenieKey <key> and message (string, 1 to 130 characters), optional alias
// (at most 512), description (at most 15000), responders, visibleTo, actions, tags (at most
// 20 strings of at most 50), details (an object of strings), entity (at most 512), source
// (at most 100), priority (P1 to P5), user, note; POST /v2/alerts/{identifier}/close with
// identifierType id, alias or tiny, and optional user, source (at most 100), note (at most
// 25000).

// oncallEvent is one request a fake accepted.
type oncallEvent struct {
	Action   string // trigger or resolve (PagerDuty); create or close (Opsgenie)
	DedupKey string // dedup_key or alias
	Body     map[string]any
	Raw      []byte
}

// oncallFake is a local PagerDuty or Opsgenie.
type oncallFake struct {
	*httptest.Server
	key      string
	mu       sync.Mutex
	events   []oncallEvent
	problems []string
	fail     int // answer 500 to this many requests first
}

func (f *oncallFake) accepted() []oncallEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]oncallEvent(nil), f.events...)
}

func (f *oncallFake) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.problems {
		t.Errorf("%s refused a request: %s", f.URL, p)
	}
}

// serve runs validate on each request: the problems it finds make a 400, none a 202.
func (f *oncallFake) serve(t *testing.T, validate func(r *http.Request, body map[string]any) (oncallEvent, []string)) {
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		if f.fail > 0 {
			f.fail--
			f.mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		f.mu.Unlock()
		var body map[string]any
		var probs []string
		if r.Method != http.MethodPost {
			probs = append(probs, "method "+r.Method)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			probs = append(probs, "Content-Type "+ct)
		}
		var ev oncallEvent
		if err := json.Unmarshal(raw, &body); err != nil || body == nil {
			probs = append(probs, "the body is not a JSON object")
		} else {
			var more []string
			ev, more = validate(r, body)
			probs = append(probs, more...)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(probs) > 0 {
			f.problems = append(f.problems, strings.Join(probs, "; ")+": "+string(raw))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "errors": probs})
			return
		}
		ev.Body, ev.Raw = body, raw
		f.events = append(f.events, ev)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
	}))
	t.Cleanup(f.Close)
}

// fields checks an object's members against their kinds: "string", "string:N" (at most N
// characters), "string!" (required), "object", "array", or a list of allowed values "a|b|c".
// Members not named are refused, as the providers ignore or refuse them.
func fields(prefix string, obj map[string]any, spec map[string]string) []string {
	var probs []string
	for k, v := range obj {
		kind, ok := spec[k]
		if !ok {
			probs = append(probs, fmt.Sprintf("unknown field %s%s", prefix, k))
			continue
		}
		kind = strings.TrimSuffix(kind, "!")
		switch {
		case kind == "object":
			if _, ok := v.(map[string]any); !ok {
				probs = append(probs, prefix+k+" is not an object")
			}
		case kind == "array":
			if _, ok := v.([]any); !ok {
				probs = append(probs, prefix+k+" is not an array")
			}
		case strings.HasPrefix(kind, "string"):
			s, ok := v.(string)
			if !ok {
				probs = append(probs, prefix+k+" is not a string")
				break
			}
			var max int
			if _, err := fmt.Sscanf(kind, "string:%d", &max); err == nil && len([]rune(s)) > max {
				probs = append(probs, fmt.Sprintf("%s%s is longer than %d", prefix, k, max))
			}
		default: // an enumeration
			s, _ := v.(string)
			if !strings.Contains("|"+kind+"|", "|"+s+"|") || s == "" {
				probs = append(probs, fmt.Sprintf("%s%s is %v, not one of %s", prefix, k, v, kind))
			}
		}
	}
	for k, kind := range spec {
		if strings.HasSuffix(kind, "!") {
			if v, ok := obj[k]; !ok || v == "" {
				probs = append(probs, "missing "+prefix+k)
			}
		}
	}
	return probs
}

// newPagerDutyFake is a local Events API v2 that accepts events for routingKey.
func newPagerDutyFake(t *testing.T, routingKey string) *oncallFake {
	f := &oncallFake{key: routingKey}
	f.serve(t, func(r *http.Request, b map[string]any) (oncallEvent, []string) {
		var probs []string
		if r.URL.Path != "/v2/enqueue" || r.URL.RawQuery != "" {
			probs = append(probs, "path "+r.URL.String())
		}
		probs = append(probs, fields("", b, map[string]string{
			"routing_key": "string!", "event_action": "trigger|acknowledge|resolve!", "dedup_key": "string:255",
			"payload": "object", "links": "array", "images": "array", "client": "string", "client_url": "string",
		})...)
		if b["routing_key"] != routingKey {
			probs = append(probs, "the routing key is not the integration's")
		}
		action, _ := b["event_action"].(string)
		dedup, _ := b["dedup_key"].(string)
		if action != "trigger" && dedup == "" {
			probs = append(probs, "dedup_key is required to "+action)
		}
		p, _ := b["payload"].(map[string]any)
		if action == "trigger" {
			if p == nil {
				probs = append(probs, "payload is required to trigger")
			}
			probs = append(probs, fields("payload.", p, map[string]string{
				"summary": "string:1024!", "source": "string!", "severity": "critical|error|warning|info!",
				"timestamp": "string", "component": "string", "group": "string", "class": "string", "custom_details": "object",
			})...)
			if ts, ok := p["timestamp"].(string); ok {
				if _, err := time.Parse(time.RFC3339, ts); err != nil {
					probs = append(probs, "payload.timestamp is not ISO 8601: "+ts)
				}
			}
		}
		if links, ok := b["links"].([]any); ok {
			for _, l := range links {
				lm, _ := l.(map[string]any)
				probs = append(probs, fields("links[].", lm, map[string]string{"href": "string!", "text": "string"})...)
			}
		}
		return oncallEvent{Action: action, DedupKey: dedup}, probs
	})
	return f
}

// newOpsgenieFake is a local Alert API that accepts requests with apiKey.
func newOpsgenieFake(t *testing.T, apiKey string) *oncallFake {
	f := &oncallFake{key: apiKey}
	f.serve(t, func(r *http.Request, b map[string]any) (oncallEvent, []string) {
		var probs []string
		if r.Header.Get("Authorization") != "GenieKey "+apiKey {
			probs = append(probs, "the Authorization header is not GenieKey and the integration's key")
		}
		if r.URL.Path == "/v2/alerts" && r.URL.RawQuery == "" {
			probs = append(probs, fields("", b, map[string]string{
				"message": "string:130!", "alias": "string:512", "description": "string:15000", "responders": "array",
				"visibleTo": "array", "actions": "array", "tags": "array", "details": "object", "entity": "string:512",
				"source": "string:100", "priority": "P1|P2|P3|P4|P5", "user": "string:100", "note": "string:25000",
			})...)
			if tags, ok := b["tags"].([]any); ok {
				if len(tags) > 20 {
					probs = append(probs, "more than 20 tags")
				}
				for _, tag := range tags {
					if s, ok := tag.(string); !ok || len(s) > 50 {
						probs = append(probs, fmt.Sprintf("tag %v", tag))
					}
				}
			}
			if d, ok := b["details"].(map[string]any); ok {
				for k, v := range d {
					if _, ok := v.(string); !ok {
						probs = append(probs, "details."+k+" is not a string")
					}
				}
			}
			alias, _ := b["alias"].(string)
			return oncallEvent{Action: "create", DedupKey: alias}, probs
		}
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v2/alerts/")
		id, isClose := strings.CutSuffix(rest, "/close")
		alias, err := url.PathUnescape(id)
		if !ok || !isClose || err != nil || alias == "" || strings.Contains(id, "/") {
			return oncallEvent{}, append(probs, "path "+r.URL.String())
		}
		if it := r.URL.Query().Get("identifierType"); it != "alias" {
			probs = append(probs, "identifierType "+it+", want alias for a dedup key")
		}
		probs = append(probs, fields("", b, map[string]string{"user": "string:100", "source": "string:100", "note": "string:25000"})...)
		return oncallEvent{Action: "close", DedupKey: alias}, probs
	})
	return f
}
