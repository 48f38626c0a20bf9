// Package deploy_test checks what deploy/ ships against the program it ships: the dashboard and
// the alert rules use only metrics a real scrape has, the rules pass their promtool unit tests,
// the Kubernetes manifests and the compose file decode and wire the probes, the secret and the
// volume as staxkeys expects, the Containerfile builds a non-root image whose HEALTHCHECK is a
// real staxkeys command, and the systemd unit passes systemd-analyze verify.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/internal/cli"
	"github.com/staxkeys/staxkeys/internal/metrics"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
)

// families scrapes a real staxkeys registry (a real database with a key in it, a real checker)
// and returns every metric family it exposes, with its type.
func families(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	v := keys.New(db, secret.NewKeyring(mk))
	if _, err := v.Add(ctx, keys.Input{Email: "ops@example.com", Key: "sk_live_APIKEY_deploy_0123456789"}); err != nil {
		t.Fatal(err)
	}
	// Nothing listens on port 9 of loopback: the checker is never run, only asked for its status.
	client, err := staxapi.New(staxapi.Config{BaseURL: "http://127.0.0.1:9", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	chk := checker.New(db, v, client, checker.DefaultConfig(), nil, nil)
	m := metrics.New(db, chk.Status, metrics.Options{Version: "test", CacheFor: -1})
	ts := httptest.NewServer(m.Handler())
	defer ts.Close()
	res, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if out["staxkeys_key_verdict"] == "" || out["process_resident_memory_bytes"] == "" {
		t.Fatalf("the scrape lacks its own metrics: %v", out)
	}
	return out
}

var metricName = regexp.MustCompile(`\b(?:staxkeys|process|go)_[a-z0-9_]+\b`)

// checkNames fails for every metric name in expr that the scrape does not have (a histogram's
// _bucket, _sum and _count count as the histogram).
func checkNames(t *testing.T, where, expr string, fams map[string]string) {
	t.Helper()
	for _, name := range metricName.FindAllString(expr, -1) {
		if _, ok := fams[name]; ok {
			continue
		}
		found := false
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] == "histogram" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s uses %s, which staxkeys does not expose", where, name)
		}
	}
}

// promtool returns promtool's path, or skips the test (fails it under CI=true, where .ci/run
// has installed it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not on PATH under CI=true (.ci/run installs Debian's prometheus package)")
		}
		t.Skip("promtool is not on PATH: apt-get install prometheus to run this test")
	}
	return p
}

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// TestDashboard: the Grafana dashboard is valid JSON, every panel queries the chosen data
// source, and every metric it names exists in a real scrape; with promtool on PATH every
// query also parses as PromQL.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/staxkeys-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("uid %q, title %q, %d panels", d.UID, d.Title, len(d.Panels))
	}
	fams := families(t)
	ids := map[int]bool{}
	var exprs []string
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %q, want the ${datasource} variable", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: %q ignores the server variable", p.Title, tg.Expr)
			}
			checkNames(t, "panel "+p.Title, tg.Expr, fams)
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, _ := json.Marshal(v.Query); v.Name == "instance" {
			checkNames(t, "variable instance", string(q), fams)
		}
	}

	// PromQL syntax: promtool parses recording rules, so each query becomes one.
	if _, err := exec.LookPath("promtool"); err != nil && os.Getenv("CI") != "true" {
		t.Log("promtool is not on PATH: the queries' syntax is not checked")
		return
	}
	var rules bytes.Buffer
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	sub := strings.NewReplacer("$instance", ".+", "$__rate_interval", "5m")
	for i, e := range exprs {
		q, _ := json.Marshal(sub.Replace(e))
		rules.WriteString("      - record: dashboard:query" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "\n        expr: " + string(q) + "\n")
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, rules.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("a dashboard query is not valid PromQL: %v\n%s", err, out)
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRules: the rules name only metrics a real scrape has, each alert says how bad it is
// and what happened, the five alerts are all there, and (with promtool) the rules pass
// `promtool check rules` and their unit tests.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("prometheus/staxkeys.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("rules: %v", err)
	}
	fams := families(t)
	var names []string
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			checkNames(t, "alert "+r.Alert, r.Expr, fams)
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("alert %s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s lacks a summary or a description", r.Alert)
			}
		}
	}
	for _, want := range []string{"StaxkeysKeyRevokedOrDenied", "StaxkeysUpstreamOutage", "StaxkeysChecksStale",
		"StaxkeysDeliveriesFailing", "StaxkeysPausedByStax"} {
		if !slices.Contains(names, want) {
			t.Errorf("no alert %s in %v", want, names)
		}
	}

	pt := promtool(t)
	if out, err := exec.Command(pt, "check", "rules", "prometheus/staxkeys.rules.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	cmd := exec.Command(pt, "test", "rules", "staxkeys.rules.test.yml")
	cmd.Dir = "prometheus"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

// docs decodes every YAML document of a file.
func docs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, d)
	}
}

