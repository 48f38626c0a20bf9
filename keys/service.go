package keys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/export"
	"github.com/staxkeys/staxkeys/store"
)

// Checker is what the service asks of the key checker: to look at new and changed keys soon,
// to check one at once, and to queue some or all for a check now.
type Checker interface {
	Nudge()
	CheckNow(ctx context.Context, id int64) (domain.Key, error)
	CheckAll(ctx context.Context) error
	QueueChecks(ctx context.Context, ids []int64) error
}

// Incidents is what the service asks of the alerting: to close a key's open on-call incident
// when a change leaves nothing that would ever close it (see notify.Notifier.CloseKeyIncident).
type Incidents interface {
	CloseKeyIncident(ctx context.Context, k domain.Key, why string) (bool, error)
}

// The reasons a key's incident is closed, as the audit entry and the incident's note say.
const (
	WhyExpectedWorking = "expectation changed back to should work"
	WhyDeleted         = "key deleted from staxkeys"
)

// ErrNoChecker means a check was asked for where no checker runs.
var ErrNoChecker = errors.New("keys: the checker is not available")

// Service carries out every operation on registered keys, whoever asks (a page, the JSON API,
// the command line): it checks the principal's role (domain.ErrForbidden, and nothing done,
// when it falls short), validates, seals, stores, records the audit entry and tells the checker.
// Changes, checks and reveals need an editor, the export a viewer. A refused call is not
// recorded in the audit trail: nothing happened.
// Handlers only parse input, call one method and render its answer.
type Service struct {
	vault   *Vault
	db      *store.DB
	trail   *audit.Log
	checker Checker // nil where no checker runs (the command line; the server tells by data_version)
	// incidents is nil where no alerting runs: an incident left open then is closed by the next
	// change a server sees, or by hand.
	incidents Incidents
	log       *slog.Logger
}

// WithIncidents has the service close keys' on-call incidents through inc, and returns it.
func (s *Service) WithIncidents(inc Incidents) *Service {
	s.incidents = inc
	return s
}

// closeIncident closes key k's open incident, if any, for why, and returns what the audit
// detail should add ("" when nothing was open). A failure is logged, not returned: the
// change itself is done.
func (s *Service) closeIncident(ctx context.Context, k domain.Key, why string) string {
	if s.incidents == nil {
		return ""
	}
	closed, err := s.incidents.CloseKeyIncident(ctx, k, why)
	if err != nil {
		s.log.Error("keys: cannot close the key's incident", slog.Int64("pair_id", k.ID), "why", why, "err", err)
		return ""
	}
	if !closed {
		return ""
	}
	return "; its open incident resolved: " + why
}

// NewService returns the service over v, recording to trail and nudging chk (either may be nil).
func NewService(v *Vault, trail *audit.Log, chk Checker, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{vault: v, db: v.db, trail: trail, checker: chk, log: log}
}

func (s *Service) nudge() {
	if s.checker != nil {
		s.checker.Nudge()
	}
}

func actorAttrs(p domain.Principal) slog.Attr {
	switch {
	case p.Admin != nil:
		return slog.Int64("admin_id", p.Admin.ID)
	case p.Token != nil:
		return slog.Int64("token_id", p.Token.ID)
	case p.CLI:
		return slog.String("actor", "cli")
	}
	return slog.String("actor", "")
}

// Get returns key id.
func (s *Service) Get(ctx context.Context, id int64) (domain.Key, error) {
	if id <= 0 {
		return domain.Key{}, domain.ErrNotFound
	}
	return s.db.KeyByID(ctx, id)
}

// Add validates and registers a new key, and has it checked within seconds (a key registered
// as expected dead too: whether Stax.ai still accepts it is what the admin needs to know).
func (s *Service) Add(ctx context.Context, p domain.Principal, in Input) (domain.Key, error) {
	if err := p.Require(domain.RoleEditor); err != nil {
		return domain.Key{}, err
	}
	k, err := s.vault.Add(ctx, in)
	if err != nil {
		return k, err
	}
	s.log.Info("key added", slog.Int64("pair_id", k.ID), actorAttrs(p))
	s.trail.Record(ctx, p, audit.KeyAdd, audit.KeyTarget(k.ID), addDetail(k))
	s.nudge()
	return k, nil
}

// Edit is a change to a registered key: the fields left nil keep their value.
type Edit struct {
	Label, Email *string
	// Key replaces the API key; the key's verdict and history then start over.
	Key *string
	// Tags replace the key's tags; an empty slice clears them.
	Tags *[]string
	// Expected changes what is expected of the key; a change has it checked at once.
	Expected *domain.Expect
}

