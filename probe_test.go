package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestHealthcheck: `staxkeys healthcheck` (the container HEALTHCHECK) asks the server on the
// configured address: 0 from a healthy server, also when it listens on every interface; 1
// with the reason when the probe fails or nothing listens; a usage error for a bad flag. It
// asks only what deploy/Containerfile relies on, so it holds for the CLI branch's command too.
func TestHealthcheck(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"STAXKEYS_DATA_DIR": dir, "STAXKEYS_API_URL": offlineAPI}
	p := start(t, []string{"--addr", "127.0.0.1:0"}, vars)
	base := p.waitLog(listening)[1]
	_, port, err := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	// The probe needs neither the data directory nor a master key: a container's HEALTHCHECK
	// runs with the server's environment, but a bare one must work too.
	probeVars := map[string]string{"STAXKEYS_ADDR": "127.0.0.1:" + port}
	out, stderr, err := command(t, probeVars, "", "healthcheck")
	if err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("healthcheck of a healthy server: %v, %q, %q", err, out, stderr)
	}
	if _, _, err := command(t, nil, "", "healthcheck", "--addr", "0.0.0.0:"+port); err != nil {
		t.Errorf("healthcheck --addr 0.0.0.0:%s: %v", port, err)
	}
	// --path asks another probe; a path that is none is never health.
	if _, _, err := command(t, probeVars, "", "healthcheck", "--path", "/healthz"); err != nil {
		t.Errorf("healthcheck --path /healthz: %v", err)
	}
	if _, _, err := command(t, probeVars, "", "healthcheck", "--path", "/no-such-probe"); err == nil {
		t.Error("healthcheck --path /no-such-probe succeeded")
	}

	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"error","database":"no such table: pairs"}`))
	}))
	defer sick.Close()
	_, _, err = command(t, nil, "", "healthcheck", "--addr", strings.TrimPrefix(sick.URL, "http://"))
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "503") {
		t.Errorf("healthcheck of a failing server: exit %d, %v", exitCode(err), err)
	}

	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	_, _, err = command(t, probeVars, "", "healthcheck", "--timeout", "2s")
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "/healthz") {
		t.Errorf("healthcheck with no server: exit %d, %v", exitCode(err), err)
	}

	// A bad flag is the CLI's usage or configuration error: neither healthy (0) nor unhealthy (1).
	for _, args := range [][]string{{"--path", "healthz"}, {"--timeout", "0s"}, {"--addr", "nope"}} {
		_, _, err := command(t, nil, "", append([]string{"healthcheck"}, args...)...)
		if code := exitCode(err); code == 0 || code == 1 ||
			!strings.Contains(strings.ToLower(err.Error()), strings.TrimLeft(args[0], "-")) {
			t.Errorf("healthcheck %v: exit %d, %v", args, code, err)
		}
	}
}
