package powerbi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func errorFor(t *testing.T, status int, header http.Header, body string) *ErrorResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://api.powerbi.com/v1.0/myorg/pipelines/p1/deployAll?secret=q", strings.NewReader(`{"note":"body-secret"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer header-secret")
	if header == nil {
		header = http.Header{}
	}
	resp := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body)), Request: req}
	err = CheckResponse(resp)
	var e *ErrorResponse
	require.ErrorAs(t, err, &e)
	return e
}

func TestCheckResponse(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 1<<20)
	tests := []struct {
		name        string
		status      int
		header      http.Header
		body        string
		wantCode    string
		wantMessage string
		wantDetails []string
		wantReqID   string
		wantError   string
	}{
		{
			name:        "code and message",
			status:      400,
			header:      http.Header{"Requestid": {"1234"}},
			body:        `{"error":{"code":"Alm_InvalidRequest_NoArtifactsToDeploy","message":"No artifacts to deploy"}}`,
			wantCode:    "Alm_InvalidRequest_NoArtifactsToDeploy",
			wantMessage: "No artifacts to deploy",
			wantReqID:   "1234",
			wantError:   "POST https://api.powerbi.com/v1.0/myorg/pipelines/p1/deployAll: 400 Alm_InvalidRequest_NoArtifactsToDeploy: No artifacts to deploy (RequestId 1234)",
		},
		{
			name:        "pbi.error with details",
			status:      401,
			header:      http.Header{"Requestid": {"abcd"}},
			body:        `{"error":{"code":"PowerBINotAuthorizedException","pbi.error":{"code":"PowerBINotAuthorizedException","parameters":{},"details":[{"code":"DetailsMessage","detail":{"type":1,"value":"Service principals are not allowed"}},{"code":"X","detail":{"type":1,"value":"second"}}],"exceptionCulprit":1}}}`,
			wantCode:    "PowerBINotAuthorizedException",
			wantMessage: "Service principals are not allowed; second",
			wantDetails: []string{"Service principals are not allowed", "second"},
			wantReqID:   "abcd",
			wantError:   "POST https://api.powerbi.com/v1.0/myorg/pipelines/p1/deployAll: 401 PowerBINotAuthorizedException: Service principals are not allowed; second (RequestId abcd)",
		},
		{
			name:      "pbi.error without details",
			status:    404,
			body:      `{"error":{"pbi.error":{"code":"PowerBIEntityNotFound","parameters":{},"details":[]}}}`,
			wantCode:  "PowerBIEntityNotFound",
			wantError: "POST https://api.powerbi.com/v1.0/myorg/pipelines/p1/deployAll: 404 PowerBIEntityNotFound",
		},
		{
			name:        "empty 401",
			status:      401,
			header:      http.Header{"Requestid": {"r"}},
			wantMessage: "Unauthorized",
			wantReqID:   "r",
			wantError:   "POST https://api.powerbi.com/v1.0/myorg/pipelines/p1/deployAll: 401 Unauthorized (RequestId r)",
		},
		{
			name:        "non-JSON body",
			status:      502,
			body:        "<html>\n  <body>Bad   gateway</body>\n</html>\n",
			wantMessage: "<html> <body>Bad gateway</body> </html>",
		},
		{
			name:        "JSON without an error",
			status:      500,
			body:        `{"unexpected":true}`,
			wantMessage: `{"unexpected":true}`,
		},
		{
			name:        "Fabric shape",
			status:      400,
			body:        `{"requestId":"fab-1","errorCode":"WorkspaceMigrationOperationInProgress","message":"Another operation is running"}`,
			wantCode:    "WorkspaceMigrationOperationInProgress",
			wantMessage: "Another operation is running",
			wantReqID:   "fab-1",
		},
		{
			name:        "multi-line message",
			status:      400,
			body:        `{"error":{"code":"InvalidRequest","message":"line one\r\nline two"}}`,
			wantCode:    "InvalidRequest",
			wantMessage: "line one line two",
		},
		{
			name:        "huge body",
			status:      500,
			body:        huge,
			wantMessage: strings.Repeat("x", maxMessage) + "…",
		},
		{
			name:        "whitespace body",
			status:      503,
			body:        " \n ",
			wantMessage: "Service Unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := errorFor(t, tt.status, tt.header, tt.body)
			assert.Equal(t, tt.status, e.StatusCode)
			assert.Equal(t, tt.wantCode, e.Code)
			if tt.wantMessage != "" {
				assert.Equal(t, tt.wantMessage, e.Message)
			}
			assert.Equal(t, tt.wantDetails, e.Details)
			assert.Equal(t, tt.wantReqID, e.RequestID)
			if tt.wantError != "" {
				assert.Equal(t, tt.wantError, e.Error())
			}
			msg := e.Error()
			for _, secret := range []string{"header-secret", "body-secret", "secret=q", "Authorization"} {
				assert.NotContains(t, msg, secret)
			}
			assert.NotContains(t, msg, "\n")
			assert.True(t, utf8.ValidString(msg))

			// The body stays re-readable, bounded by the read limit.
			rest, err := io.ReadAll(e.Response.Body)
			require.NoError(t, err)
			assert.Equal(t, min(len(tt.body), maxErrorBody), len(rest))
		})
	}
}

func TestCheckResponseSuccess(t *testing.T) {
	t.Parallel()
	for _, status := range []int{200, 201, 202, 204, 299} {
		resp := &http.Response{StatusCode: status, Body: http.NoBody}
		assert.NoError(t, CheckResponse(resp), "status %d", status)
	}
	for _, status := range []int{199, 300, 304, 400, 500} {
		resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: http.NoBody}
		assert.Error(t, CheckResponse(resp), "status %d", status)
	}
}

func TestCheckResponseTruncatesUTF8(t *testing.T) {
	t.Parallel()
	e := errorFor(t, 500, nil, strings.Repeat("é", 2*maxMessage))
	assert.Equal(t, maxMessage+1, utf8.RuneCountInString(e.Message))
	assert.True(t, utf8.ValidString(e.Message))
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	notFound := &ErrorResponse{StatusCode: 404, Code: "PowerBIEntityNotFound"}
	alm := &ErrorResponse{StatusCode: 400, Code: "ALM_InvalidRequest_ServicePrincipalNotSupported"}
	wrapped := fmt.Errorf("resolving pipeline: %w", notFound)
	plain := errors.New("boom")

	assert.True(t, IsNotFound(notFound))
	assert.True(t, IsNotFound(wrapped))
	assert.False(t, IsNotFound(alm))
	assert.False(t, IsNotFound(plain))
	assert.False(t, IsNotFound(nil))

	assert.Equal(t, "PowerBIEntityNotFound", ErrorCode(wrapped))
	assert.Empty(t, ErrorCode(plain))
	assert.Empty(t, ErrorCode(nil))

	assert.True(t, IsCode(alm, "Alm_InvalidRequest_ServicePrincipalNotSupported"))
	assert.True(t, IsCode(fmt.Errorf("x: %w", alm), "alm_invalidrequest_serviceprincipalnotsupported"))
	assert.False(t, IsCode(alm, "Alm_InvalidRequest_WorkspaceHasNoCapacity"))
	assert.False(t, IsCode(plain, ""))
	assert.False(t, IsCode(&ErrorResponse{StatusCode: 401}, ""), "an empty code matches nothing")
}

func TestErrorResponseWithoutRequest(t *testing.T) {
	t.Parallel()
	e := &ErrorResponse{StatusCode: 429, Message: "Too Many Requests"}
	assert.Equal(t, "429 Too Many Requests", e.Error())
}
