package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/staxkeys/staxkeys/domain"
	"modernc.org/sqlite"
)

// NewKey is what it takes to register a pair. Seal is called inside the transaction with the
// new row's id, because the id is bound into the ciphertext.
type NewKey struct {
	Label, Email, KeyHint string
	Tags                  []string // normalised already (keys.Validate)
	KeyFingerprint        []byte
	Seal                  func(id int64) ([]byte, error)
	// Expected is what is expected of the pair; unset is domain.ExpectValid.
	Expected domain.Expect
}

// KeyUpdate changes a pair's label and email and, when Seal is set, its key.
type KeyUpdate struct {
	Label, Email string
	// Tags replace the pair's tags (normalised already, keys.Validate); nil or empty clears them.
	Tags []string
	// Set only when the key is replaced:
	KeyHint        string
	KeyFingerprint []byte
	Seal           func(id int64) ([]byte, error)
}

const keyColumns = `id, label, email, key_sealed, key_hint, key_fingerprint,
	created_at, updated_at, key_changed_at, verdict, verdict_at, verdict_since, last_valid_at,
	last_check_at, last_outcome, last_reason, last_http_status, last_latency_ms,
	next_check_at, failures, candidate, candidate_count, flaps, steady, failing_since, key_replaced_at,
	expected, expected_at`

// tagsColumn is a pair's tags as one space-separated string (tags hold no spaces), read in the
// same query as the pair through the key_tags primary key: pages and the API get tags without
// a query per pair. The checker's reads leave it out.
const tagsColumn = `(SELECT group_concat(tag, ' ') FROM key_tags WHERE key_tags.pair_id = pairs.id)`

// taggedKeyColumns are keyColumns and the pair's tags, for scanTaggedKey.
const taggedKeyColumns = keyColumns + ", " + tagsColumn

// scanTaggedKey reads a row of taggedKeyColumns.
func scanTaggedKey(row interface{ Scan(...any) error }) (domain.Key, error) {
	var tags sql.NullString
	p, err := scanKey(row, &tags)
	if err != nil {
		return p, err
	}
	p.Tags = splitTags(tags.String)
	return p, nil
}

// splitTags is the tags of tagsColumn, sorted (group_concat promises no order); never nil, so
// a read that loads tags tells "none" from "not loaded".
func splitTags(s string) []string {
	tags := strings.Fields(s)
	if tags == nil {
		tags = []string{}
	}
	slices.Sort(tags)
	return tags
}

// TagsOf returns the tags of pairs ids, sorted, by pair id: for readers that loaded the pairs
// without them (the checker's reads) and need them after all. Every id given has an entry,
// empty when the pair has no tag or is gone.
func (db *DB) TagsOf(ctx context.Context, ids []int64) (map[int64][]string, error) {
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("store: tags of pairs: %w", err)
	}
	rows, err := db.r.QueryContext(ctx, "SELECT pair_id, tag FROM key_tags WHERE pair_id IN (SELECT value FROM json_each(?)) ORDER BY pair_id, tag", string(list))
	if err != nil {
		return nil, fmt.Errorf("store: tags of pairs: %w", err)
	}
	defer rows.Close()
	out := make(map[int64][]string, len(ids))
	for _, id := range ids {
		out[id] = []string{}
	}
	for rows.Next() {
		var id int64
		var tag string
		if err := rows.Scan(&id, &tag); err != nil {
			return nil, fmt.Errorf("store: tags of pairs: %w", err)
		}
		out[id] = append(out[id], tag)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tags of pairs: %w", err)
	}
	return out, nil
}

// writeTags makes tags the pair's tags.
func writeTags(ctx context.Context, tx *sql.Tx, id int64, tags []string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM key_tags WHERE pair_id = ?", id); err != nil {
		return err
	}
	for _, t := range tags {
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO key_tags (pair_id, tag) VALUES (?, ?)", id, t); err != nil {
			return err
		}
	}
	return nil
}