// at walks a decoded YAML value by map keys and list indexes ("spec", "containers", 0, ...).
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// byName finds the element of a list whose "name" is name.
func byName(list any, name string) map[string]any {
	l, _ := list.([]any)
	for _, e := range l {
		if m, _ := e.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

// TestKubernetesManifests: the kustomization lists files that exist; the Deployment runs one
// non-root pod with the three probes on the port staxkeys listens on, the master key from the
// Secret the template defines, the PVC at the data directory, and a Litestream sidecar whose
// configuration agrees with deploy/litestream.
func TestKubernetesManifests(t *testing.T) {
	kinds := map[string]map[string]any{}
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, f := range files {
		for _, d := range docs(t, f) {
			kind, _ := d["kind"].(string)
			name, _ := at(d, "metadata", "name").(string)
			if kind == "" || (kind != "Kustomization" && name == "") {
				t.Errorf("%s: a document without kind or name", f)
			}
			kinds[kind+"/"+name] = d
		}
	}
	kust := kinds["Kustomization/"]
	for _, r := range at(kust, "resources").([]any) {
		if _, err := os.Stat(filepath.Join("kubernetes", r.(string))); err != nil {
			t.Errorf("kustomization: %v", err)
		}
	}
	dep := kinds["Deployment/staxkeys"]
	if dep == nil {
		t.Fatalf("no Deployment staxkeys in %v", slices.Sorted(maps.Keys(kinds)))
	}
	if r := at(dep, "spec", "replicas"); r != 1 {
		t.Errorf("replicas %v: SQLite has one writer", r)
	}
	if s := at(dep, "spec", "strategy", "type"); s != "Recreate" {
		t.Errorf("strategy %v: two pods must never share the volume", s)
	}
	pod := at(dep, "spec", "template", "spec")
	if at(pod, "securityContext", "runAsNonRoot") != true {
		t.Error("runAsNonRoot is not true")
	}
	if u, _ := at(pod, "securityContext", "runAsUser").(int); u == 0 {
		t.Errorf("runAsUser %v", at(pod, "securityContext", "runAsUser"))
	}
	app := byName(at(pod, "containers"), "staxkeys")
	if app == nil {
		t.Fatal("no staxkeys container")
	}
	port := byName(at(app, "ports"), "http")
	env := map[string]map[string]any{}
	for _, e := range at(app, "env").([]any) {
		env[e.(map[string]any)["name"].(string)] = e.(map[string]any)
	}
	if addr, _ := env["STAXKEYS_ADDR"]["value"].(string); port == nil || !strings.HasSuffix(addr, ":"+itoa(port["containerPort"])) ||
		!strings.HasPrefix(addr, "0.0.0.0:") {
		t.Errorf("STAXKEYS_ADDR %q and container port %v disagree (or listen on loopback only)", addr, port)
	}
	for probe, want := range map[string]string{"livenessProbe": "/livez", "readinessProbe": "/readyz", "startupProbe": "/healthz"} {
		if p := at(app, probe, "httpGet", "path"); p != want {
			t.Errorf("%s path %v, want %s", probe, p, want)
		}
		if p := at(app, probe, "httpGet", "port"); p != "http" {
			t.Errorf("%s port %v, want the http port", probe, p)
		}
	}
	ref := at(env["STAXKEYS_MASTER_KEY"], "valueFrom", "secretKeyRef")
	secretName, _ := at(ref, "name").(string)
	secretKey, _ := at(ref, "key").(string)
	sec := kinds["Secret/"+secretName]
	if sec == nil || at(sec, "stringData", secretKey) == nil {
		t.Errorf("STAXKEYS_MASTER_KEY comes from secret %q key %q, which secret.yaml does not define", secretName, secretKey)
	}
	if env["STAXKEYS_MASTER_KEY"]["value"] != nil {
		t.Error("the master key is written into the Deployment")
	}
	dataDir, _ := env["STAXKEYS_DATA_DIR"]["value"].(string)
	vols := at(pod, "volumes")
	mountedPVC := func(c map[string]any) bool {
		for _, m := range at(c, "volumeMounts").([]any) {
			mm := m.(map[string]any)
			v := byName(vols, mm["name"].(string))
			if mm["mountPath"] == dataDir && v != nil && at(v, "persistentVolumeClaim", "claimName") != nil {
				claim := at(v, "persistentVolumeClaim", "claimName").(string)
				if kinds["PersistentVolumeClaim/"+claim] == nil {
					t.Errorf("claim %q is not in pvc.yaml", claim)
				}
				return true
			}
		}
		return false
	}
	if dataDir == "" || !mountedPVC(app) {
		t.Errorf("the data directory %q is not the PVC", dataDir)
	}
	ls := byName(at(pod, "containers"), "litestream")
	if ls == nil || !mountedPVC(ls) {
		t.Error("no Litestream sidecar on the data volume")
	}
	restore := byName(at(pod, "initContainers"), "restore")
	if restore == nil || !slices.Contains(at(restore, "args").([]any), any("-if-db-not-exists")) {
		t.Error("no restore init container that leaves an existing database alone")
	}
	for _, list := range []string{"containers", "initContainers"} {
		for _, c := range at(pod, list).([]any) {
			c := c.(map[string]any)
			if at(c, "securityContext", "allowPrivilegeEscalation") != false || at(c, "securityContext", "readOnlyRootFilesystem") != true {
				t.Errorf("container %v: not restricted: %v", c["name"], c["securityContext"])
			}
			if img, _ := c["image"].(string); strings.Contains(img, "litestream") && !regexp.MustCompile(`:\d+\.\d+\.\d+$`).MatchString(img) {
				t.Errorf("container %v: image %q is not pinned to a version", c["name"], img)
			}
		}
	}
	cm := kinds["ConfigMap/staxkeys-litestream"]
	var inCM, shipped any
	if err := yaml.Unmarshal([]byte(at(cm, "data", "litestream.yml").(string)), &inCM); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("litestream/litestream.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &shipped); err != nil {
		t.Fatal(err)
	}
	if !equalJSON(inCM, shipped) {
		t.Errorf("the ConfigMap's litestream.yml differs from deploy/litestream/litestream.yml:\n%v\n%v", inCM, shipped)
	}
	if p := at(shipped, "dbs", 0, "path"); p != dataDir+"/staxkeys.db" {
		t.Errorf("Litestream replicates %v, not the database in %s", p, dataDir)
	}
}

// TestCompose: the compose file runs the image's healthcheck command, restores before staxkeys
// starts, runs Litestream as staxkeys' user on the same volume, and takes the master key from
// a secret file.
func TestCompose(t *testing.T) {
	d := docs(t, "compose/compose.yaml")[0]
	svc := func(name string) map[string]any {
		s, _ := at(d, "services", name).(map[string]any)
		if s == nil {
			t.Fatalf("no service %s", name)
		}
		return s
	}
	app, ls, restore := svc("staxkeys"), svc("litestream"), svc("restore")
	test, _ := at(app, "healthcheck", "test").([]any)
	if len(test) < 3 || test[0] != "CMD" || test[1] != "/usr/local/bin/staxkeys" || test[2] != "healthcheck" {
		t.Errorf("healthcheck %v", test)
	}
	if at(app, "depends_on", "restore", "condition") != "service_completed_successfully" {
		t.Error("staxkeys does not wait for the restore")
	}
	if ls["user"] != "65532:65532" {
		t.Errorf("litestream runs as %v, not staxkeys' user (the database files are 0600)", ls["user"])
	}
	for name, s := range map[string]map[string]any{"staxkeys": app, "litestream": ls, "restore": restore} {
		if !slices.Contains(at(s, "volumes").([]any), any("data:/data")) {
			t.Errorf("%s does not mount the data volume at /data", name)
		}
	}
	env, _ := at(app, "environment").(map[string]any)
	if env["STAXKEYS_MASTER_KEY_FILE"] != "/run/secrets/master_key" || !slices.Contains(at(app, "secrets").([]any), any("master_key")) {
		t.Errorf("the master key is not the master_key secret: %v", env)
	}
	if df := at(app, "build", "dockerfile"); df != "deploy/Containerfile" {
		t.Errorf("dockerfile %v", df)
	}
	if _, err := os.Stat(filepath.Join("compose", at(app, "build", "context").(string), "deploy", "Containerfile")); err != nil {
		t.Errorf("the build context does not hold the Containerfile: %v", err)
	}
	for _, s := range []map[string]any{ls, restore} {
		for _, v := range at(s, "volumes").([]any) {
			if src, _, ok := strings.Cut(v.(string), ":"); ok && strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
					t.Errorf("volume %v: %v", v, err)
				}
			}
		}
	}
}

