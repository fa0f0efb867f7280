package emulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Wire types: the emulator's own, spelled as in the swagger.

type wirePipeline struct {
	ID          string         `json:"id"`
	DisplayName string         `json:"displayName"`
	Description string         `json:"description,omitempty"`
	Stages      []wireStage    `json:"stages,omitempty"`
	Users       []wirePipeUser `json:"users,omitempty"`
}

type wireStage struct {
	Order         int    `json:"order"`
	WorkspaceID   string `json:"workspaceId,omitempty"`
	WorkspaceName string `json:"workspaceName,omitempty"`
}

type wirePipeUser struct {
	Identifier    string `json:"identifier"`
	PrincipalType string `json:"principalType"`
	AccessRight   string `json:"accessRight,omitempty"`
}

type wireList struct {
	Context string `json:"@odata.context,omitempty"`
	Value   any    `json:"value"`
}

func (s *Server) list(entity string, v any) wireList {
	return wireList{Context: s.URL + "/v1.0/myorg/$metadata#" + entity, Value: v}
}

const (
	maxPipelineName        = 256
	maxPipelineDescription = 1024
)

// decodeBody parses a JSON body; an empty body decodes as {}.
func decodeBody(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badRequest("InvalidRequest", "the request body is not valid JSON for this operation: %v", err)
	}
	return nil
}

// visiblePipeline finds a pipeline the caller administers; the service hides the others.
func (s *Server) visiblePipeline(c *call) (*pipeline, error) {
	id := c.params["pipelineId"]
	pl := s.st.pipeline(id)
	if pl == nil || !pl.isUser(c.p) {
		return nil, notFound("Pipeline", id)
	}
	return pl, nil
}

func (s *Server) wirePipeline(pl *pipeline, c *call, stages, users bool) wirePipeline {
	out := wirePipeline{ID: pl.id, DisplayName: pl.displayName, Description: pl.description}
	if stages {
		out.Stages = s.wireStages(pl, c, false)
	}
	if users {
		out.Users = wirePipelineUsers(pl)
	}
	return out
}

// wireStages lists the three stages; workspaceName only when the caller can see the workspace.
func (s *Server) wireStages(pl *pipeline, c *call, admin bool) []wireStage {
	out := make([]wireStage, 0, len(pl.stages))
	for order, id := range pl.stages {
		st := wireStage{Order: order}
		if ws := s.st.workspace(id); ws != nil {
			st.WorkspaceID = ws.id
			if admin || ws.role(c.p) > roleNone {
				st.WorkspaceName = ws.name
			}
		}
		out = append(out, st)
	}
	return out
}

func wirePipelineUsers(pl *pipeline) []wirePipeUser {
	out := make([]wirePipeUser, 0, len(pl.users))
	for _, u := range pl.users {
		out = append(out, wirePipeUser{Identifier: u.Identifier, PrincipalType: u.PrincipalType, AccessRight: "Admin"})
	}
	return out
}

func expands(c *call, what string) bool {
	for _, e := range strings.Split(c.query.Get("$expand"), ",") {
		if strings.EqualFold(strings.TrimSpace(e), what) {
			return true
		}
	}
	return false
}

// Pipelines_GetPipelines
func (s *Server) getPipelines(c *call) (int, any, error) {
	out := []wirePipeline{}
	for _, pl := range s.st.pipelines {
		if pl.isUser(c.p) {
			out = append(out, s.wirePipeline(pl, c, false, false))
		}
	}
	return http.StatusOK, s.list("pipelines", out), nil
}

type pipelineRequest struct {
	DisplayName *string `json:"displayName"`
	Description *string `json:"description"`
}

func (r *pipelineRequest) validate(create bool) error {
	if create && (r.DisplayName == nil || strings.TrimSpace(*r.DisplayName) == "") {
		return badRequest("InvalidRequest", "displayName is required")
	}
	if !create && r.DisplayName == nil && r.Description == nil {
		return badRequest("InvalidRequest", "a displayName or a description is required")
	}
	if r.DisplayName != nil {
		if strings.TrimSpace(*r.DisplayName) == "" {
			return badRequest("InvalidRequest", "displayName cannot be empty")
		}
		if utf8.RuneCountInString(*r.DisplayName) > maxPipelineName {
			return badRequest("InvalidRequest", "displayName is longer than %d characters", maxPipelineName)
		}
	}
	if r.Description != nil && utf8.RuneCountInString(*r.Description) > maxPipelineDescription {
		return badRequest("InvalidRequest", "description is longer than %d characters", maxPipelineDescription)
	}
	return nil
}

