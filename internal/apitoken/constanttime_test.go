package apitoken_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// secretCompares are the functions that compare a presented secret with a stored one. Each
// must do it in constant time (crypto/subtle or hmac.Equal), so the time an answer takes says
// nothing about how much of a guess was right.
var secretCompares = []struct{ file, fn string }{
	{"internal/apitoken/apitoken.go", "Authenticate"}, // API tokens: SHA-256 hashes
	{"internal/password/password.go", "Verify"},       // admin passwords: argon2id output
	{"web/api.go", "constantTimeEqual"},               // the metrics bearer token
	{"secret/secret.go", "CheckCanary"},               // the master key's canary
	{"store/audit.go", "VerifyAudit"},                 // the audit chain's MACs
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// calls returns "pkg.Func" for every call of a package function in n.
func calls(n ast.Node) []string {
	var out []string
	ast.Inspect(n, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok {
			if sel, ok := c.Fun.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok {
					out = append(out, id.Name+"."+sel.Sel.Name)
				}
			}
		}
		return true
	})
	return out
}

// TestSecretsComparedInConstantTime reads the source: each function that compares a secret
// calls subtle.ConstantTimeCompare or hmac.Equal, and none of them compares with bytes.Equal,
// bytes.Compare, reflect.DeepEqual or == on a hash. (Timing measurements over a network are
// too noisy to make a test of; the code is what can be checked.)
func TestSecretsComparedInConstantTime(t *testing.T) {
	root := moduleRoot(t)
	for _, sc := range secretCompares {
		t.Run(sc.file+"/"+sc.fn, func(t *testing.T) {
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, sc.file), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			var fn *ast.FuncDecl
			for _, d := range f.Decls {
				if d, ok := d.(*ast.FuncDecl); ok && d.Name.Name == sc.fn {
					fn = d
				}
			}
			if fn == nil {
				t.Fatalf("%s has no func %s: update this list", sc.file, sc.fn)
			}
			constant := false
			for _, c := range calls(fn) {
				switch c {
				case "subtle.ConstantTimeCompare", "hmac.Equal":
					constant = true
				case "bytes.Equal", "bytes.Compare", "reflect.DeepEqual", "strings.EqualFold":
					t.Errorf("%s calls %s", sc.fn, c)
				}
			}
			if !constant {
				t.Errorf("%s compares without crypto/subtle or hmac.Equal", sc.fn)
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				b, ok := n.(*ast.BinaryExpr)
				if !ok || (b.Op != token.EQL && b.Op != token.NEQ) {
					return true
				}
				for _, side := range []ast.Expr{b.X, b.Y} {
					if s := exprString(side); strings.Contains(strings.ToLower(s), "hash") || strings.Contains(strings.ToLower(s), "mac") {
						t.Errorf("%s compares %s with %s", sc.fn, s, b.Op)
					}
				}
				return true
			})
		})
	}
}

// TestNoVariableTimeCompareOfSecrets scans every non-test Go file of the module for
// bytes.Equal or bytes.Compare over something named like a secret.
func TestNoVariableTimeCompareOfSecrets(t *testing.T) {
	root := moduleRoot(t)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			fn := exprString(c.Fun)
			if fn != "bytes.Equal" && fn != "bytes.Compare" {
				return true
			}
			for _, a := range c.Args {
				s := strings.ToLower(exprString(a))
				for _, word := range []string{"hash", "mac", "token", "tok", "key", "secret", "password", "csrf", "sig"} {
					if strings.Contains(s, word) {
						rel, _ := filepath.Rel(root, path)
						t.Errorf("%s: %s(%s…) compares a secret in variable time", rel, fn, exprString(a))
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.CallExpr:
		return exprString(e.Fun) + "(…)"
	case *ast.IndexExpr:
		return exprString(e.X) + "[…]"
	case *ast.SliceExpr:
		return exprString(e.X) + "[:]"
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	case *ast.UnaryExpr:
		return e.Op.String() + exprString(e.X)
	}
	return ""
}
