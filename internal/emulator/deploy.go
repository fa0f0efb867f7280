package emulator

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	maxDeployItems  = 300
	maxOperations   = 20 // GET operations lists the latest 20
	maxNoteLength   = 1024
	statusNotStart  = "NotStarted"
	statusExecuting = "Executing"
	statusSucceeded = "Succeeded"
	statusFailed    = "Failed"
)

// operation is a deployment. Its status is a function of the clock: NotStarted until start,
// Executing until end, then Succeeded or Failed (decided when it was requested). Its effects
// (creating the new workspace, copying the items) are applied by settle once the clock passes.
type operation struct {
	id                string
	created, start    time.Time
	end               time.Time
	source, target    int
	performedBy       wireOpUser
	note              *wireNote
	steps             []*step
	failed            bool
	diff              wireDiff
	targetWS          string // "" until the new workspace exists
	newWS             *newWorkspacePlan
	started, finished bool
}

type newWorkspacePlan struct {
	name, capacityID string
	admin            WorkspaceUser
}

type step struct {
	kind                itemKind
	srcID, srcName      string
	srcDatasetID        string
	srcRev              int
	tgtID, tgtName      string
	diffState           string
	errCode, errDetails string
}

type wireOpUser struct {
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	PrincipalObjectID string `json:"principalObjectID,omitempty"`
	PrincipalType     string `json:"principalType"`
}

type wireNote struct {
	Content     string `json:"content"`
	IsTruncated bool   `json:"isTruncated"`
}

type wireDiff struct {
	New          int `json:"newArtifactsCount"`
	Different    int `json:"differentArtifactsCount"`
	NoDifference int `json:"noDifferenceArtifactsCount"`
}

type wireOperation struct {
	ID                 string     `json:"id"`
	Type               string     `json:"type"`
	Status             string     `json:"status"`
	LastUpdatedTime    string     `json:"lastUpdatedTime"`
	ExecutionStartTime string     `json:"executionStartTime,omitempty"`
	ExecutionEndTime   string     `json:"executionEndTime,omitempty"`
	SourceStageOrder   int        `json:"sourceStageOrder"`
	TargetStageOrder   int        `json:"targetStageOrder"`
	PerformedBy        wireOpUser `json:"performedBy"`
	Note               *wireNote  `json:"note,omitempty"`
	ExecutionPlan      *wirePlan  `json:"executionPlan,omitempty"`
	PreDeploymentDiff  wireDiff   `json:"preDeploymentDiffInformation"`
}

type wirePlan struct {
	Steps []wireStep `json:"steps"`
}

type wireStep struct {
	Index                  int                 `json:"index"`
	Type                   string              `json:"type"`
	Status                 string              `json:"status"`
	LastUpdatedTime        string              `json:"lastUpdatedTime"`
	PreDeploymentDiffState string              `json:"preDeploymentDiffState"`
	SourceAndTarget        wireSourceAndTarget `json:"sourceAndTarget"`
	Error                  *wireDeployError    `json:"error,omitempty"`
}

type wireSourceAndTarget struct {
	Source            string `json:"source"`
	SourceDisplayName string `json:"sourceDisplayName"`
	Target            string `json:"target,omitempty"`
	TargetDisplayName string `json:"targetDisplayName,omitempty"`
	Type              string `json:"type"`
}

type wireDeployError struct {
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails"`
}

// formatTime is the service's lastUpdatedTime: UTC without a zone designator.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000") }

