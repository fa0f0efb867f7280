package powerbi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// PipelinesService calls the deployment-pipeline operations (pipelines/…).
type PipelinesService service

// Pipeline is a deployment pipeline. Stages is filled only when asked for (Get with
// expandStages).
type Pipeline struct {
	ID          string          `json:"id"`
	DisplayName string          `json:"displayName,omitempty"`
	Description string          `json:"description,omitempty"`
	Stages      []PipelineStage `json:"stages,omitempty"`
}

// PipelineStage is one stage: 0 Development, 1 Test, 2 Production. WorkspaceID is empty for
// an unassigned stage; WorkspaceName also when the caller cannot see the workspace.
type PipelineStage struct {
	Order         int    `json:"order"`
	WorkspaceID   string `json:"workspaceId,omitempty"`
	WorkspaceName string `json:"workspaceName,omitempty"`
}

// Principal types (PrincipalType in the swagger; extensible).
const (
	PrincipalNone  = "None"
	PrincipalUser  = "User"
	PrincipalGroup = "Group"
	PrincipalApp   = "App"
)

// AccessRightAdmin is the only pipeline access right.
const AccessRightAdmin = "Admin"

// PipelineUser is a principal with access to a pipeline. Identifier is the UPN for a User,
// else the object id.
type PipelineUser struct {
	Identifier    string `json:"identifier"`
	PrincipalType string `json:"principalType"`
	AccessRight   string `json:"accessRight,omitempty"`
}

// CreatePipelineRequest is the body of Pipelines_CreatePipeline.
type CreatePipelineRequest struct {
	DisplayName string `json:"displayName"`
	Description string `json:"description,omitempty"`
}

// UpdatePipelineRequest is the body of Pipelines_UpdatePipeline; set at least one field.
type UpdatePipelineRequest struct {
	DisplayName string `json:"displayName,omitempty"`
	Description string `json:"description,omitempty"`
}

// StageArtifacts are the deployable items of one stage's workspace, per type.
type StageArtifacts struct {
	Datasets   []Artifact `json:"datasets,omitempty"`
	Reports    []Artifact `json:"reports,omitempty"`
	Dashboards []Artifact `json:"dashboards,omitempty"`
	Dataflows  []Artifact `json:"dataflows,omitempty"`
	Datamarts  []Artifact `json:"datamarts,omitempty"`
}

// Artifact is an item in a stage. ArtifactID is its id in this stage's workspace; the
// source/target ids are its pairs in the previous/next stage.
type Artifact struct {
	ArtifactID          string `json:"artifactId"`
	ArtifactDisplayName string `json:"artifactDisplayName,omitempty"`
	SourceArtifactID    string `json:"sourceArtifactId,omitempty"`
	TargetArtifactID    string `json:"targetArtifactId,omitempty"`
	LastDeploymentTime  *Time  `json:"lastDeploymentTime,omitempty"`
}

// DeploymentOptions are the deployment's permissions. A flag left false is left out of the
// request: the service reads a missing flag as false.
type DeploymentOptions struct {
	AllowCreateArtifact                    bool `json:"allowCreateArtifact,omitempty"`
	AllowOverwriteArtifact                 bool `json:"allowOverwriteArtifact,omitempty"`
	AllowOverwriteTargetArtifactLabel      bool `json:"allowOverwriteTargetArtifactLabel,omitempty"`
	AllowPurgeData                         bool `json:"allowPurgeData,omitempty"`
	AllowSkipTilesWithMissingPrerequisites bool `json:"allowSkipTilesWithMissingPrerequisites,omitempty"`
	AllowTakeOver                          bool `json:"allowTakeOver,omitempty"`
}

// NewWorkspace asks the service to create the target stage's workspace during the deployment.
// An empty CapacityID lets the service choose.
type NewWorkspace struct {
	Name       string `json:"name,omitempty"`
	CapacityID string `json:"capacityId,omitempty"`
}

// UpdateAppSettings controls the target workspace's app.
type UpdateAppSettings struct {
	UpdateAppInTargetWorkspace bool `json:"updateAppInTargetWorkspace"`
}

