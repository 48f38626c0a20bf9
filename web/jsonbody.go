package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/staxkeys/staxkeys/domain"
)

// maxJSONBody bounds an API request body.
const maxJSONBody = 64 << 10

// decodeStringFields reads a JSON object whose members must all be strings named in allowed.
// It refuses what encoding/json lets through: duplicate keys (which member wins is a classic
// smuggling trick), unknown keys, non-string values, invalid UTF-8 (which encoding/json would
// replace) and trailing data. Every
// problem is named by field, so the client learns exactly what to fix. present reports which
// fields were given (PATCH semantics).
func decodeStringFields(c echo.Context, allowed ...string) (values map[string]string, err error) {
	return decodeFields(c, nil, allowed...)
}

// decodeFields is decodeStringFields where the fields named in nullable may also be null, which
// leaves them out of values as if they were not given.
func decodeFields(c echo.Context, nullable []string, allowed ...string) (values map[string]string, err error) {
	values, _, err = decodeObject(c, nullable, nil, allowed...)
	return values, err
}

// decodeObject is decodeFields where the fields named in lists are arrays of strings instead,
// returned in lists (a given empty array as an empty, non-nil slice).
func decodeObject(c echo.Context, nullable, listFields []string, allowed ...string) (values map[string]string, lists map[string][]string, err error) {
	r := c.Request()
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if mt != echo.MIMEApplicationJSON {
		return nil, nil, echo.NewHTTPError(http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "the body is too large")
		}
		return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "could not read the body")
	}
	if len(body) > maxJSONBody {
		return nil, nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d KiB", maxJSONBody>>10))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "the body must be a JSON object")
	}
	values, lists = map[string]string{}, map[string][]string{}
	fields := map[string]string{}
	isAllowed := map[string]bool{}
	for _, a := range allowed {
		isAllowed[a] = true
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "the body is not valid JSON")
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "the body is not valid JSON")
		}
		_, dupList := lists[name]
		switch _, dup := values[name]; {
		case !isAllowed[name]:
			fields[fieldName(name)] = "unknown field"
			continue
		case dup || dupList || fields[name] == "given twice":
			fields[name] = "given twice"
			continue
		}
		if !utf8.Valid(raw) {
			// encoding/json would quietly replace the bad bytes; refuse them instead, by
			// name. (Bad bytes elsewhere are a syntax error, and in a member's name make it
			// an unknown field.)
			fields[name] = "must be valid UTF-8"
			values[name] = ""
			continue
		}
		if string(raw) == "null" && slices.Contains(nullable, name) {
			continue
		}
		if slices.Contains(listFields, name) {
			var l []string
			if err := json.Unmarshal(raw, &l); err != nil || len(raw) == 0 || raw[0] != '[' {
				fields[name] = "must be an array of strings"
				values[name] = ""
				continue
			}
			if l == nil {
				l = []string{}
			}
			lists[name] = l
			continue
		}
		var s string
		// encoding/json reads null into a string as "no change", without an error.
		if err := json.Unmarshal(raw, &s); err != nil || len(raw) == 0 || raw[0] != '"' {
			fields[name] = "must be a string"
			values[name] = ""
			continue
		}
		values[name] = s
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "the body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "unexpected data after the JSON object")
	}
	if len(fields) > 0 {
		return nil, nil, &domain.ValidationError{Fields: fields}
	}
	return values, lists, nil
}

// fieldName keeps a hostile key from bloating or garbling the error answer.
func fieldName(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
