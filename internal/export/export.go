// Package export writes staxkeys' records as CSV that is safe to open in a spreadsheet: the
// key pairs (never their keys) and the audit trail.
package export

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// Cell neutralises a value that a spreadsheet would run as a formula. Following OWASP's advice
// on CSV injection, a value starting with =, +, -, @, a tab or a carriage return gets a leading
// apostrophe, which spreadsheets show as text and do not evaluate.
func Cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// writer writes rows through Cell.
type writer struct{ w *csv.Writer }

func newWriter(w io.Writer) *writer { return &writer{w: csv.NewWriter(w)} }

func (w *writer) row(cells ...string) error {
	for i, c := range cells {
		cells[i] = Cell(c)
	}
	return w.w.Write(cells)
}

func (w *writer) flush() error {
	w.w.Flush()
	return w.w.Error()
}

// KeyColumns are the columns of a pairs export, in order.
var KeyColumns = []string{"id", "label", "email", "key_hint", "verdict", "verdict_since", "verdict_at",
	"last_check_at", "last_outcome", "last_valid_at", "created_at", "key_changed_at", "key_age_days", "shared_key", "tags",
	"expected"}

// WriteKeys writes pairs as CSV with a header row: what is known of each key, never the key
// (key_hint is its last four characters, as every page shows). shared marks pairs whose key is
// also registered under another email; now dates the key ages. tags holds a key's tags
// separated by spaces, as the import reads them.
func WriteKeys(out io.Writer, pairs []domain.Key, shared map[int64]bool, now time.Time) error {
	w := newWriter(out)
	if err := w.row(append([]string(nil), KeyColumns...)...); err != nil {
		return err
	}
	for _, p := range pairs {
		lastCheck, lastOutcome := "", ""
		if c := p.LastCheck; c != nil {
			lastCheck, lastOutcome = stamp(c.At), string(c.Outcome)
		}
		age := ""
		if !p.KeyChangedAt.IsZero() {
			age = strconv.Itoa(int(now.Sub(p.KeyChangedAt) / (24 * time.Hour)))
		}
		if err := w.row(strconv.FormatInt(p.ID, 10), p.Label, p.Email, p.KeyHint, string(p.Verdict),
			stamp(p.VerdictSince), stamp(p.VerdictAt), lastCheck, lastOutcome, stamp(p.LastValidAt),
			stamp(p.CreatedAt), stamp(p.KeyChangedAt), age, yesNo(shared[p.ID]), strings.Join(p.Tags, " "),
			string(p.Expected.Or())); err != nil {
			return err
		}
	}
	return w.flush()
}

// exportedKey is one pair of a JSON export: KeyColumns' fields, nothing more.
type exportedKey struct {
	ID           int64      `json:"id"`
	Label        string     `json:"label"`
	Email        string     `json:"email"`
	KeyHint      string     `json:"key_hint"`
	Verdict      string     `json:"verdict"`
	VerdictSince *time.Time `json:"verdict_since"`
	VerdictAt    *time.Time `json:"verdict_at"`
	LastCheckAt  *time.Time `json:"last_check_at"`
	LastOutcome  string     `json:"last_outcome,omitempty"`
	LastValidAt  *time.Time `json:"last_valid_at"`
	CreatedAt    *time.Time `json:"created_at"`
	KeyChangedAt *time.Time `json:"key_changed_at"`
	KeyAgeDays   *int       `json:"key_age_days"`
	SharedKey    bool       `json:"shared_key"`
	Tags         []string   `json:"tags"` // never null: [] for none
	Expected     string     `json:"expected"`
}

// WriteKeysJSON writes pairs as WriteKeys does, as a JSON array of objects named by KeyColumns
// (no formula guard: JSON is not opened by spreadsheets); a date not known is null.
func WriteKeysJSON(out io.Writer, pairs []domain.Key, shared map[int64]bool, now time.Time) error {
	rows := make([]exportedKey, 0, len(pairs))
	for _, p := range pairs {
		r := exportedKey{ID: p.ID, Label: p.Label, Email: p.Email, KeyHint: p.KeyHint, Verdict: string(p.Verdict),
			VerdictSince: when(p.VerdictSince), VerdictAt: when(p.VerdictAt), LastValidAt: when(p.LastValidAt),
			CreatedAt: when(p.CreatedAt), KeyChangedAt: when(p.KeyChangedAt), SharedKey: shared[p.ID],
			Tags: p.Tags, Expected: string(p.Expected.Or())}
		if r.Tags == nil {
			r.Tags = []string{}
		}
		if c := p.LastCheck; c != nil {
			r.LastCheckAt, r.LastOutcome = when(c.At), string(c.Outcome)
		}
		if !p.KeyChangedAt.IsZero() {
			age := int(now.Sub(p.KeyChangedAt) / (24 * time.Hour))
			r.KeyAgeDays = &age
		}
		rows = append(rows, r)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func when(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// AllKeys writes every pair in db as WriteKeys does and returns how many it wrote.
func AllKeys(ctx context.Context, out io.Writer, db *store.DB, now time.Time) (int, error) {
	pairs, err := db.AllKeys(ctx)
	if err != nil {
		return 0, err
	}
	shared := map[int64]bool{}
	// In chunks: SQLite bounds the number of parameters of one statement.
	for start := 0; start < len(pairs); start += 500 {
		chunk := pairs[start:min(start+500, len(pairs))]
		ids := make([]int64, len(chunk))
		for i, p := range chunk {
			ids[i] = p.ID
		}
		m, err := db.SharedKeys(ctx, ids)
		if err != nil {
			return 0, err
		}
		maps.Copy(shared, m)
	}
	return len(pairs), WriteKeys(out, pairs, shared, now)
}

// AuditColumns are the columns of an audit trail export, in order.
var AuditColumns = []string{"id", "at", "actor", "action", "target", "ip", "detail"}

// WriteAudit writes audit entries as CSV with a header row.
func WriteAudit(out io.Writer, entries []domain.AuditEntry) error {
	w := newWriter(out)
	if err := w.row(append([]string(nil), AuditColumns...)...); err != nil {
		return err
	}
	for _, e := range entries {
		if err := w.row(strconv.FormatInt(e.ID, 10), stamp(e.At), e.Actor, e.Action, e.Target, e.IP, e.Detail); err != nil {
			return err
		}
	}
	return w.flush()
}

// ActivityColumns are the columns of an activity feed export, in order.
var ActivityColumns = []string{"at", "kind", "ended", "key_id", "key_label", "key_email", "from", "to",
	"event", "channel", "status", "reason", "detail", "by", "ended_by", "until", "tag"}

// WriteActivity writes feed entries as CSV with a header row.
func WriteActivity(out io.Writer, entries []domain.Activity) error {
	w := newWriter(out)
	if err := w.row(append([]string(nil), ActivityColumns...)...); err != nil {
		return err
	}
	for _, a := range entries {
		key := ""
		if a.KeyID != 0 {
			key = strconv.FormatInt(a.KeyID, 10)
		}
		if err := w.row(stamp(a.At), string(a.Kind), stamp(a.Ended), key, a.KeyLabel, a.KeyEmail,
			string(a.From), string(a.To), a.Event, a.Channel, string(a.Status), a.Reason, a.Detail,
			a.By, a.EndedBy, stamp(a.Until), a.Tag); err != nil {
			return err
		}
	}
	return w.flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