// DeployAllRequest is the body of Pipelines_DeployAll (DeployRequestBase in the swagger). The
// target is SourceStageOrder+1, or -1 when IsBackwardDeployment.
type DeployAllRequest struct {
	SourceStageOrder     int                `json:"sourceStageOrder"`
	IsBackwardDeployment bool               `json:"isBackwardDeployment,omitempty"`
	NewWorkspace         *NewWorkspace      `json:"newWorkspace,omitempty"`
	Note                 string             `json:"note,omitempty"`
	Options              *DeploymentOptions `json:"options,omitempty"`
	UpdateAppSettings    *UpdateAppSettings `json:"updateAppSettings,omitempty"`
}

// DeployArtifact names one source-stage item to deploy. Its Options, when set, replace the
// deployment-wide options for that item.
type DeployArtifact struct {
	SourceID string             `json:"sourceId"`
	Options  *DeploymentOptions `json:"options,omitempty"`
}

// SelectiveDeployRequest is the body of Pipelines_SelectiveDeploy: the deploy-all fields plus
// the items, by type.
type SelectiveDeployRequest struct {
	DeployAllRequest
	Datasets   []DeployArtifact `json:"datasets,omitempty"`
	Reports    []DeployArtifact `json:"reports,omitempty"`
	Dashboards []DeployArtifact `json:"dashboards,omitempty"`
	Dataflows  []DeployArtifact `json:"dataflows,omitempty"`
	Datamarts  []DeployArtifact `json:"datamarts,omitempty"`
}

// Operation statuses (PipelineOperationStatus; extensible, so expect others).
const (
	StatusNotStarted = "NotStarted"
	StatusExecuting  = "Executing"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
)

// PipelineOperation is a deployment. ExecutionPlan is filled only by GetOperation.
type PipelineOperation struct {
	ID                           string           `json:"id"`
	Type                         string           `json:"type,omitempty"`
	Status                       string           `json:"status"`
	LastUpdatedTime              *Time            `json:"lastUpdatedTime,omitempty"`
	ExecutionStartTime           *Time            `json:"executionStartTime,omitempty"`
	ExecutionEndTime             *Time            `json:"executionEndTime,omitempty"`
	SourceStageOrder             int              `json:"sourceStageOrder"`
	TargetStageOrder             int              `json:"targetStageOrder"`
	Note                         *OperationNote   `json:"note,omitempty"`
	PerformedBy                  *OperationUser   `json:"performedBy,omitempty"`
	ExecutionPlan                *ExecutionPlan   `json:"executionPlan,omitempty"`
	PreDeploymentDiffInformation *DiffInformation `json:"preDeploymentDiffInformation,omitempty"`
}

// Done reports whether the operation has ended (Succeeded or Failed). An unknown status is
// not done: the enum is extensible, and the caller bounds the wait.
func (op *PipelineOperation) Done() bool {
	return op.Status == StatusSucceeded || op.Status == StatusFailed
}

// OperationNote is the deployment note as stored (possibly truncated).
type OperationNote struct {
	Content     string `json:"content"`
	IsTruncated bool   `json:"isTruncated"`
}

// OperationUser is who started the deployment. Note the service's casing of
// principalObjectID.
type OperationUser struct {
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	PrincipalObjectID string `json:"principalObjectID,omitempty"`
	PrincipalType     string `json:"principalType"`
}

// DiffInformation counts the deployed items by how they compared with the target beforehand.
type DiffInformation struct {
	NewArtifactsCount          int `json:"newArtifactsCount"`
	DifferentArtifactsCount    int `json:"differentArtifactsCount"`
	NoDifferenceArtifactsCount int `json:"noDifferenceArtifactsCount"`
}

// ExecutionPlan is the deployment's steps, one per item.
type ExecutionPlan struct {
	Steps []ExecutionStep `json:"steps"`
}

