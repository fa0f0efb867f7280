package emulator

import (
	"fmt"
	"strings"
	"time"
)

// itemKind is a deployable item type, in deployment order: what others depend on goes first.
type itemKind int

const (
	kindDataflow itemKind = iota
	kindDatamart
	kindDataset
	kindReport
	kindDashboard
	numKinds
)

var kindInfo = [numKinds]struct {
	label string // sourceAndTarget.type, and the singular used in messages
	step  string // DeploymentExecutionStep.type
}{
	kindDataflow:  {"dataflow", "DataflowDeployment"},
	kindDatamart:  {"datamart", "DatamartDeployment"},
	kindDataset:   {"dataset", "DatasetDeployment"},
	kindReport:    {"report", "ReportDeployment"},
	kindDashboard: {"dashboard", "DashboardDeployment"},
}

func (k itemKind) String() string { return kindInfo[k].label }

// state is the tenant's Power BI content. It is guarded by Server.mu.
type state struct {
	seed       *Seed // principals, capacities and the Azure DevOps part, as given
	workspaces []*workspace
	pipelines  []*pipeline
}

type workspace struct {
	id, name, capacityID string
	hasApp               bool
	users                []WorkspaceUser
	items                []*item
}

type item struct {
	kind        itemKind
	id, name    string
	datasetID   string
	deployError string
	rev         int // bumped whenever a deployment writes the item
	fromRev     int // the source's rev it was last deployed from
	deployedAt  time.Time
}

type pipeline struct {
	id, displayName, description string
	stages                       [3]string // workspace ids; "" when unassigned
	users                        []PipelineUser
	// pairs[b] pairs items across stages b and b+1: lower-cased id in stage b -> id in stage b+1.
	pairs [2]map[string]string
	ops   []*operation // oldest first
}

var stageNames = [3]string{"Development", "Test", "Production"}

// Workspace role ranks, so that "Contributor or more" is a comparison.
const (
	roleNone = iota
	roleViewer
	roleContributor
	roleMember
	roleAdmin
)

func roleRank(right string) int {
	switch strings.ToLower(right) {
	case "viewer":
		return roleViewer
	case "contributor":
		return roleContributor
	case "member":
		return roleMember
	case "admin":
		return roleAdmin
	}
	return roleNone
}

func newState(seed *Seed) (*state, error) {
	st := &state{seed: seed}
	for _, sw := range seed.Workspaces {
		if sw.ID == "" {
			sw.ID = newUUID()
		}
		if st.workspace(sw.ID) != nil {
			return nil, fmt.Errorf("emulator: seed: workspace id %s appears twice", sw.ID)
		}
		ws := &workspace{id: sw.ID, name: sw.Name, capacityID: sw.CapacityID, hasApp: sw.HasApp,
			users: append([]WorkspaceUser(nil), sw.Users...)}
		for k, list := range [numKinds][]Item{kindDataflow: sw.Dataflows, kindDatamart: sw.Datamarts,
			kindDataset: sw.Datasets, kindReport: sw.Reports, kindDashboard: sw.Dashboards} {
			for _, si := range list {
				if si.ID == "" {
					si.ID = newUUID()
				}
				ws.items = append(ws.items, &item{kind: itemKind(k), id: si.ID, name: si.Name,
					datasetID: si.DatasetID, deployError: si.DeployError, rev: 1})
			}
		}
		st.workspaces = append(st.workspaces, ws)
	}
	for _, sp := range seed.Pipelines {
		if sp.ID == "" {
			sp.ID = newUUID()
		}
		pl := &pipeline{id: sp.ID, displayName: sp.DisplayName, description: sp.Description,
			users: append([]PipelineUser(nil), sp.Users...)}
		for _, stg := range sp.Stages {
			if stg.Order < 0 || stg.Order > 2 {
				return nil, fmt.Errorf("emulator: seed: pipeline %s: stage order %d is not 0, 1 or 2", sp.DisplayName, stg.Order)
			}
			if stg.WorkspaceID == "" {
				continue
			}
			ws := st.workspace(stg.WorkspaceID)
			if ws == nil {
				return nil, fmt.Errorf("emulator: seed: pipeline %s: workspace %s does not exist", sp.DisplayName, stg.WorkspaceID)
			}
			if other, _ := st.pipelineOf(ws.id); other != nil {
				return nil, fmt.Errorf("emulator: seed: workspace %s is in two pipelines", ws.id)
			}
			pl.stages[stg.Order] = ws.id
		}
		st.pipelines = append(st.pipelines, pl)
	}
	return st, nil
}

func (st *state) workspace(id string) *workspace {
	for _, ws := range st.workspaces {
		if strings.EqualFold(ws.id, id) {
			return ws
		}
	}
	return nil
}

func (st *state) workspaceByName(name string) *workspace {
	for _, ws := range st.workspaces {
		if strings.EqualFold(ws.name, name) {
			return ws
		}
	}
	return nil
}

