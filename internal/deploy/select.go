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

// Kind is a deployable item type.
type Kind struct {
	Input    string // task input name, and the request's field: datasets, reports, ...
	Singular string // for messages: dataset, report, ...
	list     func(*powerbi.StageArtifacts) []powerbi.Artifact
	add      func(*powerbi.SelectiveDeployRequest, powerbi.DeployArtifact)
}

// Kinds lists the item types in deployment order: what holds data first (dataflows feed
// datamarts and datasets), then the reports built on datasets, then the dashboards pinned from
// reports. A deployment split into parts sends them in this order.
var Kinds = []*Kind{
	{"dataflows", "dataflow", func(a *powerbi.StageArtifacts) []powerbi.Artifact { return a.Dataflows },
		func(r *powerbi.SelectiveDeployRequest, d powerbi.DeployArtifact) {
			r.Dataflows = append(r.Dataflows, d)
		}},
	{"datamarts", "datamart", func(a *powerbi.StageArtifacts) []powerbi.Artifact { return a.Datamarts },
		func(r *powerbi.SelectiveDeployRequest, d powerbi.DeployArtifact) {
			r.Datamarts = append(r.Datamarts, d)
		}},
	{"datasets", "dataset", func(a *powerbi.StageArtifacts) []powerbi.Artifact { return a.Datasets },
		func(r *powerbi.SelectiveDeployRequest, d powerbi.DeployArtifact) { r.Datasets = append(r.Datasets, d) }},
	{"reports", "report", func(a *powerbi.StageArtifacts) []powerbi.Artifact { return a.Reports },
		func(r *powerbi.SelectiveDeployRequest, d powerbi.DeployArtifact) { r.Reports = append(r.Reports, d) }},
	{"dashboards", "dashboard", func(a *powerbi.StageArtifacts) []powerbi.Artifact { return a.Dashboards },
		func(r *powerbi.SelectiveDeployRequest, d powerbi.DeployArtifact) {
			r.Dashboards = append(r.Dashboards, d)
		}},
}

// Item is one source-stage item to deploy.
type Item struct {
	Kind     *Kind
	ID, Name string
}

func (it Item) String() string { return fmt.Sprintf("%s %q (%s)", it.Kind.Singular, it.Name, it.ID) }

// AllItems lists every item of a stage in deployment order.
func AllItems(source *powerbi.StageArtifacts) []Item {
	var out []Item
	for _, k := range Kinds {
		for _, a := range k.list(source) {
			out = append(out, Item{Kind: k, ID: a.ArtifactID, Name: a.ArtifactDisplayName})
		}
	}
	return out
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
// least one item; an exact name matching two items is ambiguous. Items are returned once each,
// in Kinds order.
func Match(sel Selection, source *powerbi.StageArtifacts, stage string) ([]Item, error) {
	var chosen []Item
	var problems []string
	for _, k := range Kinds {
		entries := sel[k.Input]
		if len(entries) == 0 {
			continue
		}
		items := k.list(source)
		seen := map[string]bool{}
		for _, e := range entries {
			found, problem := matchEntry(e, items, k.Input)
			if problem != "" {
				problems = append(problems, problem)
				continue
			}
			for _, a := range found {
				if id := strings.ToLower(a.ArtifactID); !seen[id] {
					seen[id] = true
					chosen = append(chosen, Item{Kind: k, ID: a.ArtifactID, Name: a.ArtifactDisplayName})
				}
			}
		}
	}
	if len(problems) > 0 {
		return nil, &SelectionError{Stage: stage, Problems: problems}
	}
	return chosen, nil
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
		return nil, fmt.Sprintf("%s: no item with id %s; %s", plural, entry, available(items, plural, entry))
	case strings.ContainsAny(entry, "*?"):
		re := wildcard(entry)
		var out []powerbi.Artifact
		for _, it := range items {
			if re.MatchString(it.ArtifactDisplayName) {
				out = append(out, it)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Sprintf("%s: pattern %q matches nothing; %s", plural, entry, available(items, plural, entry))
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
			return nil, fmt.Sprintf("%s: nothing named %q; %s", plural, entry, available(items, plural, entry))
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

// available says what the stage holds of a kind: every name when there are few, else the ones
// closest to what was asked for.
func available(items []powerbi.Artifact, plural, asked string) string {
	if len(items) == 0 {
		return "the stage has no " + plural
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		names = append(names, it.ArtifactDisplayName)
	}
	const shown = 8
	if len(names) <= shown {
		sort.Strings(names)
		return "the stage has " + quoteAll(names)
	}
	return fmt.Sprintf("the stage has %d %s; the closest names are %s", len(names), plural, quoteAll(Closest(asked, names, shown)))
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// Closest returns up to n of names, most similar to asked first: names that contain it (or
// that it contains) before others, then by edit distance, case-insensitively. Wildcards in
// asked are ignored.
func Closest(asked string, names []string, n int) []string {
	a := []rune(strings.ToLower(strings.NewReplacer("*", "", "?", "").Replace(asked)))
	type scored struct {
		name  string
		score int
	}
	out := make([]scored, 0, len(names))
	for _, name := range names {
		b := []rune(strings.ToLower(name))
		score := editDistance(a, b)
		if len(a) > 0 && (strings.Contains(string(b), string(a)) || strings.Contains(string(a), string(b))) {
			score -= 1 << 20 // a containing match ranks first
		}
		out = append(out, scored{name, score})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].score != out[j].score {
			return out[i].score < out[j].score
		}
		return out[i].name < out[j].name
	})
	res := make([]string, 0, n)
	for _, s := range out[:min(n, len(out))] {
		res = append(res, s.name)
	}
	return res
}

// editDistance is the Levenshtein distance between a and b, capped by the inputs' first 256
// runes so a very long name costs little.
func editDistance(a, b []rune) int {
	a, b = a[:min(len(a), 256)], b[:min(len(b), 256)]
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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

// CountArtifacts is the number of items in a stage.
func CountArtifacts(a *powerbi.StageArtifacts) int {
	return len(a.Datasets) + len(a.Dataflows) + len(a.Datamarts) + len(a.Reports) + len(a.Dashboards)
}
