package powerbi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxErrorBody bounds how much of an error body is read: enough for any real error, and a
// misbehaving proxy's multi-megabyte page cannot exhaust memory.
const maxErrorBody = 64 << 10

// maxMessage bounds a message taken from a raw (non-JSON) body, so an HTML error page does
// not flood the task log.
const maxMessage = 500

// ErrorResponse is a non-2xx answer from the service.
type ErrorResponse struct {
	// Response is the service's answer; its Body holds the (size-limited) bytes read.
	Response   *http.Response
	StatusCode int
	// Code is the service's error code, e.g. "PowerBIEntityNotFound". Casing varies
	// ("ALM_" and "Alm_"), so compare with IsCode.
	Code string
	// Message is the service's message, else the pbi.error details, else the raw body
	// (trimmed, truncated), else the HTTP status text.
	Message string
	// Details are the values of pbi.error.details, when the service sent any.
	Details []string
	// RequestID is the RequestId response header; quote it in support cases.
	RequestID string
}

// Error reads e.g. `POST https://…/pipelines/{id}/deployAll: 400
// Alm_InvalidRequest_NoArtifactsToDeploy: No artifacts to deploy (RequestId 1234)`. It never
// includes headers or the request body, which may hold tokens or secrets.
func (e *ErrorResponse) Error() string {
	var b strings.Builder
	if e.Response != nil && e.Response.Request != nil {
		fmt.Fprintf(&b, "%s %s: ", e.Response.Request.Method, redactURL(e.Response.Request.URL))
	}
	fmt.Fprintf(&b, "%d", e.StatusCode)
	switch {
	case e.Code != "" && e.Message != "":
		fmt.Fprintf(&b, " %s: %s", e.Code, e.Message)
	case e.Code != "":
		fmt.Fprintf(&b, " %s", e.Code)
	case e.Message != "":
		fmt.Fprintf(&b, " %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (RequestId %s)", e.RequestID)
	}
	return b.String()
}

// errorBody covers the shapes the service is known to send: Power BI's
// {"error":{"code","message"}} and {"error":{"code","pbi.error":{...}}}, and Fabric's flat
// {"errorCode","message","requestId"} (the same tenants sit behind both).
type errorBody struct {
	Error *struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		PBIError *struct {
			Code    string `json:"code"`
			Details []struct {
				Code   string `json:"code"`
				Detail struct {
					Value string `json:"value"`
				} `json:"detail"`
			} `json:"details"`
		} `json:"pbi.error"`
	} `json:"error"`
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
	RequestID string `json:"requestId"`
}

// CheckResponse returns nil for a 2xx answer and an *ErrorResponse otherwise. The body is
// read through a 64 KiB limit, closed, and left re-readable in ErrorResponse.Response.Body.
// Code, Message and RequestID are each one line of valid UTF-8 of bounded length, whatever the
// service (or a proxy in between) sent.
func CheckResponse(r *http.Response) error {
	if r.StatusCode >= 200 && r.StatusCode <= 299 {
		return nil
	}
	e := &ErrorResponse{Response: r, StatusCode: r.StatusCode, RequestID: r.Header.Get("RequestId")}
	defer func() { e.Code, e.RequestID = oneLine(e.Code), oneLine(e.RequestID) }() // on every return below
	var data []byte
	if r.Body != nil {
		data, _ = io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
		// Closed here: the caller closes only the copy, and a body longer than the limit
		// would otherwise hold its connection for the life of the process.
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(data))
	}
	var body errorBody
	if json.Unmarshal(data, &body) == nil {
		if be := body.Error; be != nil {
			e.Code, e.Message = be.Code, be.Message
			if pe := be.PBIError; pe != nil {
				if e.Code == "" {
					e.Code = pe.Code
				}
				for _, d := range pe.Details {
					if v := strings.TrimSpace(d.Detail.Value); v != "" {
						e.Details = append(e.Details, v)
					}
				}
			}
		} else {
			e.Code, e.Message = body.ErrorCode, body.Message
		}
		if e.RequestID == "" {
			e.RequestID = body.RequestID
		}
		if e.Message == "" && len(e.Details) > 0 {
			e.Message = strings.Join(e.Details, "; ")
		}
		if e.Code != "" || e.Message != "" {
			e.Message = oneLine(e.Message)
			return e
		}
	}
	e.Message = oneLine(string(data))
	if e.Message == "" {
		e.Message = http.StatusText(r.StatusCode)
	}
	return e
}

// oneLine collapses whitespace (newlines included) and truncates s to maxMessage runes, so an
// error stays one readable log line whatever the service sent.
func oneLine(s string) string {
	s = strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= maxMessage {
		return s
	}
	r := []rune(s)
	return string(r[:maxMessage]) + "…"
}

// IsNotFound reports whether err is the service's 404: an unknown id, or one the caller may
// not see.
func IsNotFound(err error) bool {
	var e *ErrorResponse
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// ErrorCode returns the service's error code, or "" when err is not an *ErrorResponse.
func ErrorCode(err error) string {
	var e *ErrorResponse
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsCode reports whether err carries the service error code, compared case-insensitively
// because the service spells the same code "ALM_…" and "Alm_…".
func IsCode(err error, code string) bool {
	c := ErrorCode(err)
	return c != "" && strings.EqualFold(c, code)
}
