package emulator

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// apiError is an error answer in the Power BI shape: {"error":{"code","message"}}, or the
// {"error":{"code","pbi.error":{...}}} shape the service uses for authorization failures.
type apiError struct {
	status  int
	code    string
	message string
	pbi     bool // the pbi.error shape
	empty   bool // no body at all (some of the service's 401s)
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, code, format, args...)
}

// notFound is the service's answer for unknown ids and for what the caller cannot see.
func notFound(what, id string) *apiError {
	return errorf(http.StatusNotFound, "PowerBIEntityNotFound", "%s %s was not found or you do not have access to it", what, id)
}

func notAuthorized(detail string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: "PowerBINotAuthorizedException", message: detail, pbi: true}
}

// forbidden is the emulator's answer when a pipeline operation needs a workspace role the caller
// lacks. The service's exact code is undocumented.
func forbidden(format string, args ...any) *apiError {
	return errorf(http.StatusForbidden, "Alm_InvalidRequest_InsufficientWorkspacePermissions", format, args...)
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string    `json:"code"`
	Message string    `json:"message,omitempty"`
	PBI     *pbiError `json:"pbi.error,omitempty"`
}

type pbiError struct {
	Code             string            `json:"code"`
	Parameters       map[string]string `json:"parameters"`
	Details          []pbiErrorDetail  `json:"details"`
	ExceptionCulprit int               `json:"exceptionCulprit"`
}

type pbiErrorDetail struct {
	Code   string `json:"code"`
	Detail struct {
		Type  int    `json:"type"`
		Value string `json:"value"`
	} `json:"detail"`
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*apiError)
	if !ok {
		e = errorf(http.StatusInternalServerError, "EmulatorInternalError", "%v", err)
	}
	if e.empty {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(e.status)
		return
	}
	body := errorBody{Error: errorDetail{Code: e.code, Message: e.message}}
	if e.pbi {
		pe := &pbiError{Code: e.code, Parameters: map[string]string{}, Details: []pbiErrorDetail{}, ExceptionCulprit: 1}
		if e.message != "" {
			d := pbiErrorDetail{Code: "DetailsMessage"}
			d.Detail.Type, d.Detail.Value = 1, e.message
			pe.Details = append(pe.Details, d)
		}
		body.Error.Message, body.Error.PBI = "", pe
	}
	writeJSON(w, e.status, body)
}

// writeJSON writes v as JSON; a nil v writes no body (the service's bodiless 200s).
func writeJSON(w http.ResponseWriter, status int, v any) {
	if v == nil {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"EmulatorInternalError","message":"cannot encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func readAll(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// cloneSeed deep-copies a seed so that neither the caller nor the identity half shares state
// with the emulator.
func cloneSeed(s *Seed) (*Seed, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("emulator: seed: %w", err)
	}
	var c Seed
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("emulator: seed: %w", err)
	}
	return &c, nil
}