func formatTimeZ(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (op *operation) status(now time.Time) string {
	switch {
	case now.Before(op.start):
		return statusNotStart
	case now.Before(op.end):
		return statusExecuting
	case op.failed:
		return statusFailed
	}
	return statusSucceeded
}

func (op *operation) active(now time.Time) bool { return now.Before(op.end) }

// stepWeight is a step's share of the deployment's time: items that hold data (datasets,
// dataflows, datamarts) take twice as long as reports and dashboards, so that the pace of the
// first steps does not simply predict the last ones.
func stepWeight(k itemKind) int64 {
	if k == kindReport || k == kindDashboard {
		return 1
	}
	return 2
}

// stepSpan is when step i runs: steps run one after another between start and end, each for
// its weight's share.
func (op *operation) stepSpan(i int) (from, to time.Time) {
	var before, total int64
	for j, st := range op.steps {
		if j < i {
			before += stepWeight(st.kind)
		}
		total += stepWeight(st.kind)
	}
	span := op.end.Sub(op.start)
	from = op.start.Add(time.Duration(int64(span) / total * before))
	to = op.start.Add(time.Duration(int64(span) / total * (before + stepWeight(op.steps[i].kind))))
	if i == len(op.steps)-1 {
		to = op.end
	}
	return from, to
}

// stepStatus: in a failed deployment only the failing steps report a result; nothing else is
// applied.
func (op *operation) stepStatus(i int, now time.Time) (string, time.Time) {
	if now.Before(op.start) {
		return statusNotStart, op.created
	}
	from, to := op.stepSpan(i)
	st := op.steps[i]
	switch {
	case now.Before(from):
		return statusNotStart, op.start
	case now.Before(to) && st.errCode == "" && op.failed:
		return statusNotStart, op.start
	case now.Before(to):
		return statusExecuting, from
	case st.errCode != "":
		return statusFailed, to
	case op.failed:
		return statusNotStart, op.start
	}
	return statusSucceeded, to
}

func (op *operation) wire(now time.Time, plan bool) wireOperation {
	status := op.status(now)
	out := wireOperation{ID: op.id, Type: "Deploy", Status: status, SourceStageOrder: op.source,
		TargetStageOrder: op.target, PerformedBy: op.performedBy, Note: op.note, PreDeploymentDiff: op.diff}
	last := op.created
	if status != statusNotStart {
		out.ExecutionStartTime, last = formatTimeZ(op.start), op.start
	}
	if status == statusSucceeded || status == statusFailed {
		out.ExecutionEndTime, last = formatTimeZ(op.end), op.end
	}
	out.LastUpdatedTime = formatTime(last)
	if plan {
		out.ExecutionPlan = &wirePlan{Steps: []wireStep{}}
		for i, st := range op.steps {
			ss, at := op.stepStatus(i, now)
			ws := wireStep{Index: i, Type: kindInfo[st.kind].step, Status: ss, LastUpdatedTime: formatTime(at),
				PreDeploymentDiffState: st.diffState,
				SourceAndTarget: wireSourceAndTarget{Source: st.srcID, SourceDisplayName: st.srcName,
					Target: st.tgtID, TargetDisplayName: st.tgtName, Type: st.kind.String()}}
			if ss == statusFailed {
				ws.Error = &wireDeployError{ErrorCode: st.errCode, ErrorDetails: st.errDetails}
			}
			out.ExecutionPlan.Steps = append(out.ExecutionPlan.Steps, ws)
		}
	}
	return out
}

// checkIdle refuses changes to a pipeline while one of its deployments is running.
func (st *state) checkIdle(pl *pipeline, now time.Time) error {
	for _, op := range pl.ops {
		if op.active(now) {
			return badRequest("WorkspaceMigrationOperationInProgress",
				"deployment %s of this pipeline is %s; wait until it completes", op.id, op.status(now))
		}
	}
	return nil
}

// settle applies the effects of every deployment whose time has come.
func (st *state) settle(now time.Time) {
	for _, pl := range st.pipelines {
		for _, op := range pl.ops {
			if !op.started && !now.Before(op.start) {
				op.started = true
				st.createTargetWorkspace(pl, op)
			}
			if !op.finished && !now.Before(op.end) {
				op.finished = true
				if !op.failed {
					st.apply(pl, op)
				}
			}
		}
	}
}

// createTargetWorkspace creates and assigns the deployment's new workspace when it starts running.
func (st *state) createTargetWorkspace(pl *pipeline, op *operation) {
	if op.newWS == nil {
		return
	}
	ws := &workspace{id: newUUID(), name: op.newWS.name, capacityID: op.newWS.capacityID,
		users: []WorkspaceUser{op.newWS.admin}}
	st.workspaces = append(st.workspaces, ws)
	pl.stages[op.target] = ws.id
	op.targetWS = ws.id
}

// apply copies a successful deployment's items into the target: paired or same-named items are
// overwritten in place, new ones are created with new ids and paired with their source.
func (st *state) apply(pl *pipeline, op *operation) {
	tgt := st.workspace(op.targetWS)
	if tgt == nil {
		return
	}
	forward := op.target > op.source
	boundary := min(op.source, op.target)
	link := func(srcID, tgtID string) {
		if forward {
			pl.pair(boundary, srcID, tgtID)
		} else {
			pl.pair(boundary, tgtID, srcID)
		}
	}
	mapped := map[string]string{} // source id (lower) -> target id, for reports' datasets
	for _, s := range op.steps {
		it := tgt.item(s.kind, s.tgtID)
		if it == nil {
			it = &item{kind: s.kind, id: newUUID()}
			tgt.items = append(tgt.items, it)
		}
		it.name, it.rev, it.fromRev, it.deployedAt = s.srcName, it.rev+1, s.srcRev, op.end
		link(s.srcID, it.id)
		mapped[strings.ToLower(s.srcID)] = it.id
	}
	for _, s := range op.steps {
		if s.kind != kindReport || s.srcDatasetID == "" {
			continue
		}
		it := tgt.item(kindReport, mapped[strings.ToLower(s.srcID)])
		if id, ok := mapped[strings.ToLower(s.srcDatasetID)]; ok {
			it.datasetID = id
		} else if id := st.pairedTarget(pl, forward, boundary, s.srcDatasetID); id != "" {
			it.datasetID = id
		}
	}
}

func (st *state) pairedTarget(pl *pipeline, forward bool, boundary int, srcID string) string {
	if forward {
		return pl.forwardPair(boundary, srcID)
	}
	return pl.backwardPair(boundary, srcID)
}

// Pipelines_GetPipelineOperations: the latest 20, newest first, without the execution plan.
func (s *Server) getOperations(pl *pipeline, c *call) (int, any, error) {
	out := []wireOperation{}
	for i := len(pl.ops) - 1; i >= 0 && len(out) < maxOperations; i-- {
		out = append(out, pl.ops[i].wire(c.now, false))
	}
	return http.StatusOK, s.list("pipelines/operations", out), nil
}

// Pipelines_GetPipelineOperation: with the execution plan.
func (s *Server) getOperation(pl *pipeline, c *call) (int, any, error) {
	id := c.params["operationId"]
	for _, op := range pl.ops {
		if strings.EqualFold(op.id, id) {
			return http.StatusOK, withContext(s.URL, "pipelines/operations/$entity", op.wire(c.now, true)), nil
		}
	}
	return 0, nil, notFound("Pipeline operation", id)
}

type deployOptions struct {
	AllowCreateArtifact                    *bool `json:"allowCreateArtifact"`
	AllowOverwriteArtifact                 *bool `json:"allowOverwriteArtifact"`
	AllowSkipTilesWithMissingPrerequisites *bool `json:"allowSkipTilesWithMissingPrerequisites"`
	AllowPurgeData                         *bool `json:"allowPurgeData"`
	AllowTakeOver                          *bool `json:"allowTakeOver"`
	AllowOverwriteTargetArtifactLabel      *bool `json:"allowOverwriteTargetArtifactLabel"`
}

type deployItemRequest struct {
	SourceID string         `json:"sourceId"`
	Options  *deployOptions `json:"options"`
}

type deployRequest struct {
	SourceStageOrder     *int `json:"sourceStageOrder"`
	IsBackwardDeployment bool `json:"isBackwardDeployment"`
	NewWorkspace         *struct {
		Name       string `json:"name"`
		CapacityID string `json:"capacityId"`
	} `json:"newWorkspace"`
	UpdateAppSettings *struct {
		UpdateAppInTargetWorkspace bool `json:"updateAppInTargetWorkspace"`
	} `json:"updateAppSettings"`
	Options *deployOptions `json:"options"`
	Note    *string        `json:"note"`

	Datasets   []deployItemRequest `json:"datasets"`
	Reports    []deployItemRequest `json:"reports"`
	Dashboards []deployItemRequest `json:"dashboards"`
	Dataflows  []deployItemRequest `json:"dataflows"`
	Datamarts  []deployItemRequest `json:"datamarts"`
}

func isTrue(b *bool) bool { return b != nil && *b }

// Pipelines_DeployAll
func (s *Server) deployAll(pl *pipeline, c *call) (int, any, error) { return s.deploy(pl, c, false) }

// Pipelines_SelectiveDeploy
func (s *Server) selectiveDeploy(pl *pipeline, c *call) (int, any, error) {
	return s.deploy(pl, c, true)
}

// chosen is an item picked for deployment with the options that apply to it.
type chosen struct {
	it   *item
	opts *deployOptions
}

func (s *Server) deploy(pl *pipeline, c *call, selective bool) (int, any, error) {
	var req deployRequest
	if err := decodeBody(c.body, &req); err != nil {
		return 0, nil, err
	}
	if req.SourceStageOrder == nil {
		return 0, nil, badRequest("InvalidRequest", "sourceStageOrder is required")
	}
	src := *req.SourceStageOrder
	if src < 0 || src > 2 {
		return 0, nil, badRequest("InvalidRequest", "sourceStageOrder %d is not valid: pipelines have stages 0, 1 and 2", src)
	}
	tgt := src + 1
	if req.IsBackwardDeployment {
		tgt = src - 1
	}
	if tgt < 0 || tgt > 2 {
		dir := "after"
		if req.IsBackwardDeployment {
			dir = "before"
		}
		return 0, nil, badRequest("InvalidRequest", "there is no stage %s stage %d (%s) to deploy to", dir, src, stageNames[src])
	}
	if err := s.st.checkIdle(pl, c.now); err != nil {
		return 0, nil, err
	}
	srcWS := s.st.workspace(pl.stages[src])
	if srcWS == nil {
		return 0, nil, badRequest("Alm_InvalidRequest_StageNotAssigned", "the source stage %d (%s) has no workspace assigned", src, stageNames[src])
	}
	if srcWS.role(c.p) < roleContributor {
		return 0, nil, forbidden("deploying from stage %d needs the Contributor role or more on workspace %s", src, srcWS.id)
	}
	tgtWS := s.st.workspace(pl.stages[tgt])
	if tgtWS != nil && tgtWS.role(c.p) < roleContributor {
		return 0, nil, forbidden("deploying to stage %d needs the Contributor role or more on workspace %s", tgt, tgtWS.id)
	}

	items, err := pickItems(srcWS, &req, selective)
	if err != nil {
		return 0, nil, err
	}

	var plan *newWorkspacePlan
	if tgtWS == nil {
		if plan, err = s.planNewWorkspace(c, &req, srcWS, tgt); err != nil {
			return 0, nil, err
		}
	}
	if req.UpdateAppSettings != nil && req.UpdateAppSettings.UpdateAppInTargetWorkspace && (tgtWS == nil || !tgtWS.hasApp) {
		return 0, nil, badRequest("Alm_InvalidRequest_TargetWorkspaceHasNoApp",
			"updateAppInTargetWorkspace is true but the target stage's workspace has no published app")
	}

	start := c.now.Add(s.opts.DeployDuration / 10)
	op := &operation{id: newUUID(), created: c.now, start: start, end: c.now.Add(s.opts.DeployDuration),
		source: src, target: tgt, performedBy: operationUser(c.p), newWS: plan}
	if tgtWS != nil {
		op.targetWS = tgtWS.id
	}
	if req.Note != nil {
		op.note = &wireNote{Content: *req.Note}
		if utf8.RuneCountInString(*req.Note) > maxNoteLength {
			op.note = &wireNote{Content: string([]rune(*req.Note)[:maxNoteLength]), IsTruncated: true}
		}
	}
	for _, ch := range items {
		st := planStep(pl, ch, tgtWS, src, tgt)
		switch st.diffState {
		case "New":
			op.diff.New++
		case "Different":
			op.diff.Different++
		default:
			op.diff.NoDifference++
		}
		if st.errCode != "" {
			op.failed = true
		}
		op.steps = append(op.steps, st)
	}
	pl.ops = append(pl.ops, op)
	return http.StatusAccepted, op.wire(c.now, false), nil
}

// pickItems returns the items to deploy in deployment order: every item of the source for
// deployAll, the listed ones for a selective deploy. Per-item options replace the
// deployment-wide ones for that item.
func pickItems(srcWS *workspace, req *deployRequest, selective bool) ([]chosen, error) {
	var out []chosen
	if !selective {
		for k := range numKinds {
			for _, it := range srcWS.itemsOf(k) {
				out = append(out, chosen{it: it, opts: req.Options})
			}
		}
		if len(out) > maxDeployItems {
			return nil, badRequest("Alm_InvalidRequest_TooManyArtifactsToDeploy",
				"the source stage holds %d items; a deployment can hold at most %d, deploy them selectively in several requests", len(out), maxDeployItems)
		}
		return out, nil
	}
	lists := [numKinds][]deployItemRequest{kindDataflow: req.Dataflows, kindDatamart: req.Datamarts,
		kindDataset: req.Datasets, kindReport: req.Reports, kindDashboard: req.Dashboards}
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	if total == 0 {
		return nil, badRequest("Alm_InvalidRequest_NoArtifactsToDeploy", "the request lists no items to deploy")
	}
	if total > maxDeployItems {
		return nil, badRequest("Alm_InvalidRequest_TooManyArtifactsToDeploy",
			"the request lists %d items; a deployment can hold at most %d", total, maxDeployItems)
	}
	seen := map[string]bool{}
	for k, l := range lists {
		for _, r := range l {
			if r.SourceID == "" {
				return nil, badRequest("InvalidRequest", "every %s entry needs a sourceId", itemKind(k))
			}
			it := srcWS.item(itemKind(k), r.SourceID)
			if it == nil {
				return nil, badRequest("Alm_InvalidRequest_ArtifactNotFound",
					"%s %s is not in the source stage's workspace %s", itemKind(k), r.SourceID, srcWS.id)
			}
			if seen[strings.ToLower(it.id)] {
				continue
			}
			seen[strings.ToLower(it.id)] = true
			opts := req.Options
			if r.Options != nil {
				opts = r.Options
			}
			out = append(out, chosen{it: it, opts: opts})
		}
	}
	return out, nil
}

// planNewWorkspace checks the newWorkspace request for an unassigned target stage.
func (s *Server) planNewWorkspace(c *call, req *deployRequest, srcWS *workspace, tgt int) (*newWorkspacePlan, error) {
	if req.NewWorkspace == nil {
		return nil, badRequest("Alm_InvalidRequest_TargetStageNotAssigned",
			"the target stage %d (%s) has no workspace assigned; assign one or ask for newWorkspace", tgt, stageNames[tgt])
	}
	name := strings.TrimSpace(req.NewWorkspace.Name)
	if name == "" {
		name = fmt.Sprintf("%s [%s]", srcWS.name, stageNames[tgt]) // the service's default naming
	}
	if s.st.workspaceByName(name) != nil {
		return nil, badRequest("PowerBIEntityAlreadyExists", "a workspace named %q already exists", name)
	}
	capID := srcWS.capacityID
	if req.NewWorkspace.CapacityID != "" {
		capacity := s.st.capacity(req.NewWorkspace.CapacityID)
		if capacity == nil || capacityRight(capacity, c.p) == "None" {
			return nil, badRequest("InvalidRequest", "capacity %s does not exist or you cannot assign workspaces to it", req.NewWorkspace.CapacityID)
		}
		capID = capacity.ID
	}
	return &newWorkspacePlan{name: name, capacityID: capID,
		admin: WorkspaceUser{Identifier: c.p.Identifier, PrincipalType: principalType(c.p), GroupUserAccessRight: "Admin"}}, nil
}

// planStep decides what deploying one item will do, and whether it fails.
func planStep(pl *pipeline, ch chosen, tgtWS *workspace, src, tgt int) *step {
	it := ch.it
	st := &step{kind: it.kind, srcID: it.id, srcName: it.name, srcDatasetID: it.datasetID, srcRev: it.rev, diffState: "New"}
	var existing *item
	if tgtWS != nil {
		boundary := min(src, tgt)
		pairedID := pl.forwardPair(boundary, it.id)
		if tgt < src {
			pairedID = pl.backwardPair(boundary, it.id)
		}
		if pairedID != "" {
			existing = tgtWS.item(it.kind, pairedID)
		}
		if existing == nil {
			existing = tgtWS.itemByName(it.kind, it.name)
		}
	}
	if existing != nil {
		st.tgtID, st.tgtName = existing.id, existing.name
		st.diffState = "Different"
		if existing.fromRev == it.rev && existing.name == it.name && !existing.deployedAt.IsZero() {
			st.diffState = "NoDifference"
		}
	}
	opts := ch.opts
	if opts == nil {
		opts = &deployOptions{}
	}
	label := fmt.Sprintf("%s %q (%s)", it.kind, it.name, it.id)
	switch {
	case it.deployError != "":
		st.errCode, st.errDetails = it.deployError, "deploying "+label+" failed"
	case existing != nil && tgt < src:
		st.errCode = "Alm_InvalidRequest_BackwardDeploymentItemExists"
		st.errDetails = "backward deployment only deploys items that do not exist in the target stage; " + label + " already does"
	case existing != nil && !isTrue(opts.AllowOverwriteArtifact):
		st.errCode = "Alm_InvalidRequest_OverwriteNotAllowed"
		st.errDetails = label + " exists in the target stage and allowOverwriteArtifact is not true"
	case existing == nil && !isTrue(opts.AllowCreateArtifact):
		st.errCode = "Alm_InvalidRequest_CreateNotAllowed"
		st.errDetails = label + " does not exist in the target stage and allowCreateArtifact is not true"
	}
	return st
}

func operationUser(p *Principal) wireOpUser {
	if principalType(p) == "App" {
		return wireOpUser{PrincipalObjectID: p.ObjectID, PrincipalType: "App"}
	}
	return wireOpUser{UserPrincipalName: p.Identifier, PrincipalType: "User"}
}
