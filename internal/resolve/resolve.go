// Package resolve turns what users type in task inputs — display names or ids, stage names or
// numbers — into the ids and orders the Power BI API takes. A name that matches nothing, or
// more than one thing, is an error that says what was searched and what was found.
package resolve

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
)

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsID reports whether s is GUID-shaped: such a value is taken as an id, never as a name.
func IsID(s string) bool { return guid.MatchString(strings.TrimSpace(s)) }

// NotFoundError says a name or id matched nothing the signed-in principal can see.
type NotFoundError struct {
	Kind, Value string
	// Listed says the principal's whole list was read, so Found (maybe empty) is what it sees.
	Listed bool
	Found  []string
	Hint   string
}

func (e *NotFoundError) Error() string {
	by := "named"
	if IsID(e.Value) {
		by = "with id"
	}
	msg := fmt.Sprintf("no %s %s %q is visible to the signed-in principal", e.Kind, by, Shorten(e.Value))
	switch n := len(e.Found); {
	case !e.Listed:
	case n == 0:
		msg += fmt.Sprintf("; it sees no %ss at all", e.Kind)
	case n <= 10:
		msg += fmt.Sprintf("; it sees %s", quoteList(e.Found))
	default:
		msg += fmt.Sprintf("; it sees %d %ss, including %s", n, e.Kind, quoteList(e.Found[:10]))
	}
	if e.Hint != "" {
		msg += ". " + e.Hint
	}
	return msg
}

// AmbiguousError says a name matched more than one thing.
type AmbiguousError struct {
	Kind, Value string
	IDs         []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%d %ss are named %q (ids %s); use the id of the one you mean", len(e.IDs), e.Kind, Shorten(e.Value), strings.Join(e.IDs, ", "))
}