// Update applies e to key id in one step, with one audit entry saying what changed.
func (s *Service) Update(ctx context.Context, p domain.Principal, id int64, e Edit) (domain.Key, error) {
	if err := p.Require(domain.RoleEditor); err != nil {
		return domain.Key{}, err
	}
	before, err := s.Get(ctx, id)
	if err != nil {
		return before, err
	}
	in := Input{Label: before.Label, Email: before.Email, Tags: before.Tags, Expected: before.Expected.Or()}
	if e.Tags != nil {
		in.Tags = *e.Tags
	}
	if e.Expected != nil {
		in.Expected = *e.Expected
		if in.Expected == "" {
			return before, domain.Invalid("expected", `expected must be "valid" (should work) or "revoked" (should be dead)`)
		}
	}
	if e.Label != nil {
		in.Label = *e.Label
	}
	if e.Email != nil {
		in.Email = *e.Email
	}
	replaced := false
	if e.Key != nil {
		if strings.TrimSpace(*e.Key) == "" {
			return before, domain.Invalid("key", "API key must not be empty (leave the field out to keep the key)")
		}
		in.Key, replaced = *e.Key, true
	}
	after, err := s.vault.Update(ctx, id, in) // validates every field at once before it writes
	if err != nil {
		return before, err
	}
	expectChanged := in.Expected != before.Expected.Or()
	if expectChanged {
		// Due at once: whether a key declared dead really is dead is known within seconds.
		if after, err = s.db.SetExpected(ctx, id, in.Expected); err != nil {
			return before, err
		}
	}
	detail := editDetail(before, after, replaced)
	if expectChanged && before.Standing() == domain.StandingStillAccepted {
		// Its still-accepted incident: no check will resolve it now that a working key is fine.
		detail += s.closeIncident(ctx, after, WhyExpectedWorking)
	}
	s.log.Info("key updated", slog.Int64("pair_id", id), slog.Bool("key_replaced", replaced), actorAttrs(p))
	s.trail.Record(ctx, p, audit.KeyEdit, audit.KeyTarget(id), detail)
	if after.KeyChangedAt != before.KeyChangedAt || expectChanged {
		s.nudge()
	}
	return after, nil
}

// ReplaceKey gives key id a new API key, keeping its label and email.
func (s *Service) ReplaceKey(ctx context.Context, p domain.Principal, id int64, key string) (domain.Key, error) {
	return s.Update(ctx, p, id, Edit{Key: &key})
}

// Delete removes key id and its history, and closes its open on-call incident, if any.
func (s *Service) Delete(ctx context.Context, p domain.Principal, id int64) (domain.Key, error) {
	if err := p.Require(domain.RoleEditor); err != nil {
		return domain.Key{}, err
	}
	k, err := s.Get(ctx, id)
	if err != nil {
		return k, err
	}
	if err := s.db.DeleteKey(ctx, id); err != nil {
		return k, err
	}
	// Whatever incident it had open (revoked, denied, still accepted) has no key left to
	// resolve it.
	detail := "label " + strconv.Quote(k.Label) + ", email " + k.Email + s.closeIncident(ctx, k, WhyDeleted)
	s.log.Info("key deleted", slog.Int64("pair_id", id), actorAttrs(p))
	s.trail.Record(ctx, p, audit.KeyDelete, audit.KeyTarget(id), detail)
	return k, nil
}

// Reveal opens key id's API key for p, and records that it was shown. It needs an editor; the
// caller has also made sure p is who they say (a password re-entered). The key must go nowhere
// but to p.
func (s *Service) Reveal(ctx context.Context, p domain.Principal, id int64) (domain.Key, string, error) {
	if err := p.Require(domain.RoleEditor); err != nil {
		return domain.Key{}, "", err
	}
	k, err := s.Get(ctx, id)
	if err != nil {
		return k, "", err
	}
	plain, err := s.vault.Key(k)
	if err != nil {
		return k, "", err
	}
	s.log.Info("key revealed", slog.Int64("pair_id", id), actorAttrs(p))
	s.trail.Record(ctx, p, audit.KeyReveal, audit.KeyTarget(id), "")
	return k, plain, nil
}

// CheckNow checks key id at once and returns it afterwards (see checker.Checker.CheckNow for
// its errors). The request is recorded before the check, so it is on the trail even if the
// check fails.
func (s *Service) CheckNow(ctx context.Context, p domain.Principal, id int64) (domain.Key, error) {
	if err := p.Require(domain.RoleEditor); err != nil {
		return domain.Key{}, err
	}
	k, err := s.Get(ctx, id)
	if err != nil {
		return k, err
	}
	if s.checker == nil {
		return k, ErrNoChecker
	}
	s.trail.Record(ctx, p, audit.KeyCheck, audit.KeyTarget(id), "")
	return s.checker.CheckNow(ctx, id)
}

// CheckAll makes every key due for a check now.
func (s *Service) CheckAll(ctx context.Context, p domain.Principal) error {
	if err := p.Require(domain.RoleEditor); err != nil {
		return err
	}
	if s.checker == nil {
		return ErrNoChecker
	}
	if err := s.checker.CheckAll(ctx); err != nil {
		return err
	}
	s.trail.Record(ctx, p, audit.KeyCheckAll, "", "")
	return nil
}