// ExecutionStep is one item's deployment; Error is set when it failed.
type ExecutionStep struct {
	Index                  int              `json:"index"`
	Type                   string           `json:"type"`
	Status                 string           `json:"status"`
	LastUpdatedTime        *Time            `json:"lastUpdatedTime,omitempty"`
	PreDeploymentDiffState string           `json:"preDeploymentDiffState,omitempty"`
	SourceAndTarget        *SourceAndTarget `json:"sourceAndTarget,omitempty"`
	Error                  *DeploymentError `json:"error,omitempty"`
}

// SourceAndTarget names a step's item in both stages; Target is set only when an existing
// item was overwritten.
type SourceAndTarget struct {
	Source            string `json:"source"`
	SourceDisplayName string `json:"sourceDisplayName,omitempty"`
	Target            string `json:"target,omitempty"`
	TargetDisplayName string `json:"targetDisplayName,omitempty"`
	Type              string `json:"type,omitempty"`
}

// DeploymentError is why a step failed.
type DeploymentError struct {
	ErrorCode    string `json:"errorCode,omitempty"`
	ErrorDetails string `json:"errorDetails,omitempty"`
}

// AdminPipeline is a pipeline as the admin list returns it, with users when expanded.
type AdminPipeline struct {
	Pipeline
	Users []PipelineUser `json:"users,omitempty"`
}

// AdminPipelineListOptions are the admin list's OData options; zero values are not sent.
type AdminPipelineListOptions struct {
	// Expand is a comma-separated list of "users" and "stages".
	Expand string
	// Filter supports only orphaned pipelines: "(not users/any())".
	Filter string
	Top    int
	Skip   int
}

// List returns the pipelines the caller can access, without stages.
//
// Power BI REST operation: Pipelines_GetPipelines
func (s *PipelinesService) List(ctx context.Context) ([]Pipeline, *Response, error) {
	return list[Pipeline](ctx, s.client, "pipelines")
}

// Get returns a pipeline, with its stages when expandStages is set.
//
// Power BI REST operation: Pipelines_GetPipeline
func (s *PipelinesService) Get(ctx context.Context, pipelineID string, expandStages bool) (*Pipeline, *Response, error) {
	p, err := pathf("pipelines/%s", pipelineID)
	if err != nil {
		return nil, nil, err
	}
	var q query
	if expandStages {
		q = q.add("$expand", "stages")
	}
	return call[Pipeline](ctx, s.client, http.MethodGet, q.encode(p), nil)
}

// Create creates a (three-stage) pipeline.
//
// Power BI REST operation: Pipelines_CreatePipeline
func (s *PipelinesService) Create(ctx context.Context, r *CreatePipelineRequest) (*Pipeline, *Response, error) {
	return call[Pipeline](ctx, s.client, http.MethodPost, "pipelines", r)
}

// Update changes a pipeline's display name and/or description.
//
// Power BI REST operation: Pipelines_UpdatePipeline
func (s *PipelinesService) Update(ctx context.Context, pipelineID string, r *UpdatePipelineRequest) (*Pipeline, *Response, error) {
	p, err := pathf("pipelines/%s", pipelineID)
	if err != nil {
		return nil, nil, err
	}
	return call[Pipeline](ctx, s.client, http.MethodPatch, p, r)
}

// Delete deletes a pipeline; it fails while a deployment is running.
//
// Power BI REST operation: Pipelines_DeletePipeline
func (s *PipelinesService) Delete(ctx context.Context, pipelineID string) (*Response, error) {
	p, err := pathf("pipelines/%s", pipelineID)
	if err != nil {
		return nil, err
	}
	return send(ctx, s.client, http.MethodDelete, p, nil)
}

// ListUsers returns the principals with access to a pipeline.
//
// Power BI REST operation: Pipelines_GetPipelineUsers
func (s *PipelinesService) ListUsers(ctx context.Context, pipelineID string) ([]PipelineUser, *Response, error) {
	p, err := pathf("pipelines/%s/users", pipelineID)
	if err != nil {
		return nil, nil, err
	}
	return list[PipelineUser](ctx, s.client, p)
}

