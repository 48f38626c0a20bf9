package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// TestChannelsPageInBrowser: an admin adds a service channel (ntfy, on a local receiver) in
// the browser, after a bad URL comes back as a field error; routes it to revoked and denied
// keys tagged billing; sends a test, which arrives; and the page stays free of axe violations
// in light, dark and at phone width. It saves the channels page's screenshots.
func TestChannelsPageInBrowser(t *testing.T) {
	exe := findBrowser(t)
	var mu sync.Mutex
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"1"}`))
	}))
	t.Cleanup(rcv.Close)
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	base, _ := startProgram(t, map[string]string{
		"STAXKEYS_DATA_DIR":       t.TempDir(),
		"STAXKEYS_API_URL":        fake.URL(),
		"STAXKEYS_CHECK_INTERVAL": "2s",
		"STAXKEYS_CHECK_RATE":     "0",
		"STAXKEYS_ALERT_ALLOW":    "127.0.0.1",
		"STAXKEYS_PUBLIC_URL":     "https://staxkeys.example.com",
	})
	b := startBrowser(t, exe, base)
	b.open("/", "#password2")
	b.fill("fill the setup form", "#email", adminEmail, "#password", adminPassword, "#password2", adminPassword)
	b.submit("create the first admin", `[data-testid="setup-form"] button[type="submit"]`)
	check := func(what string) {
		t.Helper()
		for _, v := range allViews {
			b.setView(v)
			if vs := b.axeViolations(); len(vs) > 0 {
				t.Errorf("%s in %s: %d axe violations:\n%s", what, v.name, len(vs), strings.Join(vs, "\n"))
			}
		}
		b.setView(desktopLight)
	}

	b.open("/settings/notifications", `[data-testid="channels-link"]`)
	b.submit("go to the channels", `[data-testid="channels-link"] a`)
	b.waitJS("the channels page", `document.querySelector('[data-testid="no-channels"]') !== null`)
	check("/settings/channels, empty")

	const secret = "billing-alerts-7f3e"
	host := strings.TrimPrefix(rcv.URL, "http://")
	b.fill("a bad URL", "#add-name", "Billing team", "#add-url", "nosuch://"+secret+"@example.com", "#add-password", adminPassword)
	b.submit("add the bad channel", `[data-testid="add-channel-submit"]`)
	if msg := b.text(`[data-testid="add-url-error"]`); !strings.Contains(msg, "does not send to") {
		t.Errorf("bad URL error %q", msg)
	}
	if b.eval(`document.documentElement.outerHTML.includes("` + secret + `")`) {
		t.Error("the failed form shows the URL back")
	}
	check("/settings/channels with errors")

	b.fill("the ntfy channel", "#add-name", "Billing team", "#add-url", "ntfy://"+host+"/"+secret+"?scheme=http")
	b.submit("add the channel", `[data-testid="add-channel-submit"]`)
	if f := b.text(`[data-testid="flash"]`); !strings.Contains(f, "Channel Billing team added") {
		t.Fatalf("flash %q", f)
	}
	b.fill("a Discord channel", "#add-name", "On-call Discord", "#add-url", "discord://webhooktoken0123@1234567890")
	b.submit("add Discord", `[data-testid="add-channel-submit"]`)
	if b.eval(`document.documentElement.outerHTML.includes("` + secret + `") || document.documentElement.outerHTML.includes("webhooktoken0123")`) {
		t.Error("the page shows a URL's secrets")
	}

	row := `[data-testid="channel-row"][data-name="Billing team"]`
	id := value(b, "the channel's test button", chromedp.Evaluate[string](`document.querySelector('`+row+` [data-testid^="test-channel-"]').dataset.testid.replace("test-channel-", "")`))
	form := `[data-testid="route-channel-` + id + `"]`
	b.do("route it", chromedp.Click(chromedp.CSS(`#route-channel-`+id+`-revoked`)), chromedp.Click(chromedp.CSS(`#route-channel-`+id+`-denied`)))
	b.fill("tag it", `#route-channel-`+id+`-tags`, "billing")
	b.submit("save the route", form+` button[type="submit"]`)
	if h := b.text(row + ` [data-testid="channel-hears"]`); h != "revoked, denied; only keys tagged billing" {
		t.Errorf("hears %q", h)
	}
	b.submit("send a test", row+` [data-testid="test-channel-`+id+`"]`)
	if f := b.text(`[data-testid="flash"]`); !strings.Contains(f, "Test alert sent") {
		t.Errorf("flash after the test %q", f)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != "POST /"+secret {
		t.Errorf("the receiver got %v", got)
	}
	mu.Unlock()
	check("/settings/channels with channels")
	b.shoot("channels", desktopTallLight, desktopTallDark, phoneLight)
	if p := b.consoleProblems(); len(p) > 0 {
		t.Errorf("console: %v", p)
	}
}
