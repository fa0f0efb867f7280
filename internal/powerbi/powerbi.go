package powerbi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultBaseURL is the public cloud's API base. Other clouds differ only in the host.
const DefaultBaseURL = "https://api.powerbi.com/v1.0/myorg/"

// apiPath is the path every Power BI operation lives under, relative to the service root.
const apiPath = "/v1.0/myorg/"

// defaultUserAgent names the extension, as Microsoft's own ADO extension does, so the service
// side can tell our calls apart.
const defaultUserAgent = "pbi-pipelines-azdo-extension"

// Client talks to one Power BI API base. Build it with NewClient; its fields may be changed
// before first use, not concurrently with calls.
type Client struct {
	client *http.Client

	// BaseURL is the API base all paths are resolved against; it always ends in "/".
	BaseURL *url.URL
	// UserAgent is sent with every request.
	UserAgent string

	common service // one shared value instead of one allocation per service

	Pipelines  *PipelinesService
	Groups     *GroupsService
	Capacities *CapacitiesService
}

type service struct {
	client *Client
}

// NewClient returns a client for baseURL, which is either a service root such as
// "https://api.powerbi.com" (then "/v1.0/myorg/" is appended, also after a path prefix such
// as a proxy's) or a full API base ending in "/v1.0/myorg" with or without the final slash.
// httpClient carries authentication and retries (see NewTransport); nil means
// http.DefaultClient.
func NewClient(httpClient *http.Client, baseURL string) (*Client, error) {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	u, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{client: httpClient, BaseURL: u, UserAgent: defaultUserAgent}
	c.common.client = c
	c.Pipelines = (*PipelinesService)(&c.common)
	c.Groups = (*GroupsService)(&c.common)
	c.Capacities = (*CapacitiesService)(&c.common)
	return c, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("powerbi: invalid base URL %q: %w", raw, err)
	}
	if !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("powerbi: base URL %q is not absolute; want e.g. %q", raw, DefaultBaseURL)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("powerbi: base URL %q: scheme must be https", raw)
	}
	// Credentials, queries and fragments in a base URL would leak into every error message
	// or be silently dropped; neither is what the caller meant.
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("powerbi: base URL %s must not carry user info, a query or a fragment", u.Redacted())
	}
	p := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(strings.ToLower(p), strings.TrimSuffix(apiPath, "/")):
		u.Path = p + "/"
	case strings.Contains(strings.ToLower(p+"/"), "/v1.0/"):
		// "…/v1.0" or "…/v1.0/other" is a typo, not a prefix to mount the API under.
		return nil, fmt.Errorf("powerbi: base URL %q: want a service root or a path ending in %q", raw, strings.TrimSuffix(apiPath, "/"))
	default:
		u.Path = p + apiPath
	}
	u.RawPath = ""
	return u, nil
}

// NewRequest builds a request for path, which is relative to BaseURL (no leading slash) and
// may carry a query. A non-nil body is sent as JSON. Every request carries a fresh ActivityId
// (a random UUID the service logs, which support can correlate) and the User-Agent.
func (c *Client) NewRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	if !strings.HasSuffix(c.BaseURL.Path, "/") {
		return nil, fmt.Errorf("powerbi: BaseURL must end in a slash, got %q", c.BaseURL.String())
	}
	rel, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("powerbi: invalid request path %q: %w", path, err)
	}
	// An absolute URL or a rooted path would escape the API base (and, for another host,
	// the bearer token's audience); relative is all the services ever need.
	if rel.IsAbs() || rel.Host != "" || strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("powerbi: request path %q must be relative to the base URL", path)
	}
	u := c.BaseURL.ResolveReference(rel)

	var r io.Reader
	if body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(body); err != nil {
			return nil, fmt.Errorf("powerbi: encoding %s %s body: %w", method, path, err)
		}
		r = &buf
	}
	// NewRequestWithContext sets GetBody for a *bytes.Buffer, which the retry transport needs
	// to replay the body.
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("powerbi: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("ActivityId", newUUID())
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	return req, nil
}

// Response is the service's answer with the request id it assigned.
type Response struct {
	*http.Response
	// RequestID is the RequestId response header; quote it in support cases.
	RequestID string
}

func newResponse(r *http.Response) *Response {
	return &Response{Response: r, RequestID: r.Header.Get("RequestId")}
}

// Do sends req, turns a non-2xx answer into *ErrorResponse (see CheckResponse) and decodes a
// non-empty JSON body into v when v is non-nil. The body is always read and closed, so the
// connection can be reused. A cancelled context is reported as the context's error.
func (c *Client) Do(req *http.Request, v any) (*Response, error) {
	resp, err := c.client.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
	}()
	response := newResponse(resp)
	if err := CheckResponse(resp); err != nil {
		return response, err
	}
	if v == nil {
		return response, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return response, fmt.Errorf("powerbi: decoding %s %s response: %w", req.Method, redactURL(req.URL), err)
	}
	return response, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// redactURL prints u without user info, query or fragment: enough to identify the call in a
// log or error, and nothing a caller might consider private.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	c.Fragment = ""
	c.RawFragment = ""
	return c.String()
}

// pathf fills format's %s verbs with ids, each path-escaped. An empty, "." or ".." id is
// rejected: it would silently address another resource (the collection, or a parent).
func pathf(format string, ids ...string) (string, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		if id == "" || id == "." || id == ".." {
			return "", fmt.Errorf("powerbi: invalid id %q in %s", id, format)
		}
		args[i] = url.PathEscape(id)
	}
	return fmt.Sprintf(format, args...), nil
}

// query is an ordered OData-style query. Keys such as "$filter" are sent verbatim: "$" is
// legal in a query, and the service's own examples write it that way.
type query []string

func (q query) add(key, value string) query {
	return append(q, key+"="+strings.ReplaceAll(url.QueryEscape(value), "+", "%20"))
}

func (q query) encode(path string) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + strings.Join(q, "&")
}

// listResponse is the OData collection wrapper every list operation returns.
type listResponse[T any] struct {
	Value []T `json:"value"`
}

// call sends one request and decodes the answer into a new T. It carries the boilerplate every
// service method would otherwise repeat.
func call[T any](ctx context.Context, c *Client, method, path string, body any) (*T, *Response, error) {
	req, err := c.NewRequest(ctx, method, path, body)
	if err != nil {
		return nil, nil, err
	}
	v := new(T)
	resp, err := c.Do(req, v)
	if err != nil {
		return nil, resp, err
	}
	return v, resp, nil
}

// list calls a collection operation and unwraps {"value":[...]}.
func list[T any](ctx context.Context, c *Client, path string) ([]T, *Response, error) {
	l, resp, err := call[listResponse[T]](ctx, c, http.MethodGet, path, nil)
	if err != nil {
		return nil, resp, err
	}
	return l.Value, resp, nil
}

// send calls an operation whose success answer carries no body worth decoding.
func send(ctx context.Context, c *Client, method, path string, body any) (*Response, error) {
	req, err := c.NewRequest(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	return c.Do(req, nil)
}
