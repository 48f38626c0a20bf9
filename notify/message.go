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

func keyName(p *KeyRef) string {
	if p == nil {
		return "a key"
	}
	if strings.TrimSpace(p.Label) != "" {
		return fmt.Sprintf("%q (%s)", p.Label, p.Email)
	}
	return "the key of " + p.Email
}

func verdictMessage(a Alert) string {
	if len(a.Changes) > 1 {
		head, secs := a.listing()
		return inline(head, secs)
	}
	var s string
	if a.NewVerdict == "valid" {
		s = fmt.Sprintf("Stax.ai key valid again: %s went from %s to valid.", keyName(a.Key), verdictWord(a.OldVerdict))
	} else {
		s = fmt.Sprintf("Stax.ai key %s: %s went from %s to %s.", a.NewVerdict, keyName(a.Key), verdictWord(a.OldVerdict), verdictWord(a.NewVerdict))
	}
	if a.Reason != "" {
		s += " " + a.Reason + "."
	}
	return s
}

func outageMessage(a Alert) string {
	if a.Event == EventOutageStarted {
		s := "The Stax.ai API looks down since " + stamp(*a.Since) + "; verdicts stand as they were and staxkeys probes gently until it answers."
		if a.Reason != "" {
			s += " Last answer: " + a.Reason + "."
		}
		return s
	}
	return fmt.Sprintf("The Stax.ai API answers again after %s (down since %s).", human(a.At.Sub(*a.Since)), stamp(*a.Since))
}

func suspicionMessage(a Alert) string {
	head, secs := a.listing()
	s := inline(head, secs)
	if a.Event == EventUpstreamSuspected && a.Reason != "" {
		s += " Last answer: " + a.Reason + "."
	}
	return s
}

func pauseMessage(a Alert) string {
	if a.Event == EventChecksPaused {
		s := "Every check is paused by Stax.ai's rate limiting until " + stamp(*a.Until)
		if a.Since != nil && a.Until.After(*a.Since) {
			s += " (" + human(a.Until.Sub(*a.Since)) + " in all)"
		}
		s += "; nothing is being checked meanwhile, so a key that stops working goes unnoticed until then."
		if a.Reason != "" {
			s += " Last answer: " + a.Reason + "."
		}
		return s
	}
	s := "Checks resume: Stax.ai's rate limiting no longer pauses them"
	if a.Since != nil {
		s += fmt.Sprintf(" (paused for %s, since %s)", human(a.At.Sub(*a.Since)), stamp(*a.Since))
	}
	return s + "."
}

// section is a titled list of keys under an alert's headline.
type section struct {
	title string // "" for the only list
	items []item
}

// item is one key in a list, with what the list says of it.
type item struct {
	pair KeyRef
	text string // e.g. "valid → revoked. Invalid authorization (HTTP 401)"
}

// inlineMax is how many keys a one-line message names; the channels that show lists
// (Slack, email) name every one.
const inlineMax = 10

// listing returns, for an alert about several keys (a group of verdict changes, an upstream
// suspicion), its headline and its lists of keys; for any other alert its message alone.
func (a Alert) listing() (string, []section) {
	change := func(c Change) item {
		t := verdictWord(c.OldVerdict) + " → " + verdictWord(c.NewVerdict)
		if c.Reason != "" {
			t += ". " + c.Reason
		}
		return item{pair: c.Key, text: t}
	}
	pairs := func(ps []KeyRef) []item {
		out := make([]item, 0, len(ps))
		for _, p := range ps {
			out = append(out, item{pair: p})
		}
		return out
	}
	fromTo := verdictWord(a.OldVerdict) + " to " + verdictWord(a.NewVerdict)
	switch {
	case a.Event == EventVerdictChanged && len(a.Changes) > 1:
		var bad, good int
		items := make([]item, 0, len(a.Changes))
		for _, c := range a.Changes {
			if c.NewVerdict == "valid" {
				good++
			} else {
				bad++
			}
			items = append(items, change(c))
		}
		var parts []string
		if bad > 0 {
			parts = append(parts, fmt.Sprintf("%d revoked or denied", bad))
		}
		if good > 0 {
			parts = append(parts, fmt.Sprintf("%d valid again", good))
		}
		return fmt.Sprintf("%d Stax.ai keys changed verdict (%s)", len(a.Changes), strings.Join(parts, ", ")),
			[]section{{items: items}}
	case a.Event == EventUpstreamSuspected:
		return fmt.Sprintf("%s changed from %s at once; staxkeys suspects a change at Stax.ai or on the way "+
			"and holds these verdicts for a longer re-check", keys(len(a.Keys)), fromTo), []section{{items: pairs(a.Keys)}}
	case a.Event == EventUpstreamResolved && len(a.Confirmed) == 0 && len(a.Cleared) == 0:
		// Every member was deleted meanwhile: nothing is left to name.
		return "Suspected change at Stax.ai resolved: none of its keys is registered any more", nil
	case a.Event == EventUpstreamResolved && len(a.Confirmed) == 0:
		return fmt.Sprintf("Suspected change at Stax.ai cleared, no key changed: the %s suspected of changing from %s "+
			"answer as before", keys(len(a.Cleared)), fromTo), []section{{items: pairs(a.Cleared)}}
	case a.Event == EventUpstreamResolved && len(a.Cleared) == 0:
		return fmt.Sprintf("Suspected change at Stax.ai confirmed: %s really changed from %s", keys(len(a.Confirmed)), fromTo),
			[]section{{items: pairs(a.Confirmed)}}
	case a.Event == EventUpstreamResolved:
		return fmt.Sprintf("Suspected change at Stax.ai resolved: %s of %d really changed from %s, %d answer as before",
				keys(len(a.Confirmed)), len(a.Confirmed)+len(a.Cleared), fromTo, len(a.Cleared)),
			[]section{
				{title: "Changed (now " + verdictWord(a.NewVerdict) + ")", items: pairs(a.Confirmed)},
				{title: "As before (still " + verdictWord(a.OldVerdict) + ")", items: pairs(a.Cleared)},
			}
	}
	return a.Message, nil
}

