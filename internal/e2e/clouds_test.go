package e2e_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/agentsim"
	"github.com/pbi-pipelines/azdo-extension/internal/auth"
	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
	"github.com/pbi-pipelines/azdo-extension/internal/proxytest"
	"github.com/pbi-pipelines/azdo-extension/internal/swaggertest"
)

// The agent's proxy credentials. The password is a secret variable: it must never be printed.
const (
	cloudProxyUser     = `CONTOSO\build-agent`
	cloudProxyPassword = "Pr0xy-Pa55w0rd-never-printed"
)

// cloudRig is a harness whose emulator also answers as a cloud's hosts, and an authenticating
// proxy that tunnels every CONNECT to that emulator: the task resolves real cloud names, and
// the proxy's record shows which of them it asked for.
type cloudRig struct {
	h     *harness.Harness
	proxy *proxytest.Proxy
}

func startCloudRig(t *testing.T, seed *emulator.Seed, hosts ...string) *cloudRig {
	t.Helper()
	h, err := harness.Start(harness.Options{
		Dist:           dist(t),
		Seed:           seed,
		DeployDuration: 600 * time.Millisecond,
		Validate:       swaggertest.Validator(t),
		TempDir:        t.TempDir(),
		Hosts:          hosts,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.Empty(t, h.Emulator.ValidationErrors(), "requests the swagger does not allow")
		h.Close()
	})
	emulatorAddr := strings.TrimPrefix(h.Emulator.URL, "https://")
	p, err := proxytest.Start(proxytest.Options{
		Username: cloudProxyUser,
		Password: cloudProxyPassword,
		Dial:     func(string) string { return emulatorAddr },
		Logf:     t.Logf,
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return &cloudRig{h: h, proxy: p}
}

// run runs a step through the proxy, as an agent configured with one runs it: ep nil keeps the
// harness's connection; extra adds agent variables.
func (r *cloudRig) run(t *testing.T, ep *agentsim.Endpoint, folder string, inputs, extra map[string]string) *harness.Result {
	t.Helper()
	vars := map[string]string{"Agent.ProxyUrl": r.proxy.URL, "Agent.ProxyUsername": cloudProxyUser}
	for k, v := range extra {
		vars[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := r.h.Run(ctx, harness.Step{
		Folder:    folder,
		Inputs:    inputs,
		Endpoint:  ep,
		Variables: vars,
		Secrets:   map[string]string{"Agent.ProxyPassword": cloudProxyPassword},
	})
	require.NoError(t, err)
	t.Logf("%s: %s\n%s", res.Task.Name, res.Run.Result, strings.Join(res.Run.Log, "\n"))
	assert.NotContains(t, string(res.Raw), cloudProxyPassword, "the proxy password leaked into the task's output")
	return res
}

// inCloud is ep with its data reduced to just an environment, as a connection to a named
// cloud has it (no apiUrl, authorityHost or resource).
func inCloud(ep agentsim.Endpoint, environment string) *agentsim.Endpoint {
	ep.Data = map[string]string{"environment": environment}
	return &ep
}

// azureDevOpsVars moves the agent's Azure DevOps URLs (the OIDC token endpoint of workload
// identity federation) from the emulator's address to dev.azure.com, which the proxy tunnels to
// the same emulator, so that request is seen by name too.
func azureDevOpsVars(h *harness.Harness) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"System.CollectionUri", "System.TeamFoundationCollectionUri", "System.OidcRequestUri"} {
		out[k] = strings.Replace(h.Variables[k], h.Emulator.URL, "https://"+azureDevOpsHost, 1)
	}
	return out
}

const azureDevOpsHost = "dev.azure.com"

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return u.Hostname()
}

// tokensIssued counts the successful token requests the fake Entra answered.
func tokensIssued(h *harness.Harness) int {
	n := 0
	for _, r := range h.Emulator.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/oauth2/v2.0/token") && r.Status == 200 {
			n++
		}
	}
	return n
}

