package config

import (
	"flag"
	"strings"
	"testing"
)

// TestPageConcurrency: STAXKEYS_PAGE_CONCURRENCY is read from the environment, 0 (automatic)
// by default, and a value out of range is refused naming the variable.
func TestPageConcurrency(t *testing.T) {
	if d := Default().PageConcurrency; d != 0 {
		t.Fatalf("default PageConcurrency %d, want 0 (automatic)", d)
	}
	for _, tt := range []struct {
		env     string
		want    int
		wantErr bool
	}{
		{"", 0, false},
		{"3", 3, false},
		{"1000", 1000, false},
		{"-1", 0, true},
		{"1001", 0, true},
	} {
		cfg := Default()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		getenv := func(k string) string {
			if k == "STAXKEYS_PAGE_CONCURRENCY" {
				return tt.env
			}
			return ""
		}
		if err := Bind(fs, &cfg, getenv); err != nil {
			t.Fatalf("%q: Bind: %v", tt.env, err)
		}
		err := cfg.Validate()
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "STAXKEYS_PAGE_CONCURRENCY") {
				t.Errorf("%q: Validate = %v, want an error naming STAXKEYS_PAGE_CONCURRENCY", tt.env, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: Validate: %v", tt.env, err)
		}
		if cfg.PageConcurrency != tt.want {
			t.Errorf("%q: PageConcurrency %d, want %d", tt.env, cfg.PageConcurrency, tt.want)
		}
	}
}
