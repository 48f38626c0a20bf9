package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/humantime"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// Config says where alerts go and when reminders are due.
type Config struct {
	WebhookURL    string // may carry a token: treated as a secret, like the Slack URL
	WebhookSecret string // signs webhook bodies (see SigningKey); a secret
	// WebhookLegacySignature keeps sending the X-Staxkeys-* headers of earlier versions beside
	// the Standard Webhooks ones, for receivers not yet moved over. Deprecated: for one release.
	WebhookLegacySignature bool
	SlackURL               string // a Slack incoming webhook URL, itself a credential
	SMTP                   SMTPConfig
	// PagerDutyRoutingKey is the integration key of a PagerDuty service (Events API v2); a
	// secret. PagerDutyURL is the API's base URL, "" for DefaultPagerDutyURL.
	PagerDutyRoutingKey string
	PagerDutyURL        string
	// OpsgenieAPIKey is an Opsgenie API integration's key; a secret. OpsgenieURL is the API's
	// base URL, "" for DefaultOpsgenieURL.
	OpsgenieAPIKey string
	OpsgenieURL    string
	// RevokedReminder repeats the alert about a key that stays revoked or denied, once per
	// this period; 0 turns it off.
	RevokedReminder time.Duration
	// RotationReminderDays reminds, once per this many days, that a key should be rotated;
	// 0 turns it off.
	RotationReminderDays int
	// URLChannels are the channels added on the page, sent through shoutrrr (channels.go);
	// the environment has none.
	URLChannels []URLChannel
	// Routes say which alerts each channel hears, by delivery channel name (route.go); a
	// channel without one hears everything.
	Routes map[string]Route
}

// SMTPConfig is the mail server alerts are sent through.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string // a secret
	From     string
	To       []string
}

// DefaultSMTPPort is the submission port, which offers STARTTLS.
const DefaultSMTPPort = 587

// MinRevokedReminder is the shortest reminder period accepted, so a typo cannot flood a channel.
const MinRevokedReminder = time.Hour

// String leaves the secrets out, so a Config that reaches a log line leaks nothing.
func (c Config) String() string {
	return fmt.Sprintf("notify.Config{webhook:%v slack:%v email:%v pagerduty:%v opsgenie:%v revoked_reminder:%s rotation_days:%d}",
		c.Has(Webhook), c.Has(Slack), c.Has(Email), c.Has(PagerDuty), c.Has(Opsgenie), c.RevokedReminder, c.RotationReminderDays)
}

func (c Config) pagerDutyURL() string {
	if c.PagerDutyURL == "" {
		return DefaultPagerDutyURL
	}
	return c.PagerDutyURL
}

func (c Config) opsgenieURL() string {
	if c.OpsgenieURL == "" {
		return DefaultOpsgenieURL
	}
	return c.OpsgenieURL
}

// Has reports whether ch is configured.
func (c Config) Has(ch Channel) bool {
	switch ch {
	case Webhook:
		return c.WebhookURL != ""
	case Slack:
		return c.SlackURL != ""
	case Email:
		return c.SMTP.Host != "" && c.SMTP.From != "" && len(c.SMTP.To) > 0
	case PagerDuty:
		return c.PagerDutyRoutingKey != ""
	case Opsgenie:
		return c.OpsgenieAPIKey != ""
	}
	_, ok := c.urlChannel(ch)
	return ok
}

// Channels lists the configured channels.
func (c Config) Channels() []Channel {
	var out []Channel
	for _, ch := range Channels() {
		if c.Has(ch) {
			out = append(out, ch)
		}
	}
	for _, u := range c.URLChannels {
		if u.Enabled && u.URL != "" { // what Has asks of a URL channel
			out = append(out, u.Channel())
		}
	}
	return out
}

