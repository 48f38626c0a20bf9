package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/activity"
	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/config"
	"github.com/staxkeys/staxkeys/internal/metrics"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/notify"
	"github.com/staxkeys/staxkeys/sso"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/web"
)

// shutdownGrace is how long in-flight requests get to finish after SIGINT or SIGTERM.
const shutdownGrace = 15 * time.Second

// watchPoll is how often the server asks the database whether another process committed to
// it. PRAGMA data_version on a held connection costs microseconds.
const watchPoll = time.Second

// Server is the whole running program over one data directory: the checker, the alerts, the
// metrics and the web server, wired together.
type Server struct {
	Checker *checker.Checker
	cfg     config.Config
	data    *Data
	alerts  *notify.Notifier
	web     *web.Server
	version string
	log     *slog.Logger
}

// NewServer wires the program over data as cfg says; version goes into the pages, the
// metrics and every User-Agent.
func NewServer(cfg config.Config, data *Data, version string) (*Server, error) {
	log := data.Log
	v := keys.New(data.DB, data.Keys)
	chk, err := newChecker(cfg, data, v, version)
	if err != nil {
		return nil, err
	}
	mets := metrics.New(data.DB, chk.Status, metrics.Options{Version: version})
	chk.AddObserver(mets)
	alerts, err := newNotifier(cfg, data, version)
	if err != nil {
		return nil, err
	}
	alerts.OnAttempt(mets.DeliveryAttempted)
	chk.AddObserver(alerts)
	webOpts := []web.Option{web.WithChecker(chk), web.WithMetrics(mets.Handler(), cfg.MetricsToken), web.WithNotifier(alerts)}
	if cfg.OIDCIssuer != "" {
		single, err := NewSSO(cfg)
		if err != nil {
			return nil, err
		}
		webOpts = append(webOpts, web.WithSSO(single))
		log.Info("single sign-on", slog.String("issuer", cfg.OIDCIssuer), slog.Bool("jit", cfg.OIDCJIT),
			slog.Bool("local_login", cfg.LocalLogin))
	}
	srv := web.New(web.Config{
		CookieSecure:    cfg.CookieSecure,
		SessionHashKey:  data.Keys.DeriveKey("session cookie hash", 32),
		SessionBlockKey: data.Keys.DeriveKey("session cookie block", 32),
		Version:         version,
		PublicURL:       cfg.PublicURL,
		CheckerEnabled:  cfg.CheckerEnabled,
		MasterKeyLoaded: true,
		MasterKeyCheck:  CheckMasterKey(data.DB, data.Keys),
		SessionIdle:     cfg.SessionIdle,
		SessionMax:      cfg.SessionMax,
		PageConcurrency: cfg.PageConcurrency,
	}, data.DB, web.Services{
		Keys:     keys.NewService(v, data.Trail, chk, log).WithIncidents(alerts),
		Accounts: data.Accounts(),
		Factors:  data.Factors(),
		Audit:    data.Trail,
	}, log, webOpts...)
	return &Server{Checker: chk, cfg: cfg, data: data, alerts: alerts, web: srv, version: version, log: log}, nil
}

