package deploy

import (
	"fmt"
	"unicode/utf8"

	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
)

// MaxItems is the service's limit of items per deployment request.
const MaxItems = 300

// MaxNote is the longest deployment note the service keeps whole (it cuts longer ones).
const MaxNote = 1024

// Plan is what one run of the task deploys.
type Plan struct {
	Direction resolve.Direction
	// Selective: the user chose Items. Batched: a deploy-all whose source stage holds more than
	// MaxItems, sent as selective parts of all its Items. Neither: one deployAll request.
	Selective, Batched bool
	// Base holds what every request carries: source stage, direction, note, options; and
	// what only one does: the new workspace (the first part) and the app update (the last).
	Base  powerbi.DeployAllRequest
	Items []Item
}

// Part is one deployment request of a plan.
type Part struct {
	Index, Of int  // 1-based
	Selective bool // false: deployAll, Body's item lists are empty
	Body      *powerbi.SelectiveDeployRequest
	Items     []Item
}

// Label names the part in the log: "" when the plan has one part.
func (p *Part) Label() string {
	if p.Of == 1 {
		return ""
	}
	return fmt.Sprintf("part %d of %d", p.Index, p.Of)
}

// Parts splits the plan into requests of at most MaxItems items each, in Kinds order, so that
// what an item depends on is deployed in an earlier part or the same one. Only the first part
// creates the new workspace (the later ones find it assigned) and only the last updates the
// app (once all content is in place). The note gets " (part i of n)" when it fits.
func (p *Plan) Parts() []*Part {
	if !p.Selective && !p.Batched {
		base := p.Base
		return []*Part{{Index: 1, Of: 1, Body: &powerbi.SelectiveDeployRequest{DeployAllRequest: base}}}
	}
	n := max(1, (len(p.Items)+MaxItems-1)/MaxItems)
	parts := make([]*Part, 0, n)
	for i := range n {
		items := p.Items[i*MaxItems : min(len(p.Items), (i+1)*MaxItems)]
		body := &powerbi.SelectiveDeployRequest{DeployAllRequest: p.Base}
		if i > 0 {
			body.NewWorkspace = nil
		}
		if i < n-1 {
			body.UpdateAppSettings = nil
		}
		if n > 1 {
			suffix := fmt.Sprintf(" (part %d of %d)", i+1, n)
			if body.Note != "" && utf8.RuneCountInString(body.Note+suffix) <= MaxNote {
				body.Note += suffix
			}
		}
		for _, it := range items {
			it.Kind.add(body, powerbi.DeployArtifact{SourceID: it.ID})
		}
		parts = append(parts, &Part{Index: i + 1, Of: n, Selective: true, Body: body, Items: items})
	}
	return parts
}

// Describe says in one line what the plan deploys.
func (p *Plan) Describe() string {
	from, to := resolve.StageName(p.Direction.Source), resolve.StageName(p.Direction.Target)
	dir := ""
	if p.Direction.Backward {
		dir = " (backward)"
	}
	switch {
	case p.Selective:
		return fmt.Sprintf("%d selected items from %s to %s%s", len(p.Items), from, to, dir)
	case p.Batched:
		return fmt.Sprintf("all %d items from %s to %s%s", len(p.Items), from, to, dir)
	}
	return fmt.Sprintf("all content from %s to %s%s", from, to, dir)
}
