package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/apitoken"
	"github.com/staxkeys/staxkeys/keys"
)

const ctxToken = "staxkeys.token"

// apiKey is a pair as the JSON API shows it: never a key, only its last four characters.
type apiKey struct {
	ID        int64          `json:"id"`
	Label     string         `json:"label"`
	Email     string         `json:"email"`
	KeyHint   string         `json:"key_hint"`
	Tags      []string       `json:"tags"`
	Verdict   domain.Verdict `json:"verdict"`
	VerdictAt *time.Time     `json:"verdict_at"`
	LastCheck *apiCheck      `json:"last_check"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	// Expected is "valid" (should work) or "revoked" (should be dead: deleted at Stax.ai),
	// ExpectedAt when it was last changed; Standing weighs the verdict against it.
	Expected   domain.Expect   `json:"expected"`
	ExpectedAt *time.Time      `json:"expected_at"`
	Standing   domain.Standing `json:"standing"`
	// Muted says the key's alerts are held back; Mute says until when, why and by whom.
	Muted bool     `json:"muted"`
	Mute  *apiMute `json:"mute,omitempty"`
}

type apiMute struct {
	// Tag is the tag whose mute holds for the key; absent for the key's own mute.
	Tag       string     `json:"tag,omitempty"`
	Until     *time.Time `json:"until"` // null: until someone unmutes
	Note      string     `json:"note"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
}

type apiCheck struct {
	At         time.Time      `json:"at"`
	Outcome    domain.Outcome `json:"outcome"`
	Reason     string         `json:"reason"`
	HTTPStatus int            `json:"http_status"`
	LatencyMS  int64          `json:"latency_ms"`
}

// toAPIKey is key p as the API shows it, with its mute m (nil when not muted).
func toAPIKey(p domain.Key, m *domain.Mute) apiKey {
	out := apiKey{ID: p.ID, Label: p.Label, Email: p.Email, KeyHint: p.KeyHint, Tags: p.Tags, Verdict: p.Verdict,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Expected: p.Expected.Or(), Standing: p.Standing()}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if !p.ExpectedAt.IsZero() {
		t := p.ExpectedAt
		out.ExpectedAt = &t
	}
	if m != nil {
		out.Muted, out.Mute = true, toAPIMute(*m)
	}
	if !p.VerdictAt.IsZero() {
		t := p.VerdictAt
		out.VerdictAt = &t
	}
	if p.LastCheck != nil {
		c := toAPICheck(*p.LastCheck)
		out.LastCheck = &c
	}
	return out
}

func toAPIMute(m domain.Mute) *apiMute {
	out := &apiMute{Tag: m.Tag, Note: m.Note, CreatedAt: m.CreatedAt, CreatedBy: m.CreatedBy}
	if !m.Until.IsZero() {
		u := m.Until
		out.Until = &u
	}
	return out
}

// apiKeyOf is key p as the API shows it, its mute looked up.
func (s *Server) apiKeyOf(c echo.Context, p domain.Key) (apiKey, error) {
	m, muted, err := s.keys.MuteOf(c.Request().Context(), p.ID)
	if err != nil {
		return apiKey{}, err
	}
	if !muted {
		return toAPIKey(p, nil), nil
	}
	return toAPIKey(p, &m), nil
}

func toAPICheck(c domain.Check) apiCheck {
	return apiCheck{At: c.At, Outcome: c.Outcome, Reason: c.Reason, HTTPStatus: c.HTTPStatus, LatencyMS: c.Latency.Milliseconds()}
}

// requireToken admits requests carrying a live API token; bad tokens are throttled per address.
// What the token may do is its role's business (need, and the services).
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tok, ok := bearer(c.Request())
		if !ok {
			if err := s.throttledTokens(c); err != nil {
				return err
			}
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="staxkeys"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "an API token is required (Authorization: Bearer sk_…)")
		}
		t, err := s.authenticateToken(c, tok)
		if err != nil {
			return err
		}
		if now := s.Now(); now.Sub(t.LastUsedAt) > time.Minute {
			if err := s.db.TouchToken(c.Request().Context(), t.ID, now); err != nil {
				s.log.Warn("record token use", slog.Int64("token_id", t.ID), slog.String("error", err.Error()))
			}
		}
		c.Set(ctxToken, t)
		return next(c)
	}
}

// throttledTokens refuses an address that sent too many bad tokens lately.
func (s *Server) throttledTokens(c echo.Context) error {
	if wait := s.logins.wait(addrThrottleKey("api", c.RealIP()), ipFailures); wait > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return echo.NewHTTPError(http.StatusTooManyRequests, "too many requests with bad tokens; try again later")
	}
	return nil
}

