package notify

import (
	"fmt"
	"strings"
	"time"
)

// The words people read in an alert. Every text is built from the alert alone, so what a
// channel says is exactly what the queued payload holds: never a key.

func verdictWord(v string) string {
	switch v {
	case "valid":
		return "valid"
	case "revoked":
		return "revoked"
	case "denied":
		return "denied"
	case "pending":
		return "not checked yet"
	}
	return v
}

func pairName(p *PairRef) string {
	if p == nil {
		return "a key"
	}
	if strings.TrimSpace(p.Label) != "" {
		return fmt.Sprintf("%q (%s)", p.Label, p.Email)
	}
	return "the key of " + p.Email
}

func verdictMessage(a Alert) string {
	var s string
	if a.NewVerdict == "valid" {
		s = fmt.Sprintf("Stax.ai key valid again: %s went from %s to valid.", pairName(a.Pair), verdictWord(a.OldVerdict))
	} else {
		s = fmt.Sprintf("Stax.ai key %s: %s went from %s to %s.", a.NewVerdict, pairName(a.Pair), verdictWord(a.OldVerdict), verdictWord(a.NewVerdict))
	}
	if a.Reason != "" {
		s += " " + a.Reason + "."
	}
	return s
}

func outageMessage(a Alert) string {
	if a.Event == EventOutageStarted {
		s := "The Stax.ai API looks down since " + clock(*a.Since) + "; verdicts stand as they were and staxkeys probes gently until it answers."
		if a.Reason != "" {
			s += " Last answer: " + a.Reason + "."
		}
		return s
	}
	return fmt.Sprintf("The Stax.ai API answers again after %s (down since %s).", human(a.At.Sub(*a.Since)), clock(*a.Since))
}

func verdictReminderMessage(a Alert) string {
	return fmt.Sprintf("Reminder: Stax.ai key %s is still %s, for %s now (since %s).",
		pairName(a.Pair), verdictWord(a.NewVerdict), human(a.At.Sub(*a.Since)), clock(*a.Since))
}

func rotationReminderMessage(a Alert, days int) string {
	return fmt.Sprintf("Reminder: Stax.ai key %s was set %d days ago (%s); consider rotating it.",
		pairName(a.Pair), days, a.Since.UTC().Format("2 Jan 2006"))
}

func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// human says a duration the way people do: "45s", "12m", "3h", "4 days".
func human(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

func slackText(a Alert) string {
	prefix := ""
	switch a.Event {
	case EventVerdictChanged:
		prefix = ":rotating_light: "
		if a.NewVerdict == "valid" {
			prefix = ":white_check_mark: "
		}
	case EventOutageStarted:
		prefix = ":warning: "
	case EventOutageEnded:
		prefix = ":white_check_mark: "
	case EventVerdictReminder, EventRotationReminder:
		prefix = ":alarm_clock: "
	}
	// Slack reads <, > and & as markup; labels are text.
	esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return prefix + "*staxkeys* " + esc.Replace(a.Message)
}

func emailSubject(a Alert) string {
	switch a.Event {
	case EventVerdictChanged:
		if a.NewVerdict == "valid" {
			return "[staxkeys] Key valid again: " + subjectName(a.Pair)
		}
		return "[staxkeys] Key " + a.NewVerdict + ": " + subjectName(a.Pair)
	case EventVerdictReminder:
		return "[staxkeys] Still " + a.NewVerdict + ": " + subjectName(a.Pair)
	case EventRotationReminder:
		return "[staxkeys] Time to rotate: " + subjectName(a.Pair)
	case EventOutageStarted:
		return "[staxkeys] Stax.ai API looks down"
	case EventOutageEnded:
		return "[staxkeys] Stax.ai API answers again"
	case EventTest:
		return "[staxkeys] Test alert"
	}
	return "[staxkeys] " + a.Event
}

func subjectName(p *PairRef) string {
	if p == nil {
		return "a key"
	}
	if strings.TrimSpace(p.Label) != "" {
		return p.Label + " (" + p.Email + ")"
	}
	return p.Email
}

func emailBody(a Alert) string {
	var b strings.Builder
	b.WriteString(a.Message + "\n\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-9s %s\n", k+":", v)
		}
	}
	row("Event", a.Event)
	if a.Pair != nil {
		row("Key", fmt.Sprintf("%s (pair %d)", a.Pair.Label, a.Pair.ID))
		row("Email", a.Pair.Email)
	}
	if a.OldVerdict != "" {
		row("Verdict", a.OldVerdict+" → "+a.NewVerdict)
	} else if a.NewVerdict != "" {
		row("Verdict", a.NewVerdict)
	}
	row("Reason", a.Reason)
	if a.Since != nil {
		row("Since", clock(*a.Since))
	}
	row("Time", clock(a.At))
	b.WriteString("\n-- \nstaxkeys\n")
	return b.String()
}
