// Package config turns command-line flags and STAXKEYS_* environment variables into one Config,
// with every default in one place.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Config is everything staxkeys can be told. It is filled once at start-up and passed down;
// no package reads the environment itself.
type Config struct {
	Addr          string
	DataDir       string
	MasterKey     string // base64; a secret, never logged
	MasterKeyFile string
	CookieSecure  bool
	LogFormat     string // text or json
	LogLevel      string // debug, info, warn, error

	APIURL           string
	ProbePath        string
	CheckTimeout     time.Duration
	CheckInterval    time.Duration
	CheckConcurrency int
	// PageConcurrency bounds the page and API handlers running at once (0: automatic).
	PageConcurrency int
	CheckRate       float64 // requests per second; 0 means no cap
	CheckConfirm    int
	// CheckSuspectHold is how long many keys' simultaneous change is held before it is
	// asked again (a suspected upstream-wide change).
	CheckSuspectHold time.Duration
	// CheckMaxRetryAfter caps Stax.ai's Retry-After.
	CheckMaxRetryAfter time.Duration
	HistoryDays        int
	CheckerEnabled     bool

	MetricsToken string // a secret, never logged

	// Sessions: an idle session ends after SessionIdle, any session SessionMax after login.
	SessionIdle time.Duration
	SessionMax  time.Duration

	// ShutdownDrain is how long serve answers /readyz with 503 after SIGTERM, still serving,
	// before it stops listening: time for Kubernetes or a load balancer to stop routing to it.
	ShutdownDrain time.Duration

	// Alerts (package notify). Settings saved on the alerts page override these.
	WebhookURL    string
	WebhookSecret string // a secret, never logged
	// WebhookLegacySignature also sends the deprecated X-Staxkeys-* signature headers.
	WebhookLegacySignature bool
	SlackWebhookURL        string // a credential, never logged
	SMTPHost               string
	SMTPPort               int
	SMTPUsername           string
	SMTPPassword           string // a secret, never logged
	SMTPFrom               string
	SMTPTo                 string // comma-separated addresses
	// On-call incidents: PagerDuty Events API v2 and Opsgenie; "" URLs take the providers' own.
	PagerDutyRoutingKey  string // a secret, never logged
	PagerDutyURL         string
	OpsgenieAPIKey       string // a secret, never logged
	OpsgenieURL          string
	RevokedReminder      time.Duration // 0 turns the reminder off
	RotationReminderDays int           // 0 turns the reminder off
	AlertGroupWindow     time.Duration // verdict changes within it go out as one message; 0: each alone
	PublicURL            string        // where people reach staxkeys, for links in alerts; "" for none
	// AlertAllow lists the hosts and CIDRs alerts may reach although they are loopback,
	// private, link-local, unique-local or multicast (comma-separated); notify parses it.
	AlertAllow string

	// Single sign-on with OpenID Connect (package sso), off while OIDCIssuer is empty.
	OIDCIssuer           string
	OIDCClientID         string
	OIDCClientSecret     string // a secret, never logged
	OIDCClientSecretFile string
	OIDCAllowedDomains   string // comma-separated email domains
	OIDCGroupsClaim      string // the ID token or userinfo claim listing the user's groups
	OIDCRoleMap          string // group=role pairs, comma-separated
	OIDCDefaultRole      string // the role of an allowed user when no groups claim is configured
	OIDCJIT              bool   // create an account at a first SSO sign-in
	// LocalLogin offers email and password on the login page; turning it off needs SSO.
	LocalLogin bool
}

