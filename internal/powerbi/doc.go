// Package powerbi is the extension's one client for the Power BI REST API (v1.0/myorg):
// deployment pipelines, workspaces (groups) and capacities.
//
// It is shaped like google/go-github: a Client holds the base URL and the http.Client, and
// cheap per-area services (Pipelines, Groups, Capacities) hang off it. Every method takes a
// context first and returns the decoded result, a *Response carrying the service's RequestId,
// and an error; non-2xx answers become *ErrorResponse. Each method's doc comment names the
// swagger operation it calls ("Power BI REST operation: X"), and a test holds those names to
// the saved swagger.
//
// Authentication and retries live in the transport (NewTransport), an http.RoundTripper chain
// modelled on azcore: retry outside, bearer token inside, so every try carries a fresh token.
package powerbi