// PlanImport reads an import file and checks every row against it and the registered keys
// (see ParseImport); nothing is imported yet.
func (s *Service) PlanImport(ctx context.Context, r io.Reader) (*ImportPlan, error) {
	return s.vault.PlanImport(ctx, r)
}

// Import adds a planned import's importable rows (see Vault.Import) and records what it did,
// also when it stopped part way.
func (s *Service) Import(ctx context.Context, p domain.Principal, plan *ImportPlan, skipBad bool) (ImportResult, error) {
	if err := p.Require(domain.RoleEditor); err != nil {
		return ImportResult{}, err
	}
	res, err := s.vault.Import(ctx, plan, skipBad)
	if errors.Is(err, ErrImportHasBadRows) {
		return res, err
	}
	if len(res.Added) > 0 {
		s.nudge()
	}
	detail := importDetail(res)
	if err != nil {
		s.trail.Record(ctx, p, audit.KeysImport, "", detail+"; stopped: "+err.Error())
		return res, err
	}
	s.log.Info("keys imported", slog.Int("added", len(res.Added)), slog.Int("duplicates", len(res.Duplicates)),
		slog.Int("skipped", len(res.Skipped)), actorAttrs(p))
	s.trail.Record(ctx, p, audit.KeysImport, "", detail)
	return res, nil
}

// Export writes every key with its verdict and dates as CSV (never a key) and records it.
func (s *Service) Export(ctx context.Context, p domain.Principal, w io.Writer) (int, error) {
	if err := p.Require(domain.RoleViewer); err != nil {
		return 0, err
	}
	n, err := export.AllKeys(ctx, w, s.db, s.db.Now())
	if err != nil {
		return n, err
	}
	s.trail.Record(ctx, p, audit.KeysExport, "", fmt.Sprintf("%d pairs", n))
	return n, nil
}

// importDetail says what an import did, for the audit trail: counts, lines and the new ids.
func importDetail(res ImportResult) string {
	d := fmt.Sprintf("%d added, %d duplicates skipped, %d bad rows skipped", len(res.Added), len(res.Duplicates), len(res.Skipped))
	if len(res.Added) > 0 {
		ids := make([]string, 0, min(len(res.Added), 20))
		for _, p := range res.Added[:min(len(res.Added), 20)] {
			ids = append(ids, strconv.FormatInt(p.ID, 10))
		}
		if len(res.Added) > 20 {
			ids = append(ids, "…")
		}
		d += "; pairs " + strings.Join(ids, ", ")
	}
	if len(res.Skipped) > 0 {
		d += "; bad lines " + Lines(res.Skipped)
	}
	return d
}

// Lines lists line numbers for a message, the first 20 of them.
func Lines(ns []int) string {
	parts := make([]string, 0, min(len(ns), 20))
	for _, n := range ns[:min(len(ns), 20)] {
		parts = append(parts, strconv.Itoa(n))
	}
	if len(ns) > 20 {
		parts = append(parts, "…")
	}
	return strings.Join(parts, ", ")
}

// addDetail says what an add set beyond the label and email, for the audit trail: its tags.
func addDetail(k domain.Key) string {
	var parts []string
	if len(k.Tags) > 0 {
		parts = append(parts, "tags "+tagList(k.Tags))
	}
	if k.Expected == domain.ExpectRevoked {
		parts = append(parts, "expected "+expectWords(k.Expected))
	}
	return strings.Join(parts, "; ")
}

// tagList is tags for the audit trail: "[billing env:prod]", "[]" for none.
func tagList(tags []string) string { return "[" + strings.Join(tags, " ") + "]" }

// editDetail says what an edit changed, for the audit trail (never the key itself).
func editDetail(before, after domain.Key, keyReplaced bool) string {
	var parts []string
	if before.Label != after.Label {
		parts = append(parts, "label "+strconv.Quote(before.Label)+" → "+strconv.Quote(after.Label))
	}
	if before.Email != after.Email {
		parts = append(parts, "email "+before.Email+" → "+after.Email)
	}
	if !slices.Equal(before.Tags, after.Tags) {
		parts = append(parts, "tags "+tagList(before.Tags)+" → "+tagList(after.Tags))
	}
	if keyReplaced {
		parts = append(parts, "key replaced (••••"+before.KeyHint+" → ••••"+after.KeyHint+")")
	}
	if b, a := before.Expected.Or(), after.Expected.Or(); b != a {
		parts = append(parts, "expected "+expectWords(b)+" → "+expectWords(a))
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, "; ")
}

// expectWords names an expectation for the audit trail: its value and what it means.
func expectWords(e domain.Expect) string {
	if e.Or() == domain.ExpectRevoked {
		return "revoked (should be dead)"
	}
	return "valid (should work)"
}
