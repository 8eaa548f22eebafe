package validate

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestReadinessProbeOutlastsReadyTimeout keeps the readiness probe's
// timeout above the time /readyz gives Redis (readyTimeout in api/api.go),
// so a slow Redis is reported by otpgate's own 503 rather than by the
// kubelet giving up first, and a Redis that answers just in time counts.
func TestReadinessProbeOutlastsReadyTimeout(t *testing.T) {
	ready := readyTimeout(t)
	for _, dir := range []string{"base", "overlays/sentinel"} {
		t.Run(dir, func(t *testing.T) {
			p := build(t, dir).deployment.Spec.Template.Spec.Containers[0].ReadinessProbe
			if p == nil {
				t.Fatal("no readinessProbe")
			}
			got := time.Duration(p.TimeoutSeconds) * time.Second
			if got < ready+time.Second {
				t.Errorf("readinessProbe timeoutSeconds = %d; /readyz waits up to %v, so want at least %v", p.TimeoutSeconds, ready, ready+time.Second)
			}
		})
	}
}

// readyTimeout reads `const readyTimeout = N * time.Unit` from api/api.go.
func readyTimeout(t *testing.T) time.Duration {
	t.Helper()
	path := filepath.Join(repoRoot, "api", "api.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]time.Duration{"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if name.Name != "readyTimeout" || i >= len(vs.Values) {
					continue
				}
				if bin, ok := vs.Values[i].(*ast.BinaryExpr); ok && bin.Op == token.MUL {
					lit, okLit := bin.X.(*ast.BasicLit)
					sel, okSel := bin.Y.(*ast.SelectorExpr)
					if okLit && okSel && lit.Kind == token.INT && units[sel.Sel.Name] != 0 {
						n, err := strconv.Atoi(lit.Value)
						if err == nil {
							return time.Duration(n) * units[sel.Sel.Name]
						}
					}
				}
				t.Fatalf("%s: readyTimeout is not written as N * time.Unit; teach this test its new form", path)
			}
		}
	}
	t.Fatalf("%s: no const readyTimeout; point this test at where /readyz's timeout now lives", path)
	return 0
}
