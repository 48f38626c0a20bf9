// Package views renders staxkeys' HTML pages with templ. Views receive plain data and never
// touch the database, the vault or plaintext keys (except the one reveal view).
package views

import (
	"fmt"
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/staxkeys/staxkeys/domain"
)

// Page is what every page's layout needs.
type Page struct {
	Title   string
	Admin   string      // the logged-in user's email; "" on the login and setup pages
	Role    domain.Role // the logged-in user's role, so pages offer only what it allows
	CSRF    string
	Flashes []Flash
	Nav     string // which nav item is current: "keys", "admins", ...
}

// Can says whether the logged-in user's role allows what needs role need: pages hide the
// links and buttons it does not (the server refuses them anyway).
func (p Page) Can(need domain.Role) bool { return p.Role.Allows(need) }

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind    string // "ok" or "error"
	Message string
}

// FormErrors maps a field name to what is wrong with it.
type FormErrors map[string]string

func errorID(field string) string { return field + "-error" }

// verdictLabel is the text shown for a verdict; colour only reinforces it.
func verdictLabel(v domain.Verdict) string {
	switch v {
	case domain.Valid:
		return "Valid"
	case domain.Revoked:
		return "Revoked"
	case domain.Denied:
		return "Denied"
	default:
		return "Not checked yet"
	}
}

// statusLabel is verdictLabel for a pair's badge: a pair whose current key was checked without
// a clear answer has no verdict yet, but it has been checked.
func statusLabel(p domain.Key) string {
	if p.Verdict == domain.Pending && p.LastCheck != nil && p.LastCheck.At.After(p.KeyChangedAt) {
		return "No verdict yet"
	}
	return verdictLabel(p.Verdict)
}

// failingFor says how long a pair's checks have failed, in words: "4 minutes", "2 hours".
func failingFor(since, now time.Time) string {
	d := now.Sub(since)
	switch {
	case d < time.Minute:
		return plural(max(int(d/time.Second), 1), "second", "seconds")
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute", "minutes")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour", "hours")
	}
	return plural(int(d/(24*time.Hour)), "day", "days")
}

func outcomeLabel(o domain.Outcome) string {
	switch o {
	case domain.OutcomeValid:
		return "valid"
	case domain.OutcomeRevoked:
		return "revoked"
	case domain.OutcomeDenied:
		return "denied"
	default:
		return "failed"
	}
}

// MaskedKey is how a key is shown everywhere but a reveal.
func MaskedKey(hint string) string {
	if hint == "" {
		return "••••••••"
	}
	return "••••" + hint
}

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func exactTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func shortDate(t time.Time) string { return t.UTC().Format("2 Jan 2006") }