// TestCloudsSignInAndCallThroughProxy proves, per national cloud, that a task signs in at that
// cloud's authority for that cloud's scope and calls that cloud's API, all through the agent's
// authenticating proxy: with a client secret, and with workload identity federation, whose OIDC
// token request to Azure DevOps goes through the proxy too.
func TestCloudsSignInAndCallThroughProxy(t *testing.T) {
	t.Parallel()
	for _, env := range []string{"Public", "USGov", "USGovHigh", "USGovMil", "China"} {
		for _, scheme := range []string{"ServicePrincipal", "WorkloadIdentityFederation"} {
			t.Run(env+"/"+scheme, func(t *testing.T) {
				t.Parallel()
				cloud, err := auth.CloudFor(env, nil)
				require.NoError(t, err)
				authority, api := hostOf(t, cloud.AuthorityHost), hostOf(t, cloud.APIURL)
				seed := emulator.DemoSeed()
				// The fake Entra knows only this cloud's Power BI resource: asking for any other
				// scope fails with AADSTS500011.
				seed.Resource = strings.TrimSuffix(cloud.Scope, "/.default")
				rig := startCloudRig(t, seed, authority, api, azureDevOpsHost)
				require.Equal(t, seed.Resource, rig.h.Emulator.Resource())
				wantHosts := []string{authority, api}
				ep, extra := inCloud(rig.h.SecretEndpoint(), env), map[string]string(nil)
				if scheme == "WorkloadIdentityFederation" {
					ep, extra = inCloud(rig.h.FederatedEndpoint(), env), azureDevOpsVars(rig.h)
					wantHosts = append(wantHosts, azureDevOpsHost)
				}

				res := rig.run(t, ep, "create-pipeline", map[string]string{"displayName": "Sales " + env}, extra)
				succeeded(t, res)
				id := res.Run.Outputs["pipelineId"]
				require.NotEmpty(t, id)
				assert.Contains(t, log(res), cloud.Name+" cloud, "+cloud.APIURL)
				succeeded(t, rig.run(t, ep, "delete-pipeline", map[string]string{"pipeline": id}, extra))
				assert.Empty(t, rig.h.Emulator.Snapshot().Pipelines)

				assert.ElementsMatch(t, wantHosts, rig.proxy.Hosts(), "the hosts the tasks contacted")
				for _, r := range rig.proxy.Requests() {
					assert.Equal(t, "CONNECT", r.Method, "https only, through tunnels")
					assert.True(t, strings.HasSuffix(r.Target, ":443"), r.Target)
					assert.Equal(t, 200, r.Status, "the proxy accepted the agent's credentials")
				}
				assert.Equal(t, 2, tokensIssued(rig.h), "each task signed in once for %s", cloud.Scope)
				app := seed.Apps[0]
				var apiCalls int
				for _, r := range rig.h.Emulator.Requests() {
					if strings.HasPrefix(strings.ToLower(r.Path), "/v1.0/myorg/") {
						apiCalls++
						assert.Equal(t, app.ObjectID, r.Principal, "%s %s was made with the issued token", r.Method, r.Path)
					}
				}
				assert.Positive(t, apiCalls)
			})
		}
	}
}

// TestCloudScopeMismatchFails: a China connection against a tenant that knows only the Public
// Power BI resource asks for China's scope, which Entra refuses.
func TestCloudScopeMismatchFails(t *testing.T) {
	t.Parallel()
	china, err := auth.CloudFor("China", nil)
	require.NoError(t, err)
	public, err := auth.CloudFor("Public", nil)
	require.NoError(t, err)
	seed := emulator.DemoSeed()
	seed.Resource = strings.TrimSuffix(public.Scope, "/.default")
	authority := hostOf(t, china.AuthorityHost)
	rig := startCloudRig(t, seed, authority, hostOf(t, china.APIURL))

	res := rig.run(t, inCloud(rig.h.SecretEndpoint(), "China"), "delete-pipeline", map[string]string{"pipeline": "Sales"}, nil)
	failed(t, res, "AADSTS500011", "https://analysis.chinacloudapi.cn/powerbi/api")
	assert.Equal(t, []string{authority}, rig.proxy.Hosts(), "no API call without a token")
	assert.Zero(t, tokensIssued(rig.h))
}

// TestCloudProxyBypass: loopback hosts are reached directly whatever the bypass list says, as
// the agent's own proxy does (a managed identity endpoint on localhost must not go to the
// proxy); the bypass list itself is covered host by host in internal/agenthttp.
func TestCloudProxyBypass(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		bypass    string
		wantHosts []string
	}{
		{"bypassed", `["^127\\.0\\.0\\.1(:\\d+)?$"]`, nil},
		{"bypass list names other hosts", `["\\.contoso\\.com$"]`, nil},
		{"no bypass list", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rig := startCloudRig(t, emulator.DemoSeed())
			ep := rig.h.SecretEndpoint() // Custom environment: the emulator on 127.0.0.1
			extra := map[string]string{}
			if c.bypass != "" {
				extra["Agent.ProxyBypassList"] = c.bypass
			}
			res := rig.run(t, &ep, "create-pipeline", map[string]string{"displayName": "Bypass"}, extra)
			succeeded(t, res)
			assert.Equal(t, c.wantHosts, rig.proxy.Hosts())
			assert.Equal(t, 1, tokensIssued(rig.h))
		})
	}
}

// TestAzureRMConnectionSignsIn reuses an Azure Resource Manager connection (workload identity
// federation, Azure cloud) instead of a Power BI one: same exchange, that connection's id.
func TestAzureRMConnectionSignsIn(t *testing.T) {
	t.Parallel()
	cloud, err := auth.CloudFor("Public", nil)
	require.NoError(t, err)
	seed := emulator.DemoSeed()
	seed.Resource = strings.TrimSuffix(cloud.Scope, "/.default")
	rig := startCloudRig(t, seed, hostOf(t, cloud.AuthorityHost), hostOf(t, cloud.APIURL), azureDevOpsHost)
	arm := rig.h.FederatedEndpoint()
	arm.URL = "https://management.azure.com/"
	arm.Data = map[string]string{"environment": "AzureCloud", "subscriptionId": "00000000-0000-4000-8000-0000000000aa"}
	inputs := map[string]string{"connectionType": "AzureRM", "azureSubscription": arm.ID, "displayName": "Via AzureRM"}
	res := rig.run(t, &arm, "create-pipeline", inputs, azureDevOpsVars(rig.h))
	succeeded(t, res)
	assert.Contains(t, log(res), "Public cloud, https://api.powerbi.com")
	assert.Len(t, rig.h.Emulator.Snapshot().Pipelines, 1)

	arm.Data["environment"] = "AzureUSGovernment"
	res = rig.run(t, &arm, "create-pipeline", inputs, azureDevOpsVars(rig.h))
	failed(t, res, `input "azureSubscription"`, "AzureUSGovernment", "USGovHigh")
}
