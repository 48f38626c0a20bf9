package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/views"
)

// Notifier is what the web layer asks of the alerting; *notify.Notifier is one.
type Notifier interface {
	View(ctx context.Context) notify.View
	Changes(ctx context.Context, f notify.Form) ([]string, error)
	SaveSettings(ctx context.Context, p domain.Principal, f notify.Form) error
	Test(ctx context.Context, p domain.Principal, ch notify.Channel) error
	Retry(ctx context.Context, p domain.Principal, id int64) error
	Hold(f notify.Form, errs map[string]string) (string, map[string]bool)
	Restore(f *notify.Form, sealed string)
}

// WithNotifier serves the alert settings and the delivery log.
func WithNotifier(n Notifier) Option { return func(s *Server) { s.notifier = n } }

// deliveriesPageSize is how many deliveries one page of the log shows.
const deliveriesPageSize = 50

// alertRoutes are the alert settings and the delivery log, all for admins (the role given).
func (s *Server) alertRoutes(g *echo.Group, admin echo.MiddlewareFunc) {
	g.GET("/settings/notifications", s.handleNotifySettings, admin)
	g.POST("/settings/notifications", s.handleNotifySave, admin)
	g.POST("/settings/notifications/test", s.handleNotifyTest, admin)
	g.GET("/deliveries", s.handleDeliveryList, admin)
	g.POST("/deliveries/:id/retry", s.handleDeliveryRetry, admin)
}

func (s *Server) needNotifier() error {
	if s.notifier == nil {
		return echo.NewHTTPError(http.StatusNotFound, "Alerts are not available in this process.")
	}
	return nil
}

// handleNotifySettings serves GET /settings/notifications.
func (s *Server) handleNotifySettings(c echo.Context) error {
	if err := s.needNotifier(); err != nil {
		return err
	}
	return s.renderNotify(c, http.StatusOK, nil, nil)
}

// renderNotify shows the settings; with a form, its values (never a secret) and errors.
func (s *Server) renderNotify(c echo.Context, status int, f *notify.Form, errs views.FormErrors) error {
	return s.renderNotifyHeld(c, status, f, errs, "", nil)
}

// renderNotifyHeld is renderNotify with the secrets a failed save holds, sealed (held).
func (s *Server) renderNotifyHeld(c echo.Context, status int, f *notify.Form, errs views.FormErrors, held string, heldFields map[string]bool) error {
	ctx := c.Request().Context()
	v := s.notifier.View(ctx)
	if f != nil {
		v.Form = *f
	}
	counts, err := s.db.CountDeliveries(ctx)
	if err != nil {
		return err
	}
	d := views.NotifyData{
		Values: map[string]string{
			"smtp_host": v.Form.SMTPHost, "smtp_port": v.Form.SMTPPort,
			"smtp_username": v.Form.SMTPUsername, "smtp_from": v.Form.SMTPFrom, "smtp_to": v.Form.SMTPTo,
			"revoked_reminder": v.Form.RevokedReminder, "rotation_days": v.Form.RotationDays,
			"pagerduty_url": v.Form.PagerDutyURL, "opsgenie_url": v.Form.OpsgenieURL,
		},
		LegacySignature: v.Form.WebhookLegacySignature,
		Secrets:         map[string]views.SecretInfo{},
		Configured:      map[string]bool{},
		Saved:           v.Saved,
		Fresh:           s.reauthFresh(c),
		Errors:          errs,
		Counts:          counts,
		Held:            held,
		HeldFields:      heldFields,
		LinksKeys:       v.LinksKeys,
	}
	for field, st := range v.Secrets {
		d.Secrets[field] = views.SecretInfo{Set: st.Set, Source: string(st.Source), Hint: st.Hint}
		d.FromEnv = d.FromEnv || st.Source == notify.FromEnv
	}
	if !v.Saved && f == nil {
		d.FromEnv = d.FromEnv || v.Form.SMTPHost != "" || v.Form.SMTPFrom != "" || v.Form.SMTPTo != ""
	}
	for ch, ok := range v.Configured {
		d.Configured[string(ch)] = ok
	}
	return render(c, status, views.NotifyPage(s.page(c, "Alerts", "alerts"), d))
}

