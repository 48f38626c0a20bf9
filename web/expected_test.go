package web_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// TestAPIExpected: `expected` goes in on create and update and comes out with `expected_at`
// and `standing`; a bad value is a field error that changes nothing; a change has the key
// checked at once.
func TestAPIExpected(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{})
	e.run(t)
	api := e.API(t, e.token(t, "automation", false))
	e.Fake.Set("leak@acme.com", apiKeyA, staxfake.Valid)
	e.Fake.Set("ops@acme.com", apiKeyC, staxfake.Valid)

	api.Do(http.MethodPost, "/api/v1/keys", `{"email":"leak@acme.com","key":"`+apiKeyA+`","expected":"dead"}`).
		ExpectError(http.StatusUnprocessableEntity, "expected")
	if page, _ := e.DB.AllKeys(context.Background()); len(page) != 0 {
		t.Fatalf("a refused create registered %d keys", len(page))
	}
	a := api.Do(http.MethodPost, "/api/v1/keys", `{"label":"Leaked","email":"leak@acme.com","key":"`+apiKeyA+`","expected":"revoked"}`).
		Expect(http.StatusCreated).Object()
	assertKeyShape(t, a)
	if a["expected"] != "revoked" || a["expected_at"] == nil || a["standing"] != "awaiting" {
		t.Errorf("created expected dead: %v", a)
	}
	b := api.Do(http.MethodPost, "/api/v1/keys", `{"label":"Ops","email":"ops@acme.com","key":"`+apiKeyC+`"}`).
		Expect(http.StatusCreated).Object()
	if b["expected"] != "valid" || b["expected_at"] != nil || b["standing"] != "pending" {
		t.Errorf("created with no expectation: %v", b)
	}
	idB := strconv.FormatInt(idOf(b), 10)

	for _, bad := range []string{`"dead"`, `""`, `"Revoked"`} {
		api.Do(http.MethodPatch, "/api/v1/keys/"+idB, `{"label":"Renamed","expected":`+bad+`}`).
			ExpectError(http.StatusUnprocessableEntity, "expected")
	}
	if got := api.Do(http.MethodGet, "/api/v1/keys/"+idB, "").Expect(http.StatusOK).Object(); got["label"] != "Ops" || got["expected"] != "valid" {
		t.Errorf("a refused update changed the key: %v", got)
	}

	up := api.Do(http.MethodPatch, "/api/v1/keys/"+idB, `{"expected":"revoked"}`).Expect(http.StatusOK).Object()
	assertKeyShape(t, up)
	if up["expected"] != "revoked" || up["expected_at"] == nil {
		t.Errorf("after PATCH expected revoked: %v", up)
	}
	// The prompt check: Stax.ai still accepts it.
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(20 * time.Millisecond) {
		got := api.Do(http.MethodGet, "/api/v1/keys/"+idB, "").Expect(http.StatusOK).Object()
		if got["standing"] == "still_accepted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not checked at once after PATCH expected revoked: %v", got)
		}
	}
	list := api.Do(http.MethodGet, "/api/v1/keys?status=still_accepted", "").Expect(http.StatusOK).Object()
	if list["total"] != 2.0 {
		t.Errorf("still accepted: %v", list)
	}
}
