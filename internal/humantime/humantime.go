// Package humantime reads and writes periods the way people write them ("1 day", "2 hours 30
// minutes", "90 minutes"), and Go's notation ("36h", "1h30m") too, so that every form taking a
// duration accepts and shows the same words.
package humantime

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Day and Week are the calendar-free lengths Parse gives "day" and "week".
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// units are the words Parse reads, each singular, plural or abbreviated.
var units = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": Day, "day": Day, "days": Day,
	"w": Week, "wk": Week, "wks": Week, "week": Week, "weeks": Week,
}

// ErrSyntax is Parse's error for text that is no period.
var ErrSyntax = errors.New(`not a period such as "1 day", "2 hours 30 minutes" or "90m"`)

// Parse reads a period: Go's notation ("72h", "1h30m"), or numbers each followed by a unit
// word ("3 days", "2 hours 30 minutes", "1 hour and 15 min", "2d 4h", "1.5 hours"). Case and
// spacing do not matter. It does not judge the size: callers bound it.
func Parse(s string) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return 0, ErrSyntax
	}
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	s = strings.NewReplacer(",", " ", " and ", " ").Replace(s)
	var total time.Duration
	for rest := strings.TrimSpace(s); rest != ""; rest = strings.TrimSpace(rest) {
		i := strings.IndexFunc(rest, func(r rune) bool { return r != '.' && !unicode.IsDigit(r) })
		if i <= 0 {
			return 0, ErrSyntax
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || n < 0 {
			return 0, ErrSyntax
		}
		rest = strings.TrimLeft(rest[i:], " ")
		j := strings.IndexFunc(rest, func(r rune) bool { return !unicode.IsLetter(r) })
		if j < 0 {
			j = len(rest)
		}
		unit, ok := units[rest[:j]]
		if !ok {
			return 0, ErrSyntax
		}
		if n*float64(unit) > float64(100*365*Day) {
			return 0, ErrSyntax // far beyond any period a form means; and no overflow
		}
		total += time.Duration(n * float64(unit))
		rest = rest[j:]
	}
	return total, nil
}

// Format writes d in words Parse reads back: "1 week", "1 day 12 hours", "1 hour 30 minutes",
// "45 seconds"; weeks only when d is whole weeks. Zero is "0 minutes"; parts below a second
// are dropped.
func Format(d time.Duration) string {
	if d < 0 {
		return "-" + Format(-d)
	}
	d = d.Truncate(time.Second)
	if d == 0 {
		return "0 minutes"
	}
	if d%Week == 0 {
		return count(int64(d/Week), "week")
	}
	var parts []string
	for _, u := range []struct {
		per  time.Duration
		name string
	}{{Day, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if n := d / u.per; n > 0 {
			parts = append(parts, count(int64(n), u.name))
			d -= n * u.per
		}
	}
	return strings.Join(parts, " ")
}

func count(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}