// Default returns the configuration staxkeys runs with when told nothing: safe for one machine.
func Default() Config {
	return Config{
		Addr:               "127.0.0.1:8080",
		DataDir:            "./data",
		LogFormat:          "text",
		LogLevel:           "info",
		APIURL:             "https://api.stax.ai",
		ProbePath:          "/",
		CheckTimeout:       10 * time.Second,
		CheckInterval:      15 * time.Minute,
		CheckConcurrency:   4,
		CheckRate:          2,
		CheckConfirm:       2,
		CheckSuspectHold:   10 * time.Minute,
		CheckMaxRetryAfter: time.Hour,
		HistoryDays:        90,
		CheckerEnabled:     true,
		SMTPPort:           587,
		SessionIdle:        30 * time.Minute,
		SessionMax:         12 * time.Hour,
		RevokedReminder:    24 * time.Hour,
		ShutdownDrain:      5 * time.Second,
		AlertGroupWindow:   30 * time.Second,
		OIDCDefaultRole:    "viewer",
		LocalLogin:         true,
	}
}

// setting describes one knob: its flag, its variable and how to parse it. Keeping them in one
// table makes the help text, the flags and the environment agree by construction.
type setting struct {
	flag, env, usage string
	secret           bool
	value            func(c *Config) flag.Value
}

