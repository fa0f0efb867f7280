// Package taskrun is what every task's main shares: it reads the service connection, signs in
// lazily, builds the Power BI client over the agent's network settings, runs the task's story
// and turns its error into the step's result.
package taskrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/pbi-pipelines/azdo-extension/internal/agent"
	"github.com/pbi-pipelines/azdo-extension/internal/agenthttp"
	"github.com/pbi-pipelines/azdo-extension/internal/auth"
	"github.com/pbi-pipelines/azdo-extension/internal/powerbi"
	"github.com/pbi-pipelines/azdo-extension/internal/resolve"
)

// Version is the extension version, set at build time.
var Version = "dev"

// Task is one run of a task: its agent contract and, once asked for, its Power BI client.
type Task struct {
	Agent *agent.Env
	// Name is the task's name (PowerBIPipelineDeploy, ...), for the User-Agent.
	Name string

	getenv   func(string) string
	readFile func(string) ([]byte, error)
	client   *powerbi.Client
}

// Run runs fn as the task named name and returns the process exit code. It is the one place
// where an error becomes task.logissue + task.complete result=Failed.
func Run(ctx context.Context, name string, getenv func(string) string, stdout io.Writer, fn func(ctx context.Context, t *Task) error) int {
	t := &Task{Agent: agent.New(getenv, stdout), Name: name, getenv: getenv, readFile: os.ReadFile}
	// A cancellation that arrives after fn finished its work does not undo the success.
	return t.Agent.Finish(explain(fn(ctx, t)))
}

// explain adds the next step to the refusals users meet when a principal is not set up for
// Power BI yet. The service's code, message and RequestId stay in the text.
func explain(err error) error {
	var er *powerbi.ErrorResponse
	if !errors.As(err, &er) {
		return err
	}
	var hint string
	switch {
	case er.StatusCode == http.StatusUnauthorized:
		hint = "Power BI refused the signed-in principal. For a service principal, the tenant setting \"Service principals can use Fabric APIs\" (Power BI admin portal, Developer settings) must be enabled for a security group that contains it; changes take up to 15 minutes"
	case er.StatusCode == http.StatusForbidden && strings.EqualFold(er.Code, "TokenExpired"):
		hint = "The access token expired in flight; run the task again"
	case er.StatusCode == http.StatusForbidden:
		hint = "The principal lacks the role this needs: pipeline Admin to change a pipeline, workspace Admin to assign a workspace, Member or Admin on both workspaces to deploy"
	case er.StatusCode == http.StatusNotFound && strings.EqualFold(er.Code, "PowerBIEntityNotFound"):
		hint = "Power BI answers \"not found\" also for what the principal may not see: check that it is an Admin of the pipeline and has a role in the workspaces"
	default:
		return err
	}
	return fmt.Errorf("%w. %s", err, hint)
}

// Connection identifies the service connection a task was given.
type Connection struct {
	Input string // pbiConnection or azureSubscription
	ID    string
}

// ConnectionInput reads the connection inputs: pbiConnection, or azureSubscription when the
// connection type says AzureRM or only that one is set.
func (t *Task) ConnectionInput() (Connection, error) {
	pbi, arm := t.Agent.Input("pbiConnection"), t.Agent.Input("azureSubscription")
	kind := strings.TrimSpace(t.Agent.Input("connectionType"))
	switch {
	case kind != "" && !strings.EqualFold(kind, "PowerBI") && !strings.EqualFold(kind, "AzureRM"):
		return Connection{}, agent.InputErrorf("connectionType", "expected PowerBI or AzureRM, got %q", kind)
	case strings.EqualFold(kind, "AzureRM") && arm != "":
		return Connection{"azureSubscription", arm}, nil
	case strings.EqualFold(kind, "AzureRM"):
		return Connection{}, agent.InputErrorf("azureSubscription", "connectionType is AzureRM, so an Azure Resource Manager service connection is required")
	case pbi != "":
		return Connection{"pbiConnection", pbi}, nil
	case arm != "":
		return Connection{"azureSubscription", arm}, nil
	default:
		return Connection{}, agent.InputErrorf("pbiConnection", "a Power BI service connection (or azureSubscription, an Azure Resource Manager connection) is required")
	}
}

// azureClouds maps an AzureRM connection's environment to the Power BI cloud.
var azureClouds = map[string]string{"azurecloud": "Public", "azurechinacloud": "China"}

