package app

import (
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/internal/config"
)

// TestNewSSOConfigErrors: a role map or a secret file that cannot work stops start-up as a
// configuration failure (its own exit code), naming the setting.
func TestNewSSOConfigErrors(t *testing.T) {
	base := map[string]string{
		"STAXKEYS_OIDC_ISSUER": "http://127.0.0.1:9", "STAXKEYS_OIDC_CLIENT_ID": "staxkeys",
		"STAXKEYS_OIDC_CLIENT_SECRET": "s3cret-value", "STAXKEYS_PUBLIC_URL": "http://127.0.0.1:8080",
		"STAXKEYS_OIDC_GROUPS_CLAIM": "groups", "STAXKEYS_OIDC_ROLE_MAP": "ops=admin",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for kk, vv := range base {
			m[kk] = vv
		}
		m[k] = v
		if k == "STAXKEYS_OIDC_CLIENT_SECRET_FILE" {
			delete(m, "STAXKEYS_OIDC_CLIENT_SECRET")
		}
		return m
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"works", base, ""},
		{"unknown role", with("STAXKEYS_OIDC_ROLE_MAP", "ops=root"), "STAXKEYS_OIDC_ROLE_MAP"},
		{"missing secret file", with("STAXKEYS_OIDC_CLIENT_SECRET_FILE", filepath.Join(t.TempDir(), "none")), "STAXKEYS_OIDC_CLIENT_SECRET_FILE"},
	} {
		cfg := config.Default()
		if err := config.Bind(flag.NewFlagSet("t", flag.ContinueOnError), &cfg, func(k string) string { return tt.env[k] }); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: Validate: %v", tt.name, err)
		}
		_, err := NewSSO(cfg)
		var f *Failure
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: NewSSO: %v", tt.name, err)
		case tt.want != "" && (!errors.As(err, &f) || f.Kind != Config || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: NewSSO = %v, want a configuration failure naming %s", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret-value") {
			t.Errorf("%s: the error holds the client secret", tt.name)
		}
	}
}