func keys(n int) string {
	if n == 1 {
		return "1 key"
	}
	return fmt.Sprintf("%d keys", n)
}

// inline writes a headline and its lists as one line, naming at most inlineMax keys a list.
func inline(head string, secs []section) string {
	var b strings.Builder
	b.WriteString(head)
	for i, sec := range secs {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		if sec.title != "" {
			b.WriteString(strings.ToLower(sec.title[:1]) + sec.title[1:] + ": ")
		}
		for j, it := range sec.items {
			if j == inlineMax {
				fmt.Fprintf(&b, " and %d more", len(sec.items)-inlineMax)
				break
			}
			if j > 0 {
				if it.text != "" {
					b.WriteString("; ")
				} else {
					b.WriteString(", ")
				}
			}
			b.WriteString(keyName(&it.pair))
			if it.text != "" {
				b.WriteString(" " + it.text)
			}
		}
	}
	return strings.TrimSuffix(b.String(), ".") + "."
}

func verdictReminderMessage(a Alert) string {
	return fmt.Sprintf("Reminder: Stax.ai key %s is still %s, for %s now (since %s).",
		keyName(a.Key), verdictWord(a.NewVerdict), human(a.At.Sub(*a.Since)), stamp(*a.Since))
}

func rotationReminderMessage(a Alert, days int) string {
	return fmt.Sprintf("Reminder: Stax.ai key %s was set %d days ago (%s); consider rotating it.",
		keyName(a.Key), days, a.Since.UTC().Format("2 Jan 2006"))
}

// stamp is t as a message shows it, to the minute in UTC.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

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
	case EventStillAccepted:
		prefix = ":rotating_light: "
	case EventKeyRetired:
		prefix = ":white_check_mark: "
	case EventOutageStarted:
		prefix = ":warning: "
	case EventOutageEnded:
		prefix = ":white_check_mark: "
	case EventVerdictReminder, EventRotationReminder:
		prefix = ":alarm_clock: "
	case EventUpstreamSuspected, EventChecksPaused:
		prefix = ":warning: "
	case EventUpstreamResolved:
		prefix = ":mag: "
	case EventChecksResumed:
		prefix = ":white_check_mark: "
	}
	if a.Event == EventVerdictChanged && len(a.Changes) > 1 {
		prefix = ":rotating_light: "
	}
	head, secs := a.listing()
	var b strings.Builder
	b.WriteString(prefix + "*staxkeys* " + slackEscape(head))
	if len(secs) == 0 {
		if a.Key != nil && a.Key.URL != "" {
			b.WriteString(" <" + a.Key.URL + "|Open in staxkeys>")
		}
		var facts []string
		if a.Event == EventVerdictChanged {
			facts = append(facts, "Since "+stamp(a.At))
		}
		if a.Key != nil && len(a.Key.Tags) > 0 {
			facts = append(facts, "Tags: "+slackEscape(strings.Join(a.Key.Tags, ", ")))
		}
		if len(facts) > 0 {
			b.WriteString("\n" + strings.Join(facts, " · "))
		}
		return b.String()
	}
	b.WriteString(":")
	listed := 0
	for _, sec := range secs {
		if sec.title != "" && len(sec.items) > 0 {
			b.WriteString("\n*" + slackEscape(sec.title) + "*")
		}
		for i, it := range sec.items {
			if listed == slackMax {
				fmt.Fprintf(&b, "\n…and %d more", len(sec.items)-i)
				break
			}
			listed++
			name := slackEscape(keyName(&it.pair))
			if it.pair.URL != "" {
				// Slack splits a link at its first |: the URL holds none, and the text's
				// would only be cut short, so they become a look-alike.
				name = "<" + it.pair.URL + "|" + strings.ReplaceAll(name, "|", "¦") + ">"
			}
			b.WriteString("\n• " + name)
			if len(it.pair.Tags) > 0 {
				b.WriteString(" [" + slackEscape(strings.Join(it.pair.Tags, ", ")) + "]")
			}
			if it.text != "" {
				b.WriteString(": " + slackEscape(it.text))
			}
		}
	}
	if a.Event == EventUpstreamSuspected && a.Reason != "" {
		b.WriteString("\nLast answer: " + slackEscape(a.Reason))
	}
	return b.String()
}