// scanKey reads a row of keyColumns, followed by extra columns into extra.
func scanKey(row interface{ Scan(...any) error }, extra ...any) (domain.Key, error) {
	var p domain.Key
	var created, updated, keyChanged, verdictAt, since, lastValid, lastAt, next, failing, replaced, expectedAt sql.NullInt64
	var outcome sql.NullString
	var reason string
	var status, latency int64
	err := row.Scan(append([]any{&p.ID, &p.Label, &p.Email, &p.KeySealed, &p.KeyHint, &p.KeyFingerprint,
		&created, &updated, &keyChanged, &p.Verdict, &verdictAt, &since, &lastValid,
		&lastAt, &outcome, &reason, &status, &latency,
		&next, &p.Failures, &p.Candidate, &p.CandidateCount, &p.Flaps, &p.Steady, &failing, &replaced,
		&p.Expected, &expectedAt}, extra...)...)
	if err != nil {
		return domain.Key{}, err
	}
	p.CreatedAt, p.UpdatedAt, p.KeyChangedAt = fromMS(created), fromMS(updated), fromMS(keyChanged)
	p.VerdictAt, p.VerdictSince, p.LastValidAt = fromMS(verdictAt), fromMS(since), fromMS(lastValid)
	p.NextCheckAt, p.FailingSince, p.KeyReplacedAt = fromMS(next), fromMS(failing), fromMS(replaced)
	p.ExpectedAt = fromMS(expectedAt)
	if lastAt.Valid && outcome.Valid {
		p.LastCheck = &domain.Check{KeyID: p.ID, At: fromMS(lastAt), Outcome: domain.Outcome(outcome.String),
			Reason: reason, HTTPStatus: int(status), Latency: time.Duration(latency) * time.Millisecond}
	}
	return p, nil
}

