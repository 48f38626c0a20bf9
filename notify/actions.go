package notify

import (
	"context"
	"strings"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
)

// These are the alert operations an admin carries out from the pages, each recorded in the
// audit trail here, whoever calls them. Each needs the admin role (domain.ErrForbidden, and
// nothing done, otherwise).

// SaveSettings validates and saves f for p (see Save) and records what changed (never a value).
func (n *Notifier) SaveSettings(ctx context.Context, p domain.Principal, f Form) error {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return err
	}
	changed, err := n.Save(ctx, f)
	if err != nil {
		return err
	}
	detail := "no change"
	if len(changed) > 0 {
		detail = "changed: " + strings.Join(changed, ", ")
	}
	n.opts.Audit.Record(ctx, p, audit.SettingsChange, audit.SettingsTarget("notifications"), detail)
	return nil
}

// Test sends a test alert on ch at once (see SendTest) and records how it went.
func (n *Notifier) Test(ctx context.Context, p domain.Principal, ch Channel) error {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return err
	}
	err := n.SendTest(ctx, ch)
	detail := "sent"
	if err != nil {
		detail = "failed: " + err.Error()
	}
	// A URL channel is named by its id ("channel:3"), as its other entries are.
	n.opts.Audit.Record(ctx, p, audit.NotifyTest, audit.ChannelTarget(strings.TrimPrefix(string(ch), urlChannelPrefix)), detail)
	return err
}

// Retry puts failed delivery id back in the queue with a fresh count of attempts.
func (n *Notifier) Retry(ctx context.Context, p domain.Principal, id int64) error {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return err
	}
	if id <= 0 {
		return domain.ErrNotFound
	}
	if err := n.db.RetryDelivery(ctx, id, n.clock.Now()); err != nil {
		return err
	}
	n.opts.Audit.Record(ctx, p, audit.DeliveryRetry, audit.DeliveryTarget(id), "")
	n.Nudge()
	return nil
}