// relTime is the server's rendering of a relative time; app.js keeps it current.
func relTime(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < 90*time.Minute:
		s = fmt.Sprintf("%d min", max(1, int(d.Round(time.Minute)/time.Minute)))
	case d < 36*time.Hour:
		s = fmt.Sprintf("%d h", int(d.Round(time.Hour)/time.Hour))
	default:
		s = fmt.Sprintf("%d d", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// emailParts splits an email after its @ and after each dot: the places a narrow column may
// break it (with <wbr>), rather than anywhere mid-word.
func emailParts(email string) []string {
	var out []string
	start := 0
	for i := 0; i < len(email); i++ {
		if email[i] == '@' || email[i] == '.' {
			out = append(out, email[start:i+1])
			start = i + 1
		}
	}
	return append(out, email[start:])
}

// emailWithBreaks is the email as HTML, each part escaped, with <wbr> between the parts.
func emailWithBreaks(email string) string {
	parts := emailParts(email)
	for i, p := range parts {
		parts[i] = html.EscapeString(p)
	}
	return strings.Join(parts, "<wbr>")
}

// lastOutcome is the outcome of a pair's last check, or "" before one; the dashboard's script
// orders live rows by it.
func lastOutcome(p domain.Key) string {
	if p.LastCheck == nil {
		return ""
	}
	return string(p.LastCheck.Outcome)
}

// KeyTitle names a pair for people: its label, or its email when it has none.
func KeyTitle(p domain.Key) string {
	if strings.TrimSpace(p.Label) != "" {
		return p.Label
	}
	return p.Email
}

func keyURL(id int64, suffix string) string { return fmt.Sprintf("/keys/%d%s", id, suffix) }

func statusText(status int) string { return fmt.Sprint(status) }

func stripSummary(checks []domain.Check) string {
	n := map[domain.Outcome]int{}
	for _, c := range checks {
		n[c.Outcome]++
	}
	return fmt.Sprintf("last %d checks: %d valid, %d revoked, %d denied, %d failed",
		len(checks), n[domain.OutcomeValid], n[domain.OutcomeRevoked], n[domain.OutcomeDenied], n[domain.OutcomeUndecided])
}

// stripTitle is the strip's tooltip: the counts, and when the newest check was.
func stripTitle(checks []domain.Check) string {
	s := stripSummary(checks)
	if n := len(checks); n > 0 {
		s += "; newest " + exactTime(checks[n-1].At)
	}
	return s
}

// tickClass is the short class of one check in a strip.
func tickClass(o domain.Outcome) string {
	switch o {
	case domain.OutcomeValid:
		return "tv"
	case domain.OutcomeRevoked:
		return "tr"
	case domain.OutcomeDenied:
		return "td"
	}
	return "te"
}

// pageURL keeps the filters when moving between pages.
func pageURL(d KeysData, page int) string {
	q := url.Values{}
	if d.Query.Search != "" {
		q.Set("q", d.Query.Search)
	}
	if d.Query.Status != "" {
		q.Set("status", d.Query.Status)
	}
	if d.Query.Tag != "" {
		q.Set("tag", d.Query.Tag)
	}
	if d.Query.Sort != "" {
		q.Set("sort", d.Query.Sort)
	}
	q.Set("page", strconv.Itoa(page))
	return "/?" + q.Encode()
}

// eventsURL subscribes the dashboard to live updates of the rows it shows.
func eventsURL(d KeysData) string {
	ids := make([]string, 0, len(d.Keys))
	for _, p := range d.Keys {
		ids = append(ids, strconv.FormatInt(p.ID, 10))
	}
	u := "/events?ids=" + strings.Join(ids, ",")
	if d.Query.Status != "" {
		u += "&status=" + url.QueryEscape(d.Query.Status)
	}
	if d.Query.Tag != "" {
		u += "&tag=" + url.QueryEscape(d.Query.Tag) // the live cards count the tag's keys
	}
	return u
}

// untilText says when a future moment comes, coarsely: "in a few seconds", "in 12 min".
func untilText(t, now time.Time) string {
	if t.Sub(now) < 45*time.Second {
		return "in a few seconds"
	}
	return relTime(t, now)
}

// plural writes a count with its noun: "1 key", "10,000 keys".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

// numbers writes counts in English: 10000 → "10,000".
var numbers = message.NewPrinter(language.English)

// thousands writes n with thousands separators.
func thousands(n int) string { return numbers.Sprintf("%d", n) }

// filtered reports whether the dashboard shows fewer pairs than all.
func filtered(q domain.KeyQuery) bool {
	return q.Status != "" || strings.TrimSpace(q.Search) != "" || q.Tag != ""
}

// keysNoun names what the dashboard lists, in words: "3 revoked keys matching “acme”".
func keysNoun(q domain.KeyQuery, n int) string {
	var s string
	switch q.Status {
	case "valid", "revoked", "denied":
		s = plural(n, q.Status+" key", q.Status+" keys")
	case "undecided":
		s = plural(n, "key", "keys") + " whose last check failed"
	case "pending":
		s = plural(n, "key", "keys") + " with no verdict yet"
	default:
		s = plural(n, "key", "keys")
	}
	if q.Tag != "" {
		s += " tagged " + q.Tag
	}
	if t := strings.TrimSpace(q.Search); t != "" {
		s += " matching “" + t + "”"
	}
	return s
}

// resultLine says which part of which set the table shows.
func resultLine(d KeysData) string {
	switch {
	case d.Total == 0:
		return "No " + strings.TrimPrefix(keysNoun(d.Query, 0), "0 ")
	case len(d.Keys) == 0:
		return fmt.Sprintf("Page %d is past the end of %s", d.PageNum, keysNoun(d.Query, d.Total))
	case d.Total == len(d.Keys):
		return keysNoun(d.Query, d.Total)
	}
	first := (d.PageNum-1)*d.PageSize + 1
	return fmt.Sprintf("Showing %s–%s of %s", thousands(first), thousands(first+len(d.Keys)-1), keysNoun(d.Query, d.Total))
}

// sortValue is the sort the form shows as chosen; "" means the default, status.
func sortValue(s string) string {
	if s == "" {
		return "status"
	}
	return s
}

// sortColumn maps a sort to its column and direction: "-label" → ("label", true).
func sortColumn(s string) (col string, desc bool) {
	s = sortValue(s)
	return strings.TrimPrefix(s, "-"), strings.HasPrefix(s, "-")
}

// sortURL is where a column header leads: its own order, or the reverse if it is current.
// first is the column's first order, such as "-checked" (newest first).
func sortURL(d KeysData, first string) string {
	next := first
	col, desc := sortColumn(d.Query.Sort)
	firstCol, _ := sortColumn(first)
	if col == firstCol {
		next = firstCol
		if !desc {
			next = "-" + firstCol
		}
	}
	q := url.Values{}
	if d.Query.Search != "" {
		q.Set("q", d.Query.Search)
	}
	if d.Query.Status != "" {
		q.Set("status", d.Query.Status)
	}
	if d.Query.Tag != "" {
		q.Set("tag", d.Query.Tag)
	}
	q.Set("sort", next)
	return "/?" + q.Encode()
}

// ariaSort is the aria-sort of a column header, "" for an unsorted column.
func ariaSort(current, first string) string {
	col, desc := sortColumn(current)
	if firstCol, _ := sortColumn(first); col != firstCol {
		return ""
	}
	if desc {
		return "descending"
	}
	return "ascending"
}

// sortMark is the arrow beside the sorted column's header.
func sortMark(current, first string) string {
	switch ariaSort(current, first) {
	case "ascending":
		return "▲"
	case "descending":
		return "▼"
	}
	return ""
}

func cardURL(status, tag string) string {
	v := url.Values{}
	if status != "" {
		v.Set("status", status)
	}
	if tag != "" {
		v.Set("tag", tag)
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// summaryLabel names the summary cards for assistive technology: which keys they count.
func summaryLabel(tag string) string {
	if tag == "" {
		return "Filter by status"
	}
	return "Filter keys tagged " + tag + " by status"
}

func cardClass(status string) string {
	if status == "" {
		return "all"
	}
	return status
}

// pageWindow lists the page numbers the pager links: the first, the last and the current
// with its neighbours; 0 marks a gap.
func pageWindow(cur, pages int) []int {
	var out []int
	last := 0
	for n := 1; n <= pages; n++ {
		if n == 1 || n == pages || (n >= cur-2 && n <= cur+2) {
			switch {
			case last != 0 && n == last+2:
				out = append(out, last+1) // a gap of one page is that page
			case last != 0 && n > last+2:
				out = append(out, 0)
			}
			out = append(out, n)
			last = n
		}
	}
	return out
}

// verdictWhy says in a sentence why the pair holds its verdict.
func verdictWhy(d KeyDetail) string {
	p := d.Key
	reason := ""
	if len(d.Events) > 0 && d.Events[0].New == p.Verdict {
		reason = d.Events[0].Reason
	}
	if reason == "" && p.LastCheck != nil {
		reason = p.LastCheck.Reason
	}
	because := ""
	if reason != "" {
		because = " (" + reason + ")"
	}
	switch p.Verdict {
	case domain.Valid:
		return "Stax.ai accepts this key for this email" + because + "."
	case domain.Revoked:
		return "Stax.ai rejects this key as unknown or revoked" + because + ". Replace it with a new key from Stax.ai, or delete it here."
	case domain.Denied:
		return "Stax.ai knows this key but refuses it access" + because + ". Check the team's permissions at Stax.ai."
	}
	if p.LastCheck == nil {
		return "No check has run yet; the first one runs within seconds of adding the key."
	}
	if p.Candidate == domain.Revoked || p.Candidate == domain.Denied {
		return "Stax.ai's first answer was " + strings.ToLower(verdictLabel(p.Candidate)) + because + "; staxkeys asks again to confirm it before it counts or alerts."
	}
	return "No check has given a clear answer yet" + because + ". staxkeys keeps trying, backing off gently."
}

// firstError is the first field error as a sentence, for a form's summary.
func firstError(errs FormErrors) string {
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return ""
	}
	msg := errs[keys[0]]
	if msg == "" {
		return ""
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

// DashboardURL is the dashboard under a filter and sort, where a bulk action returns.
func DashboardURL(status, search, tag, sort string) string {
	q := url.Values{}
	if search != "" {
		q.Set("q", search)
	}
	if tag != "" {
		q.Set("tag", tag)
	}
	if status != "" {
		q.Set("status", status)
	}
	if sort != "" {
		q.Set("sort", sort)
	}
	if len(q) == 0 {
		return "/"
	}
	return "/?" + q.Encode()
}