// CreateKey registers a pair; a *ValidationError with Conflict set if the same email and key
// are already registered.
func (db *DB) CreateKey(ctx context.Context, in NewKey) (domain.Key, error) {
	var p domain.Key
	err := db.write(ctx, func(tx *sql.Tx) error {
		now := db.now()
		var expectedAt any // NULL: never set, unless the pair is born expected dead
		if in.Expected.Or() == domain.ExpectRevoked {
			expectedAt = now
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO pairs (label, email, key_sealed, key_hint,
			key_fingerprint, created_at, updated_at, key_changed_at, expected, expected_at)
			VALUES (?, ?, x'', ?, ?, ?, ?, ?, ?, ?)`,
			in.Label, in.Email, in.KeyHint, in.KeyFingerprint, now, now, now, string(in.Expected.Or()), expectedAt)
		if isUniqueViolation(err) {
			return duplicateKey(ctx, tx, in.KeyFingerprint, in.Email)
		}
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		sealed, err := in.Seal(id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE pairs SET key_sealed = ? WHERE id = ?", sealed, id); err != nil {
			return err
		}
		if err := writeTags(ctx, tx, id, in.Tags); err != nil {
			return err
		}
		p, err = scanTaggedKey(tx.QueryRowContext(ctx, "SELECT "+taggedKeyColumns+" FROM pairs WHERE id = ?", id))
		return err
	})
	if err != nil {
		return domain.Key{}, fmt.Errorf("store: create pair: %w", err)
	}
	return p, nil
}

// duplicateKey is the error for an email and key registered already: it names the pair
// that holds them (its label, or its email alone when it has none), so the admin can find it.
func duplicateKey(ctx context.Context, tx *sql.Tx, fp []byte, email string) error {
	msg := "this email and key are already registered"
	var label string
	if fp != nil && tx.QueryRowContext(ctx, "SELECT label FROM pairs WHERE key_fingerprint = ? AND email = ? COLLATE NOCASE",
		fp, email).Scan(&label) == nil {
		if strings.TrimSpace(label) != "" {
			msg += ", as “" + label + "”"
		} else {
			msg += ", without a label"
		}
	}
	return &domain.ValidationError{Fields: map[string]string{"key": msg}, Conflict: true}
}

// UpdateKey changes a pair. Replacing the key starts it over: the verdict goes back to pending,
// the last check and the last valid time are forgotten (they were answers about the old key),
// the history shown for it starts now (key_replaced_at), and a check is due at once.
func (db *DB) UpdateKey(ctx context.Context, id int64, up KeyUpdate) (domain.Key, error) {
	var p domain.Key
	err := db.write(ctx, func(tx *sql.Tx) error {
		now := db.now()
		var res sql.Result
		var err error
		if up.Seal == nil {
			// A new email is a new identity upstream: check it again soon, keep the history.
			res, err = tx.ExecContext(ctx, `UPDATE pairs SET label = ?,
				next_check_at = CASE WHEN email <> ? THEN 0 ELSE next_check_at END,
				key_changed_at = CASE WHEN email <> ? THEN ? ELSE key_changed_at END,
				email = ?, updated_at = ? WHERE id = ?`,
				up.Label, up.Email, up.Email, now, up.Email, now, id)
		} else {
			var sealed []byte
			if sealed, err = up.Seal(id); err != nil {
				return err
			}
			res, err = tx.ExecContext(ctx, `UPDATE pairs SET label = ?, email = ?,
				key_sealed = ?, key_hint = ?, key_fingerprint = ?, updated_at = ?, key_changed_at = ?,
				verdict = 'pending', verdict_at = NULL, verdict_since = NULL,
				next_check_at = 0, failures = 0, candidate = '', candidate_count = 0,
				flaps = 0, steady = 0, failing_since = NULL, last_valid_at = NULL,
				last_check_at = NULL, last_outcome = NULL, last_reason = '', last_http_status = 0,
				last_latency_ms = 0, key_replaced_at = ? WHERE id = ?`,
				up.Label, up.Email, sealed, up.KeyHint, up.KeyFingerprint, now, now, now, id)
		}
		if isUniqueViolation(err) {
			return duplicateKey(ctx, tx, up.KeyFingerprint, up.Email)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return domain.ErrNotFound
		}
		if err := writeTags(ctx, tx, id, up.Tags); err != nil {
			return err
		}
		p, err = scanTaggedKey(tx.QueryRowContext(ctx, "SELECT "+taggedKeyColumns+" FROM pairs WHERE id = ?", id))
		return err
	})
	if err != nil {
		return domain.Key{}, fmt.Errorf("store: update pair %d: %w", id, err)
	}
	return p, nil
}

// SetExpected sets what is expected of pair id. A change is stamped (expected_at) and makes the
// pair due for a check at once, so whether a key declared dead really is dead is known within
// seconds; setting the expectation it already has changes nothing. It returns the pair after,
// with its tags, as every read for pages and the API does.
func (db *DB) SetExpected(ctx context.Context, id int64, e domain.Expect) (domain.Key, error) {
	var p domain.Key
	err := db.write(ctx, func(tx *sql.Tx) error {
		now := db.now()
		if _, err := tx.ExecContext(ctx, `UPDATE pairs SET expected = ?, expected_at = ?, next_check_at = 0,
			updated_at = ? WHERE id = ? AND expected <> ?`, string(e.Or()), now, now, id, string(e.Or())); err != nil {
			return err
		}
		var err error
		p, err = scanTaggedKey(tx.QueryRowContext(ctx, "SELECT "+taggedKeyColumns+" FROM pairs WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		return err
	})
	if err != nil {
		return domain.Key{}, fmt.Errorf("store: pair %d expected: %w", id, err)
	}
	return p, nil
}

// DeleteKey removes a pair with its history.
func (db *DB) DeleteKey(ctx context.Context, id int64) error {
	if err := db.mustAffect(ctx, "DELETE FROM pairs WHERE id = ?", id); err != nil {
		return fmt.Errorf("store: delete pair %d: %w", id, err)
	}
	return nil
}

// KeyByID loads one pair, with its tags.
func (db *DB) KeyByID(ctx context.Context, id int64) (domain.Key, error) {
	stmt, err := db.prep.stmt(db.r, "SELECT "+taggedKeyColumns+" FROM pairs WHERE id = ?")
	if err != nil {
		return domain.Key{}, fmt.Errorf("store: pair %d: %w", id, err)
	}
	p, err := scanTaggedKey(stmt.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Key{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Key{}, fmt.Errorf("store: pair %d: %w", id, err)
	}
	return p, nil
}

// maxSearch is the longest search that can match anything: longer than any label or email
// (lowering a string keeps its number of runes).
const maxSearch = 256

// keySorts lists each order's terms apart, so reversing one cannot split inside an expression
// such as COALESCE(a, b). Each list is indexed term for term (migrations/00004), so a page is
// read off an index rather than sorted; keep the two in step.
var keySorts = map[string][]string{
	"status":  {statusOrder, outcomeOrder, "lower(label)", "id"},
	"label":   {"lower(label)", "lower(email)", "id"},
	"email":   {"lower(email)", "lower(label)", "id"},
	"checked": {"COALESCE(last_check_at, 0)", "id"},
	"added":   {"created_at", "id"},
}

// statusOrder puts problems first, the worst first: a key expected dead that Stax.ai still
// accepts, then revoked and denied keys that should work; a retired key goes among the working
// ones (migrations/00049). outcomeOrder puts a failed last check first among equals.
const (
	statusOrder = `CASE WHEN expected = 'revoked' AND verdict = 'valid' THEN 0
          WHEN expected = 'revoked' THEN (CASE verdict WHEN 'pending' THEN 3 ELSE 4 END)
          ELSE (CASE verdict WHEN 'revoked' THEN 1 WHEN 'denied' THEN 2 WHEN 'pending' THEN 3 ELSE 4 END) END`
	outcomeOrder = "CASE last_outcome WHEN 'error' THEN 0 ELSE 1 END"
)

// foldFunc lowers text in SQL as strings.ToLower does in Go. SQLite's lower() knows only ASCII,
// so with it a search for "équipe" missed the label "Équipe", and so did a search for "Équipe"
// itself, as the pattern is lowered in Go.
const foldFunc = "staxkeys_fold"

func init() {
	sqlite.MustRegisterDeterministicScalarFunction(foldFunc, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		}
		return args[0], nil
	})
}

// ListKeys returns the pairs matching q, in its order, with the total match count, each with
// its tags.
//
// It works in two steps so that a page stays cheap at tens of thousands of pairs: the ids of
// the page are found first (off an index where the order has one, or by sorting ids alone),
// then just those rows are read.
func (db *DB) ListKeys(ctx context.Context, q domain.KeyQuery) (domain.KeyPage, error) {
	var where []string
	var args []any
	byVerdict := false
	switch q.Status {
	case "":
	case "undecided":
		where = append(where, "last_outcome = 'error'")
	case string(domain.Pending):
		where = append(where, "verdict = 'pending'")
		byVerdict = true
	case string(domain.Valid), string(domain.Revoked), string(domain.Denied):
		// The verdicts of keys that should work: one expected dead is still accepted or retired.
		where = append(where, "verdict = ? AND expected = 'valid'")
		args = append(args, q.Status)
		byVerdict = true
	case string(domain.StandingStillAccepted):
		where = append(where, "verdict = 'valid' AND expected = 'revoked'")
		byVerdict = true
	case string(domain.StandingRetired):
		where = append(where, "verdict IN ('revoked', 'denied') AND expected = 'revoked'")
		byVerdict = true
	default:
		return domain.KeyPage{}, &domain.ValidationError{Fields: map[string]string{"status": "unknown status"}}
	}
	search := strings.TrimSpace(q.Search)
	if utf8.RuneCountInString(search) > maxSearch || strings.ContainsRune(search, 0) {
		// No label or email is that long or holds a NUL, so nothing matches; and SQLite would
		// refuse a LIKE pattern over 50,000 bytes (a 500), or read a NUL as the pattern's end
		// (and match everything).
		return domain.KeyPage{}, nil
	}
	if search != "" {
		// SQLite's own LIKE ignores ASCII case and runs in C; only a row with letters beyond
		// ASCII (more bytes than characters) needs the Go fold, a call into Go per row.
		like := "%" + escapeLike(strings.ToLower(search)) + "%"
		where = append(where, `(label LIKE ? ESCAPE '\' OR email LIKE ? ESCAPE '\'
			OR (length(label) + length(email) <> octet_length(label) + octet_length(email)
				AND (`+foldFunc+`(label) LIKE ? ESCAPE '\' OR `+foldFunc+`(email) LIKE ? ESCAPE '\')))`)
		args = append(args, like, like, like, like)
	}
	if tag := domain.NormalizeTag(q.Tag); tag != "" {
		where = append(where, "id IN (SELECT pair_id FROM key_tags WHERE tag = ?)")
		args = append(args, tag)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	desc := strings.HasPrefix(q.Sort, "-")
	terms, ok := keySorts[strings.TrimPrefix(q.Sort, "-")]
	if !ok {
		if q.Sort != "" {
			return domain.KeyPage{}, &domain.ValidationError{Fields: map[string]string{"sort": "unknown sort order"}}
		}
		terms = keySorts["status"]
	}
	if byVerdict && terms[0] == statusOrder {
		// Constant under the filter; without it the order matches pairs_verdict_order.
		terms = terms[1:]
	}
	if desc {
		terms = reverseOrder(terms)
	}
	order := strings.Join(terms, ", ")
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}

	var page domain.KeyPage
	count := func() error {
		err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM pairs"+cond, args...).Scan(&page.Total)
		if err != nil {
			return fmt.Errorf("store: count pairs: %w", err)
		}
		return nil
	}
	// Without a search the count and (mostly) the page come off indexes. A search reads every
	// row anyway, so it counts the matches in the same pass.
	total := "count(*) OVER ()"
	if search == "" {
		if err := count(); err != nil {
			return domain.KeyPage{}, err
		}
		if page.Total == 0 || q.Offset >= page.Total {
			return page, nil
		}
		total = strconv.Itoa(page.Total)
	}
	ids, err := db.pageIDs(ctx, "SELECT id, "+total+" FROM pairs"+cond+" ORDER BY "+order+" LIMIT ? OFFSET ?",
		append(args, limit, max(q.Offset, 0)), &page.Total)
	if err != nil {
		return domain.KeyPage{}, fmt.Errorf("store: list pairs: %w", err)
	}
	if len(ids) == 0 {
		// Past the last page of a search: the window had nothing to count.
		return page, count()
	}
	if page.Keys, err = db.keysByID(ctx, ids); err != nil {
		return domain.KeyPage{}, fmt.Errorf("store: list pairs: %w", err)
	}
	return page, nil
}

// pageIDs runs a query of (id, total) rows, returning the ids and setting total.
func (db *DB) pageIDs(ctx context.Context, query string, args []any, total *int) ([]int64, error) {
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, total); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// keysByID loads the pairs with the given ids and their tags, in the order of ids; vanished
// ids are skipped.
func (db *DB) keysByID(ctx context.Context, ids []int64) ([]domain.Key, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	marks, args := placeholders(ids)
	rows, err := db.r.QueryContext(ctx, "SELECT "+taggedKeyColumns+" FROM pairs WHERE id IN ("+marks+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := make(map[int64]domain.Key, len(ids))
	for rows.Next() {
		p, err := scanTaggedKey(rows)
		if err != nil {
			return nil, err
		}
		byID[p.ID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]domain.Key, 0, len(ids))
	for _, id := range ids {
		if p, ok := byID[id]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// placeholders returns "?,?,…" for ids and the ids as query arguments.
func placeholders(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(ids)), ","), args
}

// reverseOrder turns every term of an ORDER BY list descending.
func reverseOrder(terms []string) []string {
	out := make([]string, len(terms))
	for i, t := range terms {
		out[i] = t + " DESC"
	}
	return out
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// CountKeys counts pairs per verdict, and those expected dead among them. Both counts are read
// off covering indexes (pairs_verdict, on verdict and expected; pairs_last_outcome), so the dashboard's summary stays cheap however many pairs there are.
func (db *DB) CountKeys(ctx context.Context) (domain.StatusCounts, error) {
	return db.CountKeysTagged(ctx, "")
}

// CountKeysTagged is CountKeys over the pairs holding tag alone ("" for all), so that the
// dashboard's cards describe the keys its ?tag= filter shows. Still one statement; the tagged
// one narrows each half through the key_tags primary key.
func (db *DB) CountKeysTagged(ctx context.Context, tag string) (domain.StatusCounts, error) {
	var c domain.StatusCounts
	query := `SELECT verdict, expected, count(*) FROM pairs GROUP BY verdict, expected
		UNION ALL SELECT 'undecided', 'valid', count(*) FROM pairs WHERE last_outcome = 'error'`
	var args []any
	if tag = domain.NormalizeTag(tag); tag != "" {
		const tagged = `id IN (SELECT pair_id FROM key_tags WHERE tag = ?)`
		query = `SELECT verdict, expected, count(*) FROM pairs WHERE ` + tagged + ` GROUP BY verdict, expected
		UNION ALL SELECT 'undecided', 'valid', count(*) FROM pairs WHERE last_outcome = 'error' AND ` + tagged
		args = []any{tag, tag}
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return c, fmt.Errorf("store: count pairs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var expected domain.Expect
		var n int
		if err := rows.Scan(&name, &expected, &n); err != nil {
			return c, fmt.Errorf("store: count pairs: %w", err)
		}
		dead := expected == domain.ExpectRevoked
		switch domain.Verdict(name) {
		case domain.Pending:
			c.Pending += n
		case domain.Valid:
			c.Valid += n
			if dead {
				c.StillAccepted += n
			}
		case domain.Revoked:
			c.Revoked += n
			if dead {
				c.RetiredRevoked += n
			}
		case domain.Denied:
			c.Denied += n
			if dead {
				c.RetiredDenied += n
			}
		default: // "undecided"
			c.Undecided = n
			continue
		}
		c.Total += n
	}
	if err := rows.Err(); err != nil {
		return c, fmt.Errorf("store: count pairs: %w", err)
	}
	return c, nil
}

// KeysWithFingerprint lists the pairs holding the same key (under any email), by id.
func (db *DB) KeysWithFingerprint(ctx context.Context, fp []byte) ([]domain.Key, error) {
	return db.queryKeys(ctx, "SELECT "+keyColumns+" FROM pairs WHERE key_fingerprint = ? ORDER BY id", fp)
}

// ListTags lists every tag some pair holds, with how many hold it, by tag. It reads the
// key_tags_tag index alone.
func (db *DB) ListTags(ctx context.Context) ([]domain.TagCount, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT tag, count(*) FROM key_tags GROUP BY tag ORDER BY tag")
	if err != nil {
		return nil, fmt.Errorf("store: list tags: %w", err)
	}
	defer rows.Close()
	out := []domain.TagCount{}
	for rows.Next() {
		var t domain.TagCount
		if err := rows.Scan(&t.Tag, &t.Keys); err != nil {
			return nil, fmt.Errorf("store: list tags: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tags: %w", err)
	}
	return out, nil
}

// SharedKeys reports which of the given pairs hold a key that is also registered under
// another email (the same key twice is usually a copy-paste mistake).
func (db *DB) SharedKeys(ctx context.Context, ids []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(ids) == 0 {
		return out, nil
	}
	marks, args := placeholders(ids)
	rows, err := db.r.QueryContext(ctx, `SELECT p.id FROM pairs p WHERE p.id IN (`+marks+`)
		AND EXISTS (SELECT 1 FROM pairs o WHERE o.key_fingerprint = p.key_fingerprint AND o.id <> p.id)`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: shared keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// KeyVerdict is a pair's id, verdict and check times: all that metrics need of it.
type KeyVerdict struct {
	ID      int64
	Verdict domain.Verdict
	// LastCheckAt is the last check of any outcome; zero before the first.
	LastCheckAt time.Time
	// VerdictAt is the last check that Stax.ai answered decisively and that confirmed the
	// verdict; zero while pending. It stands still while checks fail, which LastCheckAt does not.
	VerdictAt time.Time
}

// KeyVerdicts lists every pair's verdict and check times, by id.
func (db *DB) KeyVerdicts(ctx context.Context) ([]KeyVerdict, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT id, verdict, last_check_at, verdict_at FROM pairs ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: pair verdicts: %w", err)
	}
	defer rows.Close()
	var out []KeyVerdict
	for rows.Next() {
		var v KeyVerdict
		var checked, decided sql.NullInt64
		if err := rows.Scan(&v.ID, &v.Verdict, &checked, &decided); err != nil {
			return nil, fmt.Errorf("store: pair verdicts: %w", err)
		}
		v.LastCheckAt, v.VerdictAt = fromMS(checked), fromMS(decided)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: pair verdicts: %w", err)
	}
	return out, nil
}
