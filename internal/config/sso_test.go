package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSOSettings: single sign-on is off by default with password login on; turning password
// login off needs SSO, and SSO needs a client, a secret, a public URL and a policy.
func TestSSOSettings(t *testing.T) {
	if d := Default(); d.OIDCIssuer != "" || d.OIDCJIT || !d.LocalLogin {
		t.Fatalf("defaults: issuer %q, jit %v, local login %v", d.OIDCIssuer, d.OIDCJIT, d.LocalLogin)
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	full := map[string]string{
		"STAXKEYS_OIDC_ISSUER": "http://127.0.0.1:9999", "STAXKEYS_OIDC_CLIENT_ID": "staxkeys",
		"STAXKEYS_OIDC_CLIENT_SECRET_FILE": secretFile, "STAXKEYS_PUBLIC_URL": "https://staxkeys.example.com",
		"STAXKEYS_OIDC_ALLOWED_DOMAINS": "example.com", "STAXKEYS_LOCAL_LOGIN": "false",
	}
	without := func(k string) map[string]string {
		m := map[string]string{}
		for kk, v := range full {
			if kk != k {
				m[kk] = v
			}
		}
		return m
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string // "" for valid
	}{
		{"complete", full, ""},
		{"password off without SSO", map[string]string{"STAXKEYS_LOCAL_LOGIN": "false"}, "STAXKEYS_LOCAL_LOGIN=false needs single sign-on"},
		{"no client id", without("STAXKEYS_OIDC_CLIENT_ID"), "STAXKEYS_OIDC_CLIENT_ID"},
		{"no secret", without("STAXKEYS_OIDC_CLIENT_SECRET_FILE"), "STAXKEYS_OIDC_CLIENT_SECRET"},
		{"no public URL", without("STAXKEYS_PUBLIC_URL"), "STAXKEYS_PUBLIC_URL"},
		{"no policy", without("STAXKEYS_OIDC_ALLOWED_DOMAINS"), "STAXKEYS_OIDC_ALLOWED_DOMAINS or STAXKEYS_OIDC_GROUPS_CLAIM"},
		{"bad issuer", map[string]string{"STAXKEYS_OIDC_ISSUER": "not a url"}, "STAXKEYS_OIDC_ISSUER must be"},
	} {
		cfg := Default()
		if err := Bind(flag.NewFlagSet("test", flag.ContinueOnError), &cfg, func(k string) string { return tt.env[k] }); err != nil {
			t.Fatalf("%s: Bind: %v", tt.name, err)
		}
		err := cfg.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Validate: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: Validate = %v, want an error saying %q", tt.name, err, tt.want)
		}
		if tt.want == "" {
			if sec, err := cfg.OIDCSecret(); err != nil || sec != "from-a-file" {
				t.Errorf("%s: OIDCSecret = %q, %v", tt.name, sec, err)
			}
		}
	}
}
