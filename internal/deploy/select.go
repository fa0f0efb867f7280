// Package deploy runs a Power BI pipeline deployment the way a release needs it: it builds the
// request from the task's inputs, matches selected items by name, id or wildcard in the source
// stage, starts the deployment exactly once, waits for it within a bound, and explains the
// outcome step by step.
package deploy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
)

// Kind is a deployable item type, in the order the service deploys dependencies first.
type Kind struct {
	Input  string // task input name
	Plural string // for messages
	list   func(*powerbi.StageArtifacts) []powerbi.Artifact
	set    func(*powerbi.SelectiveDeployRequest, []powerbi.DeployArtifact)
}

// Kinds lists the item types: datasets, dataflows and datamarts before the reports and
// dashboards that use them.
var Kinds = []Kind{
	{"datasets", "datasets", func(a *powerbi.StageArtifacts) []powerbi.Artifact { return a.Datasets }, func(r *powerbi.SelectiveDeployRequest, d []powerbi.DeployArtifact) { r.Datasets = d }},
	{"dataflows", "dataflows", func(a *powerbi.StageArtifacts) []powerbi.Artifact { return a.Dataflows }, func(r *powerbi.SelectiveDeployRequest, d []powerbi.DeployArtifact) { r.Dataflows = d }},
	{"datamarts", "datamarts", func(a *powerbi.StageArtifacts) []powerbi.Artifact { return a.Datamarts }, func(r *powerbi.SelectiveDeployRequest, d []powerbi.DeployArtifact) { r.Datamarts = d }},
	{"reports", "reports", func(a *powerbi.StageArtifacts) []powerbi.Artifact { return a.Reports }, func(r *powerbi.SelectiveDeployRequest, d []powerbi.DeployArtifact) { r.Reports = d }},
	{"dashboards", "dashboards", func(a *powerbi.StageArtifacts) []powerbi.Artifact { return a.Dashboards }, func(r *powerbi.SelectiveDeployRequest, d []powerbi.DeployArtifact) { r.Dashboards = d }},
}

// Selection is what the user asked for, per input name (datasets, reports, ...): names, ids or
// wildcard patterns.
type Selection map[string][]string

// Empty reports whether nothing was selected.
func (s Selection) Empty() bool {
	for _, v := range s {
		if len(v) > 0 {
			return false
		}
	}
	return true
}

// MaxItems is the service's limit of items per deployment request.
const MaxItems = 300

// SelectionError lists every entry that matched nothing, with what the source stage holds.
type SelectionError struct {
	Stage    string
	Problems []string
}

func (e *SelectionError) Error() string {
	return fmt.Sprintf("selected items not found in the %s stage:\n  %s", e.Stage, strings.Join(e.Problems, "\n  "))
}

// Match resolves a selection against the source stage's items. Each entry is an id (GUID),
// an exact name (case-insensitive), or a pattern with * and ?. Every entry must match at
// least one item; an exact name matching two items is ambiguous. Items are returned once, in
// Kinds order, with their names for the log.
func Match(sel Selection, source *powerbi.StageArtifacts, stage string) (*powerbi.SelectiveDeployRequest, []string, error) {
	req := &powerbi.SelectiveDeployRequest{}
	var chosen []string
	var problems []string
	for _, k := range Kinds {
		entries := sel[k.Input]
		if len(entries) == 0 {
			continue
		}
		items := k.list(source)
		seen := map[string]bool{}
		var picked []powerbi.DeployArtifact
		for _, e := range entries {
			ids, problem := matchEntry(e, items, k.Plural)
			if problem != "" {
				problems = append(problems, problem)
				continue
			}
			for _, id := range ids {
				if !seen[strings.ToLower(id.ArtifactID)] {
					seen[strings.ToLower(id.ArtifactID)] = true
					picked = append(picked, powerbi.DeployArtifact{SourceID: id.ArtifactID})
					chosen = append(chosen, fmt.Sprintf("%s %q (%s)", strings.TrimSuffix(k.Plural, "s"), id.ArtifactDisplayName, id.ArtifactID))
				}
			}
		}
		k.set(req, picked)
	}
	if len(problems) > 0 {
		return nil, nil, &SelectionError{Stage: stage, Problems: problems}
	}
	return req, chosen, nil
}

func matchEntry(entry string, items []powerbi.Artifact, plural string) ([]powerbi.Artifact, string) {
	entry = strings.TrimSpace(entry)
	switch {
	case resolve.IsID(entry):
		for _, it := range items {
			if strings.EqualFold(it.ArtifactID, entry) {
				return []powerbi.Artifact{it}, ""
			}
		}
		return nil, fmt.Sprintf("%s: no item with id %s; %s", plural, entry, available(items, plural))
	case strings.ContainsAny(entry, "*?"):
		re := wildcard(entry)
		var out []powerbi.Artifact
		for _, it := range items {
			if re.MatchString(it.ArtifactDisplayName) {
				out = append(out, it)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Sprintf("%s: pattern %q matches nothing; %s", plural, entry, available(items, plural))
		}
		return out, ""
	default:
		var out []powerbi.Artifact
		for _, it := range items {
			if strings.EqualFold(strings.TrimSpace(it.ArtifactDisplayName), entry) {
				out = append(out, it)
			}
		}
		switch len(out) {
		case 0:
			return nil, fmt.Sprintf("%s: nothing named %q; %s", plural, entry, available(items, plural))
		case 1:
			return out, ""
		default:
			ids := make([]string, len(out))
			for i, it := range out {
				ids[i] = it.ArtifactID
			}
			return nil, fmt.Sprintf("%s: %d items are named %q (ids %s); use the id of the one you mean", plural, len(out), entry, strings.Join(ids, ", "))
		}
	}
}

func available(items []powerbi.Artifact, plural string) string {
	if len(items) == 0 {
		return "the stage has no " + plural
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		names = append(names, it.ArtifactDisplayName)
	}
	sort.Strings(names)
	for i, n := range names {
		names[i] = fmt.Sprintf("%q", n)
	}
	if len(names) > 15 {
		return fmt.Sprintf("the stage has %d %s, including %s", len(names), plural, strings.Join(names[:15], ", "))
	}
	return "the stage has " + strings.Join(names, ", ")
}

// wildcard compiles a * and ? pattern, matched against the whole name, case-insensitively.
func wildcard(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?is)^")
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// Count is the number of items a selective request deploys.
func Count(r *powerbi.SelectiveDeployRequest) int {
	return len(r.Datasets) + len(r.Dataflows) + len(r.Datamarts) + len(r.Reports) + len(r.Dashboards)
}

// CountArtifacts is the number of items in a stage.
func CountArtifacts(a *powerbi.StageArtifacts) int {
	return len(a.Datasets) + len(a.Dataflows) + len(a.Datamarts) + len(a.Reports) + len(a.Dashboards)
}