// Client signs in (once) and returns the Power BI client. Nothing is sent until the first call.
func (t *Task) Client(ctx context.Context) (*powerbi.Client, error) {
	if t.client != nil {
		return t.client, nil
	}
	conn, err := t.ConnectionInput()
	if err != nil {
		return nil, err
	}
	ep, err := t.Agent.Endpoint(conn.ID)
	if err != nil {
		return nil, fmt.Errorf("input %q: %w", conn.Input, err)
	}
	var cloud auth.Cloud
	if conn.Input == "azureSubscription" {
		env := ep.Data("environment")
		name, ok := azureClouds[strings.ToLower(env)]
		if env == "" {
			name, ok = "Public", true
		}
		if !ok {
			return nil, agent.InputErrorf("azureSubscription", "Azure environment %q has no single Power BI cloud; use a Power BI service connection with the environment set (USGov, USGovHigh, USGovMil)", env)
		}
		cloud, err = auth.CloudFor(name, ep.Data)
	} else {
		cloud, err = auth.CloudFor(ep.Data("environment"), ep.Data)
	}
	if err != nil {
		return nil, fmt.Errorf("input %q: %w", conn.Input, err)
	}
	settings, err := agenthttp.FromEnv(t.getenv)
	if err != nil {
		return nil, err
	}
	base, err := settings.Transport(t.readFile)
	if err != nil {
		return nil, err
	}
	tokens, err := auth.NewTokenSource(auth.Config{
		Scheme:     ep.Scheme,
		EndpointID: ep.ID,
		Endpoint:   ep,
		Getenv:     t.getenv,
		Warn:       t.Agent.Warning,
		Cloud:      cloud,
		// Sign-in requests change nothing, so the transport repeats them on 429, 5xx and lost
		// connections like any GET.
		HTTPClient: &http.Client{Transport: powerbi.NewRetryTransport(base, powerbi.TransportOptions{Logf: t.Agent.Info}), Timeout: 5 * time.Minute},
		Mask:       t.Agent.SetSecret,
	})
	if err != nil {
		return nil, fmt.Errorf("input %q: %w", conn.Input, err)
	}
	apiBase, err := url.Parse(cloud.APIURL + "/v1.0/myorg/")
	if err != nil {
		return nil, err
	}
	rt := powerbi.NewTransport(base, apiBase, tokens, powerbi.TransportOptions{Logf: t.Agent.Info})
	c, err := powerbi.NewClient(&http.Client{Transport: rt}, apiBase.String())
	if err != nil {
		return nil, err
	}
	c.UserAgent = fmt.Sprintf("pbi-pipelines-azdo/%s (%s)", Version, t.Name)
	t.Agent.Info("Power BI: %s cloud, %s, signing in as %s", cloud.Name, cloud.APIURL, tokens.Identity)
	t.client = c
	return c, nil
}

// Nothing says the service already is as asked, so the task changes nothing.
func (t *Task) Nothing(format string, args ...any) {
	t.Agent.Info("Nothing to do: "+format, args...)
}

// IsClientError reports whether err is a definite refusal by the service (4xx other than
// throttling), as opposed to an outcome that is unknown.
func IsClientError(err error) bool {
	var er *powerbi.ErrorResponse
	return errors.As(err, &er) && er.StatusCode >= 400 && er.StatusCode < 500 && er.StatusCode != 408 && er.StatusCode != 429
}

// StageOf returns the pipeline's stage with that order (an empty stage when the service did
// not list it).
func StageOf(p *powerbi.Pipeline, order int) powerbi.PipelineStage {
	for _, s := range p.Stages {
		if s.Order == order {
			return s
		}
	}
	return powerbi.PipelineStage{Order: order}
}

// WorkspaceLabel names a stage's workspace for the log: "name" (id), or the id alone.
func WorkspaceLabel(s powerbi.PipelineStage) string {
	if s.WorkspaceName != "" {
		return fmt.Sprintf("%q (id %s)", s.WorkspaceName, s.WorkspaceID)
	}
	return s.WorkspaceID
}

// Principal is who a user-adding task adds.
type Principal struct {
	Identifier string // UPN for a user, object id for a group or app
	Type       string // User, Group or App
}

// PrincipalInputs reads identifier (alias userUpn) and principalType, and checks that the
// identifier has the shape the type needs.
func PrincipalInputs(in *agent.Env) (Principal, error) {
	id, err := in.RequiredInput("identifier")
	if err != nil {
		return Principal{}, err
	}
	typ := "User"
	switch v := in.Input("principalType"); {
	case v == "" || strings.EqualFold(v, "User"):
	case strings.EqualFold(v, "Group"):
		typ = "Group"
	case strings.EqualFold(v, "App"):
		typ = "App"
	default:
		return Principal{}, agent.InputErrorf("principalType", "expected User, Group or App, got %q", v)
	}
	if typ == "User" && !strings.Contains(id, "@") {
		return Principal{}, agent.InputErrorf("identifier", "principalType is User, so a user principal name such as someone@contoso.com is expected, got %q", resolve.Shorten(id))
	}
	// Entra ID: at most 64 characters before the @ and 48 after it.
	if at := strings.LastIndex(id, "@"); typ == "User" && (at > 64 || len(id)-at-1 > 48 || at == 0 || at == len(id)-1) {
		return Principal{}, agent.InputErrorf("identifier", "%q is not a user principal name: Entra ID allows at most 64 characters before the @ and 48 after it", resolve.Shorten(id))
	}
	if typ != "User" && !resolve.IsID(id) {
		return Principal{}, agent.InputErrorf("identifier", "principalType is %s, so the object id (a GUID) of the %s is expected, got %q", typ, strings.ToLower(typ), resolve.Shorten(id))
	}
	return Principal{Identifier: id, Type: typ}, nil
}