func settings() []setting {
	return []setting{
		{"addr", "STAXKEYS_ADDR", "address to listen on (host:port)", false, func(c *Config) flag.Value { return (*stringValue)(&c.Addr) }},
		{"data-dir", "STAXKEYS_DATA_DIR", "directory for the database and a generated master key", false, func(c *Config) flag.Value { return (*stringValue)(&c.DataDir) }},
		{"master-key", "STAXKEYS_MASTER_KEY", "master key, base64 of 32 random bytes (prefer the variable or a file)", true, func(c *Config) flag.Value { return (*stringValue)(&c.MasterKey) }},
		{"master-key-file", "STAXKEYS_MASTER_KEY_FILE", "file holding the base64 master key (mode 0600)", false, func(c *Config) flag.Value { return (*stringValue)(&c.MasterKeyFile) }},
		{"cookie-secure", "STAXKEYS_COOKIE_SECURE", "mark cookies Secure and send HSTS (set true behind HTTPS)", false, func(c *Config) flag.Value { return (*boolValue)(&c.CookieSecure) }},
		{"log-format", "STAXKEYS_LOG_FORMAT", "log format: text or json", false, func(c *Config) flag.Value { return (*stringValue)(&c.LogFormat) }},
		{"log-level", "STAXKEYS_LOG_LEVEL", "log level: debug, info, warn or error", false, func(c *Config) flag.Value { return (*stringValue)(&c.LogLevel) }},
		{"api-url", "STAXKEYS_API_URL", "base URL of the Stax.ai API", false, func(c *Config) flag.Value { return (*stringValue)(&c.APIURL) }},
		{"probe-path", "STAXKEYS_PROBE_PATH", "path requested to check a key", false, func(c *Config) flag.Value { return (*stringValue)(&c.ProbePath) }},
		{"check-timeout", "STAXKEYS_CHECK_TIMEOUT", "timeout of one check (Go duration)", false, func(c *Config) flag.Value { return (*durationValue)(&c.CheckTimeout) }},
		{"check-interval", "STAXKEYS_CHECK_INTERVAL", "how often every key is checked (Go duration)", false, func(c *Config) flag.Value { return (*durationValue)(&c.CheckInterval) }},
		{"check-concurrency", "STAXKEYS_CHECK_CONCURRENCY", "checks in flight at once", false, func(c *Config) flag.Value { return (*intValue)(&c.CheckConcurrency) }},
		{"check-rate", "STAXKEYS_CHECK_RATE", "checks per second at most, 0 for no cap", false, func(c *Config) flag.Value { return (*floatValue)(&c.CheckRate) }},
		{"check-confirm", "STAXKEYS_CHECK_CONFIRM", "agreeing answers in a row needed to change a verdict", false, func(c *Config) flag.Value { return (*intValue)(&c.CheckConfirm) }},
		{"check-suspect-hold", "STAXKEYS_CHECK_SUSPECT_HOLD", "how long a change seen on many keys at once is held before it is asked again (Go duration)", false, func(c *Config) flag.Value { return (*durationValue)(&c.CheckSuspectHold) }},
		{"check-max-retry-after", "STAXKEYS_CHECK_MAX_RETRY_AFTER", "longest wait a 429's Retry-After can impose (Go duration)", false, func(c *Config) flag.Value { return (*durationValue)(&c.CheckMaxRetryAfter) }},
		{"history-days", "STAXKEYS_HISTORY_DAYS", "days of raw check history kept (verdict changes are kept forever)", false, func(c *Config) flag.Value { return (*intValue)(&c.HistoryDays) }},
		{"page-concurrency", "STAXKEYS_PAGE_CONCURRENCY", "page and API reads (GET) handled at once, the rest wait (0: one per core), so page load does not crowd out the checker", false, func(c *Config) flag.Value { return (*intValue)(&c.PageConcurrency) }},
		{"checker", "STAXKEYS_CHECKER", "run the background checker", false, func(c *Config) flag.Value { return (*boolValue)(&c.CheckerEnabled) }},
		{"shutdown-drain", "STAXKEYS_SHUTDOWN_DRAIN", "after SIGTERM, answer /readyz 503 this long before closing the listener (Go duration, 0 off)", false, func(c *Config) flag.Value { return (*durationValue)(&c.ShutdownDrain) }},
		{"metrics-token", "STAXKEYS_METRICS_TOKEN", "bearer token required by /metrics (empty: open)", true, func(c *Config) flag.Value { return (*stringValue)(&c.MetricsToken) }},
		{"session-idle", "STAXKEYS_SESSION_IDLE", "end a session unused for this long (Go duration; the live dashboard is not use)", false, func(c *Config) flag.Value { return (*durationValue)(&c.SessionIdle) }},
		{"session-max", "STAXKEYS_SESSION_MAX", "end any session this long after its login (Go duration)", false, func(c *Config) flag.Value { return (*durationValue)(&c.SessionMax) }},
		{"webhook-url", "STAXKEYS_WEBHOOK_URL", "alerts: generic JSON webhook URL (http or https)", false, func(c *Config) flag.Value { return (*stringValue)(&c.WebhookURL) }},
		{"webhook-secret", "STAXKEYS_WEBHOOK_SECRET", "alerts: secret signing webhook bodies (HMAC-SHA256, at least 16 characters)", true, func(c *Config) flag.Value { return (*stringValue)(&c.WebhookSecret) }},
		{"webhook-legacy-signature", "STAXKEYS_WEBHOOK_LEGACY_SIGNATURE", "alerts: also send the deprecated X-Staxkeys-* signature headers beside the Standard Webhooks ones (for one release)", false, func(c *Config) flag.Value { return (*boolValue)(&c.WebhookLegacySignature) }},
		{"slack-webhook-url", "STAXKEYS_SLACK_WEBHOOK_URL", "alerts: Slack-compatible incoming webhook URL", true, func(c *Config) flag.Value { return (*stringValue)(&c.SlackWebhookURL) }},
		{"smtp-host", "STAXKEYS_SMTP_HOST", "alerts: SMTP server for email (empty: no email)", false, func(c *Config) flag.Value { return (*stringValue)(&c.SMTPHost) }},
		{"smtp-port", "STAXKEYS_SMTP_PORT", "alerts: SMTP port (465 for implicit TLS; otherwise STARTTLS when offered)", false, func(c *Config) flag.Value { return (*intValue)(&c.SMTPPort) }},
		{"smtp-username", "STAXKEYS_SMTP_USERNAME", "alerts: SMTP username (PLAIN authentication)", false, func(c *Config) flag.Value { return (*stringValue)(&c.SMTPUsername) }},
		{"smtp-password", "STAXKEYS_SMTP_PASSWORD", "alerts: SMTP password", true, func(c *Config) flag.Value { return (*stringValue)(&c.SMTPPassword) }},
		{"smtp-from", "STAXKEYS_SMTP_FROM", "alerts: sender address of alert emails", false, func(c *Config) flag.Value { return (*stringValue)(&c.SMTPFrom) }},
		{"smtp-to", "STAXKEYS_SMTP_TO", "alerts: recipients of alert emails, comma-separated", false, func(c *Config) flag.Value { return (*stringValue)(&c.SMTPTo) }},
		{"pagerduty-routing-key", "STAXKEYS_PAGERDUTY_ROUTING_KEY", "alerts: PagerDuty Events API v2 routing (integration) key: incidents for revoked or denied keys and outages", true, func(c *Config) flag.Value { return (*stringValue)(&c.PagerDutyRoutingKey) }},
		{"pagerduty-url", "STAXKEYS_PAGERDUTY_URL", "alerts: PagerDuty Events API base URL (empty: https://events.pagerduty.com)", false, func(c *Config) flag.Value { return (*stringValue)(&c.PagerDutyURL) }},
		{"opsgenie-api-key", "STAXKEYS_OPSGENIE_API_KEY", "alerts: Opsgenie API integration key: alerts for revoked or denied keys and outages", true, func(c *Config) flag.Value { return (*stringValue)(&c.OpsgenieAPIKey) }},
		{"opsgenie-url", "STAXKEYS_OPSGENIE_URL", "alerts: Opsgenie API base URL (empty: https://api.opsgenie.com; EU: https://api.eu.opsgenie.com)", false, func(c *Config) flag.Value { return (*stringValue)(&c.OpsgenieURL) }},
		{"revoked-reminder", "STAXKEYS_REVOKED_REMINDER", "alerts: remind once per this period while a key stays revoked or denied (Go duration, 0 off)", false, func(c *Config) flag.Value { return (*durationValue)(&c.RevokedReminder) }},
		{"rotation-reminder-days", "STAXKEYS_ROTATION_REMINDER_DAYS", "alerts: remind to rotate a key this many days after it was set (0 off)", false, func(c *Config) flag.Value { return (*intValue)(&c.RotationReminderDays) }},
		{"alert-group-window", "STAXKEYS_ALERT_GROUP_WINDOW", "alerts: verdict changes confirmed within this window go out as one message per channel (Go duration, 0 off)", false, func(c *Config) flag.Value { return (*durationValue)(&c.AlertGroupWindow) }},
		{"public-url", "STAXKEYS_PUBLIC_URL", "URL people reach staxkeys at (e.g. https://staxkeys.example.com); alerts link to each key's page", false, func(c *Config) flag.Value { return (*publicURLValue)(&c.PublicURL) }},
		{"alert-allow", "STAXKEYS_ALERT_ALLOW", "alerts: internal hosts or CIDRs alerts may reach, comma-separated (loopback and private addresses are refused otherwise)", false, func(c *Config) flag.Value { return (*stringValue)(&c.AlertAllow) }},
		{"oidc-issuer", "STAXKEYS_OIDC_ISSUER", "SSO: OpenID Connect issuer URL (empty: no SSO)", false, func(c *Config) flag.Value { return (*stringValue)(&c.OIDCIssuer) }},
		{"oidc-client-id", "STAXKEYS_OIDC_CLIENT_ID", "SSO: client id registered at the provider", false, func(c *Config) flag.Value { return (*stringValue)(&c.OIDCClientID) }},
		{"oidc-client-secret", "STAXKEYS_OIDC_CLIENT_SECRET", "SSO: client secret (prefer the variable or a file)", true, func(c *Config) flag.Value { return (*stringValue)(&c.OIDCClientSecret) }},
		{"oidc-client-secret-file", "STAXKEYS_OIDC_CLIENT_SECRET_FILE", "SSO: file holding the client secret", false, func(c *Config) flag.Value { return (*stringValue)(&c.OIDCClientSecretFile) }},
		{"oidc-allowed-domains", "STAXKEYS_OIDC_ALLOWED_DOMAINS", "SSO: email domains allowed to sign in, comma-separated", false, func(c *Config) flag.Value { return (*stringValue)(&c.OIDCAllowedDomains) }},
		{"oidc-groups-claim", "STAXKEYS_OIDC_GROUPS_CLAIM", "SSO: claim listing the user's groups; when set, only groups in the role map let in", false, func(c *Config) flag.Value { return (*stringValue)(&c.OIDCGroupsClaim) }},
		{"oidc-role-map", "STAXKEYS_OIDC_ROLE_MAP", "SSO: group=role pairs, comma-separated (roles: viewer, editor, admin)", false, func(c *Config) flag.Value { return (*stringValue)(&c.OIDCRoleMap) }},
		{"oidc-default-role", "STAXKEYS_OIDC_DEFAULT_ROLE", "SSO: role of an allowed user when no groups claim is set", false, func(c *Config) flag.Value { return (*stringValue)(&c.OIDCDefaultRole) }},
		{"oidc-jit", "STAXKEYS_OIDC_JIT", "SSO: create an account at a first sign-in (else only existing accounts, matched by verified email)", false, func(c *Config) flag.Value { return (*boolValue)(&c.OIDCJIT) }},
		{"local-login", "STAXKEYS_LOCAL_LOGIN", "offer email and password login (false needs SSO; `staxkeys admin` commands stay the recovery)", false, func(c *Config) flag.Value { return (*boolValue)(&c.LocalLogin) }},
	}
}