// Pipelines_CreatePipeline: the caller becomes the pipeline's admin.
func (s *Server) createPipeline(c *call) (int, any, error) {
	var req pipelineRequest
	if err := decodeBody(c.body, &req); err != nil {
		return 0, nil, err
	}
	if err := req.validate(true); err != nil {
		return 0, nil, err
	}
	pl := &pipeline{id: newUUID(), displayName: *req.DisplayName,
		users: []PipelineUser{{Identifier: c.p.Identifier, PrincipalType: principalType(c.p)}}}
	if req.Description != nil {
		pl.description = *req.Description
	}
	s.st.pipelines = append(s.st.pipelines, pl)
	return http.StatusCreated, withContext(s.URL, "pipelines/$entity", s.wirePipeline(pl, c, true, false)), nil
}

// Pipelines_GetPipeline: stages only with $expand=stages.
func (s *Server) getPipeline(pl *pipeline, c *call) (int, any, error) {
	return http.StatusOK, withContext(s.URL, "pipelines/$entity", s.wirePipeline(pl, c, expands(c, "stages"), false)), nil
}

// Pipelines_UpdatePipeline
func (s *Server) updatePipeline(pl *pipeline, c *call) (int, any, error) {
	var req pipelineRequest
	if err := decodeBody(c.body, &req); err != nil {
		return 0, nil, err
	}
	if err := req.validate(false); err != nil {
		return 0, nil, err
	}
	if req.DisplayName != nil {
		pl.displayName = *req.DisplayName
	}
	if req.Description != nil {
		pl.description = *req.Description
	}
	return http.StatusOK, withContext(s.URL, "pipelines/$entity", s.wirePipeline(pl, c, false, false)), nil
}

// Pipelines_DeletePipeline: the workspaces stay, unassigned.
func (s *Server) deletePipeline(pl *pipeline, c *call) (int, any, error) {
	if err := s.st.checkIdle(pl, c.now); err != nil {
		return 0, nil, err
	}
	s.st.pipelines = slices.DeleteFunc(s.st.pipelines, func(p *pipeline) bool { return p == pl })
	return http.StatusOK, nil, nil
}

// Pipelines_GetPipelineUsers, Pipelines_GetPipelineUsersAsAdmin
func (s *Server) getPipelineUsers(pl *pipeline, c *call) (int, any, error) {
	return http.StatusOK, s.list("pipelines/users", wirePipelineUsers(pl)), nil
}

// Pipelines_UpdatePipelineUser, Pipelines_UpdateUserAsAdmin: adds or updates; Admin is the only
// access right.
func (s *Server) putPipelineUser(pl *pipeline, c *call) (int, any, error) {
	var req wirePipeUser
	if err := decodeBody(c.body, &req); err != nil {
		return 0, nil, err
	}
	if req.AccessRight != "" && !strings.EqualFold(req.AccessRight, "Admin") {
		return 0, nil, badRequest("InvalidRequest", "accessRight %q is not supported; pipelines have one access right, Admin", req.AccessRight)
	}
	typ, ok := canonicalPrincipalType(req.PrincipalType)
	if !ok || typ == "None" {
		return 0, nil, badRequest("InvalidRequest", "principalType %q is not supported; use User, Group or App", req.PrincipalType)
	}
	if strings.TrimSpace(req.Identifier) == "" {
		return 0, nil, badRequest("InvalidRequest", "identifier is required")
	}
	who, ok := s.identity.ResolvePrincipal(req.Identifier, typ)
	if !ok {
		return 0, nil, principalNotFound(req.Identifier, typ)
	}
	entry := PipelineUser{Identifier: who.Identifier, PrincipalType: typ}
	if i := pl.user(who.Identifier); i >= 0 {
		pl.users[i] = entry
	} else {
		pl.users = append(pl.users, entry)
	}
	return http.StatusOK, nil, nil
}

// Pipelines_DeletePipelineUser, Pipelines_DeleteUserAsAdmin
func (s *Server) removePipelineUser(pl *pipeline, c *call) (int, any, error) {
	id := c.params["identifier"]
	i := pl.user(id)
	if i < 0 {
		return 0, nil, notFound("Pipeline user", id)
	}
	pl.users = slices.Delete(pl.users, i, i+1)
	return http.StatusOK, nil, nil
}

// Pipelines_GetPipelineStages
func (s *Server) getPipelineStages(pl *pipeline, c *call) (int, any, error) {
	return http.StatusOK, s.list("pipelines/stages", s.wireStages(pl, c, false)), nil
}