// TestContainerfile: a static build on an empty base, a non-root numeric user, the data volume,
// and a HEALTHCHECK that runs a staxkeys command that exists.
func TestContainerfile(t *testing.T) {
	b, err := os.ReadFile("Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var froms, users []string
	var health string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			users = append(users, f[1])
		case "HEALTHCHECK":
			health = line
		}
	}
	if len(froms) < 2 || froms[len(froms)-1] != "scratch" {
		t.Errorf("stages %v: the last should be scratch (a static binary needs nothing)", froms)
	}
	if len(users) == 0 || regexp.MustCompile(`^(0|root)(:|$)`).MatchString(users[len(users)-1]) {
		t.Errorf("USER %v: the image must not run as root", users)
	}
	if !strings.Contains(text, "CGO_ENABLED=0") || !strings.Contains(text, `VOLUME ["/data"]`) ||
		!strings.Contains(text, "STAXKEYS_DATA_DIR=/data") {
		t.Error("not a static build with its data in the /data volume")
	}
	m := regexp.MustCompile(`CMD \["/usr/local/bin/staxkeys", "([a-z]+)"`).FindStringSubmatch(health)
	if m == nil {
		t.Fatalf("HEALTHCHECK %q does not run the binary", health)
	}
	var out bytes.Buffer
	err = cli.Run(context.Background(), []string{m[1], "--help"}, cli.Env{Getenv: func(string) string { return "" },
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard})
	var exit *cli.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.Code == 0) || !strings.Contains(out.String(), "Usage: staxkeys "+m[1]) {
		t.Errorf("the HEALTHCHECK command %q is not a staxkeys command: %v\n%s", m[1], err, out.String())
	}
	// Registered once: two branches each brought a healthcheck command.
	out.Reset()
	if err := cli.Run(context.Background(), []string{"help"}, cli.Env{Getenv: func(string) string { return "" },
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`(?m)^\s+`+m[1]+`\s`).FindAllString(out.String(), -1)); n != 1 {
		t.Errorf("staxkeys help lists %q %d times, want once:\n%s", m[1], n, out.String())
	}
}

