package powerbi

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// specOp is one swagger operation, reduced to what checkAgainstSpec compares.
type specOp struct {
	id     string
	query  map[string]bool
	method string
	path   *regexp.Regexp
}

var (
	specOnce sync.Once
	specOps  []specOp
)

// loadSpecOps reads the swagger's operations once; nil when the shared specs are absent.
func loadSpecOps() []specOp {
	specOnce.Do(func() {
		specs := findSpecs()
		if specs == "" {
			return
		}
		data, err := os.ReadFile(filepath.Join(specs, "powerbi-swagger.json"))
		if err != nil {
			return
		}
		var spec struct {
			Paths map[string]map[string]json.RawMessage `json:"paths"`
		}
		if json.Unmarshal(data, &spec) != nil {
			return
		}
		for tmpl, item := range spec.Paths {
			re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$")
			for method, raw := range item {
				var op struct {
					OperationID string `json:"operationId"`
					Parameters  []struct {
						Name string `json:"name"`
						In   string `json:"in"`
					} `json:"parameters"`
				}
				if json.Unmarshal(raw, &op) != nil || op.OperationID == "" {
					continue
				}
				q := map[string]bool{}
				for _, p := range op.Parameters {
					if p.In == "query" {
						q[p.Name] = true
					}
				}
				specOps = append(specOps, specOp{id: op.OperationID, query: q, method: strings.ToUpper(method), path: re})
			}
		}
	})
	return specOps
}

// findSpecs walks up to the directory holding go.mod and returns ../shared/specs beside it,
// or "" when that is absent.
func findSpecs() string {
	dir, err := filepath.Abs(".")
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			specs := filepath.Join(filepath.Dir(dir), "shared", "specs")
			if _, err := os.Stat(specs); err != nil {
				return ""
			}
			return specs
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// checkAgainstSpec fails the test when a request's method, path (exact case) or query names
// match no swagger operation, so every happy-path test also proves the request exists.
func checkAgainstSpec(t *testing.T, r *http.Request) {
	t.Helper()
	ops := loadSpecOps()
	if ops == nil {
		return // specs absent: operations_test.go says so with a skip
	}
	path := "/v1.0/myorg" + r.URL.EscapedPath()
	for _, op := range ops {
		if op.method != r.Method || !op.path.MatchString(path) {
			continue
		}
		for name := range r.URL.Query() {
			if !op.query[name] {
				t.Errorf("%s %s: query parameter %q is not declared by %s", r.Method, path, name, op.id)
			}
		}
		return
	}
	t.Errorf("%s %s matches no operation in the swagger", r.Method, path)
}
