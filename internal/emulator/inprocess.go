package emulator

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
)

// Transport returns a RoundTripper that answers every request by calling the emulator's
// handler in this process, whatever the request's host: no sockets, no TLS, no goroutines. It
// is meant for an emulator made by New. The Drop fault ends the round trip with
// io.ErrUnexpectedEOF, as a closed connection would.
func (s *Server) Transport() http.RoundTripper { return inProcess{s} }

type inProcess struct{ s *Server }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	in := r.Clone(r.Context())
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.RequestURI = r.URL.RequestURI()
	rec := httptest.NewRecorder()
	t.s.ServeHTTP(rec, in)
	resp := rec.Result()
	if resp.Header.Get(droppedHeader) != "" {
		return nil, io.ErrUnexpectedEOF // the Drop fault: the connection closed without an answer
	}
	resp.Request = r
	return resp, nil
}

// droppedHeader marks an answer the Drop fault could not drop for want of a connection.
const droppedHeader = "X-Emulator-Dropped"

// TokenFor issues an access token for the Power BI API to a principal of the seed (a user's
// UPN, or an app's service principal object id), as the fake Entra would after a sign-in.
func (s *Server) TokenFor(identifier string) (string, error) {
	for _, typ := range []string{"User", "App"} {
		if p, ok := s.identity.ResolvePrincipal(identifier, typ); ok {
			tok, _ := s.identity.issue(*p, s.resource)
			return tok, nil
		}
	}
	return "", fmt.Errorf("emulator: no user or app %q in the seed", identifier)
}