// stageOrder parses the {stageOrder} path segment.
func stageOrder(c *call) (int, error) {
	raw := c.params["stageOrder"]
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || n > 2 {
		return 0, badRequest("InvalidRequest", "stage order %q is not valid: pipelines have stages 0 (Development), 1 (Test) and 2 (Production)", raw)
	}
	return n, nil
}

// Pipelines_AssignWorkspace
func (s *Server) assignWorkspace(pl *pipeline, c *call) (int, any, error) {
	order, err := stageOrder(c)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		WorkspaceID string `json:"workspaceId"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return 0, nil, err
	}
	if req.WorkspaceID == "" {
		return 0, nil, badRequest("InvalidRequest", "workspaceId is required")
	}
	if err := s.st.checkIdle(pl, c.now); err != nil {
		return 0, nil, err
	}
	ws := s.st.workspace(req.WorkspaceID)
	if ws == nil || ws.role(c.p) == roleNone {
		return 0, nil, notFound("Workspace", req.WorkspaceID)
	}
	if ws.role(c.p) < roleAdmin {
		return 0, nil, forbidden("assigning workspace %s needs the workspace Admin role", ws.id)
	}
	if cur := pl.stages[order]; cur != "" {
		return 0, nil, badRequest("Alm_InvalidRequest_StageAlreadyAssigned",
			"stage %d (%s) already has workspace %s assigned; unassign it first", order, stageNames[order], cur)
	}
	if other, otherOrder := s.st.pipelineOf(ws.id); other != nil {
		return 0, nil, badRequest("Alm_InvalidRequest_WorkspaceAlreadyAssignedToPipeline",
			"workspace %s is already assigned to stage %d of a pipeline", ws.id, otherOrder)
	}
	if ws.capacityID == "" {
		return 0, nil, badRequest("Alm_InvalidRequest_WorkspaceHasNoCapacity",
			"workspace %s is not on a Premium or Fabric capacity", ws.id)
	}
	pl.stages[order] = ws.id
	return http.StatusOK, nil, nil
}

// Pipelines_UnassignWorkspace
func (s *Server) unassignWorkspace(pl *pipeline, c *call) (int, any, error) {
	order, err := stageOrder(c)
	if err != nil {
		return 0, nil, err
	}
	if err := s.st.checkIdle(pl, c.now); err != nil {
		return 0, nil, err
	}
	if pl.stages[order] == "" {
		return 0, nil, badRequest("Alm_InvalidRequest_StageNotAssigned",
			"stage %d (%s) has no workspace assigned, so there is nothing to unassign", order, stageNames[order])
	}
	pl.unassign(order)
	return http.StatusOK, nil, nil
}

type wireArtifact struct {
	ArtifactID          string `json:"artifactId"`
	ArtifactDisplayName string `json:"artifactDisplayName"`
	SourceArtifactID    string `json:"sourceArtifactId,omitempty"`
	TargetArtifactID    string `json:"targetArtifactId,omitempty"`
	LastDeploymentTime  string `json:"lastDeploymentTime,omitempty"`
}

type wireArtifacts struct {
	Context    string         `json:"@odata.context,omitempty"`
	Datasets   []wireArtifact `json:"datasets"`
	Reports    []wireArtifact `json:"reports"`
	Dashboards []wireArtifact `json:"dashboards"`
	Dataflows  []wireArtifact `json:"dataflows"`
	Datamarts  []wireArtifact `json:"datamarts"`
}

// Pipelines_GetPipelineStageArtifacts: an unassigned stage answers 400 (the service's exact
// answer is undocumented).
func (s *Server) getStageArtifacts(pl *pipeline, c *call) (int, any, error) {
	order, err := stageOrder(c)
	if err != nil {
		return 0, nil, err
	}
	ws := s.st.workspace(pl.stages[order])
	if ws == nil {
		return 0, nil, badRequest("Alm_InvalidRequest_StageNotAssigned", "stage %d (%s) has no workspace assigned", order, stageNames[order])
	}
	if ws.role(c.p) < roleContributor {
		return 0, nil, forbidden("listing the items of stage %d needs the Contributor role or more on workspace %s", order, ws.id)
	}
	// Pairings are shown only to callers who are Contributor or more on the neighbouring workspace.
	canSee := func(o int) bool {
		if o < 0 || o > 2 {
			return false
		}
		n := s.st.workspace(pl.stages[o])
		return n != nil && n.role(c.p) >= roleContributor
	}
	out := wireArtifacts{Context: s.URL + "/v1.0/myorg/$metadata#pipelines/stages/artifacts/$entity"}
	lists := [numKinds]*[]wireArtifact{kindDataflow: &out.Dataflows, kindDatamart: &out.Datamarts,
		kindDataset: &out.Datasets, kindReport: &out.Reports, kindDashboard: &out.Dashboards}
	for _, l := range lists {
		*l = []wireArtifact{}
	}
	for _, it := range ws.items {
		a := wireArtifact{ArtifactID: it.id, ArtifactDisplayName: it.name}
		if order > 0 && canSee(order-1) {
			a.SourceArtifactID = pl.backwardPair(order-1, it.id)
		}
		if order < 2 && canSee(order+1) {
			a.TargetArtifactID = pl.forwardPair(order, it.id)
		}
		if !it.deployedAt.IsZero() {
			a.LastDeploymentTime = formatTimeZ(it.deployedAt)
		}
		*lists[it.kind] = append(*lists[it.kind], a)
	}
	return http.StatusOK, out, nil
}

// The admin pipeline operations: tenant admins see and manage every pipeline.

func (s *Server) requireTenantAdmin(c *call) error {
	for _, id := range s.st.seed.TenantAdmins {
		if c.p.matches(id) {
			return nil
		}
	}
	return notAuthorized("the admin APIs need a Fabric administrator or an app with Tenant.Read.All")
}

// pipelineHandler handles a call about one pipeline, found by userPipeline or adminPipeline.
type pipelineHandler func(s *Server, pl *pipeline, c *call) (int, any, error)

// userPipeline serves h on a pipeline the caller administers.
func userPipeline(h pipelineHandler) handler {
	return func(s *Server, c *call) (int, any, error) {
		pl, err := s.visiblePipeline(c)
		if err != nil {
			return 0, nil, err
		}
		return h(s, pl, c)
	}
}

// adminPipeline serves h on any pipeline, for tenant admins.
func adminPipeline(h pipelineHandler) handler {
	return func(s *Server, c *call) (int, any, error) {
		pl, err := s.findPipelineAsAdmin(c)
		if err != nil {
			return 0, nil, err
		}
		return h(s, pl, c)
	}
}

func (s *Server) findPipelineAsAdmin(c *call) (*pipeline, error) {
	if err := s.requireTenantAdmin(c); err != nil {
		return nil, err
	}
	id := c.params["pipelineId"]
	if pl := s.st.pipeline(id); pl != nil {
		return pl, nil
	}
	return nil, notFound("Pipeline", id)
}

// Pipelines_GetPipelinesAsAdmin: $expand=users,stages; $filter only for orphaned pipelines
// ("not users/any()"), other filters are ignored like the service does; $top, $skip.
func (s *Server) adminGetPipelines(c *call) (int, any, error) {
	if err := s.requireTenantAdmin(c); err != nil {
		return 0, nil, err
	}
	top, skip, err := paging(c, 5000)
	if err != nil {
		return 0, nil, err
	}
	orphaned := strings.ReplaceAll(strings.ToLower(c.query.Get("$filter")), " ", "") == "notusers/any()" ||
		strings.ReplaceAll(strings.ToLower(c.query.Get("$filter")), " ", "") == "(notusers/any())"
	out := []wirePipeline{}
	for _, pl := range s.st.pipelines {
		if orphaned && len(pl.users) > 0 {
			continue
		}
		w := wirePipeline{ID: pl.id, DisplayName: pl.displayName, Description: pl.description}
		if expands(c, "stages") {
			w.Stages = s.wireStages(pl, c, true)
		}
		if expands(c, "users") {
			w.Users = wirePipelineUsers(pl)
		}
		out = append(out, w)
	}
	return http.StatusOK, s.list("pipelines", page(out, top, skip)), nil
}

// withContext adds "@odata.context" to a single entity, as the service does.
func withContext(base, entity string, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return v
	}
	ctx, _ := json.Marshal(base + "/v1.0/myorg/$metadata#" + entity)
	m["@odata.context"] = ctx
	return m
}

// principalType is how role lists name the caller's kind.
func principalType(p *Principal) string {
	if strings.EqualFold(p.Type, "App") {
		return "App"
	}
	return "User"
}

func canonicalPrincipalType(t string) (string, bool) {
	for _, v := range []string{"User", "Group", "App", "None"} {
		if strings.EqualFold(t, v) {
			return v, true
		}
	}
	return "", false
}

// principalNotFound is the emulator's answer for an identifier the tenant does not know; the
// service's code is undocumented.
func principalNotFound(identifier, typ string) error {
	return badRequest("PrincipalNotFound", "no %s with identifier %q exists in the tenant (users are named by UPN, groups and apps by object id)", strings.ToLower(typ), identifier)
}
