package failpoint_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/failpoint"
)

// killSite is one failpoint.At call in the module's code.
type killSite struct {
	pos string
	// point is the constant's value, for a constant of this package.
	point string
	// versioned: the point is passed through AtVersion.
	versioned bool
	// step: the point is ops.StepFailpoint(kind, step, phase); phase is
	// the name of its third argument.
	step  bool
	phase string
}

// moduleRoot is the directory of the module's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test")
		dir = parent
	}
}

// constants are the string constants this package declares, by name.
func constants(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string]string{}
	for _, file := range []string{"failpoint.go", "points.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec) //nolint:forcetypeassert // a const declaration holds value specs
				for i, name := range vs.Names {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, err := strconv.Unquote(lit.Value)
						require.NoError(t, err)
						out[name.Name] = v
					}
				}
			}
		}
	}
	return out
}

// killSites parses every Go file of the module but tests and returns each
// failpoint.At call.
func killSites(t *testing.T) []killSite {
	t.Helper()
	root := moduleRoot(t)
	consts := constants(t)
	fset := token.NewFileSet()
	var sites []killSite
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isSelector(call.Fun, "failpoint", "At") {
				return true
			}
			rel, _ := filepath.Rel(root, path)
			site := killSite{pos: rel + ":" + strconv.Itoa(fset.Position(call.Pos()).Line)}
			require.Len(t, call.Args, 1, "%s: At takes one point", site.pos)
			arg := call.Args[0]
			if inner, ok := arg.(*ast.CallExpr); ok && isSelector(inner.Fun, "failpoint", "AtVersion") {
				site.versioned, arg = true, inner.Args[0]
			}
			switch a := arg.(type) {
			case *ast.SelectorExpr:
				x, ok := a.X.(*ast.Ident)
				require.True(t, ok && x.Name == "failpoint", "%s: a point is a constant of package failpoint", site.pos)
				v, ok := consts[a.Sel.Name]
				require.True(t, ok, "%s: failpoint.%s is no string constant of package failpoint", site.pos, a.Sel.Name)
				site.point = v
			case *ast.CallExpr:
				fn, ok := a.Fun.(*ast.Ident)
				require.True(t, ok && fn.Name == "StepFailpoint" && f.Name.Name == "ops" && len(a.Args) == 3,
					"%s: a point is a constant of package failpoint, failpoint.AtVersion of one, or ops.StepFailpoint", site.pos)
				phase, ok := a.Args[2].(*ast.Ident)
				require.True(t, ok, "%s: the phase of StepFailpoint is a constant", site.pos)
				site.step, site.phase = true, phase.Name
			default:
				t.Fatalf("%s: a point is a constant of package failpoint, failpoint.AtVersion of one, or ops.StepFailpoint", site.pos)
			}
			sites = append(sites, site)
			return true
		})
		return nil
	})
	require.NoError(t, err)
	return sites
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == pkg && sel.Sel.Name == name
}

// TestEveryPointSiteIsListed generates the list of failpoints from the
// code: each failpoint.At call of the module names a constant of
// InnerPoints (through AtVersion exactly when it is one of
// VersionedPoints), an idempotency point, or a step boundary
// (ops.StepFailpoint, at the worker's two calls, before and after each
// step). Every listed point has a call site. So a point added to the code
// but not to the lists, which the crash-point enumeration
// (backend/cmd/dbfleetd) walks, fails here.
func TestEveryPointSiteIsListed(t *testing.T) {
	sites := killSites(t)
	inner, versioned := failpoint.InnerPoints(), failpoint.VersionedPoints()
	seen := map[string]bool{}
	var phases []string
	for _, s := range sites {
		switch {
		case s.step:
			phases = append(phases, s.phase)
			continue
		case slices.Contains(failpoint.IdempotencyPoints(), s.point):
			require.False(t, s.versioned, "%s", s.pos)
		default:
			require.Contains(t, inner, s.point, "%s: point %q is missing from failpoint.InnerPoints", s.pos, s.point)
			require.Equal(t, slices.Contains(versioned, s.point), s.versioned,
				"%s: point %q is versioned (failpoint.AtVersion) exactly when VersionedPoints lists it", s.pos, s.point)
		}
		seen[s.point] = true
	}
	for _, p := range append(slices.Clone(inner), failpoint.IdempotencyPoints()...) {
		require.True(t, seen[p], "point %q is listed but no code kills there", p)
	}
	slices.Sort(phases)
	require.Equal(t, []string{"failpointAfterStep", "failpointBeforeStep"}, phases,
		"the worker kills before and after each step, once each")
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(inner))), len(inner), "no point is listed twice")
	for _, p := range versioned {
		require.Contains(t, inner, p, "a versioned point is an inner point")
	}
}