// Bind applies the environment to cfg and registers every setting as a flag on fs, so each
// subcommand accepts the same settings beside its own flags. Flags parsed later win.
func Bind(fs *flag.FlagSet, cfg *Config, getenv func(string) string) error {
	for _, s := range settings() {
		v := s.value(cfg)
		if env := getenv(s.env); env != "" {
			if err := v.Set(env); err != nil {
				return fmt.Errorf("config: %s: %w", s.env, err)
			}
		}
		fs.Var(v, s.flag, s.usage)
	}
	return nil
}

// PrintHelp writes every setting with its flag, variable and default.
func PrintHelp(out io.Writer, name string) {
	def := Default()
	fmt.Fprintf(out, "Settings of %s (flags override environment variables):\n\n", name)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  FLAG\tVARIABLE\tDEFAULT\tMEANING")
	for _, s := range settings() {
		d := s.value(&def).String()
		if s.secret || d == "" {
			d = "-"
		}
		fmt.Fprintf(tw, "  --%s\t%s\t%s\t%s\n", s.flag, s.env, d, s.usage)
	}
	tw.Flush()
}

// Validate reports the first setting that cannot work, naming it.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("config: STAXKEYS_ADDR must not be empty")
	case c.DataDir == "":
		return errors.New("config: STAXKEYS_DATA_DIR must not be empty")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("config: STAXKEYS_LOG_FORMAT must be text or json, not %q", c.LogFormat)
	case !oneOf(c.LogLevel, "debug", "info", "warn", "error"):
		return fmt.Errorf("config: STAXKEYS_LOG_LEVEL must be debug, info, warn or error, not %q", c.LogLevel)
	case c.CheckTimeout <= 0:
		return errors.New("config: STAXKEYS_CHECK_TIMEOUT must be positive")
	case c.CheckInterval < time.Second:
		return errors.New("config: STAXKEYS_CHECK_INTERVAL must be at least 1s")
	case c.CheckConcurrency < 1 || c.CheckConcurrency > 1000:
		return errors.New("config: STAXKEYS_CHECK_CONCURRENCY must be between 1 and 1000")
	case c.CheckRate < 0:
		return errors.New("config: STAXKEYS_CHECK_RATE must be 0 (no cap) or positive")
	case c.CheckSuspectHold < time.Second || c.CheckSuspectHold > 24*time.Hour:
		return errors.New("config: STAXKEYS_CHECK_SUSPECT_HOLD must be between 1s and 24h")
	case c.CheckMaxRetryAfter < time.Second || c.CheckMaxRetryAfter > 24*time.Hour:
		return errors.New("config: STAXKEYS_CHECK_MAX_RETRY_AFTER must be between 1s and 24h")
	case c.PageConcurrency < 0 || c.PageConcurrency > 1000:
		return errors.New("config: STAXKEYS_PAGE_CONCURRENCY must be between 0 (automatic) and 1000")
	case c.CheckConfirm < 1 || c.CheckConfirm > 10:
		return errors.New("config: STAXKEYS_CHECK_CONFIRM must be between 1 and 10")
	case c.HistoryDays < 1:
		return errors.New("config: STAXKEYS_HISTORY_DAYS must be at least 1")
	case c.ShutdownDrain < 0 || c.ShutdownDrain > 5*time.Minute:
		return errors.New("config: STAXKEYS_SHUTDOWN_DRAIN must be between 0 (off) and 5m")
	case !strings.HasPrefix(c.ProbePath, "/"):
		return errors.New("config: STAXKEYS_PROBE_PATH must start with /")
	case c.SessionIdle < time.Minute:
		return errors.New("config: STAXKEYS_SESSION_IDLE must be at least 1m")
	case c.SessionMax < c.SessionIdle:
		return errors.New("config: STAXKEYS_SESSION_MAX must be at least STAXKEYS_SESSION_IDLE")
	}
	u, err := url.Parse(c.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("config: STAXKEYS_API_URL must be an absolute http(s) URL")
	}
	if err := c.validateSSO(); err != nil {
		return err
	}
	return c.validateAlerts()
}