// uniqueSorted sorts names and drops repeats (two pipelines may share a name).
func uniqueSorted(names []string) []string {
	sort.Strings(names)
	out := names[:0]
	for i, n := range names {
		if i == 0 || n != names[i-1] {
			out = append(out, n)
		}
	}
	return out
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

const pipelineHint = "A service principal sees only pipelines it is an Admin of: add it to the pipeline's access list"

// FindPipeline returns the pipeline with that display name (case-insensitive) or id, with its
// stages, or nil when there is none. Two pipelines with the name are an *AmbiguousError.
func FindPipeline(ctx context.Context, c *powerbi.Client, nameOrID string) (*powerbi.Pipeline, error) {
	nameOrID = strings.TrimSpace(nameOrID)
	if IsID(nameOrID) {
		p, _, err := c.Pipelines.Get(ctx, nameOrID, true)
		if powerbi.IsNotFound(err) {
			return nil, nil
		}
		return p, err
	}
	all, _, err := c.Pipelines.List(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range all {
		if strings.EqualFold(strings.TrimSpace(p.DisplayName), nameOrID) {
			ids = append(ids, p.ID)
		}
	}
	switch len(ids) {
	case 0:
		return nil, nil
	case 1:
		p, _, err := c.Pipelines.Get(ctx, ids[0], true)
		return p, err
	default:
		return nil, &AmbiguousError{Kind: "pipeline", Value: nameOrID, IDs: ids}
	}
}

// Pipeline is FindPipeline for a pipeline that must exist.
func Pipeline(ctx context.Context, c *powerbi.Client, nameOrID string) (*powerbi.Pipeline, error) {
	p, err := FindPipeline(ctx, c, nameOrID)
	if err != nil || p != nil {
		return p, err
	}
	var names []string
	if all, _, err := c.Pipelines.List(ctx); err == nil {
		for _, q := range all {
			names = append(names, q.DisplayName)
		}
		names = uniqueSorted(names)
		return nil, &NotFoundError{Kind: "pipeline", Value: nameOrID, Listed: true, Found: names, Hint: pipelineHint}
	}
	return nil, &NotFoundError{Kind: "pipeline", Value: nameOrID, Hint: pipelineHint}
}

const workspaceHint = "A service principal sees only workspaces it has a role in: add it to the workspace (Member or Admin)"

// FindWorkspace returns the workspace with that name (case-insensitive) or id, or nil.
func FindWorkspace(ctx context.Context, c *powerbi.Client, nameOrID string) (*powerbi.Group, error) {
	nameOrID = strings.TrimSpace(nameOrID)
	if IsID(nameOrID) {
		g, _, err := c.Groups.Get(ctx, nameOrID)
		if powerbi.IsNotFound(err) {
			return nil, nil
		}
		return g, err
	}
	groups, _, err := c.Groups.List(ctx, &powerbi.GroupListOptions{Filter: powerbi.NameFilter(nameOrID)})
	if err != nil {
		return nil, err
	}
	var match []powerbi.Group
	for _, g := range groups {
		// $filter eq is already case-insensitive on the service; check again so a lenient
		// or different filter implementation cannot widen the match.
		if strings.EqualFold(strings.TrimSpace(g.Name), nameOrID) {
			match = append(match, g)
		}
	}
	switch len(match) {
	case 0:
		return nil, nil
	case 1:
		return &match[0], nil
	default:
		ids := make([]string, len(match))
		for i, g := range match {
			ids[i] = g.ID
		}
		return nil, &AmbiguousError{Kind: "workspace", Value: nameOrID, IDs: ids}
	}
}

// Workspace is FindWorkspace for a workspace that must exist.
func Workspace(ctx context.Context, c *powerbi.Client, nameOrID string) (*powerbi.Group, error) {
	g, err := FindWorkspace(ctx, c, nameOrID)
	if err != nil || g != nil {
		return g, err
	}
	if groups, _, err := c.Groups.List(ctx, &powerbi.GroupListOptions{Top: 100}); err == nil {
		names := make([]string, 0, len(groups))
		for _, g := range groups {
			names = append(names, g.Name)
		}
		return nil, &NotFoundError{Kind: "workspace", Value: nameOrID, Listed: true, Found: uniqueSorted(names), Hint: workspaceHint}
	}
	return nil, &NotFoundError{Kind: "workspace", Value: nameOrID, Hint: workspaceHint}
}

// Capacity resolves a capacity by display name (case-insensitive) or id among the capacities
// the principal can use.
func Capacity(ctx context.Context, c *powerbi.Client, nameOrID string) (*powerbi.Capacity, error) {
	nameOrID = strings.TrimSpace(nameOrID)
	caps, _, err := c.Capacities.List(ctx)
	if err != nil {
		return nil, err
	}
	var match []powerbi.Capacity
	var names []string
	for _, cp := range caps {
		names = append(names, cp.DisplayName)
		if strings.EqualFold(cp.ID, nameOrID) || (!IsID(nameOrID) && strings.EqualFold(cp.DisplayName, nameOrID)) {
			match = append(match, cp)
		}
	}
	switch len(match) {
	case 1:
		return &match[0], nil
	case 0:
		return nil, &NotFoundError{Kind: "capacity", Value: nameOrID, Listed: true, Found: uniqueSorted(names),
			Hint: "A principal sees only capacities it is an admin or contributor of"}
	default:
		ids := make([]string, len(match))
		for i, cp := range match {
			ids[i] = cp.ID
		}
		return nil, &AmbiguousError{Kind: "capacity", Value: nameOrID, IDs: ids}
	}
}

// StageNames are the three stages of a pipeline created through the API, by order.
var StageNames = []string{"Development", "Test", "Production"}

// Stage parses a stage input: 0, 1, 2 or Development, Test, Production (any case).
func Stage(v string) (int, error) {
	v = strings.TrimSpace(v)
	for i, n := range StageNames {
		if v == fmt.Sprint(i) || strings.EqualFold(v, n) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("expected 0, 1, 2, Development, Test or Production, got %q", v)
}

// StageName names a stage order for messages.
func StageName(order int) string {
	if order >= 0 && order < len(StageNames) {
		return StageNames[order]
	}
	return fmt.Sprintf("stage %d", order)
}

// Direction is a deployment's source stage and direction.
type Direction struct {
	Source, Target int
	Backward       bool
}

// DeployTarget parses the deploy task's stageOrder: the target stage, as Microsoft's Power BI
// automation tools extension names it (Test, Production, Development (Backward), Test
// (Backward)); 1, 2 and stage names with "(Backward)" are accepted too.
func DeployTarget(v string) (Direction, error) {
	s := strings.TrimSpace(v)
	backward := false
	// "(Backward)" must end the value. It is compared on the value's own bytes: an index into
	// strings.ToLower(s) is not one into s (lower-casing can change the length).
	const marker = "(backward)"
	if n := len(s) - len(marker); n >= 0 && strings.EqualFold(s[n:], marker) {
		backward = true
		s = strings.TrimSpace(s[:n])
	}
	target, err := Stage(s)
	if err != nil {
		return Direction{}, fmt.Errorf("expected Test, Production, Development (Backward) or Test (Backward), got %q", v)
	}
	d := Direction{Target: target, Backward: backward}
	if backward {
		d.Source = target + 1
	} else {
		d.Source = target - 1
	}
	if d.Source < 0 || d.Source > 2 {
		return Direction{}, fmt.Errorf("expected Test, Production, Development (Backward) or Test (Backward), got %q: there is no stage to deploy from", v)
	}
	return d, nil
}

// FindPipelineByName is FindPipeline for a value that is always a display name, even when it
// looks like an id (a new pipeline's name).
func FindPipelineByName(ctx context.Context, c *powerbi.Client, name string) (*powerbi.Pipeline, error) {
	all, _, err := c.Pipelines.List(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range all {
		if strings.EqualFold(strings.TrimSpace(p.DisplayName), strings.TrimSpace(name)) {
			ids = append(ids, p.ID)
		}
	}
	switch len(ids) {
	case 0:
		return nil, nil
	case 1:
		p, _, err := c.Pipelines.Get(ctx, ids[0], true)
		return p, err
	default:
		return nil, &AmbiguousError{Kind: "pipeline", Value: name, IDs: ids}
	}
}

// Shorten keeps an echoed value readable in a message: up to 100 characters, then how many
// there were in all (so the cut is never silent).
func Shorten(s string) string {
	r := []rune(s)
	if len(r) <= 100 {
		return s
	}
	return fmt.Sprintf("%s… (%d characters in all)", string(r[:100]), len(r))
}
