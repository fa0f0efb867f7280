package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
	"github.com/pbi-pipelines/azdo-extension/internal/deploy"
	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
)

func env(inputs map[string]string) *agent.Env {
	vars := map[string]string{}
	for k, v := range inputs {
		vars["INPUT_"+agent.NormalizeName(k)] = v
	}
	return agent.New(func(k string) string { return vars[k] }, io.Discard)
}

func TestParse(t *testing.T) {
	t.Parallel()
	in, err := parse(env(map[string]string{"pipeline": "Sales", "stageOrder": "Test (Backward)", "deployType": "selective",
		"datasets": "A;B\nC", "dashboards": "D*", "waitTimeoutMinutes": "15", "allowPurgeData": "TRUE", "allowCreateArtifact": "false",
		"createNewWS": "true", "newWsName": "Sales [Test]", "updateApp": "true", "note": "n"}))
	require.NoError(t, err)
	assert.Equal(t, resolve.Direction{Source: 2, Target: 1, Backward: true}, in.direction)
	assert.True(t, in.selective)
	assert.Equal(t, deploy.Selection{"datasets": {"A", "B", "C"}, "dashboards": {"D*"}}, in.selection)
	assert.Equal(t, 15*time.Minute, in.timeout)
	assert.True(t, in.wait, "waitForCompletion defaults to true")
	assert.Equal(t, powerbi.DeploymentOptions{AllowOverwriteArtifact: true, AllowPurgeData: true}, in.options,
		"allowOverwriteArtifact defaults to true; the others as given")
	assert.True(t, in.updateApp)
	assert.True(t, in.createWS)

	in, err = parse(env(map[string]string{"pipeline": "Sales", "stageOrder": "Production"}))
	require.NoError(t, err)
	assert.Equal(t, resolve.Direction{Source: 1, Target: 2}, in.direction)
	assert.False(t, in.selective)
	assert.Equal(t, 60*time.Minute, in.timeout)

	in, err = parse(env(map[string]string{"pipeline": "Sales", "stageOrder": "Production", "waitTimeoutMinutes": " 0.5 "}))
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, in.timeout)
	assert.Equal(t, powerbi.DeploymentOptions{AllowCreateArtifact: true, AllowOverwriteArtifact: true}, in.options)
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{"pipeline": "Sales", "stageOrder": "Test"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		inputs map[string]string
		want   string
	}{
		{map[string]string{"stageOrder": "Test"}, `input "pipeline"`},
		{map[string]string{"pipeline": "Sales"}, `input "stageOrder"`},
		{base(map[string]string{"stageOrder": "Production (Backward)"}), `input "stageOrder"`},
		{base(map[string]string{"deployType": "Some"}), `input "deployType": expected All or Selective`},
		{base(map[string]string{"deployType": "Selective"}), "at least one item"},
		{base(map[string]string{"waitTimeoutMinutes": "0"}), `input "waitTimeoutMinutes"`},
		{base(map[string]string{"waitTimeoutMinutes": "1441"}), `input "waitTimeoutMinutes"`},
		{base(map[string]string{"waitTimeoutMinutes": "NaN"}), `input "waitTimeoutMinutes"`},
		{base(map[string]string{"waitTimeoutMinutes": "-1"}), `input "waitTimeoutMinutes"`},
		{base(map[string]string{"waitTimeoutMinutes": "1e9"}), `input "waitTimeoutMinutes"`},
		{base(map[string]string{"createNewWS": "true"}), `input "newWsName"`},
		{base(map[string]string{"waitForCompletion": "maybe"}), `input "waitForCompletion"`},
		{base(map[string]string{"allowTakeOver": "1"}), `input "allowTakeOver"`},
	}
	for _, c := range cases {
		_, err := parse(env(c.inputs))
		assert.ErrorContains(t, err, c.want, "%v", c.inputs)
	}
}
