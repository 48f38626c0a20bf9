package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/views"
)

// importTTL is how long a previewed import waits for its confirmation.
const importTTL = 15 * time.Minute

// importRoutes are the import, for editors, and the export (never a key), for viewers.
func (s *Server) importRoutes(g *echo.Group, viewer, editor echo.MiddlewareFunc) {
	g.GET("/import", s.handleImportForm, editor)
	g.POST("/import", s.handleImportPreview, editor)
	g.POST("/import/confirm", s.handleImportConfirm, editor)
	g.GET("/export.csv", s.handleExport, viewer, s.refuseCrossSite)
}

// importStage holds previewed imports until they are confirmed, in memory only: the rows hold
// plaintext keys, which go nowhere but to the vault. An admin has at most one at a time.
type importStage struct {
	mu sync.Mutex
	m  map[string]stagedImport // by token
}

type stagedImport struct {
	adminID int64
	plan    *keys.ImportPlan
	expires time.Time
}

// put stages plan for adminID, replacing the admin's earlier preview, and returns its token.
func (st *importStage) put(adminID int64, plan *keys.ImportPlan, now time.Time) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.m == nil {
		st.m = map[string]stagedImport{}
	}
	for k, v := range st.m {
		if v.adminID == adminID || !now.Before(v.expires) {
			delete(st.m, k)
		}
	}
	st.m[tok] = stagedImport{adminID: adminID, plan: plan, expires: now.Add(importTTL)}
	return tok, nil
}

// get returns the admin's staged plan for tok, if it has not expired.
func (st *importStage) get(adminID int64, tok string, now time.Time) (*keys.ImportPlan, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	v, ok := st.m[tok]
	if !ok || v.adminID != adminID || !now.Before(v.expires) {
		return nil, false
	}
	return v.plan, true
}

func (st *importStage) drop(tok string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, tok)
}

// handleImportForm serves GET /import.
func (s *Server) handleImportForm(c echo.Context) error {
	return render(c, http.StatusOK, views.ImportPage(s.page(c, "Import and export", "import"), views.ImportData{}))
}

// handleImportPreview serves POST /import: it reads an uploaded or pasted CSV, checks every
// row and shows what an import would do, importing nothing yet. The CSV is never sent back:
// a failed upload shows only what is wrong, by line.
func (s *Server) handleImportPreview(c echo.Context) error {
	page := s.page(c, "Import and export", "import")
	src, problem := importSource(c)
	if problem != "" {
		return render(c, http.StatusUnprocessableEntity, views.ImportPage(page, views.ImportData{Errors: views.FormErrors{"file": problem}}))
	}
	plan, err := s.keys.PlanImport(c.Request().Context(), src)
	var fe *keys.ImportFileError
	if errors.As(err, &fe) {
		msg := fe.Msg
		if fe.Line > 0 {
			msg = fmt.Sprintf("Line %d: %s.", fe.Line, fe.Msg)
		}
		return render(c, http.StatusUnprocessableEntity, views.ImportPage(page, views.ImportData{Errors: views.FormErrors{"file": msg}}))
	}
	if err != nil {
		return err
	}
	tok, err := s.imports.put(adminOf(c).ID, plan, s.Now())
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ImportPage(page, views.ImportData{Preview: importPreview(plan, tok, s.keyNames(c.Request().Context(), plan))}))
}

// importSource returns the uploaded file, or else the pasted text; or what is wrong.
func importSource(c echo.Context) (io.Reader, string) {
	if fh, err := c.FormFile("file"); err == nil && fh.Size > 0 {
		f, err := fh.Open()
		if err != nil {
			return nil, "The file could not be read."
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return nil, "The file could not be read."
		}
		return bytes.NewReader(b), ""
	}
	if text := c.FormValue("csv"); strings.TrimSpace(text) != "" {
		return strings.NewReader(text), ""
	}
	return nil, "Choose a CSV file or paste its content."
}

