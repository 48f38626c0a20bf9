package config_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/internal/config"
)

// load fills a Config from env as a command would, and validates it.
func load(t *testing.T, env map[string]string) (config.Config, error) {
	t.Helper()
	cfg := config.Default()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := config.Bind(fs, &cfg, func(k string) string { return env[k] }); err != nil {
		return cfg, err
	}
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return cfg, cfg.Validate()
}

// TestAlertGroupingSettings: the grouping window defaults to 30s, 0 turns it off, and a value
// that cannot work is refused naming the variable.
func TestAlertGroupingSettings(t *testing.T) {
	cfg, err := load(t, nil)
	if err != nil || cfg.AlertGroupWindow != 30*time.Second || cfg.PublicURL != "" {
		t.Fatalf("defaults: window %s, public URL %q, %v", cfg.AlertGroupWindow, cfg.PublicURL, err)
	}
	for _, tt := range []struct {
		value string
		want  time.Duration
		err   string
	}{
		{"0", 0, ""},
		{"2m", 2 * time.Minute, ""},
		{"10m", 10 * time.Minute, ""},
		{"11m", 0, "STAXKEYS_ALERT_GROUP_WINDOW must be between 0 (no grouping) and 10m0s"},
		{"-1s", 0, "STAXKEYS_ALERT_GROUP_WINDOW must be between 0"},
		{"thirty", 0, `STAXKEYS_ALERT_GROUP_WINDOW: want a Go duration such as 15m or 10s, not "thirty"`},
	} {
		cfg, err := load(t, map[string]string{"STAXKEYS_ALERT_GROUP_WINDOW": tt.value})
		switch {
		case tt.err == "" && (err != nil || cfg.AlertGroupWindow != tt.want):
			t.Errorf("%q: window %s, %v; want %s", tt.value, cfg.AlertGroupWindow, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "config: ")):
			t.Errorf("%q: error %v, want one containing %q", tt.value, err, tt.err)
		}
	}
}

// TestPublicURLSetting: an absolute http(s) URL, stored without its trailing slash; anything
// else is refused with an error naming the variable, without repeating the value.
func TestPublicURLSetting(t *testing.T) {
	for _, tt := range []struct {
		value, want, err string
	}{
		{"https://staxkeys.example.com", "https://staxkeys.example.com", ""},
		{"https://staxkeys.example.com/", "https://staxkeys.example.com", ""},
		{"http://10.0.0.5:8080/staxkeys//", "http://10.0.0.5:8080/staxkeys", ""},
		{"staxkeys.example.com", "", "must be an absolute http(s) URL"},
		{"/keys", "", "must be an absolute http(s) URL"},
		{"ftp://staxkeys.example.com", "", "must be an absolute http(s) URL"},
		{"https:opaque", "", "must be an absolute http(s) URL"},
		{"https://admin:hunter2@staxkeys.example.com", "", "must not hold a user name or password"},
		{"https://staxkeys.example.com/?x=1", "", "must not have a query or a fragment"},
		{"https://staxkeys.example.com/?", "", "must not have a query or a fragment"},
		{"https://staxkeys.example.com/#top", "", "must not have a query or a fragment"},
	} {
		cfg, err := load(t, map[string]string{"STAXKEYS_PUBLIC_URL": tt.value})
		if tt.err == "" {
			if err != nil || cfg.PublicURL != tt.want {
				t.Errorf("%q: public URL %q, %v; want %q", tt.value, cfg.PublicURL, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "config: STAXKEYS_PUBLIC_URL "+tt.err) {
			t.Errorf("%q: error %v, want %q", tt.value, err, tt.err)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error repeats the password: %v", tt.value, err)
		}
	}
}