// Validate reports every faulty setting at once, keyed by the form's field names.
func (c Config) Validate() error {
	f := map[string]string{}
	if msg := checkURL(c.WebhookURL); msg != "" {
		f["webhook_url"] = msg
	}
	if msg := checkWebhookSecret(c.WebhookSecret); msg != "" {
		f["webhook_secret"] = msg
	}
	if msg := checkURL(c.SlackURL); msg != "" {
		f["slack_url"] = msg
	}
	for _, k := range []struct{ field, url, key string }{
		{"pagerduty", c.PagerDutyURL, c.PagerDutyRoutingKey}, {"opsgenie", c.OpsgenieURL, c.OpsgenieAPIKey},
	} {
		if msg := checkURL(k.url); msg != "" {
			f[k.field+"_url"] = msg
		}
		if msg := checkToken(k.key); msg != "" {
			f[incidentKeyField(k.field)] = msg
		}
	}
	if c.SMTP.Host != "" {
		if strings.ContainsAny(c.SMTP.Host, " /:@\r\n") {
			f["smtp_host"] = "give a host name or address alone, such as smtp.example.com"
		}
		if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
			f["smtp_port"] = "the port must be between 1 and 65535"
		}
		if msg := checkAddress(c.SMTP.From); msg != "" {
			f["smtp_from"] = msg
		}
		if len(c.SMTP.To) == 0 {
			f["smtp_to"] = "give at least one recipient"
		}
		for _, to := range c.SMTP.To {
			if msg := checkAddress(to); msg != "" {
				f["smtp_to"] = msg
				break
			}
		}
	}
	if c.RevokedReminder < 0 || (c.RevokedReminder > 0 && c.RevokedReminder < MinRevokedReminder) {
		f["revoked_reminder"] = "give a period of at least 1 hour, such as 1 day or 3 days, or 0 to turn reminders off"
	}
	if c.RotationReminderDays < 0 || c.RotationReminderDays > 3650 {
		f["rotation_days"] = "give a number of days between 1 and 3650, or 0 to turn the reminder off"
	}
	if len(f) > 0 {
		return &domain.ValidationError{Fields: f}
	}
	return nil
}

// checkURL accepts "" or an absolute http(s) URL. Webhook URLs are set by admins; anything
// but http(s) (file:, gopher:, …) has no business being requested by staxkeys.
func checkURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case len(s) > 2048:
		return "the URL must be at most 2048 characters"
	case err != nil || u.Host == "" || u.Opaque != "":
		return "give an absolute URL such as https://hooks.example.com/staxkeys"
	case u.Scheme != "http" && u.Scheme != "https":
		return "the URL must start with https:// (or http://)"
	case u.User != nil:
		// Credentials in a URL end up in logs and Authorization headers sent on redirects;
		// put a token in the path or use the signing secret.
		return "the URL must not hold a user name or password"
	}
	return ""
}

// checkWebhookSecret accepts "", a Standard Webhooks secret ("whsec_" and the base64 of 24 to
// 64 bytes, as the specification asks), or any other string of at least 16 characters, as
// earlier versions did (its own bytes are then the key).
func checkWebhookSecret(s string) string {
	if s == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(s, secretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(key) < 24 || len(key) > 64 {
			return "a whsec_ secret must be whsec_ and the base64 of 24 to 64 random bytes"
		}
		return ""
	}
	if len(s) < 16 {
		return "the signing secret must be at least 16 characters (or whsec_ and base64)"
	}
	return ""
}

// checkToken accepts "" or an API key as the providers issue them: printable ASCII without
// spaces, at most 256 characters (PagerDuty's are 32 characters, Opsgenie's a UUID).
func checkToken(s string) string {
	if len(s) > 256 {
		return "the key must be at most 256 characters"
	}
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return "give the key alone, without spaces"
		}
	}
	return ""
}

// incidentKeyField is the form field of an on-call channel's key.
func incidentKeyField(channel string) string {
	if channel == "pagerduty" {
		return "pagerduty_routing_key"
	}
	return "opsgenie_api_key"
}

func checkAddress(s string) string {
	a, err := mail.ParseAddress(s)
	if s == "" || err != nil || a.Address != s || strings.ContainsAny(s, "\r\n") {
		return "give a plain address such as alerts@example.com"
	}
	return ""
}