// handleNotifySave serves POST /settings/notifications. Secrets typed are stored sealed and
// never shown back, not even when the form comes back with errors. A change of where alerts go
// or of a credential asks for the admin's password (unless given in the last five minutes):
// a stolen session must not be able to send the alerts, or the stored SMTP password, to a
// host of its choosing and keep receiving them after the session ends.
func (s *Server) handleNotifySave(c echo.Context) error {
	if err := s.needNotifier(); err != nil {
		return err
	}
	v := func(name string) string { return formField(c, name) }
	set := func(name string) bool { return formField(c, name) != "" }
	f := notify.Form{
		WebhookURL: v("webhook_url"), ClearWebhookURL: set("webhook_url_clear"),
		WebhookSecret: v("webhook_secret"), ClearWebhookSecret: set("webhook_secret_clear"),
		WebhookLegacySignature: set("webhook_legacy_signature"),
		SlackURL:               v("slack_url"), ClearSlackURL: set("slack_url_clear"),
		SMTPHost: v("smtp_host"), SMTPPort: v("smtp_port"), SMTPUsername: v("smtp_username"),
		SMTPPassword: v("smtp_password"), ClearSMTPPassword: set("smtp_password_clear"),
		SMTPFrom: v("smtp_from"), SMTPTo: v("smtp_to"),
		RevokedReminder: v("revoked_reminder"), RotationDays: v("rotation_days"),
		PagerDutyRoutingKey: v("pagerduty_routing_key"), ClearPagerDutyRoutingKey: set("pagerduty_routing_key_clear"),
		PagerDutyURL:   v("pagerduty_url"),
		OpsgenieAPIKey: v("opsgenie_api_key"), ClearOpsgenieAPIKey: set("opsgenie_api_key_clear"),
		OpsgenieURL: v("opsgenie_url"),
	}
	s.notifier.Restore(&f, v("held_secrets"))
	refuse := func(status int, fe views.FormErrors) error {
		shown := f
		shown.WebhookURL, shown.WebhookSecret, shown.SlackURL, shown.SMTPPassword = "", "", "", ""
		shown.PagerDutyRoutingKey, shown.OpsgenieAPIKey = "", ""
		held, fields := s.notifier.Hold(f, fe)
		return s.renderNotifyHeld(c, status, &shown, fe, held, fields)
	}
	ctx := c.Request().Context()
	pending, err := s.notifier.Changes(ctx, f)
	if fe := formErrors(err); fe != nil {
		return refuse(http.StatusUnprocessableEntity, fe)
	}
	if err != nil {
		return err
	}
	if notify.DestinationChange(pending) {
		if status, msg := s.confirmIdentity(c); msg != "" {
			return refuse(status, views.FormErrors{"your_password": msg})
		}
	}
	err = s.notifier.SaveSettings(ctx, principalOf(c), f)
	if fe := formErrors(err); fe != nil {
		return refuse(http.StatusUnprocessableEntity, fe)
	}
	if err != nil {
		return err
	}
	s.flash(c, "ok", "Alert settings saved.")
	return redirect(c, "/settings/notifications")
}

// handleNotifyTest serves POST /settings/notifications/test: it sends a test alert on one
// channel with the saved settings, at once, and says how it went.
func (s *Server) handleNotifyTest(c echo.Context) error {
	if err := s.needNotifier(); err != nil {
		return err
	}
	ch, ok := notify.ParseChannel(formField(c, "channel"))
	if !ok {
		return echo.NewHTTPError(http.StatusBadRequest, "Unknown channel.")
	}
	if err := s.notifier.Test(c.Request().Context(), principalOf(c), ch); err != nil {
		s.flash(c, "error", "The test alert on "+channelName(ch)+" failed: "+err.Error())
	} else {
		s.flash(c, "ok", "Test alert sent on "+channelName(ch)+".")
	}
	return redirect(c, "/settings/notifications")
}

func channelName(ch notify.Channel) string {
	switch ch {
	case notify.Webhook:
		return "the webhook"
	case notify.Slack:
		return "Slack"
	case notify.Email:
		return "email"
	case notify.PagerDuty:
		return "PagerDuty"
	case notify.Opsgenie:
		return "Opsgenie"
	}
	return string(ch)
}

// handleDeliveryList serves GET /deliveries: the delivery log, newest first.
func (s *Server) handleDeliveryList(c echo.Context) error {
	ctx := c.Request().Context()
	page, offset := pageParam(c, deliveriesPageSize)
	q := store.DeliveryQuery{Status: c.QueryParam("status"), Limit: deliveriesPageSize, Offset: offset}
	ds, total, err := s.db.ListDeliveries(ctx, q)
	if formErrors(err) != nil {
		q.Status = ""
		ds, total, err = s.db.ListDeliveries(ctx, q)
	}
	if err != nil {
		return err
	}
	counts, err := s.db.CountDeliveries(ctx)
	if err != nil {
		return err
	}
	msgs := make(map[int64]string, len(ds))
	for _, d := range ds {
		var a notify.Alert
		if json.Unmarshal(d.Payload, &a) == nil {
			msgs[d.ID] = a.Message
		}
	}
	names := map[string]string{}
	if chs, ok := s.notifier.(Channels); ok {
		if list, err := chs.ListChannels(ctx); err == nil {
			for _, x := range list {
				names[string(notify.URLChannelOf(x.ID))] = x.Name + " (" + x.Kind + ")"
			}
		}
	}
	return render(c, http.StatusOK, views.DeliveriesPage(s.page(c, "Delivery log", "alerts"), views.DeliveriesData{
		Deliveries: ds, Messages: msgs, Total: total, Status: q.Status, Counts: counts, ChannelNames: names,
		PageNum: page, Pages: pageCount(total, deliveriesPageSize), Now: s.Now(),
	}))
}

// handleDeliveryRetry serves POST /deliveries/:id/retry: a failed delivery goes back in the
// queue with a fresh count of attempts.
func (s *Server) handleDeliveryRetry(c echo.Context) error {
	if err := s.needNotifier(); err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return domain.ErrNotFound
	}
	if err := s.notifier.Retry(c.Request().Context(), principalOf(c), id); err != nil {
		return err
	}
	s.flash(c, "ok", "Delivery queued again.")
	return redirect(c, "/deliveries")
}