// authenticateToken checks a presented API token: a 429 while its address is throttled, a 401
// (counted towards the throttle) when it is wrong, else the token. Every endpoint that takes
// tokens goes through it, so none is a way around the throttle.
func (s *Server) authenticateToken(c echo.Context, tok string) (domain.Token, error) {
	if err := s.throttledTokens(c); err != nil {
		return domain.Token{}, err
	}
	t, err := apitoken.Authenticate(c.Request().Context(), s.db, tok)
	if errors.Is(err, apitoken.ErrInvalid) {
		s.logins.fail(addrThrottleKey("api", c.RealIP()))
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="staxkeys", error="invalid_token"`)
		return domain.Token{}, echo.NewHTTPError(http.StatusUnauthorized, "the API token is invalid or revoked")
	}
	return t, err
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get(echo.HeaderAuthorization)
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func isSafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// API list paging: without ?limit a page has apiPageSize pairs; no page has more than apiMaxPage.
const (
	apiPageSize = 100
	apiMaxPage  = 1000
)

// limitParam reads ?limit= (def when absent), from 1 to apiMaxPage.
func limitParam(c echo.Context, def int) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > apiMaxPage {
		return 0, &domain.ValidationError{Fields: map[string]string{"limit": fmt.Sprintf("must be a whole number from 1 to %d", apiMaxPage)}}
	}
	return n, nil
}

// handleAPIKeyList serves GET /api/v1/keys, with the dashboard's filters (status, q, tag, sort)
// and paging (limit, offset) as query parameters; total says how many match in all.
func (s *Server) handleAPIKeyList(c echo.Context) error {
	limit, err := limitParam(c, apiPageSize)
	if err != nil {
		return err
	}
	q := domain.KeyQuery{Status: c.QueryParam("status"), Search: c.QueryParam("q"), Tag: c.QueryParam("tag"),
		Sort: c.QueryParam("sort"), Limit: limit}
	if v := c.QueryParam("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return &domain.ValidationError{Fields: map[string]string{"offset": "must be a whole number ≥ 0"}}
		}
		q.Offset = n
	}
	res, err := s.db.ListKeys(c.Request().Context(), q)
	if err != nil {
		return err
	}
	mutes, err := s.keys.Mutes(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]apiKey, len(res.Keys))
	for i, p := range res.Keys {
		if m, ok := mutes[p.ID]; ok {
			out[i] = toAPIKey(p, &m)
		} else {
			out[i] = toAPIKey(p, nil)
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": out, "total": res.Total, "limit": q.Limit, "offset": q.Offset})
}

// handleAPIKeyCreate serves POST /api/v1/keys.
func (s *Server) handleAPIKeyCreate(c echo.Context) error {
	v, lists, err := decodeObject(c, nil, []string{"tags"}, "label", "email", "key", "tags", "expected")
	if err != nil {
		return err
	}
	p, err := s.keys.Add(c.Request().Context(), principalOf(c), keys.Input{Label: v["label"], Email: v["email"], Key: v["key"],
		Tags: lists["tags"], Expected: domain.Expect(v["expected"])})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/keys/"+strconv.FormatInt(p.ID, 10))
	return c.JSON(http.StatusCreated, toAPIKey(p, nil))
}

// handleAPIKeyGet serves GET /api/v1/keys/:id.
func (s *Server) handleAPIKeyGet(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	out, err := s.apiKeyOf(c, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// handleAPIKeyUpdate serves PATCH /api/v1/keys/:id: only the fields given change ("tags": []
// clears the tags).
func (s *Server) handleAPIKeyUpdate(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	v, lists, err := decodeObject(c, nil, []string{"tags"}, "label", "email", "key", "tags", "expected")
	if err != nil {
		return err
	}
	var edit keys.Edit
	if tags, ok := lists["tags"]; ok {
		edit.Tags = &tags
	}
	if val, ok := v["expected"]; ok {
		e := domain.Expect(val)
		edit.Expected = &e
	}
	for field, to := range map[string]**string{"label": &edit.Label, "email": &edit.Email, "key": &edit.Key} {
		if val, ok := v[field]; ok {
			*to = &val
		}
	}
	updated, err := s.keys.Update(c.Request().Context(), principalOf(c), p.ID, edit)
	if err != nil {
		return err
	}
	out, err := s.apiKeyOf(c, updated)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// handleAPIKeyDelete serves DELETE /api/v1/keys/:id.
func (s *Server) handleAPIKeyDelete(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	if _, err := s.keys.Delete(c.Request().Context(), principalOf(c), p.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiTag is a tag as the API shows it: how many keys hold it, and its mute.
type apiTag struct {
	Tag   string   `json:"tag"`
	Keys  int      `json:"keys"`
	Muted bool     `json:"muted"`
	Mute  *apiMute `json:"mute,omitempty"`
}

// handleAPITagList serves GET /api/v1/tags: every tag some key holds, with how many hold it,
// and every muted tag (a tag may be muted before any key has it), by tag.
func (s *Server) handleAPITagList(c echo.Context) error {
	ctx := c.Request().Context()
	tags, err := s.db.ListTags(ctx)
	if err != nil {
		return err
	}
	mutes, err := s.keys.TagMutes(ctx)
	if err != nil {
		return err
	}
	byTag := map[string]*apiTag{}
	for _, t := range tags {
		byTag[t.Tag] = &apiTag{Tag: t.Tag, Keys: t.Keys}
	}
	for _, m := range mutes {
		t, ok := byTag[m.Tag]
		if !ok {
			t = &apiTag{Tag: m.Tag}
			byTag[m.Tag] = t
		}
		t.Muted, t.Mute = true, toAPIMute(m)
	}
	out := make([]apiTag, 0, len(byTag))
	for _, name := range slices.Sorted(maps.Keys(byTag)) {
		out = append(out, *byTag[name])
	}
	return c.JSON(http.StatusOK, map[string]any{"tags": out})
}

// tagParam is the :tag route parameter, unescaped (a tag such as team/ops comes as team%2Fops).
func tagParam(c echo.Context) (string, error) {
	tag, err := url.PathUnescape(c.Param("tag"))
	if err != nil {
		return "", domain.Invalid("tag", "the tag in the path is not validly escaped")
	}
	return tag, nil
}

// handleAPITagMute serves PUT /api/v1/tags/:tag/mute: {"until": RFC 3339 time or null, "note":
// "..."}, as for a key. Every key carrying the tag, now or later while the mute lasts, alerts
// nobody; muting a muted tag replaces its mute.
func (s *Server) handleAPITagMute(c echo.Context) error {
	tag, err := tagParam(c)
	if err != nil {
		return err
	}
	v, err := decodeFields(c, []string{"until"}, "until", "note")
	if err != nil {
		return err
	}
	var until time.Time
	if u, ok := v["until"]; ok {
		if until, err = time.Parse(time.RFC3339, u); err != nil {
			return domain.Invalid("until", "must be an RFC 3339 time such as 2026-12-24T18:00:00Z, or null for until unmuted")
		}
	}
	m, err := s.keys.MuteTag(c.Request().Context(), principalOf(c), tag, until, v["note"])
	if err != nil {
		return err
	}
	n := 0
	if tags, err := s.db.ListTags(c.Request().Context()); err == nil {
		for _, t := range tags {
			if t.Tag == m.Tag {
				n = t.Keys
			}
		}
	}
	return c.JSON(http.StatusOK, apiTag{Tag: m.Tag, Keys: n, Muted: true, Mute: toAPIMute(m)})
}

// handleAPITagUnmute serves DELETE /api/v1/tags/:tag/mute; a tag not muted is left as it is.
func (s *Server) handleAPITagUnmute(c echo.Context) error {
	tag, err := tagParam(c)
	if err != nil {
		return err
	}
	if _, err := s.keys.UnmuteTag(c.Request().Context(), principalOf(c), tag); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// handleAPIKeyChecks serves GET /api/v1/keys/:id/checks: the history, newest first.
func (s *Server) handleAPIKeyChecks(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	limit, err := limitParam(c, apiPageSize)
	if err != nil {
		return err
	}
	checks, err := s.db.ListChecks(c.Request().Context(), p.ID, limit)
	if err != nil {
		return err
	}
	out := make([]apiCheck, len(checks))
	for i, ch := range checks {
		out[i] = toAPICheck(ch)
	}
	return c.JSON(http.StatusOK, map[string]any{"checks": out})
}

func tokenOf(c echo.Context) domain.Token {
	t, _ := c.Get(ctxToken).(domain.Token)
	return t
}

func constantTimeEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// handleAPIKeyMute serves PUT /api/v1/keys/:id/mute: {"until": RFC 3339 time or null, "note":
// "..."}. A null or absent until mutes until DELETE; muting a muted key replaces its mute.
func (s *Server) handleAPIKeyMute(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	v, err := decodeFields(c, []string{"until"}, "until", "note")
	if err != nil {
		return err
	}
	var until time.Time
	if u, ok := v["until"]; ok {
		if until, err = time.Parse(time.RFC3339, u); err != nil {
			return domain.Invalid("until", "must be an RFC 3339 time such as 2026-12-24T18:00:00Z, or null for until unmuted")
		}
	}
	m, err := s.keys.Mute(c.Request().Context(), principalOf(c), p.ID, until, v["note"])
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toAPIKey(p, &m))
}

// handleAPIKeyUnmute serves DELETE /api/v1/keys/:id/mute; a key not muted is left as it is.
func (s *Server) handleAPIKeyUnmute(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	if _, err := s.keys.Unmute(c.Request().Context(), principalOf(c), p.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