// SplitAddresses splits a list of addresses on commas, semicolons and white space.
func SplitAddresses(s string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r' }) {
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

// settingConfig names the settings row of the non-secret alert settings. The secrets have
// rows of their own, sealed, named in store (which re-seals them on master-key rotation).
const settingConfig = "notify_config"

const (
	settingWebhookURL    = store.SettingWebhookURL
	settingWebhookSecret = store.SettingWebhookSecret
	settingSlackURL      = store.SettingSlackURL
	settingSMTPPassword  = store.SettingSMTPPassword
	settingPagerDutyKey  = store.SettingPagerDutyKey
	settingOpsgenieKey   = store.SettingOpsgenieKey
)

// sealedSettings are the settings sealed under the master key, by form field.
var sealedSettings = []struct{ field, setting string }{
	{"webhook_url", settingWebhookURL},
	{"webhook_secret", settingWebhookSecret},
	{"slack_url", settingSlackURL},
	{"smtp_password", settingSMTPPassword},
	{"pagerduty_routing_key", settingPagerDutyKey},
	{"opsgenie_api_key", settingOpsgenieKey},
}

func settingAD(name string) secret.AD { return secret.SettingAD(name) }

// storedConfig is the non-secret part of the settings saved on the page.
type storedConfig struct {
	// WebhookURL is only read: versions before 0.x stored the webhook URL here in clear. It is
	// sealed now (settingWebhookURL), and the next save leaves it empty.
	WebhookURL string `json:"webhook_url,omitempty"`
	// WebhookLegacySignature is nil in settings saved before it existed: the environment's
	// value applies then.
	WebhookLegacySignature *bool    `json:"webhook_legacy_signature,omitempty"`
	SMTPHost               string   `json:"smtp_host"`
	SMTPPort               int      `json:"smtp_port"`
	SMTPUsername           string   `json:"smtp_username"`
	SMTPFrom               string   `json:"smtp_from"`
	SMTPTo                 []string `json:"smtp_to"`
	PagerDutyURL           string   `json:"pagerduty_url,omitempty"`
	OpsgenieURL            string   `json:"opsgenie_url,omitempty"`
	RevokedReminder        string   `json:"revoked_reminder"`
	RotationReminderDays   int      `json:"rotation_reminder_days"`
}

// Source says where a setting's value comes from.
type Source string

// The sources of a setting.
const (
	FromNowhere    Source = ""
	FromEnv        Source = "environment"
	FromSettings   Source = "settings"
	FromUnreadable Source = "unreadable" // sealed under another master key
)

// loaded is the effective configuration with where each secret came from.
type loaded struct {
	cfg     Config
	saved   bool              // the page's settings exist and override the environment
	sources map[string]Source // by form field of each secret
	// legacyWebhook: the webhook URL in force was stored in clear by an older version.
	legacyWebhook bool
}

// Config returns the configuration in force: the environment's, overridden by what was saved
// on the settings page. A secret that cannot be opened is logged and treated as unset.
func (n *Notifier) Config(ctx context.Context) Config { return n.load(ctx).cfg }

func (n *Notifier) load(ctx context.Context) loaded {
	l := loaded{cfg: n.opts.Env, sources: map[string]Source{}}
	l.cfg.SMTP.To = slices.Clone(l.cfg.SMTP.To)
	if raw, err := n.db.Setting(ctx, settingConfig); err == nil {
		var sc storedConfig
		if err := json.Unmarshal(raw, &sc); err != nil {
			n.log.Error("notify: the saved settings do not parse; using the environment's", "err", err)
		} else {
			l.saved = true
			l.cfg.WebhookURL, l.cfg.SMTP.Host, l.cfg.SMTP.Port = sc.WebhookURL, sc.SMTPHost, sc.SMTPPort
			if sc.WebhookURL != "" {
				l.legacyWebhook, l.sources["webhook_url"] = true, FromSettings
			}
			l.cfg.SMTP.Username, l.cfg.SMTP.From, l.cfg.SMTP.To = sc.SMTPUsername, sc.SMTPFrom, sc.SMTPTo
			l.cfg.RotationReminderDays = sc.RotationReminderDays
			l.cfg.PagerDutyURL, l.cfg.OpsgenieURL = sc.PagerDutyURL, sc.OpsgenieURL
			if sc.WebhookLegacySignature != nil {
				l.cfg.WebhookLegacySignature = *sc.WebhookLegacySignature
			}
			l.cfg.RevokedReminder = 0
			if sc.RevokedReminder != "" {
				l.cfg.RevokedReminder, _ = time.ParseDuration(sc.RevokedReminder)
			}
		}
	} else if !errors.Is(err, domain.ErrNotFound) {
		n.log.Error("notify: cannot read the saved settings; using the environment's", "err", err)
	}
	if urls, _, err := n.urlChannels(ctx); err != nil {
		n.log.Error("notify: cannot read the channels", "err", err)
	} else {
		l.cfg.URLChannels = urls
	}
	l.cfg.Routes = n.routes(ctx)
	for _, s := range sealedSettings {
		p := l.secret(s.field)
		if _, known := l.sources[s.field]; *p != "" && !known {
			l.sources[s.field] = FromEnv
		}
		sealed, err := n.db.Setting(ctx, s.setting)
		if errors.Is(err, domain.ErrNotFound) {
			continue
		}
		var v []byte
		if err == nil {
			v, err = n.keys.Open(sealed, settingAD(s.setting))
		}
		if err != nil {
			n.log.Error("notify: cannot open a saved secret; treating it as unset", "setting", s.setting, "err", err)
			*p, l.sources[s.field] = "", FromUnreadable
			continue
		}
		*p, l.sources[s.field] = string(v), FromSettings
		if s.field == "webhook_url" {
			l.legacyWebhook = false
		}
		if len(v) == 0 {
			l.sources[s.field] = FromNowhere // removed on the page
		}
	}
	return l
}

func (l *loaded) secret(field string) *string {
	switch field {
	case "webhook_url":
		return &l.cfg.WebhookURL
	case "webhook_secret":
		return &l.cfg.WebhookSecret
	case "slack_url":
		return &l.cfg.SlackURL
	case "smtp_password":
		return &l.cfg.SMTP.Password
	case "pagerduty_routing_key":
		return &l.cfg.PagerDutyRoutingKey
	case "opsgenie_api_key":
		return &l.cfg.OpsgenieAPIKey
	}
	panic("notify: unknown secret field " + field)
}

// Form is the settings page's form as typed. A secret field left empty keeps the secret; its
// Clear flag removes it. The webhook URL is one of the secrets (it may carry a token). The
// stored SMTP password goes only to the host it was typed for: a form that changes the host
// without typing the password again removes it.
type Form struct {
	WebhookURL         string
	ClearWebhookURL    bool
	WebhookSecret      string
	ClearWebhookSecret bool
	// WebhookLegacySignature is the checkbox that keeps the deprecated X-Staxkeys-* headers.
	WebhookLegacySignature bool
	SlackURL               string
	ClearSlackURL          bool
	SMTPHost               string
	SMTPPort               string
	SMTPUsername           string
	SMTPPassword           string
	ClearSMTPPassword      bool
	SMTPFrom               string
	SMTPTo                 string
	// The on-call channels. A key goes only to the base URL it was typed for, as the SMTP
	// password to its host: a form that moves the URL without typing the key again removes it.
	PagerDutyRoutingKey      string
	ClearPagerDutyRoutingKey bool
	PagerDutyURL             string
	OpsgenieAPIKey           string
	ClearOpsgenieAPIKey      bool
	OpsgenieURL              string
	RevokedReminder          string
	RotationDays             string
}

// SecretState is what the page may show of a secret: whether it is set and where from, never
// its value.
type SecretState struct {
	Set    bool
	Source Source
	Hint   string // for the webhook and Slack URLs, their host
}

// View is the settings page's content: the form's current values (secrets left empty), the
// state of each secret, and which channels are configured.
type View struct {
	Form       Form
	Secrets    map[string]SecretState // by form field
	Configured map[Channel]bool
	Saved      bool // settings were saved on the page and override the environment
	// LinksKeys is set when alerts link to each key's page (Options.PublicURL is set).
	LinksKeys bool
}

// View returns the settings as the page shows them.
func (n *Notifier) View(ctx context.Context) View {
	l := n.load(ctx)
	c := l.cfg
	v := View{
		Form: Form{
			SMTPHost: c.SMTP.Host, SMTPUsername: c.SMTP.Username,
			SMTPFrom: c.SMTP.From, SMTPTo: strings.Join(c.SMTP.To, ", "),
			RevokedReminder: durationText(c.RevokedReminder), RotationDays: strconv.Itoa(c.RotationReminderDays),
			WebhookLegacySignature: c.WebhookLegacySignature,
			PagerDutyURL:           c.PagerDutyURL, OpsgenieURL: c.OpsgenieURL,
		},
		Secrets:    map[string]SecretState{},
		Configured: map[Channel]bool{},
		Saved:      l.saved,
		LinksKeys:  n.opts.PublicURL != "",
	}
	if c.SMTP.Port != 0 {
		v.Form.SMTPPort = strconv.Itoa(c.SMTP.Port)
	}
	for _, s := range sealedSettings {
		st := SecretState{Set: *l.secret(s.field) != "", Source: l.sources[s.field]}
		if (s.field == "slack_url" || s.field == "webhook_url") && st.Set {
			if u, err := url.Parse(*l.secret(s.field)); err == nil {
				st.Hint = u.Host
			}
		}
		v.Secrets[s.field] = st
	}
	for _, ch := range Channels() {
		v.Configured[ch] = c.Has(ch)
	}
	return v
}

// durationText is a reminder period in words, as the form shows it and ParseDuration reads it
// back: "1 day", "3 days", "12 hours", "1 hour 30 minutes"; 0 (off) stays "0".
func durationText(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return humantime.Format(d)
}

// ParseDuration reads a period as people write it ("3 days", "1 week", "2 hours 30 minutes",
// "2d") or in Go's notation ("72h"); see humantime.Parse.
func ParseDuration(s string) (time.Duration, error) {
	d, err := humantime.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("notify: %q is not a period such as 3 days", strings.TrimSpace(s))
	}
	return d, nil
}

