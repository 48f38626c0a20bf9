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
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/export"
)

// BulkAction names what a bulk request does to each selected key.
type BulkAction string

// The bulk actions. Each is the single-key method of the same name, once per key, but for
// check: a bulk check queues its keys for the scheduler rather than checking each in turn.
const (
	BulkCheck  BulkAction = "check"
	BulkMute   BulkAction = "mute"
	BulkUnmute BulkAction = "unmute"
	BulkDelete BulkAction = "delete"
	BulkExport BulkAction = "export"
	// BulkTag and BulkUntag add a tag to and remove one from each key (Update with its tags).
	BulkTag   BulkAction = "tag"
	BulkUntag BulkAction = "untag"
)

// BulkActions lists the bulk actions in the order the dashboard offers them.
var BulkActions = []BulkAction{BulkCheck, BulkMute, BulkUnmute, BulkTag, BulkUntag, BulkExport, BulkDelete}

// MaxBulk bounds a selection: a bigger one is a field error, not a long stall. A bulk check
// only makes its keys due (the scheduler checks them under the rate cap), so it takes as many.
const MaxBulk = 10000

// Selection names the keys of a bulk action: IDs, or every key Filter matches when the
// action runs (its Status, Search and Tag; order and paging are ignored). Exactly one is given.
type Selection struct {
	IDs    []int64
	Filter *domain.KeyQuery
}

// BulkRequest is one bulk action on a selection. Until and Note are the mute's (see Mute), Tag
// the tag that tag and untag add or remove.
type BulkRequest struct {
	Action BulkAction
	Selection
	Until time.Time
	Note  string
	Tag   string
}

// BulkResult says what a bulk action did to each selected key.
type BulkResult struct {
	Action   BulkAction
	Selected int     // keys in the selection (ids given, or the filter's matches)
	Done     []int64 // keys the action was done to
	NotFound []int64 // ids given that name no key (deleted meanwhile, or never)
	// Failed holds the keys the action could not be done to, with why.
	Failed map[int64]string
}

// Summary says what happened in a few words: "10 deleted, 2 not found", or for a check
// "3,000 keys queued for a check now; they run under the usual concurrency and rate limits".
func (r BulkResult) Summary() string {
	past := map[BulkAction]string{BulkMute: "muted", BulkUnmute: "unmuted",
		BulkDelete: "deleted", BulkExport: "exported", BulkTag: "tagged", BulkUntag: "untagged"}[r.Action]
	parts := []string{strconv.Itoa(len(r.Done)) + " " + past}
	if r.Action == BulkCheck {
		noun := " keys"
		if len(r.Done) == 1 {
			noun = " key"
		}
		parts[0] = thousands(len(r.Done)) + noun + " queued for a check now"
	}
	if len(r.NotFound) > 0 {
		parts = append(parts, strconv.Itoa(len(r.NotFound))+" not found")
	}
	if len(r.Failed) > 0 {
		parts = append(parts, strconv.Itoa(len(r.Failed))+" failed")
	}
	sum := strings.Join(parts, ", ")
	if r.Action == BulkCheck && len(r.Done) > 0 {
		sum += "; they run under the usual concurrency and rate limits"
	}
	return sum
}

// numbers writes counts as the pages do: 10000 → "10,000".
var numbers = message.NewPrinter(language.English)

// thousands writes n with thousands separators.
func thousands(n int) string { return numbers.Sprintf("%d", n) }

// ParseBulkAction reads an action's name; an unknown one is a field error ("action").
func ParseBulkAction(s string) (BulkAction, error) {
	a := BulkAction(strings.TrimSpace(s))
	if !slices.Contains(BulkActions, a) {
		return "", domain.Invalid("action", "choose one of check, mute, unmute, tag, untag, export or delete")
	}
	return a, nil
}

