package taskrun

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status int
		code   string
		want   string
	}{
		{401, "PowerBINotAuthorizedException", "Service principals can use Fabric APIs"},
		{403, "TokenExpired", "expired in flight"},
		{403, "Alm_InvalidRequest_InsufficientWorkspacePermissions", "lacks the role"},
		{404, "PowerBIEntityNotFound", "may not see"},
	}
	for _, c := range cases {
		err := explain(&powerbi.ErrorResponse{StatusCode: c.status, Code: c.code, Message: "m", RequestID: "rid-1"})
		assert.Contains(t, err.Error(), c.want)
		assert.Contains(t, err.Error(), "rid-1", "the RequestId stays")
		var er *powerbi.ErrorResponse
		assert.True(t, errors.As(err, &er), "still an *ErrorResponse underneath")
	}
	plain := errors.New("x")
	assert.Same(t, plain, explain(plain))
	bad := &powerbi.ErrorResponse{StatusCode: 400, Code: "InvalidRequest"}
	assert.Equal(t, bad, explain(bad))
}

func TestConnectionInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  map[string]string
		want Connection
		err  string
	}{
		{map[string]string{"INPUT_PBICONNECTION": "a"}, Connection{"pbiConnection", "a"}, ""},
		{map[string]string{"INPUT_CONNECTIONTYPE": "PowerBI", "INPUT_AZURESUBSCRIPTION": "b"}, Connection{"azureSubscription", "b"}, ""},
		{map[string]string{"INPUT_CONNECTIONTYPE": "AzureRM", "INPUT_PBICONNECTION": "a", "INPUT_AZURESUBSCRIPTION": "b"}, Connection{"azureSubscription", "b"}, ""},
		{map[string]string{"INPUT_CONNECTIONTYPE": "AzureRM", "INPUT_PBICONNECTION": "a"}, Connection{}, `input "azureSubscription"`},
		{map[string]string{}, Connection{}, `input "pbiConnection"`},
	}
	for _, c := range cases {
		var out bytes.Buffer
		code := Run(context.Background(), "T", func(k string) string { return c.env[k] }, &out, func(ctx context.Context, task *Task) error {
			got, err := task.ConnectionInput()
			if c.err != "" {
				assert.ErrorContains(t, err, c.err)
				return nil
			}
			assert.NoError(t, err)
			assert.Equal(t, c.want, got)
			return nil
		})
		assert.Equal(t, 0, code)
		assert.True(t, strings.HasSuffix(out.String(), "##vso[task.complete result=Succeeded;]\n") || strings.Contains(out.String(), "result=Succeeded"))
	}
}
