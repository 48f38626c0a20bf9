// Package views renders staxkeys' HTML pages with templ. Views receive plain data and never
// touch the database, the vault or plaintext keys (except the one reveal view).
package views

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/store"
)

// Page is what every page's layout needs.
type Page struct {
	Title   string
	Admin   string // the logged-in admin's email; "" on the login and setup pages
	CSRF    string
	Flashes []Flash
	Nav     string // which nav item is current: "keys", "admins", ...
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind    string // "ok" or "error"
	Message string
}

// FormErrors maps a field name to what is wrong with it.
type FormErrors map[string]string

func errorID(field string) string { return field + "-error" }

// verdictLabel is the text shown for a verdict; colour only reinforces it.
func verdictLabel(v store.Verdict) string {
	switch v {
	case store.Valid:
		return "Valid"
	case store.Revoked:
		return "Revoked"
	case store.Denied:
		return "Denied"
	default:
		return "Not checked yet"
	}
}

func outcomeLabel(o store.Outcome) string {
	switch o {
	case store.OutcomeValid:
		return "valid"
	case store.OutcomeRevoked:
		return "revoked"
	case store.OutcomeDenied:
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

func pairTitle(p store.Pair) string {
	if strings.TrimSpace(p.Label) != "" {
		return p.Label
	}
	return p.Email
}

func pairURL(id int64, suffix string) string { return fmt.Sprintf("/keys/%d%s", id, suffix) }

func statusText(status int) string { return fmt.Sprint(status) }

func stripSummary(checks []store.Check) string {
	n := map[store.Outcome]int{}
	for _, c := range checks {
		n[c.Outcome]++
	}
	return fmt.Sprintf("last %d checks: %d valid, %d revoked, %d denied, %d failed",
		len(checks), n[store.OutcomeValid], n[store.OutcomeRevoked], n[store.OutcomeDenied], n[store.OutcomeError])
}

// pageURL keeps the filters when moving between pages.
func pageURL(d PairsData, page int) string {
	q := url.Values{}
	if d.Query.Search != "" {
		q.Set("q", d.Query.Search)
	}
	if d.Query.Status != "" {
		q.Set("status", d.Query.Status)
	}
	if d.Query.Sort != "" {
		q.Set("sort", d.Query.Sort)
	}
	q.Set("page", strconv.Itoa(page))
	return "/?" + q.Encode()
}

// eventsURL subscribes the dashboard to live updates of the rows it shows.
func eventsURL(d PairsData) string {
	ids := make([]string, 0, len(d.Pairs))
	for _, p := range d.Pairs {
		ids = append(ids, strconv.FormatInt(p.ID, 10))
	}
	u := "/events?ids=" + strings.Join(ids, ",")
	if d.Query.Status != "" {
		u += "&status=" + url.QueryEscape(d.Query.Status)
	}
	return u
}
