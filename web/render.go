package web

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render writes a templ component with a status code. Rendering into a pooled buffer first
// means a template error becomes a clean 500 instead of half a page.
func render(c echo.Context, status int, t templ.Component) error {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer buffers.Put(buf)
	if err := t.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// redirect answers a form post: 303 so the browser follows with GET.
func redirect(c echo.Context, to string) error { return c.Redirect(http.StatusSeeOther, to) }

// maxPage bounds ?page= so a hand-made URL cannot overflow the offset.
const maxPage = 1_000_000

// pageParam reads ?page= (1 when absent or bad) and the row offset it starts at.
func pageParam(c echo.Context, size int) (page, offset int) {
	page, _ = strconv.Atoi(c.QueryParam("page"))
	page = min(max(page, 1), maxPage)
	return page, (page - 1) * size
}

// pageCount is how many pages total rows fill, at least one.
func pageCount(total, size int) int { return max(1, (total+size-1)/size) }