// slackMax is how many keys one Slack message lists, in all, so a message stays far below
// Slack's limits; the count of the rest is given.
const slackMax = 50

// slackEscape escapes what Slack reads as markup: <, > and &. Labels are text.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func emailSubject(a Alert) string {
	switch a.Event {
	case EventVerdictChanged:
		if len(a.Changes) > 1 {
			return fmt.Sprintf("[staxkeys] %d keys changed verdict", len(a.Changes))
		}
		if a.NewVerdict == "valid" {
			return "[staxkeys] Key valid again: " + subjectName(a.Key)
		}
		return "[staxkeys] Key " + a.NewVerdict + ": " + subjectName(a.Key)
	case EventVerdictReminder:
		return "[staxkeys] Still " + a.NewVerdict + ": " + subjectName(a.Key)
	case EventRotationReminder:
		return "[staxkeys] Time to rotate: " + subjectName(a.Key)
	case EventStillAccepted:
		return "[staxkeys] Still accepted, should be dead: " + subjectName(a.Key)
	case EventKeyRetired:
		return "[staxkeys] Retired as expected: " + subjectName(a.Key)
	case EventOutageStarted:
		return "[staxkeys] Stax.ai API looks down"
	case EventOutageEnded:
		return "[staxkeys] Stax.ai API answers again"
	case EventUpstreamSuspected:
		return fmt.Sprintf("[staxkeys] Suspected change at Stax.ai: %s %s → %s", keys(len(a.Keys)), a.OldVerdict, a.NewVerdict)
	case EventUpstreamResolved:
		if len(a.Confirmed) == 0 && len(a.Cleared) == 0 {
			return "[staxkeys] Suspected change resolved"
		}
		if len(a.Confirmed) == 0 {
			return "[staxkeys] Suspected change cleared: no key changed"
		}
		return fmt.Sprintf("[staxkeys] Confirmed: %s %s", keys(len(a.Confirmed)), a.NewVerdict)
	case EventChecksPaused:
		return "[staxkeys] Checks paused by Stax.ai's rate limiting"
	case EventChecksResumed:
		return "[staxkeys] Checks resume"
	case EventTest:
		return "[staxkeys] Test alert"
	}
	return "[staxkeys] " + a.Event
}

func subjectName(p *KeyRef) string {
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
	head, secs := a.listing()
	if len(secs) == 0 {
		b.WriteString(a.Message + "\n\n")
	} else {
		b.WriteString(head + ".\n")
		for _, sec := range secs {
			if sec.title != "" && len(sec.items) > 0 {
				b.WriteString("\n" + sec.title + ":\n")
			} else {
				b.WriteString("\n")
			}
			for _, it := range sec.items {
				b.WriteString("  - " + subjectName(&it.pair))
				if len(it.pair.Tags) > 0 {
					b.WriteString(" [" + strings.Join(it.pair.Tags, ", ") + "]")
				}
				if it.text != "" {
					b.WriteString(": " + it.text)
				}
				b.WriteString("\n")
				if it.pair.URL != "" {
					b.WriteString("    " + it.pair.URL + "\n")
				}
			}
		}
		b.WriteString("\n")
	}
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-9s %s\n", k+":", v)
		}
	}
	row("Event", a.Event)
	if a.Key != nil && len(secs) == 0 {
		row("Key", fmt.Sprintf("%s (pair %d)", a.Key.Label, a.Key.ID))
		row("Email", a.Key.Email)
		row("Tags", strings.Join(a.Key.Tags, ", "))
		row("Link", a.Key.URL)
	}
	if len(secs) == 0 || a.Event != EventVerdictChanged {
		if a.OldVerdict != "" {
			row("Verdict", a.OldVerdict+" → "+a.NewVerdict)
		} else if a.NewVerdict != "" {
			row("Verdict", a.NewVerdict)
		}
		row("Reason", a.Reason)
	}
	if a.Since != nil {
		row("Since", stamp(*a.Since))
	} else if a.Event == EventVerdictChanged && len(secs) == 0 {
		row("Since", stamp(a.At)) // the new verdict holds since it was confirmed
	}
	if a.Until != nil {
		row("Until", stamp(*a.Until))
	}
	row("Time", stamp(a.At))
	b.WriteString("\n-- \nstaxkeys\n")
	return b.String()
}

// plainText is the message of the URL channels (shoutrrr): a headline, then the email's body
// (every key of a group, each with its link), without the signature.
func plainText(a Alert) string {
	body := strings.TrimSuffix(emailBody(a), "\n-- \nstaxkeys\n")
	return "staxkeys: " + strings.TrimPrefix(emailSubject(a), "[staxkeys] ") + "\n\n" + body
}
