package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// openAPI is docs/openapi.json as a generic JSON document.
type openAPI struct {
	doc map[string]any
}

func loadOpenAPI(t testing.TB) *openAPI {
	t.Helper()
	b, err := os.ReadFile("../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.0.") {
		t.Fatalf("openapi version %q, want 3.0.x", v)
	}
	return &openAPI{doc: doc}
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations returns "METHOD path" for every documented operation.
func (o *openAPI) operations() []string {
	var out []string
	paths, _ := o.doc["paths"].(map[string]any)
	for p, item := range paths {
		for m := range item.(map[string]any) {
			if slices.Contains(httpMethods, m) {
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// resolve follows a local $ref ("#/components/schemas/Pair").
func (o *openAPI) resolve(t testing.TB, node any) any {
	t.Helper()
	for range 10 {
		m, ok := node.(map[string]any)
		if !ok {
			return node
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return node
		}
		node = o.pointer(t, ref)
	}
	t.Fatal("$ref chain too long")
	return nil
}

func (o *openAPI) pointer(t testing.TB, ref string) any {
	t.Helper()
	if !strings.HasPrefix(ref, "#/") {
		t.Fatalf("non-local $ref %q", ref)
	}
	var node any = o.doc
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("$ref %q does not resolve", ref)
		}
		if node, ok = m[part]; !ok {
			t.Fatalf("$ref %q does not resolve (no %q)", ref, part)
		}
	}
	return node
}

// response returns the documented response of an operation for a status, or nil.
func (o *openAPI) response(t testing.TB, method, path string, status int) map[string]any {
	t.Helper()
	item, _ := o.doc["paths"].(map[string]any)[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	if op == nil {
		t.Fatalf("%s %s is not documented", method, path)
	}
	res, _ := op["responses"].(map[string]any)
	r, _ := o.resolve(t, res[strconv.Itoa(status)]).(map[string]any)
	return r
}

// validate checks v against the subset of JSON Schema the spec uses and returns the faults.
func (o *openAPI) validate(t testing.TB, schema, v any, at string) []string {
	t.Helper()
	s, _ := o.resolve(t, schema).(map[string]any)
	if s == nil {
		return []string{at + ": no schema"}
	}
	if v == nil {
		if s["nullable"] == true {
			return nil
		}
		return []string{at + ": null is not allowed"}
	}
	var errs []string
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			errs = append(errs, o.validate(t, sub, v, at)...)
		}
	}
	if one, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, sub := range one {
			if len(o.validate(t, sub, v, at)) == 0 {
				n++
			}
		}
		if n != 1 {
			errs = append(errs, fmt.Sprintf("%s: matches %d of oneOf", at, n))
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		errs = append(errs, fmt.Sprintf("%s: %v not in %v", at, v, enum))
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s: %T is not an object", at, v))
		}
		props, _ := s["properties"].(map[string]any)
		required, _ := s["required"].([]any)
		for _, r := range required {
			if _, ok := m[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required %q missing", at, r))
			}
		}
		for k, val := range m {
			if ps, ok := props[k]; ok {
				errs = append(errs, o.validate(t, ps, val, at+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs = append(errs, fmt.Sprintf("%s: undocumented member %q", at, k))
				}
			case map[string]any:
				errs = append(errs, o.validate(t, ap, val, at+"."+k)...)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return append(errs, fmt.Sprintf("%s: %T is not an array", at, v))
		}
		for i, item := range a {
			errs = append(errs, o.validate(t, s["items"], item, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return append(errs, fmt.Sprintf("%s: %T is not a string", at, v))
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %q is not a date-time", at, str))
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			errs = append(errs, fmt.Sprintf("%s: %v is not an integer", at, v))
		}
	case "number":
		if _, ok := v.(float64); !ok {
			errs = append(errs, fmt.Sprintf("%s: %v is not a number", at, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			errs = append(errs, fmt.Sprintf("%s: %v is not a boolean", at, v))
		}
	}
	return errs
}

// TestOpenAPIMatchesRoutes: every route under /api/v1 is documented and every documented
// operation is served, both ways; so are the operational endpoints.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	spec := loadOpenAPI(t)
	e := newCheckedEnv(t, checkedOptions{})
	documented := spec.operations()
	var served []string
	ops := map[string]bool{"/healthz": true, "/livez": true, "/readyz": true, "/healthz/keys": true, "/metrics": true}
	for _, r := range e.Server.Routes() {
		if strings.HasPrefix(r.Path, "/api/") || ops[r.Path] {
			served = append(served, r.Method+" "+r.Path)
		}
	}
	slices.Sort(served)
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("%s is served but not in docs/openapi.json", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("%s is in docs/openapi.json but not served", op)
		}
	}
	if len(served) < 12 {
		t.Errorf("only %d routes found: %v", len(served), served)
	}

	// Every $ref resolves, and every API operation documents its authentication failure.
	refs := regexp.MustCompile(`"\$ref":\s*"([^"]+)"`)
	raw, _ := os.ReadFile("../docs/openapi.json")
	for _, m := range refs.FindAllStringSubmatch(string(raw), -1) {
		spec.pointer(t, m[1])
	}
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		if strings.HasPrefix(path, "/api/") && spec.response(t, method, path, http.StatusUnauthorized) == nil {
			t.Errorf("%s does not document 401", op)
		}
	}

	// The docs name every operation too.
	md, err := os.ReadFile("../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range documented {
		if !strings.Contains(string(md), "### "+op) {
			t.Errorf("docs/API.md has no section %q", "### "+op)
		}
	}
}

// TestOpenAPIDescribesAnswers sends real requests, failures included, and checks that each
// answer's status is documented for its operation and its body fits the documented schema.
func TestOpenAPIDescribesAnswers(t *testing.T) {
	spec := loadOpenAPI(t)
	e := newCheckedEnv(t, checkedOptions{})
	rw, ro := e.token(t, "automation", false), e.token(t, "monitor", true)
	e.Fake.Set("billing@acme.com", apiKeyA, staxfake.Valid)
	e.Fake.Set("ops@acme.com", apiKeyB, staxfake.Revoked)
	pairID := ""
	var checked int

	for _, tc := range []struct {
		method, path, specPath, token, body string
		hdr                                 []string
		status                              int
	}{
		{"GET", "/api/v1/keys", "", rw, "", nil, 200},
		{"POST", "/api/v1/keys", "", rw, `{"label":"Billing","email":"billing@acme.com","key":"` + apiKeyA + `"}`, nil, 201},
		{"POST", "/api/v1/keys", "", rw, `{"label":"Ops","email":"ops@acme.com","key":"` + apiKeyB + `"}`, nil, 201},
		{"POST", "/api/v1/keys", "", rw, `{"email":"billing@acme.com","key":"` + apiKeyA + `"}`, nil, 409},
		{"POST", "/api/v1/keys", "", rw, `{"email":"x"}`, nil, 422},
		{"POST", "/api/v1/keys", "", rw, `[]`, nil, 400},
		{"POST", "/api/v1/keys", "", rw, `{}`, []string{"Content-Type", "text/plain"}, 415},
		{"POST", "/api/v1/keys", "", rw, `{"label":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413},
		{"POST", "/api/v1/keys", "", ro, `{}`, nil, 403},
		{"GET", "/api/v1/keys?sort=label", "/api/v1/keys", ro, "", nil, 200},
		{"GET", "/api/v1/keys?status=nope", "/api/v1/keys", ro, "", nil, 422},
		{"GET", "/api/v1/keys", "", "", "", nil, 401},
		{"GET", "/api/v1/keys/{id}", "", ro, "", nil, 200},
		{"GET", "/api/v1/keys/999", "/api/v1/keys/{id}", ro, "", nil, 404},
		{"PATCH", "/api/v1/keys/{id}", "", rw, `{"label":"Billing (EU)"}`, nil, 200},
		{"PATCH", "/api/v1/keys/{id}", "", rw, `{"label":1}`, nil, 422},
		{"PATCH", "/api/v1/keys/{id}", "", ro, `{"label":"x"}`, nil, 403},
		{"POST", "/api/v1/keys/{id}/check", "", rw, "", nil, 200},
		{"POST", "/api/v1/keys/2/check", "/api/v1/keys/{id}/check", rw, "", nil, 200},
		{"POST", "/api/v1/keys/999/check", "/api/v1/keys/{id}/check", rw, "", nil, 404},
		{"PUT", "/api/v1/keys/{id}/mute", "", rw, `{"until":"2099-01-01T00:00:00Z","note":"maintenance"}`, nil, 200},
		{"GET", "/api/v1/keys/{id}", "", ro, "", nil, 200},
		{"PUT", "/api/v1/keys/{id}/mute", "", rw, `{"until":"2000-01-01T00:00:00Z"}`, nil, 422},
		{"PUT", "/api/v1/keys/{id}/mute", "", ro, `{}`, nil, 403},
		{"DELETE", "/api/v1/keys/{id}/mute", "", rw, "", nil, 204},
		{"GET", "/api/v1/keys/{id}/checks", "", ro, "", nil, 200},
		{"GET", "/api/v1/keys/{id}/checks?limit=0", "/api/v1/keys/{id}/checks", ro, "", nil, 422},
		{"GET", "/api/v1/status", "", ro, "", nil, 200},
		{"GET", "/api/v1/activity", "", ro, "", nil, 200},
		{"GET", "/api/v1/activity?kind=verdict&limit=5", "/api/v1/activity", ro, "", nil, 200},
		{"GET", "/api/v1/activity?kind=mute", "/api/v1/activity", ro, "", nil, 200},
		{"GET", "/api/v1/activity?kind=nope", "/api/v1/activity", ro, "", nil, 422},
		{"GET", "/api/v1/activity", "", "", "", nil, 401},
		{"GET", "/healthz", "", "", "", nil, 200},
		{"GET", "/readyz", "", "", "", nil, 503}, // the checker is not running in this test
		{"GET", "/healthz/keys", "", "", "", nil, 503},
		{"GET", "/healthz/keys", "", ro, "", nil, 503},
		{"GET", "/healthz/keys", "", "sk_" + strings.Repeat("z", 43), "", nil, 401},
		{"DELETE", "/api/v1/keys/{id}", "", ro, "", nil, 403},
		{"DELETE", "/api/v1/keys/{id}", "", rw, "", nil, 204},
		{"DELETE", "/api/v1/keys/{id}", "", rw, "", nil, 404},
		{"GET", "/metrics", "", "", "", nil, 200},
	} {
		path, specPath := tc.path, tc.specPath
		if specPath == "" {
			specPath = path
		}
		path = strings.ReplaceAll(path, "{id}", pairID)
		name := tc.method + " " + path + " " + strconv.Itoa(tc.status)
		t.Run(name, func(t *testing.T) {
			r := e.API(t, tc.token).Do(tc.method, path, tc.body, tc.hdr...).Expect(tc.status)
			if tc.status == http.StatusCreated && pairID == "" {
				pairID = strconv.FormatInt(idOf(r.Object()), 10)
			}
			doc := spec.response(t, tc.method, specPath, tc.status)
			if doc == nil {
				t.Fatalf("status %d of %s %s is not documented", tc.status, tc.method, specPath)
			}
			content, _ := doc["content"].(map[string]any)
			if tc.status == http.StatusNoContent {
				if content != nil || len(r.Body) != 0 {
					t.Error("a 204 with content")
				}
				return
			}
			ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
			media, _ := content[ct].(map[string]any)
			if media == nil {
				t.Fatalf("Content-Type %q is not documented for %d", ct, tc.status)
			}
			if ct != "application/json" {
				return
			}
			var v any
			if err := json.Unmarshal(r.Body, &v); err != nil {
				t.Fatal(err)
			}
			for _, fault := range spec.validate(t, media["schema"], v, "body") {
				t.Errorf("%s (%s)", fault, r.Body)
			}
			checked++
		})
	}
	if checked < 25 {
		t.Errorf("only %d bodies validated", checked)
	}
	e.AssertNeverShown(t, apiKeyA, apiKeyB, rw, ro)
}
