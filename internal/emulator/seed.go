package emulator

import (
	"encoding/json"
	"fmt"
	"os"
)

// Seed is the emulator's starting state: the tenant's principals and credentials, and the Power BI
// content the tests and the demo start from. It is loaded from a JSON file or built in code.
type Seed struct {
	// TenantID is the Entra tenant the fake sign-in serves (authority path segment).
	TenantID string `json:"tenantId"`
	// Resource is the Power BI resource the fake Entra issues tokens for; the scope asked for
	// must be Resource + "/.default". Default https://analysis.windows.net/powerbi/api.
	Resource string `json:"resource,omitempty"`

	Apps   []App   `json:"apps,omitempty"`
	Users  []User  `json:"users,omitempty"`
	Groups []Group `json:"groups,omitempty"` // security groups usable as principals

	Capacities []Capacity  `json:"capacities,omitempty"`
	Workspaces []Workspace `json:"workspaces,omitempty"`
	Pipelines  []Pipeline  `json:"pipelines,omitempty"`
	Azure      AzureDevOps `json:"azureDevOps,omitempty"`

	// TenantAdmins lists the identifiers (UPN, or an app's object id) allowed to call the admin
	// APIs (/v1.0/myorg/admin/...), as Fabric administrators or apps granted Tenant.ReadWrite.All.
	TenantAdmins []string `json:"tenantAdmins,omitempty"`
}

// App is an app registration with its service principal.
type App struct {
	ClientID    string `json:"clientId"`
	ObjectID    string `json:"objectId"` // the service principal's object id: its Power BI identifier
	DisplayName string `json:"displayName,omitempty"`
	Secret      string `json:"secret,omitempty"`
	// CertificatePEM is the registered certificate (public part) for certificate assertions.
	CertificatePEM string `json:"certificatePem,omitempty"`
	// FederatedCredentials trust OIDC tokens with this issuer and subject (workload identity).
	FederatedCredentials []FederatedCredential `json:"federatedCredentials,omitempty"`
	// ManagedIdentity makes this service principal a managed identity: the emulated managed
	// identity endpoint issues its tokens (user-assigned: chosen by client id, object id or a
	// resource id ending in /<DisplayName>).
	ManagedIdentity bool `json:"managedIdentity,omitempty"`
	// SystemAssigned marks the managed identity the endpoint returns when none is named.
	SystemAssigned bool `json:"systemAssigned,omitempty"`
}

// FederatedCredential is an Entra federated identity credential.
type FederatedCredential struct {
	Issuer   string `json:"issuer"`
	Subject  string `json:"subject"`
	Audience string `json:"audience,omitempty"` // default api://AzureADTokenExchange
}

// User is a work account.
type User struct {
	UPN         string `json:"upn"`
	ObjectID    string `json:"objectId"`
	DisplayName string `json:"displayName,omitempty"`
	Password    string `json:"password,omitempty"`
	MFARequired bool   `json:"mfaRequired,omitempty"`
}

// Group is an Entra security group.
type Group struct {
	ObjectID    string `json:"objectId"`
	DisplayName string `json:"displayName,omitempty"`
}

// Capacity is a Premium/Fabric capacity; Admins lists identifiers allowed to assign workspaces.
type Capacity struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	SKU         string   `json:"sku,omitempty"`
	State       string   `json:"state,omitempty"` // default Active
	Region      string   `json:"region,omitempty"`
	Admins      []string `json:"admins,omitempty"`
}

// Workspace is a Power BI workspace (group) with its items and role assignments.
type Workspace struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	CapacityID string `json:"capacityId,omitempty"`
	// HasApp says the workspace has a published org app (updateAppInTargetWorkspace needs one).
	HasApp     bool            `json:"hasApp,omitempty"`
	Users      []WorkspaceUser `json:"users,omitempty"`
	Datasets   []Item          `json:"datasets,omitempty"`
	Reports    []Item          `json:"reports,omitempty"`
	Dashboards []Item          `json:"dashboards,omitempty"`
	Dataflows  []Item          `json:"dataflows,omitempty"`
	Datamarts  []Item          `json:"datamarts,omitempty"`
}

// WorkspaceUser is a role assignment in a workspace.
type WorkspaceUser struct {
	Identifier           string `json:"identifier"`    // UPN for users, object id for groups and apps
	PrincipalType        string `json:"principalType"` // User, Group, App
	GroupUserAccessRight string `json:"groupUserAccessRight"`
}

// Item is a deployable Power BI item.
type Item struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	DatasetID string `json:"datasetId,omitempty"` // reports: the dataset they use
	// DeployError makes the deployment step of this item fail with this error code.
	DeployError string `json:"deployError,omitempty"`
}

// Pipeline is a deployment pipeline with its three stages and its admins.
type Pipeline struct {
	ID          string          `json:"id"`
	DisplayName string          `json:"displayName"`
	Description string          `json:"description,omitempty"`
	Stages      []PipelineStage `json:"stages,omitempty"`
	Users       []PipelineUser  `json:"users,omitempty"`
}

// PipelineStage assigns a workspace to a stage order (0 Development, 1 Test, 2 Production).
type PipelineStage struct {
	Order       int    `json:"order"`
	WorkspaceID string `json:"workspaceId,omitempty"`
}

// PipelineUser is a pipeline admin.
type PipelineUser struct {
	Identifier    string `json:"identifier"`
	PrincipalType string `json:"principalType"`
}

// AzureDevOps is the organisation whose agent asks the emulated OIDC endpoint for ID tokens.
type AzureDevOps struct {
	OrganizationName string `json:"organizationName,omitempty"` // default "contoso"
	OrganizationID   string `json:"organizationId,omitempty"`
	ProjectName      string `json:"projectName,omitempty"`
	ProjectID        string `json:"projectId,omitempty"`
	// JobToken is the System.AccessToken the OIDC endpoint accepts as bearer.
	JobToken           string              `json:"jobToken,omitempty"`
	ServiceConnections []ServiceConnection `json:"serviceConnections,omitempty"`
}

// ServiceConnection is an Azure DevOps service connection the OIDC endpoint issues tokens for:
// issuer https://vstoken.dev.azure.com/<OrganizationID>, subject sc://<org>/<project>/<Name>.
type ServiceConnection struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Principal is who a bearer token stands for.
type Principal struct {
	Type        string // "App" or "User"
	ObjectID    string
	Identifier  string // UPN for users, object id for apps: how Power BI role lists name them
	DisplayName string
}

// LoadSeed reads a seed JSON file.
func LoadSeed(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Seed
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("seed %s: %w", path, err)
	}
	return &s, nil
}
