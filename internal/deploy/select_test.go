package deploy

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
)

func art(id, name string) powerbi.Artifact {
	return powerbi.Artifact{ArtifactID: id, ArtifactDisplayName: name}
}

var stage = &powerbi.StageArtifacts{
	Datasets: []powerbi.Artifact{
		art("11111111-1111-1111-1111-111111111111", "Sales"),
		art("22222222-2222-2222-2222-222222222222", "Sales [EU]"),
		art("33333333-3333-3333-3333-333333333333", "Finance"),
	},
	Reports: []powerbi.Artifact{
		art("44444444-4444-4444-4444-444444444444", "Sales overview"),
		art("55555555-5555-5555-5555-555555555555", "Dup"),
		art("66666666-6666-6666-6666-666666666666", "Dup"),
	},
}

// ids lists the ids of the items of one kind.
func ids(items []Item, kind string) []string {
	var out []string
	for _, it := range items {
		if it.Kind.Input == kind {
			out = append(out, it.ID)
		}
	}
	return out
}

func TestMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		sel      Selection
		datasets []string
		reports  []string
		problem  string
	}{
		{"exact name, any case", Selection{"datasets": {"sales"}}, []string{"11111111-1111-1111-1111-111111111111"}, nil, ""},
		{"brackets are literal", Selection{"datasets": {"Sales [EU]"}}, []string{"22222222-2222-2222-2222-222222222222"}, nil, ""},
		{"id", Selection{"reports": {"44444444-4444-4444-4444-444444444444"}}, nil, []string{"44444444-4444-4444-4444-444444444444"}, ""},
		{"wildcard, once each", Selection{"datasets": {"Sales*", "Sales"}}, []string{"11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"}, nil, ""},
		{"question mark", Selection{"datasets": {"F?nance"}}, []string{"33333333-3333-3333-3333-333333333333"}, nil, ""},
		{"wildcard may pick duplicates", Selection{"reports": {"D*"}}, nil, []string{"55555555-5555-5555-5555-555555555555", "66666666-6666-6666-6666-666666666666"}, ""},
		{"missing name", Selection{"datasets": {"Nope"}}, nil, nil, `datasets: nothing named "Nope"; the stage has "Finance", "Sales", "Sales [EU]"`},
		{"ambiguous name", Selection{"reports": {"Dup"}}, nil, nil, `2 items are named "Dup"`},
		{"unknown id", Selection{"reports": {"77777777-7777-7777-7777-777777777777"}}, nil, nil, "no item with id 77777777"},
		{"empty kind", Selection{"dashboards": {"Any"}}, nil, nil, "the stage has no dashboards"},
		{"pattern matching nothing", Selection{"datasets": {"X*"}}, nil, nil, `pattern "X*" matches nothing`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			items, err := Match(c.sel, stage, "Development")
			if c.problem != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.problem)
				assert.Contains(t, err.Error(), "Development stage")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.datasets, ids(items, "datasets"))
			assert.Equal(t, c.reports, ids(items, "reports"))
		})
	}
}

func TestMatchReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := Match(Selection{"datasets": {"A", "Sales"}, "reports": {"B"}}, stage, "Test")
	var se *SelectionError
	require.ErrorAs(t, err, &se)
	assert.Len(t, se.Problems, 2)
}

func TestSelectionEmpty(t *testing.T) {
	t.Parallel()
	assert.True(t, Selection{}.Empty())
	assert.True(t, Selection{"datasets": nil}.Empty())
	assert.False(t, Selection{"reports": {"x"}}.Empty())
}

func TestMatchOrdersDependenciesFirst(t *testing.T) {
	t.Parallel()
	src := &powerbi.StageArtifacts{
		Dashboards: []powerbi.Artifact{art("d0000000-0000-4000-8000-000000000001", "Board")},
		Reports:    []powerbi.Artifact{art("40000000-0000-4000-8000-000000000001", "Report")},
		Datasets:   []powerbi.Artifact{art("50000000-0000-4000-8000-000000000001", "Model")},
		Datamarts:  []powerbi.Artifact{art("a0000000-0000-4000-8000-000000000001", "Mart")},
		Dataflows:  []powerbi.Artifact{art("f0000000-0000-4000-8000-000000000001", "Flow")},
	}
	items, err := Match(Selection{"dashboards": {"*"}, "reports": {"*"}, "datasets": {"*"}, "datamarts": {"*"}, "dataflows": {"*"}}, src, "Development")
	require.NoError(t, err)
	var kinds []string
	for _, it := range items {
		kinds = append(kinds, it.Kind.Singular)
	}
	assert.Equal(t, []string{"dataflow", "datamart", "dataset", "report", "dashboard"}, kinds)
	assert.Equal(t, kinds, func() []string {
		var k []string
		for _, it := range AllItems(src) {
			k = append(k, it.Kind.Singular)
		}
		return k
	}())
}

func TestMatchListsTheClosestNames(t *testing.T) {
	t.Parallel()
	src := &powerbi.StageArtifacts{}
	for _, n := range []string{"Sales EU", "Sales US", "Salse", "Finance", "Stock", "HR", "Marketing", "Ops", "Legal", "Risk"} {
		src.Reports = append(src.Reports, art("40000000-0000-4000-8000-0000000000"+fmt.Sprintf("%02d", len(src.Reports)), n))
	}
	_, err := Match(Selection{"reports": {"Sales"}}, src, "Development")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `reports: nothing named "Sales"; the stage has 10 reports; the closest names are "Sales EU", "Sales US", "Salse"`)
}

func TestClosest(t *testing.T) {
	t.Parallel()
	names := []string{"Revenue", "Revenue (old)", "Reveneu", "Costs", "Headcount"}
	assert.Equal(t, []string{"Revenue", "Revenue (old)"}, Closest("revenue", names, 2))
	assert.Equal(t, []string{"Revenue", "Reveneu"}, Closest("Revnue", names, 2))
	assert.Equal(t, []string{"Costs"}, Closest("Cost*", names, 1))
	assert.Empty(t, Closest("x", nil, 3))
}
