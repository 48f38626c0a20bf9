package web_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/keys"
)

// TestFormsTakeDurationsInWords: the forms that take a period read words as well as Go's
// notation and show stored periods in words. Before, the key page's mute took only a date and
// time, and the alerts page read "2 hours 30 minutes" as an error.
func TestFormsTakeDurationsInWords(t *testing.T) {
	t.Run("mute until", func(t *testing.T) {
		e := newTestServer(t)
		c := e.LoggedIn(t)
		k, err := e.Vault.Add(context.Background(), keys.Input{Label: "billing", Email: "ops@acme.com", Key: "sk_live_DURATIONS_0123456789"})
		if err != nil {
			t.Fatal(err)
		}
		path := "/keys/" + strconv.FormatInt(k.ID, 10)
		page := c.Submit(path+"/mute", url.Values{"for": {"until"}, "until": {"in a bit"}}).Expect(422)
		if !page.Marked("until") || page.Find("#until-error").Text() == "" {
			t.Fatal("a bad period is not marked")
		}
		for in, want := range map[string]time.Duration{"2 hours 30 minutes": 150 * time.Minute, "1 day": 24 * time.Hour, "90m": 90 * time.Minute} {
			c.Submit(path+"/mute", url.Values{"for": {"until"}, "until": {in}}).ExpectRedirect(path)
			m, ok, err := e.DB.ActiveMute(context.Background(), k.ID, e.Clock.Now())
			if err != nil || !ok || !m.Until.Equal(e.Clock.Now().Add(want)) {
				t.Errorf("%q: muted until %v (%v, %v), want now + %v", in, m.Until, ok, err, want)
			}
		}
	})
	t.Run("reminder period", func(t *testing.T) {
		e := newCheckedEnv(t, checkedOptions{Alerts: true})
		c := e.LoggedIn(t)
		form := url.Values{"revoked_reminder": {"2 hours 30 minutes"}, "rotation_days": {"0"}}
		c.Submit("/settings/notifications", form).ExpectRedirect("/settings/notifications")
		if got := c.Get("/settings/notifications").Expect(200).Value("revoked_reminder"); got != "2 hours 30 minutes" {
			t.Errorf("the reminder shows as %q", got)
		}
		form.Set("revoked_reminder", "36h")
		c.Submit("/settings/notifications", form).ExpectRedirect("/settings/notifications")
		if got := c.Get("/settings/notifications").Expect(200).Value("revoked_reminder"); got != "1 day 12 hours" {
			t.Errorf("36h shows as %q", got)
		}
	})
}
