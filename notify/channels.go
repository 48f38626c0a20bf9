package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

// URL channels are alert destinations reached through the shoutrrr library
// (github.com/nicholas-fedor/shoutrrr): one URL names the service and carries its tokens
// ("ntfy://host/topic", "discord://token@id", …). Admins add any number, each named; the URL
// is sealed at rest (secret.ChannelAD) and never shown back in full (Redact). Deliveries name
// such a channel "channel:<id>", so the queue, its retries, the delivery log and grouping treat
// each one as they treat the fixed channels.

// URLChannel is one URL channel as the notifier uses it: URL in clear.
type URLChannel struct {
	ID      int64
	Name    string
	Kind    string // the service: the URL's scheme before any "+"
	URL     string
	Enabled bool
}

// urlChannelPrefix starts the delivery channel name of a URL channel.
const urlChannelPrefix = "channel:"

// Channel is the name deliveries give c.
func (c URLChannel) Channel() Channel { return URLChannelOf(c.ID) }

// URLChannelOf is the delivery channel name of URL channel id.
func URLChannelOf(id int64) Channel { return Channel(urlChannelPrefix + strconv.FormatInt(id, 10)) }

// URLChannelID returns the id of a URL channel's delivery name, false for a fixed channel.
func (ch Channel) URLChannelID() (int64, bool) {
	rest, ok := strings.CutPrefix(string(ch), urlChannelPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// urlChannel returns the enabled URL channel ch names, if any.
func (c Config) urlChannel(ch Channel) (URLChannel, bool) {
	id, ok := ch.URLChannelID()
	if !ok {
		return URLChannel{}, false
	}
	for _, u := range c.URLChannels {
		if u.ID == id && u.Enabled && u.URL != "" {
			return u, true
		}
	}
	return URLChannel{}, false
}

// dialGuard says how the destination policy reaches a service's requests.
type dialGuard int

const (
	// pinned: the service takes our HTTP client, which dials through the policy (after DNS,
	// on the address connected to) and follows no redirect.
	pinned dialGuard = iota + 1
	// hostChecked: the service makes its own requests (http.DefaultClient or a client of its
	// own); the host the URL names is resolved and every address checked before sending.
	hostChecked
	// fixedHost: the service always calls its provider's public API (discord.com,
	// api.telegram.org, …); the URL cannot name a host, so there is nothing to check.
	fixedHost
)

// urlKinds are the services staxkeys sends to, and how each is guarded. Slack, email,
// PagerDuty and Opsgenie have channels of their own; shoutrrr's logger (which writes to our
// log) and the services that need a local daemon or have not been looked at are left out.
var urlKinds = map[string]dialGuard{
	"ntfy": pinned, "gotify": pinned, "mattermost": pinned, "rocketchat": pinned, "pushover": pinned,
	"generic": hostChecked, "matrix": hostChecked, "zulip": hostChecked, "googlechat": hostChecked,
	"teams": hostChecked, "bark": hostChecked,
	"discord": fixedHost, "telegram": fixedHost, "pushbullet": fixedHost,
}

// URLKinds lists the services a URL channel may use, sorted.
func URLKinds() []string {
	out := make([]string, 0, len(urlKinds))
	for k := range urlKinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// discardLogger keeps shoutrrr quiet: it logs whole URLs and receivers' answers.
var discardLogger = log.New(io.Discard, "", 0)

// locate builds the shoutrrr service of raw, initialized, as shoutrrr's router does, but
// keeping the service's own words for what is wrong (scrubbed of the URL's secrets).
func locate(raw string) (types.Service, string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return nil, "", errors.New("give a service URL such as ntfy://ntfy.example.com/alerts")
	}
	scheme := strings.ToLower(u.Scheme)
	kind, _, _ := strings.Cut(scheme, "+")
	if _, ok := urlKinds[kind]; !ok {
		return nil, kind, fmt.Errorf("staxkeys does not send to %q URLs; it sends to %s", truncate(kind, 20), strings.Join(URLKinds(), ", "))
	}
	r, err := router.New(discardLogger)
	if err != nil {
		return nil, kind, errors.New("the service cannot be set up")
	}
	svc, err := r.NewService(kind)
	if err != nil {
		return nil, kind, errors.New("the service cannot be set up")
	}
	if scheme != kind {
		custom, ok := svc.(types.CustomURLService)
		if !ok {
			return nil, kind, fmt.Errorf("%s URLs take no \"+\" in their scheme", kind)
		}
		if u, err = custom.GetConfigURLFromCustom(u); err != nil {
			return nil, kind, errors.New("the URL does not fit the service: " + scrub(err.Error(), raw))
		}
	}
	if err := svc.Initialize(u, discardLogger); err != nil {
		return nil, kind, errors.New("the URL does not fit the service: " + scrub(err.Error(), raw))
	}
	return svc, kind, nil
}

// CheckChannelURL validates a URL channel's URL as its service reads it; it returns the
// service's kind, or a message for the form that quotes none of the URL's secrets.
func CheckChannelURL(raw string) (kind string, problem string) {
	if len(raw) > 2048 {
		return "", "the URL must be at most 2048 characters"
	}
	if strings.ContainsAny(raw, " \r\n\t") {
		return "", "the URL must not contain spaces or line breaks"
	}
	_, kind, err := locate(raw)
	if err != nil {
		return kind, err.Error()
	}
	return kind, ""
}

// scrub replaces in msg every part of raw that may be a secret: the user and password, the
// path's segments, the query's values, and the host of services whose host is an id.
func scrub(msg, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the URL does not parse"
	}
	var parts []string
	parts = append(parts, raw)
	if u.User != nil {
		parts = append(parts, u.User.String(), u.User.Username())
		if p, ok := u.User.Password(); ok {
			parts = append(parts, p)
		}
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		parts = append(parts, seg)
		if s, err := url.PathUnescape(seg); err == nil {
			parts = append(parts, s)
		}
	}
	for _, vs := range u.Query() {
		parts = append(parts, vs...)
	}
	parts = append(parts, u.RawQuery, u.Host, u.Hostname())
	// Longest first, so a part is not left half-replaced by one of its own pieces.
	slices.SortFunc(parts, func(a, b string) int { return len(b) - len(a) })
	for _, p := range parts {
		if len(p) >= 3 {
			msg = strings.ReplaceAll(msg, p, "•••")
		}
	}
	return truncate(msg, 200)
}

// Redact shows a URL channel's URL without its secrets: the scheme, the host of a service
// whose host is a server (not an id), and ••• for credentials, path and query values, e.g.
// "ntfy://•••@127.0.0.1/•••".
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "•••"
	}
	kind, _, _ := strings.Cut(strings.ToLower(u.Scheme), "+")
	var b strings.Builder
	b.WriteString(strings.ToLower(u.Scheme) + "://")
	if u.User != nil {
		b.WriteString("•••@")
	}
	if g, ok := urlKinds[kind]; ok && g != fixedHost && kind != "pushover" { // Pushover's host is the user key
		b.WriteString(u.Host)
	} else {
		b.WriteString("•••")
	}
	if strings.Trim(u.Path, "/") != "" {
		b.WriteString("/•••")
	}
	if u.RawQuery != "" {
		keys := make([]string, 0)
		for k := range u.Query() {
			keys = append(keys, url.QueryEscape(k)+"=•••")
		}
		sort.Strings(keys)
		b.WriteString("?" + strings.Join(keys, "&"))
	}
	return b.String()
}

