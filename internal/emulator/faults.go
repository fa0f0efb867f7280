package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Fault is a misbehaviour of the front door, applied before routing to every request except the
// /_emulator/ control routes.
type Fault struct {
	// Method limits the fault to one HTTP method; "" matches any.
	Method string `json:"method,omitempty"`
	// Path is a regular expression matched case-insensitively against the URL path; "" matches any.
	Path string `json:"path,omitempty"`
	// Status, when non-zero, answers with this status instead of handling the request.
	Status int `json:"status,omitempty"`
	// RetryAfter is sent as the Retry-After header (seconds) with Status; 0 omits it.
	RetryAfter int `json:"retryAfter,omitempty"`
	// Body is the answer's body with Status; default a Power BI error JSON.
	Body string `json:"body,omitempty"`
	// Drop closes the connection without answering.
	Drop bool `json:"drop,omitempty"`
	// Delay holds the request this long before going on; a client giving up meanwhile cancels
	// it (it is never handled). With After, the request is handled first and the answer held
	// (then sent, unless Status or Drop replace it).
	Delay time.Duration `json:"delay,omitempty"`
	// Times is how many matching requests the fault hits; 0 means until cleared.
	Times int `json:"times,omitempty"`
	// After handles the request first (the service acts: a deployment starts) and only then
	// drops the connection or answers Status instead: the caller never learns the outcome.
	After bool `json:"after,omitempty"`
}

type activeFault struct {
	Fault
	re   *regexp.Regexp
	left int
}

// InjectFault adds a fault after those already injected; the first matching fault applies.
// An invalid Path never matches; use the control route to see the compile error.
func (s *Server) InjectFault(f Fault) {
	af, err := compileFault(f)
	if err != nil {
		af = &activeFault{Fault: f, re: regexp.MustCompile(`$^`)}
	}
	s.logMu.Lock()
	s.faults = append(s.faults, af)
	s.logMu.Unlock()
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.logMu.Lock()
	s.faults = nil
	s.logMu.Unlock()
}

func compileFault(f Fault) (*activeFault, error) {
	re, err := regexp.Compile("(?i)" + f.Path)
	if err != nil {
		return nil, fmt.Errorf("fault path %q: %w", f.Path, err)
	}
	return &activeFault{Fault: f, re: re, left: f.Times}, nil
}

// takeFault returns the first fault matching r, counting the hit.
func (s *Server) takeFault(r *http.Request) *Fault {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for i, f := range s.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
			continue
		}
		if !f.re.MatchString(r.URL.Path) {
			continue
		}
		hit := f.Fault
		if f.Times > 0 {
			f.left--
			if f.left <= 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &hit
	}
	return nil
}

// applyFault applies the matching fault, if any, and reports whether the request goes on.
// A fault that applies after handling is returned for the caller to apply then.
func (s *Server) applyFault(w *recorder, r *http.Request) (goOn bool, after *Fault) {
	f := s.takeFault(r)
	if f == nil {
		return true, nil
	}
	if f.After {
		return true, f
	}
	return s.fail(w, r, f), nil
}

// fail answers r as fault f says; it reports whether the request goes on (a pure delay).
func (s *Server) fail(w *recorder, r *http.Request, f *Fault) bool {
	if f.Delay > 0 && !f.After && r.Body != nil {
		// Read the body first: only then does the server watch the connection, so that a
		// client giving up cancels the request (and the delayed request is never handled).
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if f.Delay > 0 {
		if err := s.sleep(r, f.Delay); err != nil {
			return false // the client went away; there is no one to answer
		}
	}
	switch {
	case f.Drop:
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// No connection to drop (the in-process transport): say so in a header that the
			// transport turns into a lost connection.
			w.Header().Set(droppedHeader, "1")
			w.WriteHeader(http.StatusBadGateway)
			return false
		}
		w.hijacked = true
		_ = conn.Close()
		return false
	case f.Status != 0:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		if f.Body == "" {
			code := strings.ReplaceAll(http.StatusText(f.Status), " ", "")
			if code == "" {
				code = "EmulatedFault"
			}
			writeError(w, &apiError{status: f.Status, code: code, message: "Fault injected by the emulator"})
			return false
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return false
	}
	return true
}

// sleepContext waits d, or until the request is cancelled.
func sleepContext(r *http.Request, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

// faultJSON is Fault as the control route accepts it: delay as a Go duration string ("2s") or
// nanoseconds.
type faultJSON struct {
	Fault
	Delay json.RawMessage `json:"delay,omitempty"`
}

func parseFault(body []byte) (Fault, error) {
	var fj faultJSON
	if err := json.Unmarshal(body, &fj); err != nil {
		return Fault{}, err
	}
	f := fj.Fault
	f.Delay = 0
	if len(fj.Delay) > 0 {
		var s string
		if err := json.Unmarshal(fj.Delay, &s); err == nil {
			d, err := time.ParseDuration(s)
			if err != nil {
				return Fault{}, fmt.Errorf("delay: %w", err)
			}
			f.Delay = d
		} else if err := json.Unmarshal(fj.Delay, &f.Delay); err != nil {
			return Fault{}, fmt.Errorf("delay: want a duration like \"2s\" or nanoseconds")
		}
	}
	if _, err := compileFault(f); err != nil {
		return Fault{}, err
	}
	return f, nil
}

// serveControl answers the /_emulator/ routes used by the standalone program.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	route := strings.TrimSuffix(strings.ToLower(strings.TrimPrefix(r.URL.Path, controlPrefix)), "/")
	switch {
	case route == "faults" && r.Method == http.MethodPost:
		body, err := readAll(r)
		if err == nil {
			var f Fault
			if f, err = parseFault(body); err == nil {
				s.InjectFault(f)
				writeJSON(w, http.StatusOK, f)
				return
			}
		}
		writeError(w, badRequest("InvalidRequest", "fault: %v", err))
	case route == "faults" && r.Method == http.MethodDelete:
		s.ClearFaults()
		writeJSON(w, http.StatusOK, nil)
	case route == "state" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Snapshot())
	case route == "requests" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"value": s.Requests()})
	default:
		writeError(w, &apiError{status: http.StatusNotFound, code: "NotFound", message: "no emulator control route " + r.Method + " " + r.URL.Path})
	}
}