// validateSSO checks the single sign-on settings' shape; package sso parses the role map
// when the server starts.
func (c Config) validateSSO() error {
	if c.OIDCIssuer == "" {
		if !c.LocalLogin {
			return errors.New("config: STAXKEYS_LOCAL_LOGIN=false needs single sign-on (STAXKEYS_OIDC_ISSUER): nobody could log in")
		}
		return nil
	}
	u, err := url.Parse(c.OIDCIssuer)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return errors.New("config: STAXKEYS_OIDC_ISSUER must be an absolute http(s) URL")
	case c.OIDCClientID == "":
		return errors.New("config: STAXKEYS_OIDC_ISSUER needs STAXKEYS_OIDC_CLIENT_ID")
	case c.OIDCClientSecret == "" && c.OIDCClientSecretFile == "":
		return errors.New("config: STAXKEYS_OIDC_ISSUER needs STAXKEYS_OIDC_CLIENT_SECRET or STAXKEYS_OIDC_CLIENT_SECRET_FILE")
	case c.OIDCClientSecret != "" && c.OIDCClientSecretFile != "":
		return errors.New("config: set STAXKEYS_OIDC_CLIENT_SECRET or STAXKEYS_OIDC_CLIENT_SECRET_FILE, not both")
	case c.PublicURL == "":
		return errors.New("config: STAXKEYS_OIDC_ISSUER needs STAXKEYS_PUBLIC_URL: the provider sends people back to <public URL>/auth/oidc/callback")
	case strings.TrimSpace(c.OIDCAllowedDomains) == "" && c.OIDCGroupsClaim == "":
		// Without either, anyone with an account at the provider (a public one, say) would pass.
		return errors.New("config: STAXKEYS_OIDC_ISSUER needs STAXKEYS_OIDC_ALLOWED_DOMAINS or STAXKEYS_OIDC_GROUPS_CLAIM, or everyone the provider knows could sign in")
	}
	return nil
}

