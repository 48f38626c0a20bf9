package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/staxkeys/staxkeys/domain"
)

// jsonSeeds are API bodies an attacker would try: wrong types, duplicate keys (which member
// wins differs between parsers), case variants, trailing data, escapes that decode to control
// characters or lone surrogates, deep nesting, a byte-order mark.
var jsonSeeds = []string{
	`{"label":"Billing","email":"a@example.com","key":"sk_live_0123456789abcdef"}`,
	`{}`, `{"label":""}`, ` {"label":"x"} `, "{\"label\":\"x\"}\n",
	`{"label":1}`, `{"label":null}`, `{"label":true}`, `{"label":["x"]}`, `{"label":{"a":"b"}}`, `{"label":1e999}`,
	`{"email":"a@example.com","email":"evil@example.com"}`, `{"key":"a","key":1}`, `{"key":1,"key":"a"}`,
	`{"Label":"x"}`, `{"LABEL":"x"}`, `{"label ":"x"}`, `{"lab\u0065l":"x"}`, `{"id":1}`, `{"__proto__":{"x":1}}`,
	`{"label":"x"}{"label":"y"}`, `{"label":"x"} garbage`, `{"label":"x"`, `{"label":"x",}`, `{label:"x"}`, `{'label':'x'}`,
	`[]`, `[{"label":"x"}]`, `"label"`, `null`, `1`, ``, ` `, `{`, `}`,
	`{"label":"\u0000"}`, `{"label":"\ud800"}`, `{"label":"\udfff\ud800"}`, `{"email":"a@b.co\r\nBcc: x@y.z"}`,
	"\xef\xbb\xbf{\"label\":\"x\"}", "{\"label\":\"\xff\"}", "{\"label\":\"x\"}\x00",
	`{"label":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
	`{"label":"` + strings.Repeat("x", 70000) + `"}`,
	`{"` + strings.Repeat("k", 200) + `":"x"}`,
}

// FuzzDecodeStringFields checks the API's strict JSON reader: whatever the body and content
// type, it never panics; a refusal is 400, 413, 415 or a field error naming each field with a
// message; and every body it accepts is one encoding/json reads the same way, with only the
// allowed members, so no other parser could see a different request in it.
func FuzzDecodeStringFields(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(jsonSeeds[0]), "application/json; charset=utf-8")
	f.Add([]byte(jsonSeeds[0]), "text/plain")
	f.Add([]byte(jsonSeeds[0]), "application/x-www-form-urlencoded")
	f.Add([]byte(jsonSeeds[0]), "")
	f.Add([]byte(jsonSeeds[0]), "application/json, text/plain")
	f.Add([]byte(jsonSeeds[0]), "APPLICATION/JSON")
	allowed := []string{"label", "email", "key"}
	e := echo.New()
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/keys", bytes.NewReader(body))
		req.Header.Set(echo.HeaderContentType, ctype)
		c := e.NewContext(req, httptest.NewRecorder())
		values, err := decodeStringFields(c, allowed...)
		if err != nil {
			var he *echo.HTTPError
			var ve *domain.ValidationError
			switch {
			case errors.As(err, &he):
				if he.Code != http.StatusBadRequest && he.Code != http.StatusRequestEntityTooLarge && he.Code != http.StatusUnsupportedMediaType {
					t.Fatalf("refused with HTTP %d", he.Code)
				}
			case errors.As(err, &ve):
				if len(ve.Fields) == 0 {
					t.Fatal("a field error naming no field")
				}
				for name, msg := range ve.Fields {
					if len(name) > 64 || msg == "" {
						t.Fatalf("field error %q: %q", name, msg)
					}
				}
			default:
				t.Fatalf("refused with %T %v", err, err)
			}
			if plainObject(body, allowed) && isJSONType(ctype) && len(body) <= maxJSONBody {
				t.Fatalf("refused a plain object of allowed strings: %v", err)
			}
			return
		}
		if !isJSONType(ctype) || len(body) > maxJSONBody || !plainObject(body, allowed) {
			t.Fatalf("accepted a body it must refuse (type %q, %d bytes): %q", ctype, len(body), body)
		}
		var std map[string]string
		if err := json.Unmarshal(body, &std); err != nil || std == nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		if len(std) != len(values) {
			t.Fatalf("accepted %q as %q; encoding/json reads %q", body, values, std)
		}
		for k, v := range values {
			if std[k] != v || !utf8.ValidString(v) {
				t.Fatalf("accepted %q as %q; encoding/json reads %q", body, values, std)
			}
			if k != "label" && k != "email" && k != "key" {
				t.Fatalf("accepted the member %q", k)
			}
		}
	})
}

func isJSONType(ctype string) bool {
	// As decodeStringFields: a malformed parameter does not change the media type.
	mt, _, _ := mime.ParseMediaType(ctype)
	return mt == echo.MIMEApplicationJSON
}

// plainObject reports whether body is one JSON object, in valid UTF-8, whose members are all
// strings under distinct allowed names: what decodeStringFields must accept.
func plainObject(body []byte, allowed []string) bool {
	if !utf8.Valid(body) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		name, _ := tok.(string)
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok || seen[name] {
			return false
		}
		seen[name] = true
		var v any
		if err := dec.Decode(&v); err != nil {
			return false
		}
		if _, isString := v.(string); !isString {
			return false
		}
	}
	if _, err := dec.Token(); err != nil {
		return false
	}
	_, err := dec.Token()
	return err == io.EOF
}

// FuzzLocalPath checks the open-redirect guard: the `next` of a login either comes back as it
// was, or as "/", and what comes back always stays on this site, as a browser would read it
// (browsers treat a backslash as a slash and drop tabs and line breaks).
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{
		"/", "/keys/new", "/?q=acme&status=valid", "", "//evil.com", "///evil.com", "/\\evil.com", "\\\\evil.com",
		"/\t/evil.com", "/\r\n/evil.com", "https://evil.com", "http:/evil.com", "javascript:alert(1)", "evil.com",
		"/%2F%2Fevil.com", "/%5Cevil.com", "/.//evil.com", "/\x00//evil.com", "/ /evil.com", "/@evil.com",
		"/user:pass@evil.com", "/\u3002evil.com", "/\ufeff//evil.com", "/keys#frag", "/keys?next=//evil.com",
	} {
		f.Add(s)
	}
	base, _ := url.Parse("https://staxkeys.example/login")
	f.Fuzz(func(t *testing.T, next string) {
		got := localPath(next)
		if got != "/" && got != next {
			t.Fatalf("localPath(%q) = %q: neither the input nor /", next, got)
		}
		if !strings.HasPrefix(got, "/") {
			t.Fatalf("localPath(%q) = %q: not a path", next, got)
		}
		// What a browser would make of it: no tabs or line breaks, backslashes as slashes.
		seen := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(got)
		if strings.HasPrefix(seen, "//") {
			t.Fatalf("localPath(%q) = %q, which a browser reads as another host", next, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("localPath(%q) = %q keeps a control character", next, got)
			}
		}
		u, err := base.Parse(seen)
		if err != nil || u.Host != base.Host || u.Scheme != base.Scheme || u.User != nil {
			t.Fatalf("localPath(%q) = %q resolves to %v (%v)", next, got, u, err)
		}
	})
}