// destinationHost is the host a service's URL makes it call, for the services whose host
// the URL names.
func destinationHost(kind string, u *url.URL) string {
	if kind == "teams" {
		if h := u.Query().Get("host"); h != "" {
			return h
		}
	}
	return u.Hostname()
}

// checkResolved refuses host unless every address it resolves to is allowed. It guards the
// services that dial on their own (hostChecked): a name that changes its answer between this
// check and their dial (DNS rebinding) or a redirect they follow is not caught; see
// docs/SECURITY.md.
func (p *Policy) checkResolved(ctx context.Context, host string) error {
	if err := p.Check(host); err != nil {
		return err
	}
	if p.allowedHost(host) {
		return nil
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return nil // checked above
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if !p.allowedAddr(a) {
			return ErrDenied
		}
	}
	return nil
}

// pin gives svc our HTTP client through whatever hook the service has; it reports whether it
// found one.
func pin(svc types.Service, c *http.Client) bool {
	switch s := svc.(type) {
	case interface{ SetHTTPClient(*http.Client) }:
		s.SetHTTPClient(c)
		return true
	case interface{ GetHTTPClient() *http.Client }:
		if hc := s.GetHTTPClient(); hc != nil {
			*hc = *c
			return true
		}
	}
	v := reflect.ValueOf(svc)
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		f := v.Elem().FieldByName("Client")
		if f.IsValid() && f.CanSet() && f.Type() == reflect.TypeOf(c) {
			f.Set(reflect.ValueOf(c))
			return true
		}
	}
	return false
}

