package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// module is the import path every project package starts with.
const module = "github.com/staxkeys/staxkeys"

// testOnly are the packages that exist for tests and benchmarks: fakes, harnesses and load
// drivers. The production binary must not link any of them. A package added for tests belongs
// here.
var testOnly = []string{
	module + "/internal/clock/clocktest",
	module + "/internal/e2e",
	module + "/internal/faulttest",
	module + "/internal/loadtest",
	module + "/internal/staxfake",
	module + "/internal/systest",
}

// goListOutput runs go list with args in the module and returns what it printed.
func goListOutput(t *testing.T, args ...string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(gobin, append([]string{"list"}, args...)...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return string(out)
}

// goList is go list's output as words.
func goList(t *testing.T, args ...string) []string { return strings.Fields(goListOutput(t, args...)) }

// goListLines is go list's output as lines.
func goListLines(t *testing.T, args ...string) []string {
	return strings.Split(strings.TrimSpace(goListOutput(t, args...)), "\n")
}

// TestBinaryLinksNoTestPackage: the binary an operator installs is built from production code
// only; a fake clock or a fake Stax.ai reachable from main would be one wrong call away from
// running in production.
func TestBinaryLinksNoTestPackage(t *testing.T) {
	// Every listed package must exist, so a rename cannot quietly empty the guard.
	if got := goList(t, testOnly...); !slices.Equal(got, testOnly) {
		t.Fatalf("go list of the test-only packages = %v, want %v", got, testOnly)
	}
	deps := goList(t, "-deps", ".")
	if !slices.Contains(deps, module+"/checker") {
		t.Fatalf("go list -deps . does not list the checker; is this the binary? %v", deps)
	}
	for _, p := range testOnly {
		if slices.Contains(deps, p) {
			t.Errorf("the production binary links %s, a test-only package", p)
		}
	}
}

// TestNotifyDoesNotImportChecker: notify hears the checker through checker.Observer and takes
// its time from internal/clock and its payloads from domain, so it needs nothing of the
// checker's; the composition root (internal/app) joins the two.
func TestNotifyDoesNotImportChecker(t *testing.T) {
	deps := goList(t, "-deps", "./notify")
	if !slices.Contains(deps, module+"/notify") {
		t.Fatalf("go list -deps ./notify does not list notify: %v", deps)
	}
	if slices.Contains(deps, module+"/checker") {
		t.Error("notify depends on the checker; it should need only internal/clock and domain")
	}
}

// TestOnlyTheCommandsImportApp: internal/app is the composition root, which knows every
// package; a package below it that imported it would close a cycle of knowledge.
func TestOnlyTheCommandsImportApp(t *testing.T) {
	out := goListLines(t, "-f", "{{.ImportPath}}|{{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./...")
	allowed := []string{module + "/internal/cli", module + "/internal/app"}
	for _, l := range out {
		pkg, imports, _ := strings.Cut(l, "|")
		if slices.Contains(allowed, pkg) {
			continue
		}
		if slices.Contains(strings.Fields(imports), module+"/internal/app") {
			t.Errorf("%s imports internal/app; only the commands may", pkg)
		}
	}
}