// OIDCSecret is the SSO client secret, from its variable or its file.
func (c Config) OIDCSecret() (string, error) {
	if c.OIDCClientSecretFile == "" {
		return c.OIDCClientSecret, nil
	}
	b, err := os.ReadFile(c.OIDCClientSecretFile)
	if err != nil {
		return "", fmt.Errorf("config: STAXKEYS_OIDC_CLIENT_SECRET_FILE: %w", err)
	}
	sec := strings.TrimSpace(string(b))
	if sec == "" {
		return "", errors.New("config: STAXKEYS_OIDC_CLIENT_SECRET_FILE is empty")
	}
	return sec, nil
}

// validateAlerts checks the alert settings' shape; package notify checks the rest (addresses,
// lengths) when the server starts.
func (c Config) validateAlerts() error {
	for _, u := range []struct{ env, value string }{
		{"STAXKEYS_WEBHOOK_URL", c.WebhookURL}, {"STAXKEYS_SLACK_WEBHOOK_URL", c.SlackWebhookURL},
	} {
		if u.value == "" {
			continue
		}
		p, err := url.Parse(u.value)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			// The value is not repeated: a Slack URL is a credential.
			return fmt.Errorf("config: %s must be an absolute http(s) URL", u.env)
		}
	}
	switch {
	case c.SMTPPort < 1 || c.SMTPPort > 65535:
		return errors.New("config: STAXKEYS_SMTP_PORT must be between 1 and 65535")
	case c.SMTPHost != "" && (c.SMTPFrom == "" || strings.TrimSpace(c.SMTPTo) == ""):
		return errors.New("config: STAXKEYS_SMTP_HOST needs STAXKEYS_SMTP_FROM and STAXKEYS_SMTP_TO")
	case c.RevokedReminder < 0 || (c.RevokedReminder > 0 && c.RevokedReminder < time.Hour):
		return errors.New("config: STAXKEYS_REVOKED_REMINDER must be 0 (off) or at least 1h")
	case c.RotationReminderDays < 0 || c.RotationReminderDays > 3650:
		return errors.New("config: STAXKEYS_ROTATION_REMINDER_DAYS must be between 0 (off) and 3650")
	case c.AlertGroupWindow < 0 || c.AlertGroupWindow > maxAlertGroupWindow:
		return fmt.Errorf("config: STAXKEYS_ALERT_GROUP_WINDOW must be between 0 (no grouping) and %s", maxAlertGroupWindow)
	}
	return validatePublicURL(c.PublicURL)
}