// sendURL makes one try at delivering a on URL channel c.
func (n *Notifier) sendURL(ctx context.Context, c URLChannel, a Alert) error {
	svc, kind, err := locate(c.URL)
	if err != nil {
		return permanent{errors.New(err.Error())}
	}
	u, _ := url.Parse(c.URL)
	switch urlKinds[kind] {
	case pinned:
		if !pin(svc, n.client) {
			return permanent{fmt.Errorf("the %s service takes no HTTP client: not sent", kind)}
		}
		if err := n.opts.Allow.Check(destinationHost(kind, u)); err != nil {
			return permanent{errors.New(failureClass(err))}
		}
	case hostChecked:
		if err := n.opts.Allow.checkResolved(ctx, destinationHost(kind, u)); err != nil {
			if errors.Is(err, ErrDenied) {
				return permanent{errors.New(failureClass(err))}
			}
			return errors.New(failureClass(err))
		}
	}
	text := truncate(plainText(a), 3500)
	done := make(chan error, 1)
	go func() { done <- svc.Send(text, nil) }() // the services take no context
	select {
	case err = <-done:
	case <-ctx.Done():
		return errors.New("request failed: timed out")
	}
	if err != nil {
		if errors.Is(err, ErrDenied) {
			return permanent{errors.New(failureClass(err))}
		}
		// The service's own words may quote the URL or the receiver's answer: only the class.
		return fmt.Errorf("the %s service did not take the message: %s", kind, failureClass(err))
	}
	return nil
}

// ChannelInfo is what the page shows of a URL channel: never its URL in full.
type ChannelInfo struct {
	ID       int64
	Name     string
	Kind     string
	Redacted string
	Enabled  bool
	// Unreadable: the URL is sealed under another master key; the channel sends nothing.
	Unreadable bool
	Route      Route
}

