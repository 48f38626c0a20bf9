// Package audit is the audit trail's vocabulary and its one writer: the actions and targets an
// entry can name (defined once, for the services that record them, the pages that filter and
// link them, and the command line), and Log, which appends entries to the store's chained log.
package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/export"
	"github.com/staxkeys/staxkeys/store"
)

// Action names what was done. The values are stored in the chained trail, so they never
// change; that is why a key's actions still say "pair", the word the first release used.
type Action string

// The actions, grouped by what they act on.
const (
	Setup        Action = "setup"
	Login        Action = "login"
	LoginFailed  Action = "login.failed"
	ReauthFailed Action = "reauth.failed" // a wrong password re-entered in a logged-in session
	Logout       Action = "logout"

	SSOLogin      Action = "sso.login"       // signed in through the OpenID provider; detail: role and how it was mapped
	SSORefused    Action = "sso.refused"     // the provider vouched for someone the SSO policy does not let in
	SSOUserCreate Action = "sso.user_create" // an account created just in time at a first SSO sign-in

	KeyAdd      Action = "pair.add"
	KeyEdit     Action = "pair.edit"
	KeyDelete   Action = "pair.delete"
	KeyReveal   Action = "pair.reveal"
	KeyCheck    Action = "pair.check"
	KeyCheckAll Action = "pair.check_all"
	KeyMute     Action = "pair.mute"         // alerts muted; detail: until when, the note, a mute it replaced
	KeyUnmute   Action = "pair.unmute"       // a mute ended by someone
	KeyMuteEnd  Action = "pair.mute_expired" // a mute's until passed; the actor is MuteExpiry
	KeysImport  Action = "pairs.import"
	KeysExport  Action = "pairs.export"

	TagMute    Action = "tag.mute"         // the alerts of every key with the tag muted; detail as KeyMute
	TagUnmute  Action = "tag.unmute"       // a tag's mute ended by someone
	TagMuteEnd Action = "tag.mute_expired" // a tag's mute's until passed; the actor is MuteExpiry

	TokenCreate Action = "token.create"
	TokenRevoke Action = "token.revoke"

	AdminCreate         Action = "admin.create"
	AdminDelete         Action = "admin.delete"
	AdminPasswordChange Action = "admin.password_change"
	AdminPasswordReset  Action = "admin.password_reset" // by the command line
	AdminRoleChange     Action = "admin.role_change"    // a user's role, old → new

	FactorEnrol      Action = "factor.enrol"         // a second factor added (detail: which)
	FactorRemove     Action = "factor.remove"        // a second factor removed, or all by the command line
	FactorFailed     Action = "factor.failed"        // a wrong code or assertion
	RecoveryCodeUsed Action = "factor.recovery_code" // a one-time recovery code stood in for the app

	SettingsChange   Action = "settings.change"
	Require2FAChange Action = "settings.require_2fa"
	NotifyTest       Action = "notify.test"
	ChannelAdd       Action = "channel.add"    // a URL channel added; detail: its name and service, never its URL
	ChannelEdit      Action = "channel.edit"   // renamed, enabled or disabled, or its URL replaced
	ChannelDelete    Action = "channel.delete" //
	ChannelRoute     Action = "channel.route"  // which alerts a channel hears
	DeliveryRetry    Action = "delivery.retry"
	MasterKeyRotate  Action = "master_key.rotate"
	Export           Action = "audit.export"
)

// Actions lists every action, in the order the audit page's filter suggests them.
var Actions = []Action{
	Setup, Login, LoginFailed, ReauthFailed, Logout,
	SSOLogin, SSORefused, SSOUserCreate,
	KeyAdd, KeyEdit, KeyDelete, KeyReveal, KeyCheck, KeyCheckAll, KeyMute, KeyUnmute, KeyMuteEnd, KeysImport, KeysExport,
	TagMute, TagUnmute, TagMuteEnd,
	TokenCreate, TokenRevoke,
	AdminCreate, AdminDelete, AdminPasswordChange, AdminPasswordReset, AdminRoleChange,
	FactorEnrol, FactorRemove, FactorFailed, RecoveryCodeUsed,
	SettingsChange, Require2FAChange, NotifyTest, ChannelAdd, ChannelEdit, ChannelDelete, ChannelRoute,
	DeliveryRetry, MasterKeyRotate, Export,
}

