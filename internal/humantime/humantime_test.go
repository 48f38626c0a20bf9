package humantime

import (
	"testing"
	"time"
)

func TestParseReadsWordsAndGoNotation(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"1 day":              Day,
		"2 hours 30 minutes": 2*time.Hour + 30*time.Minute,
		"90 minutes":         90 * time.Minute,
		"36h":                36 * time.Hour,
		"1h30m":              90 * time.Minute,
		"1 Week":             Week,
		"3 days":             3 * Day,
		"2d":                 2 * Day,
		"2d 4h":              2*Day + 4*time.Hour,
		"1 hour and 15 min":  75 * time.Minute,
		"1.5 hours":          90 * time.Minute,
		"1 day, 2 hours":     26 * time.Hour,
		"  12 hours ":        12 * time.Hour,
		"45 seconds":         45 * time.Second,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "soon", "3", "days", "3 fortnights", "-2 days", "1e9 weeks", "2 days x"} {
		if d, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, d)
		}
	}
}

func TestFormatWritesWordsParseReadsBack(t *testing.T) {
	for d, want := range map[time.Duration]string{
		Day:                          "1 day",
		Week:                         "1 week",
		2 * Week:                     "2 weeks",
		36 * time.Hour:               "1 day 12 hours",
		90 * time.Minute:             "1 hour 30 minutes",
		2*time.Hour + 30*time.Minute: "2 hours 30 minutes",
		45 * time.Second:             "45 seconds",
		0:                            "0 minutes",
	} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
		if back, err := Parse(Format(d)); err != nil || back != d {
			t.Errorf("Parse(Format(%v)) = %v, %v", d, back, err)
		}
	}
}