// urlChannels opens every URL channel; one that does not open is logged and left out.
func (n *Notifier) urlChannels(ctx context.Context) ([]URLChannel, []ChannelInfo, error) {
	rows, err := n.db.Channels(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []URLChannel
	var infos []ChannelInfo
	for _, r := range rows {
		info := ChannelInfo{ID: r.ID, Name: r.Name, Kind: r.Kind, Enabled: r.Enabled}
		v, err := n.keys.Open(r.URLSealed, secret.ChannelAD(r.ID))
		if err != nil {
			n.log.Error("notify: cannot open a channel's URL; it sends nothing", "channel_id", r.ID, "err", err)
			info.Unreadable, info.Redacted = true, "(sealed under another master key)"
		} else {
			out = append(out, URLChannel{ID: r.ID, Name: r.Name, Kind: r.Kind, URL: string(v), Enabled: r.Enabled})
			info.Redacted = Redact(string(v))
		}
		infos = append(infos, info)
	}
	return out, infos, nil
}

// ListChannels returns the URL channels as the page shows them, with their routes.
func (n *Notifier) ListChannels(ctx context.Context) ([]ChannelInfo, error) {
	_, infos, err := n.urlChannels(ctx)
	if err != nil {
		return nil, err
	}
	routes := n.routes(ctx)
	for i := range infos {
		infos[i].Route = routes[string(URLChannelOf(infos[i].ID))]
	}
	return infos, nil
}

// ChannelForm is the add and edit form of a URL channel. On edit, a URL left empty keeps the
// sealed one.
type ChannelForm struct {
	Name    string
	URL     string
	Enabled bool
}

func (n *Notifier) checkChannel(f ChannelForm, urlRequired bool) (name, kind string, err error) {
	fields := map[string]string{}
	name = strings.TrimSpace(f.Name)
	switch {
	case name == "":
		fields["name"] = "give the channel a name, such as Billing team"
	default:
		if msg := domain.CheckText("the name", name, 80); msg != "" {
			fields["name"] = msg
		}
	}
	raw := strings.TrimSpace(f.URL)
	switch {
	case raw == "" && urlRequired:
		fields["url"] = "give the service URL, such as ntfy://ntfy.example.com/alerts"
	case raw != "":
		var problem string
		if kind, problem = CheckChannelURL(raw); problem != "" {
			fields["url"] = problem
		} else if u, err := url.Parse(raw); err == nil && urlKinds[kind] != fixedHost && n.opts.Allow.Check(destinationHost(kind, u)) != nil {
			fields["url"] = "this destination is not allowed: loopback, private and link-local addresses need STAXKEYS_ALERT_ALLOW"
		}
	}
	if len(fields) > 0 {
		return "", "", &domain.ValidationError{Fields: fields}
	}
	return name, kind, nil
}

// AddChannel adds a URL channel for p (an admin) and records it, naming the channel and its
// service, never its URL.
func (n *Notifier) AddChannel(ctx context.Context, p domain.Principal, f ChannelForm) (ChannelInfo, error) {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return ChannelInfo{}, err
	}
	name, kind, err := n.checkChannel(f, true)
	if err != nil {
		return ChannelInfo{}, err
	}
	raw := strings.TrimSpace(f.URL)
	c, err := n.db.AddChannel(ctx, store.Channel{Name: name, Kind: kind, Enabled: f.Enabled}, func(id int64) ([]byte, error) {
		return n.keys.Seal([]byte(raw), secret.ChannelAD(id))
	})
	if err != nil {
		return ChannelInfo{}, err
	}
	n.opts.Audit.Record(ctx, p, audit.ChannelAdd, audit.ChannelTarget(strconv.FormatInt(c.ID, 10)),
		fmt.Sprintf("%q (%s)%s", name, kind, enabledWord(f.Enabled)))
	return ChannelInfo{ID: c.ID, Name: name, Kind: kind, Redacted: Redact(raw), Enabled: f.Enabled}, nil
}

func enabledWord(on bool) string {
	if on {
		return ""
	}
	return ", disabled"
}

// UpdateChannel changes URL channel id for p (an admin): its name, whether it is enabled, and
// its URL when one is typed.
func (n *Notifier) UpdateChannel(ctx context.Context, p domain.Principal, id int64, f ChannelForm) error {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return err
	}
	cur, err := n.db.ChannelByID(ctx, id)
	if err != nil {
		return err
	}
	name, kind, err := n.checkChannel(f, false)
	if err != nil {
		return err
	}
	next := store.Channel{ID: id, Name: name, Kind: cur.Kind, Enabled: f.Enabled}
	var changed []string
	if raw := strings.TrimSpace(f.URL); raw != "" {
		if next.URLSealed, err = n.keys.Seal([]byte(raw), secret.ChannelAD(id)); err != nil {
			return err
		}
		next.Kind = kind
		changed = append(changed, "URL")
	}
	if name != cur.Name {
		changed = append(changed, fmt.Sprintf("name %q → %q", cur.Name, name))
	}
	if f.Enabled != cur.Enabled {
		changed = append(changed, map[bool]string{true: "enabled", false: "disabled"}[f.Enabled])
	}
	if err := n.db.UpdateChannel(ctx, next); err != nil {
		return err
	}
	detail := "no change"
	if len(changed) > 0 {
		detail = "changed: " + strings.Join(changed, ", ")
	}
	n.opts.Audit.Record(ctx, p, audit.ChannelEdit, audit.ChannelTarget(strconv.FormatInt(id, 10)), fmt.Sprintf("%q: %s", name, detail))
	return nil
}

// DeleteChannel removes URL channel id for p (an admin); what it had queued fails as no
// longer configured.
func (n *Notifier) DeleteChannel(ctx context.Context, p domain.Principal, id int64) error {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return err
	}
	cur, err := n.db.ChannelByID(ctx, id)
	if err != nil {
		return err
	}
	if err := n.db.DeleteChannel(ctx, id); err != nil {
		return err
	}
	n.opts.Audit.Record(ctx, p, audit.ChannelDelete, audit.ChannelTarget(strconv.FormatInt(id, 10)), fmt.Sprintf("%q (%s)", cur.Name, cur.Kind))
	return nil
}