// Family is the part of an action before its dot ("pair" for "pair.add"); a filter on
// "pair." matches the whole family.
func (a Action) Family() string {
	f, _, _ := strings.Cut(string(a), ".")
	return f
}

// Suggestions are the action filter's suggestions: each family that has several actions (as
// "pair."), followed by its actions.
func Suggestions() []string {
	count := map[string]int{}
	for _, a := range Actions {
		count[a.Family()]++
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range Actions {
		if f := a.Family(); count[f] > 1 && !seen[f] && strings.Contains(string(a), ".") {
			seen[f] = true
			out = append(out, f+".")
		}
		out = append(out, string(a))
	}
	return out
}

// Target names what an action was done to, as "kind:id". Like actions, targets are stored.
type Target string

// Target kinds.
const (
	kindKey      = "pair"
	kindAdmin    = "admin"
	kindToken    = "token"
	kindChannel  = "channel"
	kindDelivery = "delivery"
	kindSettings = "settings"
	kindTag      = "tag"
)

func target(kind string, id int64) Target { return Target(kind + ":" + strconv.FormatInt(id, 10)) }

// KeyTarget is a registered key.
func KeyTarget(id int64) Target { return target(kindKey, id) }

// AdminTarget is an admin account.
func AdminTarget(id int64) Target { return target(kindAdmin, id) }

// TokenTarget is an API token.
func TokenTarget(id int64) Target { return target(kindToken, id) }

// DeliveryTarget is one alert delivery.
func DeliveryTarget(id int64) Target { return target(kindDelivery, id) }

// ChannelTarget is an alert channel, by name.
func ChannelTarget(name string) Target { return Target(kindChannel + ":" + name) }

// TagTarget is a tag, by name (such as "env:prod").
func TagTarget(tag string) Target { return Target(kindTag + ":" + tag) }

// SettingsTarget is a group of settings, by name (such as "notifications").
func SettingsTarget(name string) Target { return Target(kindSettings + ":" + name) }

// KeyID is the id of the key the target names, if it names one.
func (t Target) KeyID() (int64, bool) {
	rest, ok := strings.CutPrefix(string(t), kindKey+":")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0
}

// Link is the page the target can be seen on, or "" when it has none.
func (t Target) Link() string {
	if id, ok := t.KeyID(); ok {
		return "/keys/" + strconv.FormatInt(id, 10)
	}
	switch kind, _, _ := strings.Cut(string(t), ":"); kind {
	case kindAdmin:
		return "/users"
	case kindToken:
		return "/tokens"
	case kindDelivery:
		return "/deliveries"
	case kindChannel, kindSettings:
		return "/settings/notifications"
	case kindTag:
		return "/?tag=" + url.QueryEscape(strings.TrimPrefix(string(t), kindTag+":"))
	}
	return ""
}

// MuteExpiry is who ends a mute whose until passed: staxkeys itself, as the actor "staxkeys".
var MuteExpiry = domain.Principal{Claimed: "staxkeys"}

// MutesExpired records the end of each mute in ms, which the store has just ended at its until
// (store.DB.EndExpiredMutes hands each out once, so each is recorded once).
func (l *Log) MutesExpired(ctx context.Context, ms []domain.Mute) {
	ctx = context.WithValue(ctx, bulkKey{}, nil) // an expiry noticed during a bulk action is no part of it
	for _, m := range ms {
		action, target := KeyMuteEnd, KeyTarget(m.KeyID)
		if m.Tag != "" {
			action, target = TagMuteEnd, TagTarget(m.Tag)
		}
		l.Record(ctx, MuteExpiry, action, target, MuteDetail(m)+"; ended "+m.EndedAt.UTC().Format(time.RFC3339))
	}
}

// MuteDetail says what a mute is, for the audit trail: until when, and its note.
func MuteDetail(m domain.Mute) string {
	d := "until unmuted"
	if !m.Until.IsZero() {
		d = "until " + m.Until.UTC().Format(time.RFC3339)
	}
	if m.Note != "" {
		d += "; note " + strconv.Quote(m.Note)
	}
	return d
}

// Log appends entries to the audit trail, chained under the audit key.
type Log struct {
	db  *store.DB
	key []byte
	log *slog.Logger
}

// New returns the trail of db chained under key. A nil key turns auditing off (tests of other
// things); a nil Log records nothing too.
func New(db *store.DB, key []byte, log *slog.Logger) *Log {
	return &Log{db: db, key: key, log: log}
}

// Enabled reports whether entries are recorded.
func (l *Log) Enabled() bool { return l != nil && l.key != nil }

// Key is the key the trail is chained under, for verifying it.
func (l *Log) Key() []byte {
	if l == nil {
		return nil
	}
	return l.key
}

// Record appends an entry for p. The action has already happened, so a failure to record it
// is logged loudly rather than undone, and returned for callers (the command line) that say so.
func (l *Log) Record(ctx context.Context, p domain.Principal, a Action, t Target, detail string) error {
	if !l.Enabled() {
		return nil
	}
	if n, ok := ctx.Value(bulkKey{}).(int); ok {
		detail = strings.TrimPrefix(detail+"; part of a bulk action on "+plural(n, "key", "keys"), "; ")
	}
	err := l.db.AppendAudit(context.WithoutCancel(ctx), l.key, domain.AuditEntry{
		Actor: p.Actor(), Action: string(a), Target: string(t), IP: p.IP, Detail: detail,
	})
	if err != nil && l.log != nil {
		l.log.Error("audit trail write failed", slog.String("action", string(a)), slog.String("target", string(t)),
			slog.String("error", err.Error()))
	}
	return err
}

type bulkKey struct{}

// InBulk marks ctx as one step of a bulk action on n keys, so each entry recorded under it
// says so: a bulk delete stays one entry per key, as single deletes are, yet reads as one act.
func InBulk(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, bulkKey{}, n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// List returns the entries q selects, newest first, with the total match count.
func (l *Log) List(ctx context.Context, q store.AuditQuery) ([]domain.AuditEntry, int, error) {
	return l.db.ListAudit(ctx, q)
}

// Verify walks the whole chain: nil when it is intact, else where it breaks, with the count of
// entries verified.
func (l *Log) Verify(ctx context.Context) (*store.AuditBreak, int, error) {
	if !l.Enabled() {
		return nil, 0, ErrOff
	}
	return l.db.VerifyAudit(ctx, l.key)
}

// ErrOff means the audit trail is off in this process.
var ErrOff = errors.New("audit: the trail is off")

// MaxExport bounds one export of the trail.
const MaxExport = 100_000

// Export writes the entries q selects (at most MaxExport) to w as CSV that a spreadsheet
// cannot mistake for formulas, and records the export itself; filter describes q for that
// entry.
func (l *Log) Export(ctx context.Context, p domain.Principal, q store.AuditQuery, filter string, w io.Writer) error {
	q.Limit = MaxExport
	entries, total, err := l.db.ListAudit(ctx, q)
	if err != nil {
		return err
	}
	if err := export.WriteAudit(w, entries); err != nil {
		return err
	}
	detail := fmt.Sprintf("%d entries", len(entries))
	if total > len(entries) {
		detail += fmt.Sprintf(" of %d (capped)", total)
	}
	if filter != "" {
		detail += "; filter " + filter
	}
	l.Record(ctx, p, Export, "", detail)
	return nil
}