func (st *state) pipeline(id string) *pipeline {
	for _, pl := range st.pipelines {
		if strings.EqualFold(pl.id, id) {
			return pl
		}
	}
	return nil
}

// pipelineOf returns the pipeline and stage a workspace is assigned to.
func (st *state) pipelineOf(wsID string) (*pipeline, int) {
	for _, pl := range st.pipelines {
		for order, id := range pl.stages {
			if id != "" && strings.EqualFold(id, wsID) {
				return pl, order
			}
		}
	}
	return nil, -1
}

func (st *state) capacity(id string) *Capacity {
	for i := range st.seed.Capacities {
		if strings.EqualFold(st.seed.Capacities[i].ID, id) {
			return &st.seed.Capacities[i]
		}
	}
	return nil
}

// matches reports whether a role-list identifier names the principal.
func (p *Principal) matches(identifier string) bool {
	return identifier != "" && (strings.EqualFold(identifier, p.Identifier) || strings.EqualFold(identifier, p.ObjectID))
}

// role is the caller's direct role in the workspace.
func (ws *workspace) role(p *Principal) int {
	for _, u := range ws.users {
		if p.matches(u.Identifier) {
			return roleRank(u.GroupUserAccessRight)
		}
	}
	return roleNone
}

func (ws *workspace) user(identifier string) int {
	for i, u := range ws.users {
		if strings.EqualFold(u.Identifier, identifier) {
			return i
		}
	}
	return -1
}

func (ws *workspace) item(kind itemKind, id string) *item {
	for _, it := range ws.items {
		if it.kind == kind && strings.EqualFold(it.id, id) {
			return it
		}
	}
	return nil
}

func (ws *workspace) itemByName(kind itemKind, name string) *item {
	for _, it := range ws.items {
		if it.kind == kind && strings.EqualFold(it.name, name) {
			return it
		}
	}
	return nil
}

func (ws *workspace) itemsOf(kind itemKind) []*item {
	var out []*item
	for _, it := range ws.items {
		if it.kind == kind {
			out = append(out, it)
		}
	}
	return out
}

func (pl *pipeline) isUser(p *Principal) bool {
	for _, u := range pl.users {
		if p.matches(u.Identifier) {
			return true
		}
	}
	return false
}

func (pl *pipeline) user(identifier string) int {
	for i, u := range pl.users {
		if strings.EqualFold(u.Identifier, identifier) {
			return i
		}
	}
	return -1
}

// forwardPair returns the id paired in stage b+1 with the stage-b item id.
func (pl *pipeline) forwardPair(b int, id string) string {
	return pl.pairs[b][strings.ToLower(id)]
}

// backwardPair returns the id paired in stage b with the stage-b+1 item id.
func (pl *pipeline) backwardPair(b int, id string) string {
	for from, to := range pl.pairs[b] {
		if strings.EqualFold(to, id) {
			return from
		}
	}
	return ""
}

func (pl *pipeline) pair(b int, from, to string) {
	if pl.pairs[b] == nil {
		pl.pairs[b] = map[string]string{}
	}
	pl.pairs[b][strings.ToLower(from)] = to
}

// unassign empties a stage and forgets the pairings that crossed it.
func (pl *pipeline) unassign(order int) {
	pl.stages[order] = ""
	if order > 0 {
		pl.pairs[order-1] = nil
	}
	if order < 2 {
		pl.pairs[order] = nil
	}
}

// snapshot renders the state in seed form.
func (st *state) snapshot() *Seed {
	out, err := cloneSeed(st.seed)
	if err != nil {
		out = &Seed{}
	}
	out.Workspaces, out.Pipelines = nil, nil
	for _, ws := range st.workspaces {
		sw := Workspace{ID: ws.id, Name: ws.name, CapacityID: ws.capacityID, HasApp: ws.hasApp,
			Users: append([]WorkspaceUser(nil), ws.users...)}
		for _, it := range ws.items {
			si := Item{ID: it.id, Name: it.name, DatasetID: it.datasetID, DeployError: it.deployError}
			switch it.kind {
			case kindDataflow:
				sw.Dataflows = append(sw.Dataflows, si)
			case kindDatamart:
				sw.Datamarts = append(sw.Datamarts, si)
			case kindDataset:
				sw.Datasets = append(sw.Datasets, si)
			case kindReport:
				sw.Reports = append(sw.Reports, si)
			case kindDashboard:
				sw.Dashboards = append(sw.Dashboards, si)
			}
		}
		out.Workspaces = append(out.Workspaces, sw)
	}
	for _, pl := range st.pipelines {
		sp := Pipeline{ID: pl.id, DisplayName: pl.displayName, Description: pl.description,
			Users: append([]PipelineUser(nil), pl.users...)}
		for order, id := range pl.stages {
			sp.Stages = append(sp.Stages, PipelineStage{Order: order, WorkspaceID: id})
		}
		out.Pipelines = append(out.Pipelines, sp)
	}
	return out
}
