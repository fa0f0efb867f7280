package resolve

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStage(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"0": 0, "1": 1, "2": 2, "Development": 0, "test": 1, " PRODUCTION ": 2} {
		got, err := Stage(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "3", "-1", "Dev", "Staging", "01"} {
		_, err := Stage(in)
		assert.Error(t, err, in)
	}
}

func TestDeployTarget(t *testing.T) {
	t.Parallel()
	cases := map[string]Direction{
		"Test":                   {Source: 0, Target: 1},
		"Production":             {Source: 1, Target: 2},
		"Development (Backward)": {Source: 1, Target: 0, Backward: true},
		"Test (Backward)":        {Source: 2, Target: 1, Backward: true},
		"test (backward)":        {Source: 2, Target: 1, Backward: true},
		"2":                      {Source: 1, Target: 2},
	}
	for in, want := range cases {
		got, err := DeployTarget(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"Development", "Production (Backward)", "0", "Staging", "",
		"Test (Backward) please", "Test (Backward) (Backward)", // "(Backward)" ends the value
		strings.Repeat("\xff", 20) + "(backward)", strings.Repeat("İ", 12) + "(Backward)", // panicked: lower-casing changed the length
	} {
		_, err := DeployTarget(in)
		assert.Error(t, err, in)
	}
}

func TestIsID(t *testing.T) {
	t.Parallel()
	assert.True(t, IsID("0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a001"))
	assert.True(t, IsID(" 0A6A0A67-61D5-4B5C-9A0E-7B0C3AD0A001 "))
	assert.False(t, IsID("Sales 0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a001"))
	assert.False(t, IsID("0a6a0a6761d54b5c9a0e7b0c3ad0a001"))
}

func TestErrorsNameWhatWasSearchedAndFound(t *testing.T) {
	t.Parallel()
	e := &NotFoundError{Kind: "pipeline", Value: "Sales", Listed: true, Found: []string{"A", "B"}}
	assert.Equal(t, `no pipeline named "Sales" is visible to the signed-in principal; it sees "A", "B"`, e.Error())
	e = &NotFoundError{Kind: "workspace", Value: "0a6a0a67-61d5-4b5c-9a0e-7b0c3ad0a001", Listed: true}
	assert.Contains(t, e.Error(), "no workspace with id")
	assert.Contains(t, e.Error(), "sees no workspaces at all")
	e = &NotFoundError{Kind: "workspace", Value: "W"}
	assert.Equal(t, `no workspace named "W" is visible to the signed-in principal`, e.Error())
	assert.Equal(t, []string{"A", "B"}, uniqueSorted([]string{"B", "A", "B"}))
	a := &AmbiguousError{Kind: "pipeline", Value: "Twin", IDs: []string{"1", "2"}}
	assert.Equal(t, `2 pipelines are named "Twin" (ids 1, 2); use the id of the one you mean`, a.Error())
}
