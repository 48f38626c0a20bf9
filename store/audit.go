package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// auditHead names the setting holding the MAC of the newest entry, so deleting the newest
// rows is caught too.
const auditHead = "audit_head"

// auditMAC chains an entry to the previous entry's MAC. Every field is length-prefixed so no
// two different entries encode alike.
func auditMAC(key, prev []byte, e domain.AuditEntry) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(prev)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(e.ID))
	m.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.At.UnixMilli()))
	m.Write(n[:])
	for _, f := range []string{e.Actor, e.Action, e.Target, e.IP, e.Detail} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	return m.Sum(nil)
}

// AppendAudit records e, chained to the previous entry under key.
func (db *DB) AppendAudit(ctx context.Context, key []byte, e domain.AuditEntry) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		var prev []byte
		err := tx.QueryRowContext(ctx, "SELECT mac FROM audit_log ORDER BY id DESC LIMIT 1").Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(max(seq), 0) + 1 FROM sqlite_sequence WHERE name = 'audit_log'").Scan(&id); err != nil {
			return err
		}
		e.ID, e.At = id, db.Now().UTC().Truncate(time.Millisecond)
		e.MAC = auditMAC(key, prev, e)
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (id, at, actor, action, target, ip, detail, mac)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, ms(e.At), e.Actor, e.Action, e.Target, e.IP, e.Detail, e.MAC); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, auditHead, headValue(key, e.ID, e.MAC))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: append audit: %w", err)
	}
	return nil
}

func headValue(key []byte, id int64, mac []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("audit head"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(id))
	m.Write(n[:])
	m.Write(mac)
	return append(n[:], m.Sum(nil)...)
}

// AuditBreak says where the chain is broken.
type AuditBreak struct {
	ID     int64 // the first entry that does not verify (0 when the tail was cut)
	Reason string
}

// VerifyAudit walks the whole chain and returns the first break, or nil when it is intact.
// It also returns how many entries it checked.
func (db *DB) VerifyAudit(ctx context.Context, key []byte) (*AuditBreak, int, error) {
	// One read transaction: the rows and the head record come from the same snapshot, so an
	// entry appended meanwhile is not mistaken for tampering.
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("store: verify audit: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT id, at, actor, action, target, ip, detail, mac FROM audit_log ORDER BY id")
	if err != nil {
		return nil, 0, fmt.Errorf("store: verify audit: %w", err)
	}
	defer rows.Close()
	var prev []byte
	var lastID int64
	n := 0
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, n, fmt.Errorf("store: verify audit: %w", err)
		}
		if e.ID != lastID+1 {
			return &AuditBreak{ID: e.ID, Reason: fmt.Sprintf("entries %d to %d are missing", lastID+1, e.ID-1)}, n, nil
		}
		if !hmac.Equal(auditMAC(key, prev, e), e.MAC) {
			return &AuditBreak{ID: e.ID, Reason: "the entry was changed (its MAC does not match)"}, n, nil
		}
		prev, lastID = e.MAC, e.ID
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, n, err
	}
	var head []byte
	err = tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", auditHead).Scan(&head)
	switch {
	case errors.Is(err, sql.ErrNoRows) && n == 0:
		return nil, 0, nil
	case err != nil:
		return &AuditBreak{Reason: "the record of the newest entry is missing"}, n, nil
	case !hmac.Equal(head, headValue(key, lastID, prev)):
		return &AuditBreak{ID: lastID + 1, Reason: "entries after the last one present were deleted, or the head record was changed"}, n, nil
	}
	return nil, n, nil
}

// AuditQuery filters the audit trail.
type AuditQuery struct {
	Action string // exact action, or a prefix ending in "." such as "pair."
	Actor  string // substring
	Target string // exact
	Since  time.Time
	Until  time.Time
	Limit  int
	Offset int
}

// ListAudit returns entries matching q, newest first, and how many match in all.
func (db *DB) ListAudit(ctx context.Context, q AuditQuery) ([]domain.AuditEntry, int, error) {
	var where []string
	var args []any
	if q.Action != "" {
		if strings.HasSuffix(q.Action, ".") {
			where = append(where, "action LIKE ? ESCAPE '\\'")
			args = append(args, escapeLike(q.Action)+"%")
		} else {
			where = append(where, "action = ?")
			args = append(args, q.Action)
		}
	}
	if q.Actor != "" {
		where = append(where, "lower(actor) LIKE ? ESCAPE '\\'")
		args = append(args, "%"+escapeLike(strings.ToLower(q.Actor))+"%")
	}
	if q.Target != "" {
		where = append(where, "target = ?")
		args = append(args, q.Target)
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, ms(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, ms(q.Until))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM audit_log"+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: list audit: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}
	rows, err := db.r.QueryContext(ctx, "SELECT id, at, actor, action, target, ip, detail, mac FROM audit_log"+cond+
		" ORDER BY id DESC LIMIT ? OFFSET ?", append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	var out []domain.AuditEntry
	for rows.Next() {
		e, err := scanAudit(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list audit: %w", err)
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}

func scanAudit(row interface{ Scan(...any) error }) (domain.AuditEntry, error) {
	var e domain.AuditEntry
	var at sql.NullInt64
	err := row.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.IP, &e.Detail, &e.MAC)
	e.At = fromMS(at)
	return e, err
}
