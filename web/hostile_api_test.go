package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/apitoken"
)

// rawJSONString quotes s for JSON, escaping only what JSON requires, so invalid UTF-8 goes to
// the server as the raw bytes (json.Marshal would quietly replace them).
func rawJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// rawObject writes a JSON object with members in the given order.
func rawObject(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, rawJSONString(kv[i])+":"+rawJSONString(kv[i+1]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// apiEnv is a server with an API token and one pair to patch.
type apiEnv struct {
	*Env
	c     *Client
	token string
	pair  domain.Key
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	e := newTestServer(t)
	tok, _, err := apitoken.Create(context.Background(), e.DB, "hostile", domain.RoleAdmin, "test")
	if err != nil {
		t.Fatal(err)
	}
	return &apiEnv{Env: e, c: e.NewClient(t), token: tok, pair: e.mustAdd(t, "Patched", "patched@example.com", key1)}
}

func (a *apiEnv) do(t *testing.T, method, path, ctype, body string) *Page {
	t.Helper()
	req, err := http.NewRequest(method, a.TS.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	return a.c.For(t).Do(req)
}

// apiError is the JSON error body.
type apiErrorBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields"`
}

// expectAPIRefusal checks a refusal: one of the statuses that mean "your request is wrong",
// a JSON error with a message, the field named when one is at fault, nothing changed.
func (a *apiEnv) expectAPIRefusal(t *testing.T, p *Page, before string, field string) {
	t.Helper()
	var body apiErrorBody
	if err := json.Unmarshal([]byte(p.HTML), &body); err != nil || body.Error == "" {
		t.Errorf("%d answer is not a JSON error: %.200s", p.StatusCode, p.HTML)
	}
	switch p.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
	case http.StatusUnprocessableEntity, http.StatusConflict:
		if field != "" && body.Fields[field] == "" {
			t.Errorf("%d names %v, not %s", p.StatusCode, body.Fields, field)
		}
	default:
		t.Errorf("answered %d: %.300s", p.StatusCode, p.HTML)
	}
	if after := dbDump(t, a.Env); after != before {
		t.Errorf("a refused request changed the database")
	}
}

// expectStored checks a pair accepted through the API: the JSON answer and a fresh read give
// back exactly what was sent (trimmed), and the key is neither.
func (a *apiEnv) expectStored(t *testing.T, p *Page, label, email, key string) {
	t.Helper()
	var got struct {
		ID    int64  `json:"id"`
		Label string `json:"label"`
		Email string `json:"email"`
	}
	if err := json.Unmarshal([]byte(p.HTML), &got); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	again := a.do(t, http.MethodGet, fmt.Sprint("/api/v1/keys/", got.ID), "", "").Expect(http.StatusOK)
	for _, body := range []string{p.HTML, again.HTML} {
		var round struct{ Label, Email string }
		if err := json.Unmarshal([]byte(body), &round); err != nil {
			t.Fatal(err)
		}
		if round.Label != label || round.Email != email {
			t.Errorf("stored %q %q, sent %q %q", round.Label, round.Email, label, email)
		}
		if !strings.Contains(label+" "+email, key) && strings.Contains(body, key) {
			t.Errorf("the key %q is in a JSON answer: %s", key, body)
		}
	}
	if k := a.storedKey(t, got.ID); k != key {
		t.Errorf("the stored key is %q, sent %q", k, key)
	}
}

func TestHostileAPIFields(t *testing.T) {
	t.Parallel()
	a := newAPIEnv(t)
	for _, field := range []string{"label", "email", "key"} {
		t.Run("POST/"+field, func(t *testing.T) {
			for i, v := range hostile {
				vals := map[string]string{"label": "Hostile API", "email": "api@example.com", "key": freshHostileKey()}
				vals[field] = v
				before := dbDump(t, a.Env)
				p := a.do(t, http.MethodPost, "/api/v1/keys", "application/json", rawObject("label", vals["label"], "email", vals["email"], "key", vals["key"]))
				if p.StatusCode == http.StatusCreated {
					a.expectStored(t, p, strings.TrimSpace(vals["label"]), strings.TrimSpace(vals["email"]), strings.TrimSpace(vals["key"]))
					continue
				}
				t.Run(hostileName(i, v), func(t *testing.T) { a.expectAPIRefusal(t, p, before, field) })
			}
		})
		t.Run("PATCH/"+field, func(t *testing.T) {
			for i, v := range hostile {
				before := dbDump(t, a.Env)
				prev, err := a.DB.KeyByID(context.Background(), a.pair.ID)
				if err != nil {
					t.Fatal(err)
				}
				prevKey := a.storedKey(t, prev.ID)
				p := a.do(t, http.MethodPatch, fmt.Sprint("/api/v1/keys/", a.pair.ID), "application/json", rawObject(field, v))
				if p.StatusCode == http.StatusOK {
					want := map[string]string{"label": prev.Label, "email": prev.Email, "key": prevKey}
					want[field] = strings.TrimSpace(v)
					a.expectStored(t, p, want["label"], want["email"], want["key"])
					continue
				}
				t.Run(hostileName(i, v), func(t *testing.T) { a.expectAPIRefusal(t, p, before, field) })
			}
		})
	}
}

func TestHostileAPIQuery(t *testing.T) {
	t.Parallel()
	a := newAPIEnv(t)
	for _, l := range []string{"100% sure", "under_score", `back\slash`, "O'Brien", "Équipe", "<b>bold</b>"} {
		a.mustAdd(t, l, "q@example.com", freshHostileKey())
	}
	all, err := a.DB.ListKeys(context.Background(), domain.KeyQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, param := range []string{"status", "q", "sort", "limit", "offset"} {
		t.Run(param, func(t *testing.T) {
			for i, v := range hostile {
				before := dbDump(t, a.Env)
				p := a.do(t, http.MethodGet, "/api/v1/keys?"+url.Values{param: {v}}.Encode(), "", "")
				if p.StatusCode != http.StatusOK {
					t.Run(hostileName(i, v), func(t *testing.T) { a.expectAPIRefusal(t, p, before, param) })
					continue
				}
				var page struct {
					Keys  []json.RawMessage `json:"keys"`
					Total int               `json:"total"`
				}
				if err := json.Unmarshal([]byte(p.HTML), &page); err != nil {
					t.Fatalf("%s: %v", hostileName(i, v), err)
				}
				if param != "q" {
					continue
				}
				// The search matches the text typed, literally: no wildcard, quote or
				// escape of it widens or breaks the query.
				want := 0
				lq := strings.ToLower(strings.TrimSpace(v))
				for _, pr := range all.Keys {
					if strings.Contains(strings.ToLower(pr.Label), lq) || strings.Contains(strings.ToLower(pr.Email), lq) {
						want++
					}
				}
				if page.Total != want {
					t.Errorf("q=%s matched %d pairs, want %d", hostileName(i, v), page.Total, want)
				}
			}
		})
	}
}

func TestHostileDashboardQuery(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	c := e.LoggedIn(t)
	e.mustAdd(t, "Billing", "billing@example.com", key1)
	baseline := dangerCounts(c.Get("/").Expect(http.StatusOK).Doc)
	for _, param := range []string{"q", "status", "sort", "page"} {
		t.Run(param, func(t *testing.T) {
			c := c.For(t)
			for i, v := range hostile {
				p := c.Get("/?" + url.Values{param: {v}}.Encode())
				if p.StatusCode != http.StatusOK {
					t.Errorf("%s: GET / answered %d", hostileName(i, v), p.StatusCode)
					continue
				}
				assertInert(t, p, baseline)
				if param == "q" && roundTrips(v) && p.Value("q") != v {
					t.Errorf("%s: the search box shows %q", hostileName(i, v), p.Value("q"))
				}
			}
		})
	}
}

// TestHostileAPIBodies sends what no client should: wrong JSON types, duplicate and unknown
// keys, broken JSON, oversized bodies and the wrong content types. Each is refused with a
// clear error and changes nothing.
func TestHostileAPIBodies(t *testing.T) {
	t.Parallel()
	a := newAPIEnv(t)
	valid := `"label":"x","email":"body@example.com","key":"sk_live_BODYTEST_0123456789"`
	bodies := []struct {
		name, ctype, body, field string
	}{
		{"number", "application/json", `{"label":1,"email":"b@example.com","key":"sk_live_BODYTEST_0123456789"}`, "label"},
		{"null", "application/json", `{"label":null,"email":"b@example.com","key":"sk_live_BODYTEST_0123456789"}`, "label"},
		{"bool", "application/json", `{"label":"x","email":true,"key":"sk_live_BODYTEST_0123456789"}`, "email"},
		{"array", "application/json", `{"label":"x","email":"b@example.com","key":["sk_live_BODYTEST_0123456789"]}`, "key"},
		{"object", "application/json", `{"label":{"x":1},"email":"b@example.com","key":"sk_live_BODYTEST_0123456789"}`, "label"},
		{"huge number", "application/json", `{"label":1e999,"email":"b@example.com","key":"sk_live_BODYTEST_0123456789"}`, "label"},
		{"duplicate email", "application/json", `{` + valid + `,"email":"evil@example.com"}`, "email"},
		{"duplicate key, second not a string", "application/json", `{` + valid + `,"key":1}`, "key"},
		{"duplicate label", "application/json", `{"label":"a","label":"b","email":"b@example.com","key":"sk_live_BODYTEST_0123456789"}`, "label"},
		{"unknown member", "application/json", `{` + valid + `,"verdict":"valid"}`, "verdict"},
		{"member in another case", "application/json", `{"Label":"x","email":"b@example.com","key":"sk_live_BODYTEST_0123456789"}`, "Label"},
		{"id smuggled", "application/json", `{` + valid + `,"id":1}`, "id"},
		{"NUL escape", "application/json", `{"label":"a\u0000b","email":"b@example.com","key":"sk_live_BODYTEST_0123456789"}`, "label"},
		{"lone surrogate", "application/json", `{"label":"\ud800","email":"b@example.com","key":"sk_live_BODYTEST_0123456789"}`, "label"},
		{"CRLF escape in the email", "application/json", `{"label":"x","email":"b@example.com\r\nBcc: e@example.com","key":"sk_live_BODYTEST_0123456789"}`, "email"},
		{"invalid UTF-8 in a value", "application/json", "{\"label\":\"\xff\",\"email\":\"b@example.com\",\"key\":\"sk_live_BODYTEST_0123456789\"}", "label"},
		{"invalid UTF-8 in a name", "application/json", "{\"label\xff\":\"x\"}", ""},
		{"trailing object", "application/json", `{` + valid + `}{"label":"y"}`, ""},
		{"trailing garbage", "application/json", `{` + valid + `} x`, ""},
		{"trailing comma", "application/json", `{` + valid + `,}`, ""},
		{"unquoted names", "application/json", `{label:"x"}`, ""},
		{"single quotes", "application/json", `{'label':'x'}`, ""},
		{"unterminated", "application/json", `{` + valid, ""},
		{"array body", "application/json", `[{` + valid + `}]`, ""},
		{"string body", "application/json", `"x"`, ""},
		{"null body", "application/json", `null`, ""},
		{"empty body", "application/json", ``, ""},
		{"byte-order mark", "application/json", "\xef\xbb\xbf{" + valid + "}", ""},
		{"deep nesting", "application/json", `{"label":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, ""},
		{"just over 64 KiB", "application/json", `{"label":"` + strings.Repeat("x", 64<<10) + `"}`, ""},
		{"over 256 KiB", "application/json", `{"label":"` + strings.Repeat("x", 300<<10) + `"}`, ""},
		{"text/plain", "text/plain", `{` + valid + `}`, ""},
		{"form", "application/x-www-form-urlencoded", "label=x&email=b%40example.com&key=sk_live_BODYTEST_0123456789", ""},
		{"multipart", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\nx\r\n--x--\r\n", ""},
		{"no content type", "", `{` + valid + `}`, ""},
		{"json-patch", "application/json-patch+json", `[{"op":"replace","path":"/label","value":"x"}]`, ""},
		{"text/json", "text/json", `{` + valid + `}`, ""},
		{"two types", "application/json, text/plain", `{` + valid + `}`, ""},
	}
	for _, method := range []string{http.MethodPost, http.MethodPatch} {
		path := "/api/v1/keys"
		if method == http.MethodPatch {
			path = fmt.Sprint("/api/v1/keys/", a.pair.ID)
		}
		for _, b := range bodies {
			t.Run(method+"/"+b.name, func(t *testing.T) {
				before := dbDump(t, a.Env)
				p := a.do(t, method, path, b.ctype, b.body)
				a.expectAPIRefusal(t, p, before, b.field)
			})
		}
	}
	t.Run("a chunked body over 64 KiB", func(t *testing.T) {
		before := dbDump(t, a.Env)
		body := `{"label":"` + strings.Repeat("x", 300<<10) + `"}`
		req, err := http.NewRequest(http.MethodPost, a.TS.URL+"/api/v1/keys", struct{ *strings.Reader }{strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1 // sent chunked: the server cannot refuse it by its declared length
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+a.token)
		p := a.c.For(t).Do(req).Expect(http.StatusRequestEntityTooLarge)
		a.expectAPIRefusal(t, p, before, "")
	})
}

// TestHostileFormEncodings posts the pair form in encodings a browser form would not use.
func TestHostileFormEncodings(t *testing.T) {
	t.Parallel()
	e := newTestServer(t)
	c := e.LoggedIn(t)
	tok := c.Token()
	for _, tc := range []struct {
		name, ctype, body string
		want              int
	}{
		{"JSON", "application/json", `{"label":"x","email":"json@example.com","key":"sk_live_FORMTEST_0123456789"}`, http.StatusUnprocessableEntity},
		{"text/plain", "text/plain", "label=x&email=t@example.com&key=sk_live_FORMTEST_0123456789", http.StatusUnprocessableEntity},
		{"no content type", "", "label=x&email=t@example.com&key=sk_live_FORMTEST_0123456789", http.StatusUnprocessableEntity},
		{"broken multipart", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\nx", http.StatusUnprocessableEntity},
		{"form over 256 KiB", "application/x-www-form-urlencoded", "label=" + strings.Repeat("x", 300<<10) + "&email=t@example.com&key=sk_live_FORMTEST_0123456789", http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := dbDump(t, e)
			req, err := http.NewRequest(http.MethodPost, e.TS.URL+"/keys", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			req.Header.Set("X-CSRF-Token", tok)
			p := c.For(t).Do(req).Expect(tc.want)
			if tc.want == http.StatusUnprocessableEntity && !p.Marked("email") {
				t.Error("the email is not marked")
			}
			if after := dbDump(t, e); after != before {
				t.Error("the database changed")
			}
		})
	}
}
