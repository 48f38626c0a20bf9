package web_test

import (
	"net/http"
	"strconv"
	"testing"
)

// TestAPITags: tags in and out of the JSON API, a PATCH leaving them out keeping them and
// "tags": [] clearing them, ?tag= filtering, GET /api/v1/tags counting, bad tags refused by field.
func TestAPITags(t *testing.T) {
	e := newTestServer(t)
	api := e.API(t, e.token(t, "automation", false))

	a := api.Do(http.MethodPost, "/api/v1/keys", `{"email":"billing@acme.com","key":"`+apiKeyA+`","tags":["Billing"," env:prod ","billing"]}`).
		Expect(http.StatusCreated).Object()
	if got := string(mustJSON(t, a["tags"])); got != `["billing","env:prod"]` {
		t.Fatalf("created tags = %s", got)
	}
	b := api.Do(http.MethodPost, "/api/v1/keys", `{"email":"ops@acme.com","key":"`+apiKeyB+`"}`).Expect(http.StatusCreated).Object()
	if got := string(mustJSON(t, b["tags"])); got != `[]` {
		t.Fatalf("untagged key's tags = %s, want []", got)
	}
	idA, idB := strconv.FormatInt(idOf(a), 10), strconv.FormatInt(idOf(b), 10)

	for body, field := range map[string]string{
		`{"email":"x@acme.com","key":"` + apiKeyC + `","tags":["on call"]}`: "tags",
		`{"email":"x@acme.com","key":"` + apiKeyC + `","tags":"billing"}`:   "tags",
		`{"email":"x@acme.com","key":"` + apiKeyC + `","tags":[1]}`:         "tags",
		`{"email":"x@acme.com","key":"` + apiKeyC + `","tags":null}`:        "tags",
	} {
		api.Do(http.MethodPost, "/api/v1/keys", body).ExpectError(http.StatusUnprocessableEntity, field)
	}
	api.Do(http.MethodPatch, "/api/v1/keys/"+idB, `{"tags":["ok"],"tags":["ok"]}`).ExpectError(http.StatusUnprocessableEntity, "tags")
	api.Do(http.MethodPatch, "/api/v1/keys/"+idB, `{"tags":["ok","-no"]}`).ExpectError(http.StatusUnprocessableEntity, "tags")

	got := api.Do(http.MethodPatch, "/api/v1/keys/"+idB, `{"tags":["zapier","env:prod"]}`).Expect(http.StatusOK).Object()
	if s := string(mustJSON(t, got["tags"])); s != `["env:prod","zapier"]` {
		t.Fatalf("patched tags = %s", s)
	}
	got = api.Do(http.MethodPatch, "/api/v1/keys/"+idA, `{"label":"Billing"}`).Expect(http.StatusOK).Object()
	if s := string(mustJSON(t, got["tags"])); s != `["billing","env:prod"]` {
		t.Fatalf("tags after a PATCH without them = %s, want them kept", s)
	}

	ids := func(q string) string {
		t.Helper()
		list := api.Do(http.MethodGet, "/api/v1/keys?sort=added"+q, "").Expect(http.StatusOK).Object()
		out := ""
		for _, k := range list["keys"].([]any) {
			out += strconv.FormatInt(idOf(k.(map[string]any)), 10) + " "
		}
		return out + "total " + strconv.FormatFloat(list["total"].(float64), 'f', -1, 64)
	}
	for q, want := range map[string]string{
		"":              idA + " " + idB + " total 2",
		"&tag=env:prod": idA + " " + idB + " total 2",
		"&tag=Billing":  idA + " total 1",
		"&tag=zapier":   idB + " total 1",
		"&tag=nobody":   "total 0",
	} {
		if got := ids(q); got != want {
			t.Errorf("GET /api/v1/keys?%s = %s, want %s", q, got, want)
		}
	}
	tags := api.Do(http.MethodGet, "/api/v1/tags", "").Expect(http.StatusOK).Body
	if want := `{"tags":[{"tag":"billing","keys":1},{"tag":"env:prod","keys":2},{"tag":"zapier","keys":1}]}`; string(tags) != want+"\n" {
		t.Errorf("GET /api/v1/tags = %s, want %s", tags, want)
	}

	got = api.Do(http.MethodPatch, "/api/v1/keys/"+idA, `{"tags":[]}`).Expect(http.StatusOK).Object()
	if s := string(mustJSON(t, got["tags"])); s != `[]` {
		t.Fatalf("tags after \"tags\": [] = %s", s)
	}
	if got := ids("&tag=billing"); got != "total 0" {
		t.Errorf("after clearing, ?tag=billing = %s", got)
	}
}