// TestSystemdUnit: the unit runs `staxkeys serve` as its own user with the hardening the docs
// promise, takes the master key as a credential, and passes `systemd-analyze verify` (with
// ExecStart's binary, not installed here, replaced by a stand-in of the same name).
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/staxkeys.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"ExecStart=/usr/local/bin/staxkeys serve", "User=staxkeys", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "StateDirectory=staxkeys", "LoadCredential=master.key:", "STAXKEYS_MASTER_KEY_FILE=%d/master.key",
		"CapabilityBoundingSet=\n", "UMask=0077", "SystemCallFilter=@system-service"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is not on PATH under CI=true (.ci/run installs Debian's systemd package)")
		}
		t.Skip("systemd-analyze is not on PATH: apt-get install systemd to verify the unit")
	}
	dir := t.TempDir()
	stand := filepath.Join(dir, "staxkeys")
	if err := os.WriteFile(stand, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "staxkeys.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/staxkeys", stand)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// itoa writes a decoded YAML number.
func itoa(v any) string {
	n, _ := v.(int)
	return strconv.Itoa(n)
}

// equalJSON compares two decoded YAML values by their JSON.
func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// litestreamBin is the Litestream binary: $STAXKEYS_LITESTREAM (which .ci/run sets when it
// builds one), else litestream on PATH; the test skips without one.
func litestreamBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STAXKEYS_LITESTREAM"); p != "" {
		return p
	}
	p, err := exec.LookPath("litestream")
	if err != nil {
		t.Skip("no Litestream: set STAXKEYS_LITESTREAM or put litestream on PATH " +
			"(go install github.com/benbjohnson/litestream/cmd/litestream@v0.3.13)")
	}
	return p
}

