// Package swaggertest is a test helper: it checks that requests sent to the Power BI REST API
// match the official swagger (../shared/specs/powerbi-swagger.json beside the repository), so
// the client and the emulator are held to the real service's wire format rather than to each
// other.
package swaggertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// SpecFile is the swagger's path relative to the directory holding the repository's go.mod.
const SpecFile = "../shared/specs/powerbi-swagger.json"

// spec is the loaded swagger, shared by every test in the process: converting the 1.5 MB
// document takes long enough that doing it per test would dominate the test run.
type spec struct {
	path      string
	missing   bool // the reference specs are not checked out next to the repository
	err       error
	router    routers.Router
	templates [][]string // every path template, split into segments, for case folding
	loadTime  time.Duration
}

var (
	loadOnce sync.Once
	loaded   spec
)

// Validator returns a function that validates one Power BI request (method, path, query and
// JSON body) against the swagger. The request's scheme and host are ignored: the emulator serves
// https://127.0.0.1:<port>/v1.0/myorg/... while the swagger names api.powerbi.com. The path is
// matched case-insensitively, as the service does. Authentication is not checked. A request
// that matches no operation is an error.
//
// The test is skipped when the swagger is not found; it fails when the swagger cannot be loaded.
func Validator(t testing.TB) func(r *http.Request, body []byte) error {
	t.Helper()
	loadOnce.Do(func() { loaded = load() })
	switch {
	case loaded.missing:
		t.Skipf("swaggertest: %s not found: the reference specs live in ../shared/specs beside the repository; skipping request validation", loaded.path)
	case loaded.err != nil:
		t.Fatalf("swaggertest: loading %s: %v", loaded.path, loaded.err)
	}
	t.Logf("swaggertest: swagger loaded and converted to OpenAPI 3 in %s (once per process)", loaded.loadTime.Round(time.Millisecond))
	s := &loaded
	return s.validate
}

func load() spec {
	start := time.Now()
	wd, err := os.Getwd()
	if err != nil {
		return spec{err: err}
	}
	root, err := moduleRoot(wd)
	if err != nil {
		return spec{err: err}
	}
	s := spec{path: filepath.Clean(filepath.Join(root, filepath.FromSlash(SpecFile)))}
	raw, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		s.missing = true
		return s
	}
	if err != nil {
		s.err = err
		return s
	}
	s.router, s.templates, s.err = newRouter(raw)
	s.loadTime = time.Since(start)
	return s
}

// moduleRoot walks up from dir to the directory holding go.mod.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		d = parent
	}
}

// newRouter converts the swagger 2.0 document to OpenAPI 3 and builds a router over its paths.
func newRouter(raw []byte) (routers.Router, [][]string, error) {
	var doc2 openapi2.T
	if err := doc2.UnmarshalJSON(raw); err != nil {
		return nil, nil, fmt.Errorf("parsing swagger: %w", err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, nil, fmt.Errorf("converting swagger to OpenAPI 3: %w", err)
	}
	// Route on the path alone: requests reach the emulator on loopback, not api.powerbi.com.
	doc3.Servers = nil
	// The published examples are documentation, not contract; some do not match their schemas.
	router, err := legacy.NewRouter(doc3, openapi3.DisableExamplesValidation())
	if err != nil {
		return nil, nil, fmt.Errorf("building router: %w", err)
	}
	var templates [][]string
	for path := range doc3.Paths.Map() {
		templates = append(templates, strings.Split(path, "/"))
	}
	return router, templates, nil
}

func (s *spec) validate(r *http.Request, body []byte) error {
	req := r.Clone(r.Context())
	u := *r.URL
	u.Path = s.canonicalPath(r.URL.Path)
	u.RawPath = ""
	req.URL = &u
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	if len(body) > 0 && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}

	route, pathParams, err := s.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s matches no operation in the swagger: %w", r.Method, r.URL.Path, err)
	}
	err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request:    req,
		PathParams: pathParams,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         true,
		},
	})
	if err != nil {
		return fmt.Errorf("%s %s (%s): %w", r.Method, r.URL.Path, route.Operation.OperationID, err)
	}
	return nil
}

// canonicalPath rewrites path to the letter case of the swagger's template it matches
// (segment-wise, ignoring case; parameters match any segment), because the service matches
// paths case-insensitively and callers send e.g. DeployAll. The template with the most literal
// segments wins, so /groups/{groupId}/reports beats /groups/{groupId}/{anything}. A path that
// matches no template is returned unchanged, for the router to reject.
func (s *spec) canonicalPath(path string) string {
	segs := strings.Split(path, "/")
	var best []string
	bestLiterals := -1
	for _, tmpl := range s.templates {
		if len(tmpl) != len(segs) {
			continue
		}
		literals, ok := 0, true
		for i, ts := range tmpl {
			if strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}") {
				continue
			}
			if !strings.EqualFold(ts, segs[i]) {
				ok = false
				break
			}
			literals++
		}
		if ok && literals > bestLiterals {
			best, bestLiterals = tmpl, literals
		}
	}
	if best == nil {
		return path
	}
	out := make([]string, len(segs))
	for i, ts := range best {
		if strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}") {
			out[i] = segs[i]
		} else {
			out[i] = ts
		}
	}
	return strings.Join(out, "/")
}
