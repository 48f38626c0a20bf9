// Package validate decodes deploy/grafana/staxkeys-dashboard.json strictly with Grafana's own
// schema types (grafana-foundation-sdk, generated from Grafana's schemas), so an unknown or
// misspelt field, a wrong type or a field Grafana requires fails here rather than on import.
// It is a module of its own so that staxkeys' module does not carry the SDK; .ci/run runs it:
// (cd deploy/grafana/validate && go test ./...). Which metrics the queries use is checked by
// deploy's TestDashboard against a real scrape.
package validate

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// strictErr is err, or nil when it is the empty cog.BuildErrors the SDK (v0.0.22) returns,
// as a non-nil error, when decoding found nothing wrong.
func strictErr(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// TestDashboardSchema: the dashboard, and each of its panels with its plugin's options and
// queries, decodes strictly into the SDK's types.
func TestDashboardSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	b, err := os.ReadFile("../staxkeys-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard.Dashboard
	if err := strictErr(d.UnmarshalJSONStrict(b)); err != nil {
		t.Fatalf("the dashboard does not fit Grafana's schema: %v", err)
	}
	if d.Uid == nil || *d.Uid != "staxkeys" {
		t.Errorf("uid %v", d.Uid)
	}
	// Panel by panel too: the SDK's panel list drops a panel on the empty error above.
	var raw struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(b, &raw); err != nil || len(raw.Panels) == 0 {
		t.Fatalf("no panels: %v", err)
	}
	for i, r := range raw.Panels {
		var p dashboard.Panel
		if err := strictErr(p.UnmarshalJSONStrict(r)); err != nil {
			t.Errorf("panel %d does not fit Grafana's schema: %v", i, err)
			continue
		}
		// (The SDK drops the decoded queries on the same empty error; deploy's TestDashboard
		// checks every panel's queries.)
		if p.Type == "" || p.GridPos == nil || p.Title == nil {
			t.Errorf("panel %d: type %q, position %v, title %v", i, p.Type, p.GridPos, p.Title)
		}
	}
}
