package powerbi

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// operationLine is how a method's doc comment names the REST operation it calls.
var operationLine = regexp.MustCompile(`(?m)^Power BI REST operation: (\S+)$`)

// TestOperationNames holds every service method's "Power BI REST operation: X" line to the
// swagger's operationIds, so a typo or an invented operation cannot hide in a comment.
func TestOperationNames(t *testing.T) {
	t.Parallel()
	specs := specsDir(t)
	ids := swaggerOperationIDs(t, filepath.Join(specs, "powerbi-swagger.json"))

	pkg := parsePackageDoc(t)
	used := map[string]string{}
	var services int
	for _, typ := range pkg.Types {
		if !strings.HasSuffix(typ.Name, "Service") {
			continue
		}
		services++
		for _, m := range typ.Methods {
			if !ast.IsExported(m.Name) {
				continue
			}
			name := typ.Name + "." + m.Name
			match := operationLine.FindStringSubmatch(m.Doc)
			if !assert.NotNil(t, match, "%s: doc comment lacks a \"Power BI REST operation: X\" line", name) {
				continue
			}
			op := match[1]
			assert.True(t, ids[op], "%s names %q, which is not an operationId in the swagger", name, op)
			if prev, dup := used[op]; dup {
				t.Errorf("%s and %s both claim operation %s", prev, name, op)
			}
			used[op] = name
		}
	}
	assert.Equal(t, 3, services, "Pipelines, Groups and Capacities services")

	// The pipeline area is implemented in full: every Pipelines_ operation has a method.
	for id := range ids {
		if strings.HasPrefix(id, "Pipelines_") {
			assert.Contains(t, used, id, "no method calls %s", id)
		}
	}
}

// parsePackageDoc reads this package's non-test sources with their comments.
func parsePackageDoc(t *testing.T) *doc.Package {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.ParseComments)
		require.NoError(t, err)
		files = append(files, f)
	}
	require.NotEmpty(t, files)
	pkg, err := doc.NewFromFiles(fset, files, "github.com/pbi-pipelines/azdo-extension/internal/powerbi")
	require.NoError(t, err)
	return pkg
}

func swaggerOperationIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("skipping: swagger %s not found (the shared specs sit beside the repository)", path)
	}
	require.NoError(t, err)
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(data, &spec))
	ids := map[string]bool{}
	for _, item := range spec.Paths {
		for key, raw := range item {
			if key == "parameters" || strings.HasPrefix(key, "x-") {
				continue
			}
			var op struct {
				OperationID string `json:"operationId"`
			}
			if json.Unmarshal(raw, &op) == nil && op.OperationID != "" {
				ids[op.OperationID] = true
			}
		}
	}
	require.NotEmpty(t, ids, "no operationIds in %s", path)
	return ids
}

// specsDir is ../shared/specs relative to the repository root (the directory holding
// go.mod); the test is skipped when it is absent.
func specsDir(t *testing.T) string {
	t.Helper()
	specs := findSpecs()
	if specs == "" {
		t.Skip("skipping: ../shared/specs (beside the repository root) not found")
	}
	return specs
}

func TestOperationLineFormat(t *testing.T) {
	t.Parallel()
	m := operationLine.FindAllStringSubmatch("Does X.\n\nPower BI REST operation: Pipelines_DeployAll\n", -1)
	require.Len(t, m, 1)
	assert.Equal(t, "Pipelines_DeployAll", m[0][1])
	assert.Nil(t, operationLine.FindStringSubmatch("Power BI REST operation:\n"))
}