// maxAlertGroupWindow bounds the grouping window: every verdict change waits that long, and an
// alert held longer stops being one.
const maxAlertGroupWindow = 10 * time.Minute

// validatePublicURL accepts "" or an absolute http(s) URL without a query, fragment or
// credentials: alerts append /keys/<id> to it, and whatever it holds is shown to every
// recipient.
func validatePublicURL(v string) error {
	if v == "" {
		return nil
	}
	const env = "STAXKEYS_PUBLIC_URL"
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("config: %s must be an absolute http(s) URL such as https://staxkeys.example.com", env)
	case u.User != nil:
		return fmt.Errorf("config: %s must not hold a user name or password", env)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#"):
		return fmt.Errorf("config: %s must not have a query or a fragment: alerts append /keys/<id> to it", env)
	}
	return nil
}

// DBPath is where the database lives.
func (c Config) DBPath() string { return filepath.Join(c.DataDir, "staxkeys.db") }

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, not %q", s)
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want a whole number, not %q", s)
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

type floatValue float64

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("want a number, not %q", s)
	}
	*v = floatValue(f)
	return nil
}
func (v *floatValue) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }

// publicURLValue is a URL whose trailing slashes are dropped, so that a path appended to it
// has exactly one.
type publicURLValue string

func (v *publicURLValue) Set(s string) error {
	*v = publicURLValue(strings.TrimRight(strings.TrimSpace(s), "/"))
	return nil
}
func (v *publicURLValue) String() string { return string(*v) }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a Go duration such as 15m or 10s, not %q", s)
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }
