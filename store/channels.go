package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"
)

// Channel is an alert channel reached through a URL (package notify sends on it). URLSealed
// is the URL sealed with secret.ChannelAD(ID); the store never sees it in clear.
type Channel struct {
	ID        int64
	Name      string
	Kind      string
	URLSealed []byte
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

const channelColumns = "id, name, kind, url_sealed, enabled, created_at, updated_at"

func scanChannel(row interface{ Scan(...any) error }) (Channel, error) {
	var c Channel
	var created, updated sql.NullInt64
	err := row.Scan(&c.ID, &c.Name, &c.Kind, &c.URLSealed, &c.Enabled, &created, &updated)
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return c, err
}

// AddChannel stores a new channel; seal seals its URL for the id it gets, inside the same
// transaction, since the associated data names the row. ErrConflict when the name is taken.
func (db *DB) AddChannel(ctx context.Context, c Channel, seal func(id int64) ([]byte, error)) (Channel, error) {
	now := db.Now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO channels (name, kind, url_sealed, enabled, created_at, updated_at) VALUES (?, ?, x'', ?, ?, ?)",
			c.Name, c.Kind, c.Enabled, ms(now), ms(now))
		if err != nil {
			return err
		}
		if c.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if c.URLSealed, err = seal(c.ID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE channels SET url_sealed = ? WHERE id = ?", c.URLSealed, c.ID)
		return err
	})
	if isUniqueViolation(err) {
		return Channel{}, channelNameTaken()
	}
	if err != nil {
		return Channel{}, fmt.Errorf("store: add channel: %w", err)
	}
	c.CreatedAt, c.UpdatedAt = now.UTC(), now.UTC()
	return c, nil
}

// UpdateChannel changes a channel's name, kind, enabled flag and, when URLSealed is not nil,
// its sealed URL. ErrNotFound when there is no such channel, ErrConflict when the name is taken.
func (db *DB) UpdateChannel(ctx context.Context, c Channel) error {
	q := "UPDATE channels SET name = ?, kind = ?, enabled = ?, updated_at = ?"
	args := []any{c.Name, c.Kind, c.Enabled, db.now()}
	if c.URLSealed != nil {
		q += ", url_sealed = ?"
		args = append(args, c.URLSealed)
	}
	args = append(args, c.ID)
	res, err := db.w.ExecContext(ctx, q+" WHERE id = ?", args...)
	if isUniqueViolation(err) {
		return channelNameTaken()
	}
	if err != nil {
		return fmt.Errorf("store: update channel %d: %w", c.ID, err)
	}
	return notFoundIfNone(res)
}

// DeleteChannel removes a channel and its route. Its queued deliveries stay, and fail as
// "no longer configured" on their next try, as those of a removed fixed channel do.
func (db *DB) DeleteChannel(ctx context.Context, id int64) error {
	var res sql.Result
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		if res, err = tx.ExecContext(ctx, "DELETE FROM channels WHERE id = ?", id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM routes WHERE channel = ?", fmt.Sprintf("channel:%d", id))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete channel %d: %w", id, err)
	}
	return notFoundIfNone(res)
}

// ChannelByID returns one channel, or ErrNotFound.
func (db *DB) ChannelByID(ctx context.Context, id int64) (Channel, error) {
	c, err := scanChannel(db.r.QueryRowContext(ctx, "SELECT "+channelColumns+" FROM channels WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Channel{}, domain.ErrNotFound
	}
	if err != nil {
		return Channel{}, fmt.Errorf("store: channel %d: %w", id, err)
	}
	return c, nil
}

// Channels lists every channel by name.
func (db *DB) Channels(ctx context.Context) ([]Channel, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+channelColumns+" FROM channels ORDER BY name COLLATE NOCASE")
	if err != nil {
		return nil, fmt.Errorf("store: channels: %w", err)
	}
	defer rows.Close()
	var out []Channel
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("store: channels: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Route is what one channel hears: Events and Tags empty mean all.
type Route struct {
	Channel string
	Events  []string
	Tags    []string
}

// Routes returns every channel's route by channel name; a channel without one hears all.
func (db *DB) Routes(ctx context.Context) (map[string]Route, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT channel, events, tags FROM routes")
	if err != nil {
		return nil, fmt.Errorf("store: routes: %w", err)
	}
	defer rows.Close()
	out := map[string]Route{}
	for rows.Next() {
		var r Route
		var events, tags string
		if err := rows.Scan(&r.Channel, &events, &tags); err != nil {
			return nil, fmt.Errorf("store: routes: %w", err)
		}
		r.Events, r.Tags = splitList(events), splitList(tags)
		out[r.Channel] = r
	}
	return out, rows.Err()
}

// PutRoute sets a channel's route; one that hears everything is removed.
func (db *DB) PutRoute(ctx context.Context, r Route) error {
	var err error
	if len(r.Events) == 0 && len(r.Tags) == 0 {
		_, err = db.w.ExecContext(ctx, "DELETE FROM routes WHERE channel = ?", r.Channel)
	} else {
		_, err = db.w.ExecContext(ctx, `INSERT INTO routes (channel, events, tags) VALUES (?, ?, ?)
			ON CONFLICT (channel) DO UPDATE SET events = excluded.events, tags = excluded.tags`,
			r.Channel, strings.Join(r.Events, ","), strings.Join(r.Tags, ","))
	}
	if err != nil {
		return fmt.Errorf("store: route of %s: %w", r.Channel, err)
	}
	return nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func channelNameTaken() error {
	return &domain.ValidationError{Fields: map[string]string{"name": "a channel with this name exists"}, Conflict: true}
}

func notFoundIfNone(res sql.Result) error {
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return domain.ErrNotFound
	}
	return nil
}