// importPreview turns a plan into what the page shows: for a bad row only its line and what
// is wrong, never its values (a column mix-up could put a key in any of them).
func importPreview(plan *keys.ImportPlan, tok string, names map[int64]string) *views.ImportPreview {
	name := func(id int64) string {
		if n := names[id]; n != "" {
			return "“" + n + "”"
		}
		return fmt.Sprintf("key %d", id)
	}
	c := plan.Counts()
	p := &views.ImportPreview{Token: tok, Total: c.Rows, Good: c.Good, Bad: c.Bad, Duplicates: c.Duplicates, Ignored: plan.Ignored}
	for _, r := range plan.Rows {
		row := views.ImportRow{Line: r.Line}
		switch {
		case r.Bad():
			row.Status = "bad"
			for _, f := range []string{"row", "label", "email", "key", "tags"} {
				if msg := r.Problems[f]; msg != "" {
					row.Notes = append(row.Notes, msg)
				}
			}
		case r.DuplicateOf > 0:
			row.Status = "duplicate"
			row.Notes = append(row.Notes, fmt.Sprintf("same email and key as line %d; imported once", r.DuplicateOf))
		case r.Registered > 0:
			row.Status = "duplicate"
			row.Notes = append(row.Notes, fmt.Sprintf("already registered as %s; not imported again", name(r.Registered)))
			row.KeyID = r.Registered
		default:
			row.Status = "ok"
		}
		if !r.Bad() {
			row.Label, row.Email, row.KeyHint = r.In.Label, r.In.Email, r.KeyHint
		} else {
			row.Label, row.Email = r.ShownLabel(), r.ShownEmail()
		}
		if r.SharedWithLine > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("the same key is on line %d under another email", r.SharedWithLine))
		}
		if r.SharedWithKey > 0 {
			row.Notes = append(row.Notes, fmt.Sprintf("the same key is registered under another email, as %s", name(r.SharedWithKey)))
			if row.KeyID == 0 {
				row.KeyID = r.SharedWithKey
			}
		}
		p.Rows = append(p.Rows, row)
	}
	return p
}

// keyNames names the registered keys a plan's rows refer to (KeyTitle), so the preview says
// "already registered as “Billing”" rather than an id. A key it cannot read is left out.
func (s *Server) keyNames(ctx context.Context, plan *keys.ImportPlan) map[int64]string {
	names := map[int64]string{}
	for _, r := range plan.Rows {
		for _, id := range []int64{r.Registered, r.SharedWithKey} {
			if _, done := names[id]; id == 0 || done {
				continue
			}
			if k, err := s.db.KeyByID(ctx, id); err == nil {
				names[id] = views.KeyTitle(k)
			}
		}
	}
	return names
}

// handleImportConfirm serves POST /import/confirm: it imports a previewed file. A file with
// bad rows is imported only when the admin ticked "import the good rows only".
func (s *Server) handleImportConfirm(c echo.Context) error {
	// Built only on the paths that render: building it consumes the pending flash messages.
	page := func() views.Page { return s.page(c, "Import and export", "import") }
	tok := c.FormValue("token")
	admin := adminOf(c)
	plan, ok := s.imports.get(admin.ID, tok, s.Now())
	if !ok {
		return render(c, http.StatusUnprocessableEntity, views.ImportPage(page(), views.ImportData{
			Errors: views.FormErrors{"file": "This preview has expired or was already imported. Upload the file again."}}))
	}
	skipBad := c.FormValue("skip_bad") != ""
	res, err := s.keys.Import(c.Request().Context(), principalOf(c), plan, skipBad)
	if errors.Is(err, keys.ErrImportHasBadRows) {
		p := importPreview(plan, tok, s.keyNames(c.Request().Context(), plan))
		p.NeedSkip = true
		return render(c, http.StatusUnprocessableEntity, views.ImportPage(page(), views.ImportData{Preview: p}))
	}
	s.imports.drop(tok)
	if err != nil {
		return err
	}
	s.flash(c, "ok", importSummary(res))
	return redirect(c, "/")
}

func importSummary(res keys.ImportResult) string {
	s := fmt.Sprintf("Imported %d %s.", len(res.Added), plural(len(res.Added), "key", "keys"))
	if n := len(res.Duplicates); n > 0 {
		s += fmt.Sprintf(" %d %s already registered or repeated, not imported again (%s).", n, plural(n, "row was", "rows were"), "lines "+keys.Lines(res.Duplicates))
	}
	if n := len(res.Skipped); n > 0 {
		s += fmt.Sprintf(" %d bad %s left out (lines %s).", n, plural(n, "row", "rows"), keys.Lines(res.Skipped))
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// handleExport serves GET /export.csv: every pair with its verdict and dates, never a key.
func (s *Server) handleExport(c echo.Context) error {
	var b bytes.Buffer
	if _, err := s.keys.Export(c.Request().Context(), principalOf(c), &b); err != nil {
		return err
	}
	return csvAttachment(c, "staxkeys-keys-"+s.Now().UTC().Format("20060102")+".csv", b.Bytes())
}
