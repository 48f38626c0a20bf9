package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// module is the import path every project package starts with.
const module = "github.com/staxkeys/staxkeys"

// testOnly are the packages that exist for tests and benchmarks: everything under tests/
// (fakes and whole-program harnesses) and bench/ (load drivers), and the fake clock. The
// production binary must not link any of them.
var testOnly = []string{"./tests/...", "./bench/...", "./internal/clock/clocktest"}

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
	// The patterns must match the harnesses, so a move cannot quietly empty the guard.
	pkgs := goList(t, testOnly...)
	for _, want := range []string{"/tests/staxfake", "/tests/fault", "/bench/loadtest", "/internal/clock/clocktest"} {
		if !slices.Contains(pkgs, module+want) {
			t.Fatalf("the test-only packages %v lack %s", pkgs, want)
		}
	}
	deps := goList(t, "-deps", ".")
	if !slices.Contains(deps, module+"/checker") {
		t.Fatalf("go list -deps . does not list the checker; is this the binary? %v", deps)
	}
	for _, p := range pkgs {
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

// TestArchitectureDocMatchesImports: docs/ARCHITECTURE.md gives each production package a
// section with the project packages it may import; the code must keep to it, and a new package
// must get its section.
func TestArchitectureDocMatchesImports(t *testing.T) {
	doc, err := os.ReadFile("docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string][]string{} // package (relative, "main" for the root) → may import
	order := map[string]int{}        // package → its section's place on the page
	var pkg, para string
	flush := func() {
		if pkg != "" && para != "" {
			allowed[pkg] = backticked(para)
		}
		para = ""
	}
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(line, "### `"):
			flush()
			pkg = strings.Trim(strings.TrimPrefix(line, "### "), "`")
			order[pkg] = len(order)
		case strings.HasPrefix(line, "*May import:*"):
			para = line
		case para != "" && strings.TrimSpace(line) != "":
			para += " " + line
		default:
			flush()
			if strings.HasPrefix(line, "## ") {
				pkg = ""
			}
		}
	}
	flush()

	for _, l := range goListLines(t, "-f", "{{.ImportPath}}|{{join .Imports \" \"}}", "./...") {
		path, imports, _ := strings.Cut(l, "|")
		rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
		if rel == "" {
			rel = "main"
		}
		if strings.HasPrefix(rel, "tests/") || strings.HasPrefix(rel, "bench/") || strings.HasPrefix(rel, "cmd/") || rel == "internal/clock/clocktest" {
			continue
		}
		may, ok := allowed[rel]
		if !ok {
			t.Errorf("%s has no section (### `%s` with a *May import:* line) in docs/ARCHITECTURE.md", rel, rel)
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if !slices.Contains(may, dep) {
				t.Errorf("%s imports %s, which docs/ARCHITECTURE.md does not allow", rel, dep)
			}
			if order[dep] <= order[rel] {
				t.Errorf("%s imports %s, which docs/ARCHITECTURE.md places above it: an arrow back up", rel, dep)
			}
		}
	}
}

// backticked returns the `quoted` words of s.
func backticked(s string) []string {
	var out []string
	for {
		_, rest, ok := strings.Cut(s, "`")
		if !ok {
			return out
		}
		word, after, ok := strings.Cut(rest, "`")
		if !ok {
			return out
		}
		out, s = append(out, word), after
	}
}
