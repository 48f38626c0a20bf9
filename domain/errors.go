package domain

import (
	"errors"
	"slices"
	"strings"
)

// ErrNotFound means the record asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict means the change would break a uniqueness rule (an email or key already taken).
var ErrConflict = errors.New("conflict")

// ErrForbidden means the principal's role does not allow the operation; nothing was done.
var ErrForbidden = errors.New("forbidden: your role does not allow this")

// ValidationError carries one message per faulty field, so a form or a JSON error can mark each.
// Conflict is set when the fault is a duplicate rather than a malformed value.
type ValidationError struct {
	Fields   map[string]string
	Conflict bool
}

// Invalid is a ValidationError for one field.
func Invalid(field, msg string) *ValidationError {
	return &ValidationError{Fields: map[string]string{field: msg}}
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return "invalid " + strings.Join(names, ", ")
}

// Is lets errors.Is(err, ErrConflict) see a duplicate reported as a field error.
func (e *ValidationError) Is(target error) bool { return target == ErrConflict && e.Conflict }
