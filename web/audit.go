package web

import (
	"log/slog"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// Audit actions. Every admin action is recorded under one of these names.
const (
	auditSetup        = "setup"
	auditLogin        = "login"
	auditLoginFailed  = "login.failed"
	auditReauthFailed = "reauth.failed" // a wrong password re-entered in a logged-in session
	auditLogout       = "logout"
	auditPairAdd      = "pair.add"
	auditPairEdit     = "pair.edit"
	auditPairDelete   = "pair.delete"
	auditPairCheck    = "pair.check"
	auditCheckAll     = "pair.check_all"
	auditTokenCreate  = "token.create"
	auditTokenRevoke  = "token.revoke"
)

// audit appends an entry to the audit trail for the request's actor: the logged-in admin, the
// API token, or (for setup and failed logins) the email given. The action has already happened,
// so a failure to record it is logged loudly rather than undone.
func (s *Server) audit(c echo.Context, action, target, detail string) {
	s.auditAs(c, actorOf(c), action, target, detail)
}

func (s *Server) auditAs(c echo.Context, actor, action, target, detail string) {
	if s.cfg.AuditKey == nil {
		return
	}
	err := s.db.AppendAudit(c.Request().Context(), s.cfg.AuditKey, store.AuditEntry{
		Actor: actor, Action: action, Target: target, IP: c.RealIP(), Detail: detail,
	})
	if err != nil {
		s.log.Error("audit trail write failed", slog.String("action", action), slog.String("target", target),
			slog.String("error", err.Error()))
	}
}

func actorOf(c echo.Context) string {
	if a, ok := c.Get(ctxAdmin).(domain.Admin); ok {
		return a.Email
	}
	if t, ok := c.Get(ctxToken).(domain.Token); ok {
		return "token:" + strconv.FormatInt(t.ID, 10) + " (" + t.Name + ")"
	}
	return ""
}

func pairTarget(id int64) string { return "pair:" + strconv.FormatInt(id, 10) }
