package keys

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/secret"
)

// MaxImportRows bounds one import file.
const MaxImportRows = 10000

// ImportRow is one data row of an import file, checked. In holds the plaintext key: it must
// never be logged, stored or shown; pages show KeyHint, and only for a key that is well formed.
type ImportRow struct {
	Line     int // the row's line in the file; the header is line 1
	In       Input
	KeyHint  string
	Problems map[string]string // what is wrong, by field; "row" for the row as a whole

	DuplicateOf    int   // an earlier line with the same email and key
	Registered     int64 // the pair that already holds this email and key
	SharedWithLine int   // an earlier line with the same key under another email
	SharedWithKey  int64 // a registered pair with the same key under another email
}

// Bad reports whether the row cannot be imported as it stands.
func (r ImportRow) Bad() bool { return len(r.Problems) > 0 }

// ShownLabel is a bad row's label if it may be shown: valid, and not something that could be
// a key (a column mix-up can put the key in any column). Otherwise "".
func (r ImportRow) ShownLabel() string {
	if r.Problems["label"] != "" || checkKey(r.In.Label) == "" {
		return ""
	}
	return r.In.Label
}

// ShownEmail is a bad row's email if it is a valid address (which no key is); otherwise "".
func (r ImportRow) ShownEmail() string {
	if r.Problems["email"] != "" || CheckEmail(r.In.Email) != "" {
		return ""
	}
	return r.In.Email
}

// Duplicate reports whether the row is already registered, or repeats an earlier line.
func (r ImportRow) Duplicate() bool { return r.DuplicateOf > 0 || r.Registered > 0 }

// Importable reports whether importing the row would add a pair.
func (r ImportRow) Importable() bool { return !r.Bad() && !r.Duplicate() }

// ImportPlan is an import file read and checked, row by row.
type ImportPlan struct {
	Rows    []ImportRow
	Ignored []string // header columns other than label, email, key and expected
	// Progress, when set, is called by Import after each row with the rows done so far, so
	// the command line can show progress on a long import.
	Progress func(done int)
}

// ImportCounts sums up a plan.
type ImportCounts struct {
	Rows, Good, Bad, Duplicates int
}

// Counts sums up the plan: Good rows would be imported.
func (p *ImportPlan) Counts() ImportCounts {
	c := ImportCounts{Rows: len(p.Rows)}
	for _, r := range p.Rows {
		switch {
		case r.Bad():
			c.Bad++
		case r.Duplicate():
			c.Duplicates++
		default:
			c.Good++
		}
	}
	return c
}

// ImportFileError says why a file cannot be read as an import at all. It never quotes the file.
type ImportFileError struct {
	Line int // 0 when the fault is not on one line
	Msg  string
}

func (e *ImportFileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("vault: import: line %d: %s", e.Line, e.Msg)
	}
	return "vault: import: " + e.Msg
}

// ParseImport reads a CSV file of pairs: a header row naming the columns label, email and key,
// and optionally tags and expected (in any order; other columns are ignored), then one pair per
// row. A tags cell holds the key's tags separated by spaces, commas or | ("billing env:prod", as
// the export writes them); no tag holds any of these. An expected cell is valid, revoked or empty
// (see domain.Expect). Each row is validated as
// Add would, and a row repeating an earlier one (same email and key) is marked. A file that is
// not such a CSV at all gives an *ImportFileError.
func ParseImport(r io.Reader) (*ImportPlan, error) {
	// The file is small (uploads are capped), so it is read whole to see its separator first:
	// spreadsheets in many locales save CSV with semicolons, and some export tabs.
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, &ImportFileError{Msg: "the file cannot be read"}
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.Comma = separator(b)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &ImportFileError{Msg: "the file is empty; the first line must be the header label,email,key"}
	}
	if err != nil {
		return nil, csvError(err)
	}
	cols, ignored, msg := importColumns(header)
	if msg != "" {
		return nil, &ImportFileError{Line: 1, Msg: msg}
	}
	plan := &ImportPlan{Ignored: ignored}
	pairs := map[string]int{} // email and key → first line
	keys := map[string]ImportRow{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		if len(plan.Rows) == MaxImportRows {
			return nil, &ImportFileError{Msg: fmt.Sprintf("the file has more than %d rows; split it", MaxImportRows)}
		}
		line, _ := cr.FieldPos(0)
		row := ImportRow{Line: line}
		if len(rec) != len(header) {
			row.Problems = map[string]string{"row": fmt.Sprintf("the row has %d fields; the header has %d", len(rec), len(header))}
			plan.Rows = append(plan.Rows, row)
			continue
		}
		label := ""
		if cols.label >= 0 {
			label = rec[cols.label]
		}
		var tags []string
		if cols.tags >= 0 {
			tags = SplitTagsCell(rec[cols.tags])
		}
		expected := ""
		if cols.expected >= 0 {
			expected = strings.ToLower(strings.TrimSpace(rec[cols.expected]))
		}
		in, err := Validate(Input{Label: label, Email: rec[cols.email], Key: rec[cols.key], Tags: tags, Expected: domain.Expect(expected)}, true)
		row.In = in
		var ve *domain.ValidationError
		if errors.As(err, &ve) {
			row.Problems = ve.Fields
		}
		if row.Problems["key"] == "" {
			row.KeyHint = secret.Hint(in.Key)
		}
		if !row.Bad() {
			id := normalizeEmail(in.Email) + "\x00" + in.Key
			if first, seen := pairs[id]; seen {
				row.DuplicateOf = first
			} else {
				pairs[id] = line
				if other, seen := keys[in.Key]; seen {
					row.SharedWithLine = other.Line
				} else {
					keys[in.Key] = row
				}
			}
		}
		plan.Rows = append(plan.Rows, row)
	}
	if len(plan.Rows) == 0 {
		return nil, &ImportFileError{Msg: "the file has a header but no rows"}
	}
	return plan, nil
}