// Resolve returns the keys sel names, in the dashboard's order for a filter and in the order
// given for ids, with the ids that name no key. A selection that is empty, both ids and filter,
// or more than MaxBulk keys is a field error ("ids" or "filter").
func (s *Service) Resolve(ctx context.Context, sel Selection) (found []domain.Key, missing []int64, err error) {
	switch {
	case sel.Filter != nil && len(sel.IDs) > 0:
		return nil, nil, domain.Invalid("ids", "give ids or a filter, not both")
	case sel.Filter != nil:
		q := domain.KeyQuery{Status: sel.Filter.Status, Search: sel.Filter.Search, Tag: sel.Filter.Tag, Limit: MaxBulk + 1}
		page, err := s.db.ListKeys(ctx, q)
		var ve *domain.ValidationError
		if errors.As(err, &ve) {
			for f, msg := range ve.Fields {
				return nil, nil, domain.Invalid("filter", "filter "+f+": "+msg)
			}
		}
		if err != nil {
			return nil, nil, err
		}
		if page.Total > MaxBulk {
			return nil, nil, domain.Invalid("filter", fmt.Sprintf("the filter matches %d keys; a bulk action takes at most %d: narrow the filter", page.Total, MaxBulk))
		}
		return page.Keys, nil, nil
	case len(sel.IDs) == 0:
		return nil, nil, domain.Invalid("ids", "select at least one key")
	case len(sel.IDs) > MaxBulk:
		return nil, nil, domain.Invalid("ids", fmt.Sprintf("%d keys selected; a bulk action takes at most %d", len(sel.IDs), MaxBulk))
	}
	seen := make(map[int64]bool, len(sel.IDs))
	for _, id := range sel.IDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		k, err := s.Get(ctx, id)
		switch {
		case errors.Is(err, domain.ErrNotFound):
			missing = append(missing, id)
		case err != nil:
			return nil, nil, err
		default:
			found = append(found, k)
		}
	}
	return found, missing, nil
}

// Bulk does req.Action to every key of its selection through the single-key methods, so each
// key's change checks the role, records its own audit entry (saying it was part of a bulk
// action) and tells the checker, as one at a time would. The role is checked first: a viewer's
// bulk delete is domain.ErrForbidden and nothing is done. A bad mute (until, note) is a field
// error before any key is touched. A key that goes while the action runs is counted not found;
// other per-key failures are in Failed, and the rest go on. A check only queues the keys (see
// queueChecks). Export is ExportSelection.
func (s *Service) Bulk(ctx context.Context, p domain.Principal, req BulkRequest) (BulkResult, error) {
	res := BulkResult{Action: req.Action, Failed: map[int64]string{}}
	if _, err := ParseBulkAction(string(req.Action)); err != nil || req.Action == BulkExport {
		return res, domain.Invalid("action", "choose one of check, mute, unmute, tag, untag or delete")
	}
	if err := p.Require(domain.RoleEditor); err != nil {
		return res, err
	}
	if req.Action == BulkMute {
		if err := s.checkMute(req.Until, req.Note); err != nil {
			return res, err
		}
	}
	if req.Action == BulkTag || req.Action == BulkUntag {
		tags, msg := domain.NormalizeTags([]string{req.Tag})
		switch {
		case msg != "":
			return res, domain.Invalid("tag", msg)
		case len(tags) == 0:
			return res, domain.Invalid("tag", "give a tag, such as billing or env:prod")
		}
		req.Tag = tags[0]
	}
	found, missing, err := s.Resolve(ctx, req.Selection)
	if err != nil {
		return res, err
	}
	res.Selected, res.NotFound = len(found)+len(missing), missing
	if req.Action == BulkCheck {
		return s.queueChecks(ctx, p, found, res)
	}
	ctx = audit.InBulk(ctx, res.Selected)
	for _, k := range found {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var err error
		switch req.Action {
		case BulkMute:
			_, err = s.Mute(ctx, p, k.ID, req.Until, req.Note)
		case BulkUnmute:
			_, err = s.Unmute(ctx, p, k.ID)
		case BulkDelete:
			_, err = s.Delete(ctx, p, k.ID)
		case BulkTag, BulkUntag:
			err = s.retag(ctx, p, k.ID, req.Tag, req.Action == BulkTag)
		}
		switch {
		case err == nil:
			res.Done = append(res.Done, k.ID)
		case errors.Is(err, domain.ErrNotFound):
			res.NotFound = append(res.NotFound, k.ID)
		case errors.Is(err, ErrNoChecker), errors.Is(err, context.Canceled):
			return res, err
		default:
			res.Failed[k.ID] = err.Error()
		}
	}
	return res, nil
}

