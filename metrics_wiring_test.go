package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// TestMetricsWiring: the program as shipped feeds its metrics from the checker and the alert
// worker. A key that Stax.ai calls revoked shows in the verdict state set and its check times,
// and the alert about it, failing at a webhook receiver on 127.0.0.1, counts as a failed try
// on the webhook channel and sits in the queue gauge.
func TestMetricsWiring(t *testing.T) {
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	fake.Set("alpha@acme.com", cliKeys["alpha@acme.com"], staxfake.Revoked)
	var hooks atomic.Int64
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks.Add(1)
		http.Error(w, "receiver down", http.StatusBadGateway)
	}))
	t.Cleanup(recv.Close)

	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": fake.URL(), "STAXKEYS_CHECK_RATE": "0",
		"STAXKEYS_WEBHOOK_URL": recv.URL + "/hook", "STAXKEYS_WEBHOOK_SECRET": "a-webhook-secret-of-32-characters",
		"STAXKEYS_ALERT_ALLOW": "127.0.0.1", // the receiver's loopback address, refused by default
		// A verdict alert waits the grouping window (30s) before its first try; this test is
		// about the metrics, so the alert goes out at once.
		"STAXKEYS_ALERT_GROUP_WINDOW": "0"}
	srv := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	base := srv.waitLog(listening)[1]
	out, _, err := command(t, vars, "", "token", "create", "--name", "wiring")
	if err != nil {
		t.Fatal(err)
	}
	id := itoa(addViaAPI(t, base, lastLine(t, out), "alpha@acme.com"))

	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^staxkeys_key_verdict\{key_id="` + id + `",state="revoked"\} 1$`),
		regexp.MustCompile(`(?m)^staxkeys_key_last_decided_check_timestamp_seconds\{key_id="` + id + `"\} [1-9]`),
		regexp.MustCompile(`(?m)^staxkeys_delivery_failures_total\{channel="webhook"\} [1-9]`),
		regexp.MustCompile(`(?m)^staxkeys_deliveries\{channel="webhook",status="pending"\} 1$`),
		regexp.MustCompile(`(?m)^staxkeys_build_info\{goversion="go[^"]+",revision="[^"]+",version="[^"]+"\} 1$`),
	}
	var body string
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body = string(b)
		missing := false
		for _, re := range want {
			missing = missing || !re.MatchString(body)
		}
		if !missing {
			break
		}
	}
	for _, re := range want {
		if !re.MatchString(body) {
			t.Errorf("no %s in the scrape (receiver hit %d times):\n%s", re, hooks.Load(), grepStaxkeys(body))
		}
	}
}

func grepStaxkeys(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "staxkeys_key") || strings.HasPrefix(l, "staxkeys_deliver") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
