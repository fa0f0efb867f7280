package powerbi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// countingBody is a response body that counts what was read from it and whether it was closed.
type countingBody struct {
	r      io.Reader
	read   int
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *countingBody) Close() error { b.closed = true; return nil }

// Error body shapes the fuzz target builds: the service's two JSON shapes (Power BI's
// {"error":{...}} with a message or with pbi.error details, and Fabric's flat one) and raw bytes.
const (
	shapeMessage = iota
	shapePBIError
	shapeFabric
	shapeRaw
	shapes
)

// FuzzCheckResponse checks error-body parsing for any status, body and header: it never panics;
// a 2xx is no error and anything else an *ErrorResponse with the status; at most 64 KiB of
// the body is read, the original body is closed and what was read stays readable; Message,
// Code and RequestID are each one line of valid UTF-8 of bounded length, so Error() is one
// bounded line; a clean code, message and RequestId the service sent are kept exactly and
// shown by Error(); a cut message is marked "…" and is the start of what was sent; and neither
// the request's Authorization header nor its body ever shows.
func FuzzCheckResponse(f *testing.F) {
	seeds := []struct {
		status       uint16
		shape        uint8
		code, msg    string
		reqID        string
		repeat       uint16
		raw          []byte
		headerReqID  bool
		headerWinner bool
	}{
		{400, shapeMessage, "Alm_InvalidRequest_NoArtifactsToDeploy", "No artifacts to deploy", "1234", 0, nil, true, false},
		{401, shapePBIError, "PowerBINotAuthorizedException", "Service principals are not allowed", "abcd", 0, nil, true, false},
		{404, shapeFabric, "ItemNotFound", "The requested item was not found", "f00d-0001", 0, nil, false, false},
		{429, shapeFabric, "RequestBlocked", "Too many requests", "from-body", 0, nil, true, true},
		{500, shapeRaw, "", "", "r", 0, []byte("<html><body>\n\n  Bad   gateway \t</body></html>"), true, false},
		{502, shapeRaw, "", "", "", 0, []byte("\xff\xfe\x00 not json"), false, false},
		{503, shapeMessage, "Code\nwith\r\nbreaks", "message\n##vso[task.complete result=Succeeded]", "line\nbreak", 0, nil, false, false},
		{400, shapeMessage, "C", strings.Repeat("é", 400), "", 300, nil, true, false},
		{400, shapeFabric, strings.Repeat("X", 70000), "m", strings.Repeat("r", 70000), 0, nil, false, false},
		{409, shapeRaw, "", "", "", 0, []byte(`{"error":null}`), false, false},
		{200, shapeMessage, "NotAnError", "ok", "", 0, nil, false, false},
		{599, shapeRaw, "", "", "", 0, nil, false, false},
	}
	for _, s := range seeds {
		f.Add(s.status, s.shape, s.code, s.msg, s.reqID, s.repeat, s.raw, s.headerReqID, s.headerWinner)
	}
	f.Fuzz(func(t *testing.T, status uint16, shape uint8, code, msg, reqID string, repeat uint16, raw []byte, headerReqID, headerWinner bool) {
		st := 100 + int(status)%500
		shape %= shapes
		// A long message (up to 256 KiB) from a short input, to cross the size limits.
		if len(msg) > 0 {
			msg = strings.Repeat(msg, min(1+int(repeat)%4096, max(1, 256<<10/len(msg))))
		}

		var body []byte
		switch shape {
		case shapeMessage:
			body = mustMarshal(t, map[string]any{"error": map[string]any{"code": code, "message": msg}})
		case shapePBIError:
			body = mustMarshal(t, map[string]any{"error": map[string]any{"code": code, "pbi.error": map[string]any{
				"code": code, "parameters": map[string]any{}, "details": []any{map[string]any{"code": "DetailsMessage", "detail": map[string]any{"type": 1, "value": msg}}}}}})
		case shapeFabric:
			body = mustMarshal(t, map[string]any{"errorCode": code, "message": msg, "requestId": reqID})
		default:
			body = raw
		}
		// What the service's JSON says, as any decoder reads it (invalid UTF-8 was replaced).
		code, msg, reqID = jsonRoundTrip(t, code), jsonRoundTrip(t, msg), jsonRoundTrip(t, reqID)

		header := http.Header{}
		headerID := ""
		if headerReqID && validHeaderValue(reqID) && (shape != shapeFabric || headerWinner) {
			headerID = strings.TrimSpace(reqID) // a transport trims header values
			header.Set("RequestId", headerID)
		}
		req, err := http.NewRequest(http.MethodPost, "https://api.powerbi.com/v1.0/myorg/pipelines/p1/deployAll?q=query-secret", strings.NewReader(`{"note":"body-secret"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer header-secret")
		cb := &countingBody{r: strings.NewReader(string(body))}
		resp := &http.Response{StatusCode: st, Header: header, Body: cb, Request: req}

		err = CheckResponse(resp)
		if st >= 200 && st <= 299 {
			if err != nil || cb.read != 0 {
				t.Fatalf("status %d: error %v, %d bytes read", st, err, cb.read)
			}
			return
		}
		var e *ErrorResponse
		if !errors.As(err, &e) {
			t.Fatalf("status %d: %v is not an *ErrorResponse", st, err)
		}
		if e.StatusCode != st || e.Response != resp {
			t.Fatalf("status %d: ErrorResponse has status %d", st, e.StatusCode)
		}

		// Size limits: the body is read through the limit, closed, and left readable.
		if cb.read > maxErrorBody {
			t.Fatalf("read %d bytes of the body, limit %d", cb.read, maxErrorBody)
		}
		if !cb.closed {
			t.Fatalf("the original body was not closed")
		}
		kept := body[:min(len(body), maxErrorBody)]
		again, _ := io.ReadAll(resp.Body)
		if string(again) != string(kept) {
			t.Fatalf("Response.Body holds %d bytes, want the %d read", len(again), len(kept))
		}

		for field, v := range map[string]string{"Code": e.Code, "Message": e.Message, "RequestID": e.RequestID} {
			if !isOneLine(v) || utf8.RuneCountInString(v) > maxMessage+1 {
				t.Fatalf("%s is not one bounded line of valid UTF-8: %q", field, v)
			}
		}
		text := e.Error()
		if strings.ContainsAny(text, "\r\n") || utf8.RuneCountInString(text) > 4*maxMessage {
			t.Fatalf("Error() is not one bounded line: %d runes %q", utf8.RuneCountInString(text), text)
		}
		for _, secret := range []string{"header-secret", "body-secret", "query-secret"} {
			if strings.Contains(text, secret) && !strings.Contains(string(body)+headerID, secret) {
				t.Fatalf("Error() shows %s: %q", secret, text)
			}
		}
		if utf8.RuneCountInString(e.Message) == maxMessage+1 && !strings.HasSuffix(e.Message, "…") {
			t.Fatalf("Message cut without a mark: %q", e.Message)
		}

		// What the service said is kept, when it fits on one line.
		parsed := len(body) <= maxErrorBody && shape != shapeRaw
		want := struct{ code, msg, reqID string }{}
		switch {
		case !parsed:
		case shape == shapePBIError:
			want.code = code
			if strings.TrimSpace(msg) != "" {
				want.msg = msg
			}
		default:
			want.code, want.msg = code, msg
		}
		if parsed && want.code == "" && want.msg == "" {
			parsed = false // nothing recognisable: the raw body is the message
		}
		switch {
		case headerID != "":
			want.reqID = headerID
		case shape == shapeFabric && parsed:
			want.reqID = reqID
		}
		if parsed && isClean(want.code) && e.Code != want.code {
			t.Fatalf("Code = %q, want %q", e.Code, want.code)
		}
		if parsed && isClean(want.msg) && e.Message != want.msg {
			t.Fatalf("Message = %q, want %q", e.Message, want.msg)
		}
		if isClean(want.reqID) && e.RequestID != want.reqID && (parsed || headerID != "") {
			t.Fatalf("RequestID = %q, want %q", e.RequestID, want.reqID)
		}
		for _, v := range []string{e.Code, e.Message, e.RequestID} {
			if !strings.Contains(text, v) {
				t.Fatalf("Error() %q does not show %q", text, v)
			}
		}
		if !parsed && len(bytesTrimSpace(kept)) > 0 && !(shape == shapeRaw && json.Valid(kept)) {
			// A raw body is the message: its start, on one line, with nothing dropped but
			// spacing (and invalid UTF-8 replaced).
			got := noSpace(strings.TrimSuffix(e.Message, "…"))
			if w := noSpace(strings.ToValidUTF8(string(kept), "\uFFFD")); !strings.HasPrefix(w, got) {
				t.Fatalf("Message %q is not the start of the body %q", e.Message, kept)
			}
		}
	})
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonRoundTrip is s as a JSON decoder reads it back after encoding.
func jsonRoundTrip(t *testing.T, s string) string {
	t.Helper()
	var out string
	if err := json.Unmarshal(mustMarshal(t, s), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// validHeaderValue is what net/http lets through as a header value.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// isOneLine: valid UTF-8 without line breaks, tabs, leading, trailing or doubled spaces.
func isOneLine(s string) bool {
	return utf8.ValidString(s) && s == strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// isClean: a value CheckResponse has no reason to change.
func isClean(s string) bool {
	return isOneLine(s) && utf8.RuneCountInString(s) <= maxMessage
}

func noSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func bytesTrimSpace(b []byte) string { return strings.TrimSpace(string(b)) }