// queueChecks is a bulk check: it makes every found key due at once and nudges the scheduler,
// which checks them under the usual concurrency bound and rate cap, so a selection of
// thousands is asked for in one step and the request does not wait on Stax.ai. Each key still
// gets its own audit entry, as a Check now of it alone would, saying it was part of the bulk
// action.
func (s *Service) queueChecks(ctx context.Context, p domain.Principal, found []domain.Key, res BulkResult) (BulkResult, error) {
	if s.checker == nil {
		return res, ErrNoChecker
	}
	ids := make([]int64, len(found))
	for i, k := range found {
		ids[i] = k.ID
	}
	if err := s.checker.QueueChecks(ctx, ids); err != nil {
		return res, err
	}
	ctx = audit.InBulk(ctx, res.Selected)
	for _, id := range ids {
		s.trail.Record(ctx, p, audit.KeyCheck, audit.KeyTarget(id), "queued")
	}
	res.Done = ids
	s.log.Info("keys queued for a check", slog.Int("keys", len(ids)), actorAttrs(p))
	return res, nil
}

// retag adds tag to key id's tags (or removes it) through Update, so the change is checked,
// validated and audited as an edit is. A key that already has it (or has it not) is left as
// it is, with no audit entry: nothing changed.
func (s *Service) retag(ctx context.Context, p domain.Principal, id int64, tag string, add bool) error {
	k, err := s.Get(ctx, id) // afresh: the tags may have changed since the selection was read
	if err != nil {
		return err
	}
	if k.HasTag(tag) == add {
		return nil
	}
	tags := slices.DeleteFunc(slices.Clone(k.Tags), func(t string) bool { return t == tag })
	if add {
		tags = append(tags, tag)
	}
	_, err = s.Update(ctx, p, id, Edit{Tags: &tags})
	return err
}

// checkMute is Mute's validation of until and note, for a whole selection at once.
func (s *Service) checkMute(until time.Time, note string) error {
	if msg := checkMuteNote(strings.TrimSpace(note)); msg != "" {
		return domain.Invalid("note", msg)
	}
	if !until.IsZero() && !until.After(s.db.Now()) {
		return domain.Invalid("until", "until must be in the future")
	}
	return nil
}

// ExportFormat is how ExportSelection writes: "csv" or "json".
type ExportFormat string

// The export formats.
const (
	ExportCSV  ExportFormat = "csv"
	ExportJSON ExportFormat = "json"
)

// ExportSelection writes the keys sel names, in the format asked, with what is known of each
// but never a key, and records it. It needs a viewer.
func (s *Service) ExportSelection(ctx context.Context, p domain.Principal, sel Selection, format ExportFormat, w io.Writer) (BulkResult, error) {
	res := BulkResult{Action: BulkExport, Failed: map[int64]string{}}
	if err := p.Require(domain.RoleViewer); err != nil {
		return res, err
	}
	if format != ExportCSV && format != ExportJSON {
		return res, domain.Invalid("format", "choose csv or json")
	}
	found, missing, err := s.Resolve(ctx, sel)
	if err != nil {
		return res, err
	}
	res.Selected, res.NotFound = len(found)+len(missing), missing
	ids := make([]int64, len(found))
	for i, k := range found {
		ids[i] = k.ID
	}
	shared, err := s.sharedKeys(ctx, ids)
	if err != nil {
		return res, err
	}
	if format == ExportJSON {
		err = export.WriteKeysJSON(w, found, shared, s.db.Now())
	} else {
		err = export.WriteKeys(w, found, shared, s.db.Now())
	}
	if err != nil {
		return res, err
	}
	res.Done = ids
	s.trail.Record(ctx, p, audit.KeysExport, "", fmt.Sprintf("%d pairs, a selection (%s)", len(found), format))
	return res, nil
}

// sharedKeys is store.SharedKeys in chunks: SQLite bounds the parameters of one statement.
func (s *Service) sharedKeys(ctx context.Context, ids []int64) (map[int64]bool, error) {
	shared := map[int64]bool{}
	for start := 0; start < len(ids); start += 500 {
		m, err := s.db.SharedKeys(ctx, ids[start:min(start+500, len(ids))])
		if err != nil {
			return nil, err
		}
		for id, v := range m {
			shared[id] = v
		}
	}
	return shared, nil
}
