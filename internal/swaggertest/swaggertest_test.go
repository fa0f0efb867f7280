package swaggertest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/swaggertest"
)

const pipelineID = "a5ded933-57b7-41f4-b072-ed4c1f9d5824"

func TestValidator(t *testing.T) {
	t.Parallel()
	validate := swaggertest.Validator(t)

	tests := []struct {
		name    string
		method  string
		url     string
		body    string
		wantErr string // substring of the error; empty means valid
	}{
		{
			name:   "deployAll with a valid body",
			method: http.MethodPost,
			url:    "https://127.0.0.1:7443/v1.0/myorg/pipelines/" + pipelineID + "/deployAll",
			body:   `{"sourceStageOrder":0,"options":{"allowCreateArtifact":true,"allowOverwriteArtifact":true},"note":"release"}`,
		},
		{
			name:   "mixed-case path as the samples send it",
			method: http.MethodPost,
			url:    "https://127.0.0.1:7443/V1.0/MyOrg/Pipelines/" + pipelineID + "/DeployAll",
			body:   `{"sourceStageOrder":1}`,
		},
		{
			name:   "list pipelines without a body",
			method: http.MethodGet,
			url:    "https://127.0.0.1:7443/v1.0/myorg/pipelines",
		},
		{
			name:   "query parameters are validated too",
			method: http.MethodGet,
			url:    "https://127.0.0.1:7443/v1.0/myorg/groups?$filter=name%20eq%20'Sales'&$top=10",
		},
		{
			name:    "deployAll without sourceStageOrder",
			method:  http.MethodPost,
			url:     "https://127.0.0.1:7443/v1.0/myorg/pipelines/" + pipelineID + "/deployAll",
			body:    `{"note":"release"}`,
			wantErr: "sourceStageOrder",
		},
		{
			name:    "deployAll with sourceStageOrder of the wrong type",
			method:  http.MethodPost,
			url:     "https://127.0.0.1:7443/v1.0/myorg/pipelines/" + pipelineID + "/deployAll",
			body:    `{"sourceStageOrder":"Development"}`,
			wantErr: "sourceStageOrder",
		},
		{
			name:    "top of the wrong type",
			method:  http.MethodGet,
			url:     "https://127.0.0.1:7443/v1.0/myorg/groups?$top=many",
			wantErr: "$top",
		},
		{
			name:    "unknown path",
			method:  http.MethodGet,
			url:     "https://127.0.0.1:7443/v1.0/myorg/pipelines/" + pipelineID + "/nonsense",
			wantErr: "matches no operation",
		},
		{
			name:    "known path, unknown method",
			method:  http.MethodPatch,
			url:     "https://127.0.0.1:7443/v1.0/myorg/pipelines/" + pipelineID + "/deployAll",
			body:    `{"sourceStageOrder":0}`,
			wantErr: "matches no operation",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, tt.url, nil)
			if tt.body != "" {
				r.Header.Set("Content-Type", "application/json")
			}
			err := validate(r, []byte(tt.body))
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestValidatorLeavesRequestUntouched(t *testing.T) {
	t.Parallel()
	validate := swaggertest.Validator(t)
	r := httptest.NewRequest(http.MethodPost, "https://127.0.0.1:7443/v1.0/myorg/pipelines/"+pipelineID+"/DeployAll", nil)
	require.NoError(t, validate(r, []byte(`{"sourceStageOrder":0}`)))
	assert.Equal(t, "/v1.0/myorg/pipelines/"+pipelineID+"/DeployAll", r.URL.Path)
	assert.Equal(t, "127.0.0.1:7443", r.Host)
}