// AddUser grants a principal access to a pipeline (or updates it).
//
// Power BI REST operation: Pipelines_UpdatePipelineUser
func (s *PipelinesService) AddUser(ctx context.Context, pipelineID string, u *PipelineUser) (*Response, error) {
	p, err := pathf("pipelines/%s/users", pipelineID)
	if err != nil {
		return nil, err
	}
	return send(ctx, s.client, http.MethodPost, p, u)
}

// DeleteUser removes a principal's access; identifier is a UPN or an object id.
//
// Power BI REST operation: Pipelines_DeletePipelineUser
func (s *PipelinesService) DeleteUser(ctx context.Context, pipelineID, identifier string) (*Response, error) {
	p, err := pathf("pipelines/%s/users/%s", pipelineID, identifier)
	if err != nil {
		return nil, err
	}
	return send(ctx, s.client, http.MethodDelete, p, nil)
}

// ListStages returns a pipeline's stages and their workspaces.
//
// Power BI REST operation: Pipelines_GetPipelineStages
func (s *PipelinesService) ListStages(ctx context.Context, pipelineID string) ([]PipelineStage, *Response, error) {
	p, err := pathf("pipelines/%s/stages", pipelineID)
	if err != nil {
		return nil, nil, err
	}
	return list[PipelineStage](ctx, s.client, p)
}

// AssignWorkspace assigns a workspace to an empty stage.
//
// Power BI REST operation: Pipelines_AssignWorkspace
func (s *PipelinesService) AssignWorkspace(ctx context.Context, pipelineID string, stageOrder int, workspaceID string) (*Response, error) {
	p, err := pathf("pipelines/%s/stages/%s/assignWorkspace", pipelineID, strconv.Itoa(stageOrder))
	if err != nil {
		return nil, err
	}
	body := struct {
		WorkspaceID string `json:"workspaceId"`
	}{workspaceID}
	return send(ctx, s.client, http.MethodPost, p, body)
}

// UnassignWorkspace empties a stage.
//
// Power BI REST operation: Pipelines_UnassignWorkspace
func (s *PipelinesService) UnassignWorkspace(ctx context.Context, pipelineID string, stageOrder int) (*Response, error) {
	p, err := pathf("pipelines/%s/stages/%s/unassignWorkspace", pipelineID, strconv.Itoa(stageOrder))
	if err != nil {
		return nil, err
	}
	return send(ctx, s.client, http.MethodPost, p, nil)
}

// ListStageArtifacts returns the deployable items in a stage's workspace.
//
// Power BI REST operation: Pipelines_GetPipelineStageArtifacts
func (s *PipelinesService) ListStageArtifacts(ctx context.Context, pipelineID string, stageOrder int) (*StageArtifacts, *Response, error) {
	p, err := pathf("pipelines/%s/stages/%s/artifacts", pipelineID, strconv.Itoa(stageOrder))
	if err != nil {
		return nil, nil, err
	}
	return call[StageArtifacts](ctx, s.client, http.MethodGet, p, nil)
}

// ListOperations returns the (up to 20) latest deployments, without execution plans.
//
// Power BI REST operation: Pipelines_GetPipelineOperations
func (s *PipelinesService) ListOperations(ctx context.Context, pipelineID string) ([]PipelineOperation, *Response, error) {
	p, err := pathf("pipelines/%s/operations", pipelineID)
	if err != nil {
		return nil, nil, err
	}
	return list[PipelineOperation](ctx, s.client, p)
}

// GetOperation returns one deployment with its execution plan; poll it until Done.
//
// Power BI REST operation: Pipelines_GetPipelineOperation
func (s *PipelinesService) GetOperation(ctx context.Context, pipelineID, operationID string) (*PipelineOperation, *Response, error) {
	p, err := pathf("pipelines/%s/operations/%s", pipelineID, operationID)
	if err != nil {
		return nil, nil, err
	}
	return call[PipelineOperation](ctx, s.client, http.MethodGet, p, nil)
}

// DeployAll starts deploying every item of the source stage. The service answers 202 with the
// new operation, to be polled with GetOperation.
//
// Power BI REST operation: Pipelines_DeployAll
func (s *PipelinesService) DeployAll(ctx context.Context, pipelineID string, r *DeployAllRequest) (*PipelineOperation, *Response, error) {
	return s.deploy(ctx, "pipelines/%s/deployAll", pipelineID, r)
}