// Changes validates f against the settings in force and names what saving it would change,
// without saving: the page asks for the admin's password first when a destination or a
// credential would change (DestinationChange).
func (n *Notifier) Changes(ctx context.Context, f Form) ([]string, error) {
	before := n.load(ctx)
	cfg, err := n.parseChecked(before.cfg, f)
	if err != nil {
		return nil, err
	}
	return changes(before.cfg, cfg), nil
}

// DestinationChange reports whether any of the changes (as named by Changes or Save) is of
// where alerts go or of a credential they carry: what a stolen session must not redirect.
// Only the reminder periods and the legacy signature headers are not.
func DestinationChange(changed []string) bool {
	for _, c := range changed {
		if c != changeRevokedReminder && c != changeRotationReminder && c != changeLegacySignature {
			return true
		}
	}
	return false
}

// parseChecked is parseForm, then Validate, then the destination policy on what can be
// judged before dialling (an address literal, localhost), so the form names the field.
func (n *Notifier) parseChecked(cur Config, f Form) (Config, error) {
	// Every check runs, and every faulty field is named at once: stopping at the first kind of
	// fault made the form take two saves to show what was wrong with it. A field that did not
	// parse keeps that message rather than the range check its zero value then fails.
	fields := map[string]string{}
	cfg, err := parseForm(cur, f)
	if err != nil && !addFields(fields, err) {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil && !addFields(fields, err) {
		return cfg, err
	}
	const denied = "this destination is not allowed: loopback, private and link-local addresses need STAXKEYS_ALERT_ALLOW"
	for _, d := range []struct{ field, url string }{{"webhook_url", cfg.WebhookURL}, {"slack_url", cfg.SlackURL},
		{"pagerduty_url", cfg.PagerDutyURL}, {"opsgenie_url", cfg.OpsgenieURL}} {
		if _, bad := fields[d.field]; bad {
			continue
		}
		if u, err := url.Parse(d.url); d.url != "" && err == nil && n.opts.Allow.Check(u.Hostname()) != nil {
			fields[d.field] = denied
		}
	}
	if _, bad := fields["smtp_host"]; !bad && cfg.SMTP.Host != "" && n.opts.Allow.Check(cfg.SMTP.Host) != nil {
		fields["smtp_host"] = denied
	}
	if len(fields) > 0 {
		return cfg, &domain.ValidationError{Fields: fields}
	}
	return cfg, nil
}

// addFields copies a validation error's field messages into fields, keeping any already
// there; it reports false if err is not a validation error.
func addFields(fields map[string]string, err error) bool {
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	for k, v := range ve.Fields {
		if _, ok := fields[k]; !ok {
			fields[k] = v
		}
	}
	return true
}

// Save validates f and stores it: the non-secret fields as one setting, and each secret
// typed or removed sealed on its own. It returns the names of what changed, for the audit
// trail (never a value), or a *domain.ValidationError keyed by field.
func (n *Notifier) Save(ctx context.Context, f Form) ([]string, error) {
	before := n.load(ctx)
	cfg, err := n.parseChecked(before.cfg, f)
	if err != nil {
		return nil, err
	}
	sc := storedConfig{
		SMTPHost: cfg.SMTP.Host, SMTPPort: cfg.SMTP.Port,
		SMTPUsername: cfg.SMTP.Username, SMTPFrom: cfg.SMTP.From, SMTPTo: cfg.SMTP.To,
		RotationReminderDays:   cfg.RotationReminderDays,
		WebhookLegacySignature: &cfg.WebhookLegacySignature,
		PagerDutyURL:           cfg.PagerDutyURL, OpsgenieURL: cfg.OpsgenieURL,
	}
	if cfg.RevokedReminder > 0 {
		sc.RevokedReminder = cfg.RevokedReminder.String()
	}
	raw, err := json.Marshal(sc)
	if err != nil {
		return nil, err
	}
	values := map[string][]byte{settingConfig: raw}
	type secretInput struct {
		setting, value string
		clear          bool
	}
	webhook := strings.TrimSpace(f.WebhookURL) // as validated
	if webhook == "" && !f.ClearWebhookURL && before.legacyWebhook {
		webhook = cfg.WebhookURL // stored in clear by an older version: seal it now
	}
	for _, s := range []secretInput{
		{settingWebhookURL, webhook, f.ClearWebhookURL},
		{settingWebhookSecret, f.WebhookSecret, f.ClearWebhookSecret},
		{settingSlackURL, strings.TrimSpace(f.SlackURL), f.ClearSlackURL}, // as validated
		{settingSMTPPassword, f.SMTPPassword, f.ClearSMTPPassword || smtpPasswordDropped(before.cfg, cfg, f)},
		{settingPagerDutyKey, strings.TrimSpace(f.PagerDutyRoutingKey), f.ClearPagerDutyRoutingKey ||
			keyDropped(before.cfg.pagerDutyURL(), cfg.pagerDutyURL(), before.cfg.PagerDutyRoutingKey, f.PagerDutyRoutingKey)},
		{settingOpsgenieKey, strings.TrimSpace(f.OpsgenieAPIKey), f.ClearOpsgenieAPIKey ||
			keyDropped(before.cfg.opsgenieURL(), cfg.opsgenieURL(), before.cfg.OpsgenieAPIKey, f.OpsgenieAPIKey)},
	} {
		if s.value == "" && !s.clear {
			continue
		}
		v := s.value
		if s.clear {
			v = "" // an empty sealed value: removed here, and the environment's no longer applies
		}
		sealed, err := n.keys.Seal([]byte(v), settingAD(s.setting))
		if err != nil {
			return nil, err
		}
		values[s.setting] = sealed
	}
	if err := n.db.PutSettings(ctx, values); err != nil {
		return nil, err
	}
	return changes(before.cfg, cfg), nil
}

// smtpPasswordDropped reports whether the form moves email to another SMTP host without
// typing the password again: the stored password was given for the old host only, and a
// stolen session must not be able to send it to a host of its choosing.
func smtpPasswordDropped(cur, next Config, f Form) bool {
	return f.SMTPPassword == "" && cur.SMTP.Password != "" && !strings.EqualFold(cur.SMTP.Host, next.SMTP.Host)
}

// keyDropped reports whether the form moves an on-call channel to another base URL without
// typing its key again: like the SMTP password, the key was given for the old URL only.
func keyDropped(curURL, nextURL, curKey, typed string) bool {
	return strings.TrimSpace(typed) == "" && curKey != "" && !strings.EqualFold(strings.TrimRight(curURL, "/"), strings.TrimRight(nextURL, "/"))
}

// parseForm applies f to the current configuration; secrets left empty keep their value.
func parseForm(cur Config, f Form) (Config, error) {
	c := Config{
		WebhookURL: cur.WebhookURL,
		SMTP: SMTPConfig{
			Host: strings.TrimSpace(f.SMTPHost), Username: strings.TrimSpace(f.SMTPUsername),
			From: strings.TrimSpace(f.SMTPFrom), To: SplitAddresses(f.SMTPTo),
		},
		WebhookSecret: cur.WebhookSecret, SlackURL: cur.SlackURL,
		WebhookLegacySignature: f.WebhookLegacySignature,
		PagerDutyURL:           strings.TrimSpace(f.PagerDutyURL), OpsgenieURL: strings.TrimSpace(f.OpsgenieURL),
		PagerDutyRoutingKey: cur.PagerDutyRoutingKey, OpsgenieAPIKey: cur.OpsgenieAPIKey,
	}
	for _, k := range []struct {
		key             *string
		typed           string
		clear           bool
		curURL, nextURL string
	}{
		{&c.PagerDutyRoutingKey, f.PagerDutyRoutingKey, f.ClearPagerDutyRoutingKey, cur.pagerDutyURL(), c.pagerDutyURL()},
		{&c.OpsgenieAPIKey, f.OpsgenieAPIKey, f.ClearOpsgenieAPIKey, cur.opsgenieURL(), c.opsgenieURL()},
	} {
		switch {
		case k.clear:
			*k.key = ""
		case strings.TrimSpace(k.typed) != "":
			*k.key = strings.TrimSpace(k.typed)
		case keyDropped(k.curURL, k.nextURL, *k.key, k.typed):
			*k.key = ""
		}
	}
	c.SMTP.Password = cur.SMTP.Password
	switch {
	case f.ClearWebhookURL:
		c.WebhookURL = ""
	case strings.TrimSpace(f.WebhookURL) != "":
		c.WebhookURL = strings.TrimSpace(f.WebhookURL)
	}
	switch {
	case f.ClearWebhookSecret:
		c.WebhookSecret = ""
	case f.WebhookSecret != "":
		c.WebhookSecret = f.WebhookSecret
	}
	switch {
	case f.ClearSlackURL:
		c.SlackURL = ""
	case strings.TrimSpace(f.SlackURL) != "":
		c.SlackURL = strings.TrimSpace(f.SlackURL)
	}
	switch {
	case f.ClearSMTPPassword:
		c.SMTP.Password = ""
	case f.SMTPPassword != "":
		c.SMTP.Password = f.SMTPPassword
	case smtpPasswordDropped(cur, c, f):
		c.SMTP.Password = ""
	}
	fields := map[string]string{}
	if p := strings.TrimSpace(f.SMTPPort); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			fields["smtp_port"] = "the port must be a number such as 587"
		}
		c.SMTP.Port = n
	} else if c.SMTP.Host != "" {
		c.SMTP.Port = DefaultSMTPPort
	}
	if r := strings.TrimSpace(f.RevokedReminder); r != "" && r != "0" {
		d, err := ParseDuration(r)
		if err != nil {
			fields["revoked_reminder"] = "give a period such as 1 day, 2 hours 30 minutes or 1 week, or 0 to turn reminders off"
		}
		c.RevokedReminder = d
	}
	if r := strings.TrimSpace(f.RotationDays); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil {
			fields["rotation_days"] = "give a whole number of days, or 0 to turn the reminder off"
		}
		c.RotationReminderDays = n
	}
	if len(fields) > 0 {
		return c, &domain.ValidationError{Fields: fields}
	}
	return c, nil
}