// Run serves HTTP on ln, and runs the checker, its database watch and the alert worker, until
// ctx ends; then it drains and shuts down in order. Each of beside is started just before the
// server says it is listening (so that whoever waits for that line can use it) and stopped
// after the HTTP server.
func (s *Server) Run(ctx context.Context, ln net.Listener, beside ...func(context.Context) (stop func())) error {
	cfg, log, chk := s.cfg, s.log, s.Checker
	// Requests live on their own context, which nothing here cancels, not the signal's: those
	// that arrive during the drain, and those still in flight when it ends, get their full
	// answer (Shutdown waits for them). Only their client leaving cancels them.
	reqCtx := context.WithoutCancel(ctx)
	httpSrv := &http.Server{
		Handler:           s.web,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
	}
	// The live-update streams never finish on their own: Shutdown ends them first.
	httpSrv.RegisterOnShutdown(s.web.EndStreams)
	var stops []func()
	for _, start := range beside {
		stops = append(stops, start(ctx))
	}
	log.Info("staxkeys listening", slog.String("url", "http://"+ln.Addr().String()),
		slog.String("version", s.version), slog.String("data_dir", cfg.DataDir),
		slog.String("master_key_source", s.data.Source.Kind))

	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()

	// The checker stops with ctx; its in-flight checks are cancelled and write nothing.
	checkerDone := make(chan struct{})
	go func() {
		defer close(checkerDone)
		if !cfg.CheckerEnabled {
			log.Warn("the background checker is off (STAXKEYS_CHECKER=false): keys are checked only on demand")
			return
		}
		if err := chk.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("checker stopped", slog.String("error", err.Error()))
		}
	}()
	// Beside it, Watch keeps the scheduler's heartbeat (readiness) and brings it work that
	// another process (`staxkeys import`, `admin create`, another tool) committed, within
	// a second, by the database's data_version.
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if !cfg.CheckerEnabled {
			return
		}
		var changed func(context.Context) (bool, error)
		if w, err := s.data.DB.WatchChanges(ctx); err != nil {
			log.Warn("cannot watch the database for changes by other processes", slog.String("error", err.Error()))
		} else {
			defer w.Close()
			changed = w.Changed
		}
		chk.Watch(ctx, watchPoll, changed)
	}()

	// The alert worker resumes what a previous run left queued, and stops with ctx too.
	alertsDone := make(chan struct{})
	go func() {
		defer close(alertsDone)
		if err := s.alerts.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("alert delivery stopped", slog.String("error", err.Error()))
		}
	}()

	select {
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	// Drain: /readyz answers 503 while the server still serves, so that Kubernetes or a load
	// balancer stops routing to it before the listener closes.
	s.web.Drain()
	if cfg.ShutdownDrain > 0 {
		log.Info("shutting down: draining (readiness fails, requests are still served)", slog.Duration("drain", cfg.ShutdownDrain))
		drain := time.NewTimer(cfg.ShutdownDrain)
		select {
		case <-drain.C:
		case err := <-served:
			drain.Stop()
			return fmt.Errorf("server stopped: %w", err)
		}
	}
	// Shutdown closes the listener, ends the live-update streams (its hook) and waits, up to
	// shutdownGrace, for the requests still in flight to finish with their full answer.
	log.Info("shutting down: closing the listener")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := httpSrv.Shutdown(shutCtx); errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutting down: requests still in flight after the grace are cut", slog.Duration("grace", shutdownGrace))
		httpSrv.Close()
	} else if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-served
	<-checkerDone
	<-watchDone
	for _, stop := range stops {
		stop()
	}
	<-alertsDone
	log.Info("stopped")
	return nil
}

// NewSSO is single sign-on as the configuration describes it (cfg.OIDCIssuer set). The
// provider is discovered at the first sign-in, so a provider that is down does not stop
// staxkeys from starting.
func NewSSO(cfg config.Config) (web.SSO, error) {
	secret, err := cfg.OIDCSecret()
	if err != nil {
		return web.SSO{}, configError(err)
	}
	policy, err := sso.ParsePolicy(cfg.OIDCAllowedDomains, cfg.OIDCGroupsClaim, cfg.OIDCRoleMap, cfg.OIDCDefaultRole)
	if err != nil {
		return web.SSO{}, configError(err)
	}
	rp := sso.New(sso.Config{
		Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: secret,
		RedirectURL: cfg.PublicURL + "/auth/oidc/callback",
	}, policy.GroupsClaim)
	return web.SSO{RP: rp, Policy: policy, JIT: cfg.OIDCJIT, PasswordLoginOff: !cfg.LocalLogin}, nil
}

// newChecker builds the checker with its Stax.ai client from the configuration.
func newChecker(cfg config.Config, data *Data, v *keys.Vault, version string) (*checker.Checker, error) {
	client, err := NewStaxClient(cfg, version)
	if err != nil {
		return nil, err
	}
	chk := checker.New(data.DB, v, client, CheckerConfig(cfg), nil, data.Log)
	// Outages, suspicions and long pauses go into the activity feed, from a server or a
	// `staxkeys check` alike.
	chk.AddObserver(activity.NewRecorder(data.DB, data.Log))
	return chk, nil
}

// NewStaxClient is the Stax.ai client the configuration describes.
func NewStaxClient(cfg config.Config, version string) (*staxapi.Client, error) {
	return staxapi.New(staxapi.Config{
		BaseURL:   cfg.APIURL,
		ProbePath: cfg.ProbePath,
		Timeout:   cfg.CheckTimeout,
		UserAgent: "staxkeys/" + version,
	})
}