// columns are where each column is; label, tags and expected are optional (-1).
type columns struct{ label, email, key, tags, expected int }

// SplitTagsCell splits an import file's tags cell at spaces, commas and |.
func SplitTagsCell(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' || unicode.IsSpace(r) })
}

// separator is the field separator of the file's first line: a comma, or else a semicolon or
// a tab if that line has one and no comma.
func separator(b []byte) rune {
	first, _, _ := bytes.Cut(b, []byte("\n"))
	switch {
	case bytes.ContainsRune(first, ','):
		return ','
	case bytes.ContainsRune(first, ';'):
		return ';'
	case bytes.ContainsRune(first, '\t'):
		return '\t'
	}
	return ','
}

// importColumns finds the columns in the header. The label, tags and expected are optional; email
// and key are not. What is wrong with a header is said precisely, naming the columns found (header names
// are never a key).
func importColumns(header []string) (columns, []string, string) {
	c := columns{-1, -1, -1, -1, -1}
	var ignored []string
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		var p *int
		switch name {
		case "label":
			p = &c.label
		case "email":
			p = &c.email
		case "key":
			p = &c.key
		case "tags":
			p = &c.tags
		case "expected":
			p = &c.expected
		default:
			if name != "" {
				ignored = append(ignored, name)
			}
			continue
		}
		if *p >= 0 {
			return c, nil, "the header names the column " + name + " twice"
		}
		*p = i
	}
	var missing []string
	if c.email < 0 {
		missing = append(missing, "email")
	}
	if c.key < 0 {
		missing = append(missing, "key")
	}
	if len(missing) > 0 {
		return c, nil, "the first line must be a header naming the columns email and key (and, if you like, label), in any order; it has no " +
			strings.Join(missing, " and no ") + " column"
	}
	return c, ignored, ""
}

// csvError describes a CSV syntax error by position only: encoding/csv's own message is
// positional too, but the file's content must never reach a message.
func csvError(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return &ImportFileError{Msg: "the file cannot be read"}
	}
	msg := "the CSV is malformed"
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		msg = "a quote (\") appears inside a field that is not quoted; quote the whole field and double the quote"
	case errors.Is(pe.Err, csv.ErrQuote):
		msg = "a quoted field is not closed, or a quote is not doubled"
	}
	return &ImportFileError{Line: pe.StartLine, Msg: fmt.Sprintf("%s (column %d)", msg, pe.Column)}
}

// PlanImport reads an import file (see ParseImport) and also marks the rows whose email and
// key are already registered, and those whose key is registered under another email.
func (v *Vault) PlanImport(ctx context.Context, r io.Reader) (*ImportPlan, error) {
	plan, err := ParseImport(r)
	if err != nil {
		return nil, err
	}
	byKey := map[string][]domain.Key{}
	for i := range plan.Rows {
		row := &plan.Rows[i]
		if row.Bad() || row.DuplicateOf > 0 {
			continue
		}
		same, ok := byKey[row.In.Key]
		if !ok {
			if same, err = v.db.KeysWithFingerprint(ctx, v.KeyFingerprint(row.In.Key)); err != nil {
				return nil, err
			}
			byKey[row.In.Key] = same
		}
		for _, p := range same {
			if normalizeEmail(p.Email) == normalizeEmail(row.In.Email) {
				row.Registered = p.ID
			} else if row.SharedWithKey == 0 {
				row.SharedWithKey = p.ID
			}
		}
	}
	return plan, nil
}

// ErrImportHasBadRows means the plan has bad rows and the caller did not ask to import the
// good rows only: nothing was imported.
var ErrImportHasBadRows = errors.New("vault: the file has bad rows; nothing was imported")

// ImportResult says what an import did, by line.
type ImportResult struct {
	Added      []domain.Key
	Duplicates []int // lines not imported because the pair is registered already or repeats a line
	Skipped    []int // bad lines left out
}

// Import adds the plan's importable rows, one transaction each. When the plan has bad rows it
// imports nothing and returns ErrImportHasBadRows, unless skipBad asks for the good rows only.
// A row registered meanwhile (by someone else) counts as a duplicate, never as a second pair.
func (v *Vault) Import(ctx context.Context, plan *ImportPlan, skipBad bool) (ImportResult, error) {
	var res ImportResult
	if c := plan.Counts(); c.Bad > 0 && !skipBad {
		return res, ErrImportHasBadRows
	}
	for i, row := range plan.Rows {
		if plan.Progress != nil && i > 0 {
			plan.Progress(i)
		}
		switch {
		case row.Bad():
			res.Skipped = append(res.Skipped, row.Line)
			continue
		case row.Duplicate():
			res.Duplicates = append(res.Duplicates, row.Line)
			continue
		}
		p, err := v.Add(ctx, row.In)
		if errors.Is(err, domain.ErrConflict) {
			res.Duplicates = append(res.Duplicates, row.Line)
			continue
		}
		if err != nil {
			return res, fmt.Errorf("vault: import line %d: %w", row.Line, err)
		}
		res.Added = append(res.Added, p)
	}
	return res, nil
}