// SelectiveDeploy starts deploying the listed source-stage items (POST pipelines/{id}/deploy).
//
// Power BI REST operation: Pipelines_SelectiveDeploy
func (s *PipelinesService) SelectiveDeploy(ctx context.Context, pipelineID string, r *SelectiveDeployRequest) (*PipelineOperation, *Response, error) {
	return s.deploy(ctx, "pipelines/%s/deploy", pipelineID, r)
}

// errNoOperationID is returned when a deploy's answer names no operation to poll.
var errNoOperationID = errors.New("powerbi: deploy response carried no operation id")

func (s *PipelinesService) deploy(ctx context.Context, format, pipelineID string, body any) (*PipelineOperation, *Response, error) {
	p, err := pathf(format, pipelineID)
	if err != nil {
		return nil, nil, err
	}
	raw, resp, err := call[json.RawMessage](ctx, s.client, http.MethodPost, p, body)
	if err != nil {
		return nil, resp, err
	}
	op, err := decodeOperation(*raw)
	if err != nil {
		return nil, resp, err
	}
	return op, resp, nil
}

// decodeOperation reads the deploy answer: one PipelineOperation per the swagger and the C#
// SDK, or {"value":[op]} as the docs' example shows, which costs nothing to accept.
func decodeOperation(raw json.RawMessage) (*PipelineOperation, error) {
	var op PipelineOperation
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &op); err != nil {
			return nil, err
		}
	}
	if op.ID == "" {
		var l listResponse[PipelineOperation]
		if json.Unmarshal(raw, &l) == nil && len(l.Value) == 1 {
			op = l.Value[0]
		}
	}
	if op.ID == "" {
		return nil, errNoOperationID
	}
	return &op, nil
}

// AdminList returns the organisation's pipelines (tenant admins; 200 requests per hour).
//
// Power BI REST operation: Pipelines_GetPipelinesAsAdmin
func (s *PipelinesService) AdminList(ctx context.Context, opts *AdminPipelineListOptions) ([]AdminPipeline, *Response, error) {
	var q query
	if opts != nil {
		if opts.Expand != "" {
			q = q.add("$expand", opts.Expand)
		}
		if opts.Filter != "" {
			q = q.add("$filter", opts.Filter)
		}
		if opts.Top > 0 {
			q = q.add("$top", strconv.Itoa(opts.Top))
		}
		if opts.Skip > 0 {
			q = q.add("$skip", strconv.Itoa(opts.Skip))
		}
	}
	return list[AdminPipeline](ctx, s.client, q.encode("admin/pipelines"))
}

// AdminListUsers returns any pipeline's principals (tenant admins).
//
// Power BI REST operation: Pipelines_GetPipelineUsersAsAdmin
func (s *PipelinesService) AdminListUsers(ctx context.Context, pipelineID string) ([]PipelineUser, *Response, error) {
	p, err := pathf("admin/pipelines/%s/users", pipelineID)
	if err != nil {
		return nil, nil, err
	}
	return list[PipelineUser](ctx, s.client, p)
}

// AdminAddUser grants a principal access to any pipeline (tenant admins).
//
// Power BI REST operation: Pipelines_UpdateUserAsAdmin
func (s *PipelinesService) AdminAddUser(ctx context.Context, pipelineID string, u *PipelineUser) (*Response, error) {
	p, err := pathf("admin/pipelines/%s/users", pipelineID)
	if err != nil {
		return nil, err
	}
	return send(ctx, s.client, http.MethodPost, p, u)
}

// AdminDeleteUser removes a principal from any pipeline (tenant admins).
//
// Power BI REST operation: Pipelines_DeleteUserAsAdmin
func (s *PipelinesService) AdminDeleteUser(ctx context.Context, pipelineID, identifier string) (*Response, error) {
	p, err := pathf("admin/pipelines/%s/users/%s", pipelineID, identifier)
	if err != nil {
		return nil, err
	}
	return send(ctx, s.client, http.MethodDelete, p, nil)
}