// TestLitestreamConfig runs the shipped deploy/litestream/litestream.yml for real: pointed at
// a live staxkeys database (only the path and the metrics address changed, the replica URL
// from LITESTREAM_REPLICA_URL as in the recipes), Litestream replicates a key added while it
// runs, and `litestream restore` with the same file gives a database whose keys open with the
// same master key.
func TestLitestreamConfig(t *testing.T) {
	bin := litestreamBin(t)
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "data", "staxkeys.db")
	if err := os.Mkdir(filepath.Dir(dbPath), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	v := keys.New(db, secret.NewKeyring(mk))
	apiKeys := map[string]string{"first@example.com": "sk_live_APIKEY_first_0123456789", "second@example.com": "sk_live_APIKEY_second_ABCDEFGHI"}
	if _, err := v.Add(ctx, keys.Input{Email: "first@example.com", Key: apiKeys["first@example.com"]}); err != nil {
		t.Fatal(err)
	}

	shipped, err := os.ReadFile("litestream/litestream.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("/data/staxkeys.db", dbPath, `addr: ":9090"`, `addr: "127.0.0.1:0"`).Replace(string(shipped))
	if cfg == string(shipped) || !strings.Contains(cfg, "${LITESTREAM_REPLICA_URL}") {
		t.Fatalf("the shipped configuration changed shape:\n%s", shipped)
	}
	cfgPath := filepath.Join(dir, "litestream.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "LITESTREAM_REPLICA_URL=file://"+filepath.Join(dir, "replica"))

	var logs bytes.Buffer
	rep := exec.Command(bin, "replicate", "-config", cfgPath)
	rep.Env, rep.Stdout, rep.Stderr = env, &logs, &logs
	if err := rep.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			rep.Process.Signal(os.Interrupt)
			rep.Wait()
		}
	}
	defer stop()
	if _, err := v.Add(ctx, keys.Input{Email: "second@example.com", Key: apiKeys["second@example.com"]}); err != nil {
		t.Fatal(err)
	}

	// Restore until the copy holds both keys: Litestream ships the WAL about once a second.
	restored := filepath.Join(dir, "restored.db")
	var last string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		os.Remove(restored)
		cmd := exec.Command(bin, "restore", "-config", cfgPath, "-o", restored, dbPath)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		last = string(out)
		if err == nil {
			if n := countKeys(t, restored); n == 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no restored copy with both keys; restore: %v\n%s\nreplicate:\n%s", err, last, logs.String())
		}
	}
	stop()

	rdb, err := store.Open(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rv := keys.New(rdb, secret.NewKeyring(mk))
	pairs, err := rdb.AllKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		if k, err := rv.Key(p); err != nil || k != apiKeys[p.Email] {
			t.Errorf("restored key of %s does not open with the master key: %v", p.Email, err)
		}
	}
}

// countKeys opens a restored copy on its own and counts its keys (0 if it does not open).
func countKeys(t *testing.T, path string) int {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		return 0
	}
	defer db.Close()
	c, err := db.CountKeys(context.Background())
	if err != nil {
		return 0
	}
	return c.Total
}
