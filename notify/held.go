package notify

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/staxkeys/staxkeys/secret"
)

// heldFor is how long secrets held by a failed save stay usable.
const heldFor = 30 * time.Minute

// held is what a failed save keeps of the secrets typed, sealed into the page it sends back.
type held struct {
	At      time.Time         `json:"at"`
	Secrets map[string]string `json:"secrets"` // by form field
}

var heldAD = secret.HeldFormAD("notify")

// Hold seals the secrets typed in f whose fields have no error, for the form sent back with
// the errors: a secret is never shown back, but the admin need not type it again. It returns
// the sealed value for a hidden field ("" when none is held) and the fields held.
func (n *Notifier) Hold(f Form, errs map[string]string) (string, map[string]bool) {
	h := held{At: n.clock.Now(), Secrets: map[string]string{}}
	for field, v := range map[string]string{
		"webhook_url": f.WebhookURL, "webhook_secret": f.WebhookSecret,
		"slack_url": f.SlackURL, "smtp_password": f.SMTPPassword,
		"pagerduty_routing_key": f.PagerDutyRoutingKey, "opsgenie_api_key": f.OpsgenieAPIKey,
	} {
		if _, bad := errs[field]; v != "" && !bad {
			h.Secrets[field] = v
		}
	}
	if len(h.Secrets) == 0 {
		return "", nil
	}
	raw, err := json.Marshal(h)
	if err != nil {
		return "", nil
	}
	sealed, err := n.keys.Seal(raw, heldAD)
	if err != nil {
		return "", nil
	}
	fields := make(map[string]bool, len(h.Secrets))
	for k := range h.Secrets {
		fields[k] = true
	}
	return base64.RawURLEncoding.EncodeToString(sealed), fields
}

// Restore fills the secret fields left empty in f (and not being removed) from what Hold
// sealed. Anything that does not open, or is older than heldFor, is ignored.
func (n *Notifier) Restore(f *Form, sealed string) {
	if sealed == "" {
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil {
		return
	}
	pt, err := n.keys.Open(raw, heldAD)
	if err != nil {
		return
	}
	var h held
	if json.Unmarshal(pt, &h) != nil || n.clock.Now().Sub(h.At) > heldFor {
		return
	}
	fill := func(dst *string, clear bool, field string) {
		if *dst == "" && !clear {
			*dst = h.Secrets[field]
		}
	}
	fill(&f.WebhookURL, f.ClearWebhookURL, "webhook_url")
	fill(&f.WebhookSecret, f.ClearWebhookSecret, "webhook_secret")
	fill(&f.SlackURL, f.ClearSlackURL, "slack_url")
	fill(&f.SMTPPassword, f.ClearSMTPPassword, "smtp_password")
	fill(&f.PagerDutyRoutingKey, f.ClearPagerDutyRoutingKey, "pagerduty_routing_key")
	fill(&f.OpsgenieAPIKey, f.ClearOpsgenieAPIKey, "opsgenie_api_key")
}