// CheckerConfig is the checker's part of the configuration.
func CheckerConfig(cfg config.Config) checker.Config {
	return checker.Config{
		Interval:      cfg.CheckInterval,
		Concurrency:   cfg.CheckConcurrency,
		Rate:          cfg.CheckRate,
		Confirm:       cfg.CheckConfirm,
		HistoryDays:   cfg.HistoryDays,
		SuspectHold:   cfg.CheckSuspectHold,
		MaxRetryAfter: cfg.CheckMaxRetryAfter,
	}
}

// newNotifier builds the alerting from the configuration. The environment's settings are the
// starting point; what an admin saves on the alerts page overrides them.
func newNotifier(cfg config.Config, data *Data, version string) (*notify.Notifier, error) {
	log := data.Log
	env := notify.Config{
		WebhookURL:             cfg.WebhookURL,
		WebhookSecret:          cfg.WebhookSecret,
		WebhookLegacySignature: cfg.WebhookLegacySignature,
		SlackURL:               cfg.SlackWebhookURL,
		SMTP: notify.SMTPConfig{
			Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
			From: cfg.SMTPFrom, To: notify.SplitAddresses(cfg.SMTPTo),
		},
		PagerDutyRoutingKey: cfg.PagerDutyRoutingKey, PagerDutyURL: cfg.PagerDutyURL,
		OpsgenieAPIKey: cfg.OpsgenieAPIKey, OpsgenieURL: cfg.OpsgenieURL,
		RevokedReminder:      cfg.RevokedReminder,
		RotationReminderDays: cfg.RotationReminderDays,
	}
	if err := env.Validate(); err != nil {
		var ve *domain.ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		var msgs []string
		for field, msg := range ve.Fields {
			msgs = append(msgs, envNames[field]+": "+msg)
		}
		slices.Sort(msgs)
		return nil, configError(errors.New("config: " + strings.Join(msgs, "; ")))
	}
	allow, err := notify.ParsePolicy(cfg.AlertAllow)
	if err != nil {
		return nil, configError(err)
	}
	log.Info("alert destinations", "policy", allow.String())
	for _, d := range []struct{ env, target string }{
		{"STAXKEYS_WEBHOOK_URL", hostOf(env.WebhookURL)}, {"STAXKEYS_SLACK_WEBHOOK_URL", hostOf(env.SlackURL)},
		{"STAXKEYS_SMTP_HOST", env.SMTP.Host},
		{"STAXKEYS_PAGERDUTY_URL", hostOf(env.PagerDutyURL)}, {"STAXKEYS_OPSGENIE_URL", hostOf(env.OpsgenieURL)},
	} {
		if d.target != "" && allow.Check(d.target) != nil {
			// Named by variable only: a URL may carry a token.
			log.Warn("an alert destination is an internal address, which alerts may not reach; allow it with STAXKEYS_ALERT_ALLOW",
				"variable", d.env)
		}
	}
	return notify.New(data.DB, data.Keys, notify.Options{
		Env: env, Log: log, UserAgent: "staxkeys/" + version, Allow: allow,
		GroupWindow: cfg.AlertGroupWindow, PublicURL: cfg.PublicURL, Audit: data.Trail,
	}), nil
}

// hostOf is a URL's host, or "" when there is none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// envNames maps the alert settings' form fields to their variables, for error messages.
var envNames = map[string]string{
	"webhook_url": "STAXKEYS_WEBHOOK_URL", "webhook_secret": "STAXKEYS_WEBHOOK_SECRET",
	"slack_url": "STAXKEYS_SLACK_WEBHOOK_URL", "smtp_host": "STAXKEYS_SMTP_HOST", "smtp_port": "STAXKEYS_SMTP_PORT",
	"smtp_from": "STAXKEYS_SMTP_FROM", "smtp_to": "STAXKEYS_SMTP_TO",
	"revoked_reminder": "STAXKEYS_REVOKED_REMINDER", "rotation_days": "STAXKEYS_ROTATION_REMINDER_DAYS",
	"pagerduty_routing_key": "STAXKEYS_PAGERDUTY_ROUTING_KEY", "pagerduty_url": "STAXKEYS_PAGERDUTY_URL",
	"opsgenie_api_key": "STAXKEYS_OPSGENIE_API_KEY", "opsgenie_url": "STAXKEYS_OPSGENIE_URL",
}

// NewChecker is a checker over data for a command that checks without a server
// (`staxkeys check` when none runs).
func NewChecker(cfg config.Config, data *Data, version string) (*checker.Checker, error) {
	return newChecker(cfg, data, keys.New(data.DB, data.Keys), version)
}