// The names of the changes that move no destination and no credential.
const (
	changeRevokedReminder  = "revoked-key reminder"
	changeRotationReminder = "rotation reminder"
	changeLegacySignature  = "legacy webhook signature"
)

// changes names the settings that differ between a and b.
func changes(a, b Config) []string {
	var out []string
	add := func(changed bool, name string) {
		if changed {
			out = append(out, name)
		}
	}
	add(a.WebhookURL != b.WebhookURL, "webhook URL")
	add(a.WebhookSecret != b.WebhookSecret, "webhook secret")
	add(a.WebhookLegacySignature != b.WebhookLegacySignature, changeLegacySignature)
	add(a.SlackURL != b.SlackURL, "Slack webhook URL")
	add(a.SMTP.Host != b.SMTP.Host, "SMTP host")
	add(a.SMTP.Port != b.SMTP.Port, "SMTP port")
	add(a.SMTP.Username != b.SMTP.Username, "SMTP username")
	add(a.SMTP.Password != b.SMTP.Password, "SMTP password")
	add(a.SMTP.From != b.SMTP.From, "SMTP sender")
	add(!slices.Equal(a.SMTP.To, b.SMTP.To), "SMTP recipients")
	add(a.PagerDutyRoutingKey != b.PagerDutyRoutingKey, "PagerDuty routing key")
	add(a.pagerDutyURL() != b.pagerDutyURL(), "PagerDuty URL")
	add(a.OpsgenieAPIKey != b.OpsgenieAPIKey, "Opsgenie API key")
	add(a.opsgenieURL() != b.opsgenieURL(), "Opsgenie URL")
	add(a.RevokedReminder != b.RevokedReminder, changeRevokedReminder)
	add(a.RotationReminderDays != b.RotationReminderDays, changeRotationReminder)
	return out
}
