package e2e_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/agentsim"
	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
	"github.com/pbi-pipelines/azdo-extension/internal/harness"
	"github.com/pbi-pipelines/azdo-extension/internal/swaggertest"
)

const (
	certAppID      = "ce47a990-0000-4000-8000-000000000001"
	miSystemID     = "3a1d0000-0000-4000-8000-000000000001"
	miUserID       = "3a1d0000-0000-4000-8000-000000000003"
	mfaUser        = "mfa@contoso.com"
	mfaPassword    = "mfa-user-password-42"
	otherConnID    = "0d9a0000-0000-4000-8000-0000000000ff"
	wrongSecret    = "wrong-secret-value-123"
	wrongPassword  = "wrong-password-value-456"
	otherKeyMarker = "other"
)

// keyPair is a certificate with its key, as PEM in the forms a connection may hold.
type keyPair struct {
	certPEM, pkcs1PEM, pkcs8PEM string
}

func newKeyPair(t *testing.T, cn string) keyPair {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return keyPair{
		certPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		pkcs1PEM: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
		pkcs8PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})),
	}
}

// authSeed is the demo seed plus a principal per scheme.
func authSeed(cert keyPair) *emulator.Seed {
	seed := emulator.DemoSeed()
	seed.Apps = append(seed.Apps,
		emulator.App{ClientID: certAppID, ObjectID: "ce47a990-0000-4000-8000-000000000002", DisplayName: "cert-app", CertificatePEM: cert.certPEM},
		emulator.App{ClientID: miSystemID, ObjectID: "3a1d0000-0000-4000-8000-000000000002", DisplayName: "managed-identity-system", ManagedIdentity: true, SystemAssigned: true},
		emulator.App{ClientID: miUserID, ObjectID: "3a1d0000-0000-4000-8000-000000000004", DisplayName: "managed-identity-user", ManagedIdentity: true},
	)
	seed.Users = append(seed.Users, emulator.User{UPN: mfaUser, ObjectID: "a11ce000-0000-4000-8000-000000000009", Password: mfaPassword, MFARequired: true})
	seed.Azure.ServiceConnections = append(seed.Azure.ServiceConnections, emulator.ServiceConnection{ID: otherConnID, Name: "not-federated"})
	return seed
}

type scheme struct {
	name     string
	endpoint func(h *harness.Harness) agentsim.Endpoint
	vars     map[string]string // step variables (override the harness's)
	result   string            // expected result
	wants    []string          // expected in the error issues
}

func schemes(cert, other keyPair) []scheme {
	fed := func(h *harness.Harness) agentsim.Endpoint { return h.FederatedEndpoint() }
	return []scheme{
		{name: "workload identity federation", endpoint: fed, result: "Succeeded"},
		{name: "workload identity federation, Distributed Task route", endpoint: fed, vars: map[string]string{"System.OidcRequestUri": ""}, result: "Succeeded"},
		{name: "client secret", endpoint: func(h *harness.Harness) agentsim.Endpoint { return h.SecretEndpoint() }, result: "Succeeded"},
		{name: "certificate PKCS#1", endpoint: func(h *harness.Harness) agentsim.Endpoint {
			return h.CertificateEndpoint(certAppID, cert.certPEM+cert.pkcs1PEM, false)
		}, result: "Succeeded"},
		{name: "certificate PKCS#8 with x5c", endpoint: func(h *harness.Harness) agentsim.Endpoint {
			return h.CertificateEndpoint(certAppID, cert.pkcs8PEM+cert.certPEM, true)
		}, result: "Succeeded"},
		{name: "managed identity, system-assigned", endpoint: func(h *harness.Harness) agentsim.Endpoint { return h.ManagedIdentityEndpoint("") }, result: "Succeeded"},
		{name: "managed identity, user-assigned", endpoint: func(h *harness.Harness) agentsim.Endpoint { return h.ManagedIdentityEndpoint(miUserID) }, result: "Succeeded"},
		{name: "username and password", endpoint: func(h *harness.Harness) agentsim.Endpoint {
			return h.PasswordEndpoint(emulator.DemoUserUPN, emulator.DemoUserPassword)
		}, result: "SucceededWithIssues"},

		{name: "wrong client secret", endpoint: func(h *harness.Harness) agentsim.Endpoint {
			ep := h.SecretEndpoint()
			ep.Params["serviceprincipalkey"] = wrongSecret
			return ep
		}, result: "Failed", wants: []string{"AADSTS7000215", "create a new secret"}},
		{name: "app not in tenant", endpoint: func(h *harness.Harness) agentsim.Endpoint {
			ep := h.SecretEndpoint()
			ep.Params["serviceprincipalid"] = "00000000-0000-4000-8000-00000000dead"
			return ep
		}, result: "Failed", wants: []string{"AADSTS700016", "check the application (client) ID"}},
		{name: "no federated credential", endpoint: func(h *harness.Harness) agentsim.Endpoint {
			ep := h.FederatedEndpoint()
			ep.ID = otherConnID
			return ep
		}, result: "Failed", wants: []string{"AADSTS70021", "sc://contoso/analytics/not-federated", "https://vstoken.dev.azure.com/" + emulator.DemoOrganizationID}},
		{name: "unregistered certificate", endpoint: func(h *harness.Harness) agentsim.Endpoint {
			return h.CertificateEndpoint(certAppID, other.certPEM+other.pkcs8PEM, false)
		}, result: "Failed", wants: []string{"AADSTS700027", "upload the certificate"}},
		{name: "encrypted key", endpoint: func(h *harness.Harness) agentsim.Endpoint {
			return h.CertificateEndpoint(certAppID, cert.certPEM+"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", false)
		}, result: "Failed", wants: []string{"servicePrincipalCertificate", "encrypted"}},
		{name: "wrong password", endpoint: func(h *harness.Harness) agentsim.Endpoint {
			return h.PasswordEndpoint(emulator.DemoUserUPN, wrongPassword)
		}, result: "Failed", wants: []string{"AADSTS50126"}},
		{name: "password with MFA", endpoint: func(h *harness.Harness) agentsim.Endpoint { return h.PasswordEndpoint(mfaUser, mfaPassword) },
			result: "Failed", wants: []string{"AADSTS50076", "multi-factor"}},
		{name: "unknown managed identity", endpoint: func(h *harness.Harness) agentsim.Endpoint {
			return h.ManagedIdentityEndpoint("3a1d0000-0000-4000-8000-0000000000ee")
		}, result: "Failed", wants: []string{"managed identity"}},
	}
}

// TestEverySchemeSignsInAndLeaksNothing signs in with every scheme — successes and failures
// — with System.Debug on and the emulator throttling the first call, and then searches the
// tasks' raw output for every secret involved: client secrets, passwords, key material, the
// job token, and every token the emulator issued.
func TestEverySchemeSignsInAndLeaksNothing(t *testing.T) {
	t.Parallel()
	cert, other := newKeyPair(t, "cert-app"), newKeyPair(t, otherKeyMarker)
	seed := authSeed(cert)
	h, err := harness.Start(harness.Options{Dist: dist(t), Seed: seed, Validate: swaggertest.Validator(t), TempDir: t.TempDir(), Debug: true})
	require.NoError(t, err)
	defer h.Close()

	var raw strings.Builder
	for _, s := range schemes(cert, other) {
		t.Run(s.name, func(t *testing.T) {
			h.Emulator.InjectFault(emulator.Fault{Method: "GET", Path: `/v1\.0/myorg/pipelines$`, Status: 429, RetryAfter: 1, Times: 1})
			defer h.Emulator.ClearFaults()
			ep := s.endpoint(h)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := h.Run(ctx, harness.Step{Folder: "delete-pipeline", Endpoint: &ep, Variables: s.vars,
				Inputs: map[string]string{"pipeline": "Nothing here", "ifMissing": "Succeed"}})
			require.NoError(t, err)
			raw.Write(res.Raw)
			t.Logf("%s\n%s", res.Run.Result, strings.Join(res.Run.Log, "\n"))
			require.Equal(t, s.result, res.Run.Result)
			var issues []string
			for _, is := range res.Run.Issues {
				issues = append(issues, is.Message)
			}
			for _, w := range s.wants {
				assert.Contains(t, strings.Join(issues, "\n"), w)
			}
			if s.result == "SucceededWithIssues" {
				assert.Contains(t, strings.Join(issues, "\n"), "multi-factor authentication")
			}
		})
	}

	secrets := []string{emulator.DemoAppSecret, wrongSecret, emulator.DemoUserPassword, wrongPassword, mfaPassword, seed.Azure.JobToken}
	for _, k := range []string{cert.pkcs1PEM, cert.pkcs8PEM, other.pkcs8PEM} {
		// Any line of the key's base64 body would be a leak.
		lines := strings.Split(k, "\n")
		secrets = append(secrets, lines[1], lines[len(lines)-3])
	}
	issued := h.Emulator.IssuedTokens()
	require.NotEmpty(t, issued)
	secrets = append(secrets, issued...)
	// The task.setsecret commands carry the tokens to the agent's masker: that is the one
	// place a token may appear.
	var kept []string
	masked := 0
	for _, line := range strings.Split(raw.String(), "\n") {
		if strings.HasPrefix(line, "##vso[task.setsecret]") {
			masked++
			continue
		}
		kept = append(kept, line)
	}
	assert.Positive(t, masked)
	out := strings.Join(kept, "\n")
	require.NotEmpty(t, out)
	for _, s := range secrets {
		require.NotEmpty(t, s)
		if strings.Contains(out, s) {
			t.Errorf("a secret reached the log: %.12s…", s)
		}
	}
}

// TestLongWaitRefreshesTheFederatedToken waits for a deployment that outlives both the
// Entra token and the Azure DevOps ID token: the task must sign in again mid-wait with a
// fresh ID token (a stale one is refused with AADSTS700024).
func TestLongWaitRefreshesTheFederatedToken(t *testing.T) {
	t.Parallel()
	seed := emulator.DemoSeed()
	h, err := harness.Start(harness.Options{Dist: dist(t), Seed: seed, Validate: swaggertest.Validator(t), TempDir: t.TempDir(),
		DeployDuration: 14 * time.Second, TokenLifetime: 4 * time.Second, OIDCTokenLifetime: 3 * time.Second})
	require.NoError(t, err)
	defer h.Close()
	require.Equal(t, "WorkloadIdentityFederation", h.Endpoint.Scheme)
	newPipeline(t, h, seed, "Long")
	before := h.Emulator.Identity().OIDCTokensIssued()
	res := run(t, h, "deploy", map[string]string{"pipeline": "Long", "stageOrder": "Test", "createNewWS": "true", "newWsName": "Long [Test]"})
	succeeded(t, res)
	during := h.Emulator.Identity().OIDCTokensIssued() - before
	assert.GreaterOrEqual(t, during, 3, "the task fetched a fresh ID token as the old ones expired")
	t.Logf("ID tokens fetched during one deploy task: %d", during)
}

// TestNoSchemeLeaksUnderFaults runs every sign-in case with System.Debug on while sign-in and
// the API fail in each way the fault matrix uses, and searches the raw output for every
// secret, key line and token as TestEverySchemeSignsInAndLeaksNothing does.
func TestNoSchemeLeaksUnderFaults(t *testing.T) {
	t.Parallel()
	cert, other := newKeyPair(t, "cert-app"), newKeyPair(t, otherKeyMarker)
	signIn := `(/oauth2/v2\.0/token|/oidctoken|/msi/token)$`
	api := `^/v1\.0/myorg/pipelines$`
	faults := map[string]emulator.Fault{
		"sign-in 500":     {Path: signIn, Status: 500, Times: 1},
		"sign-in 429":     {Path: signIn, Status: 429, RetryAfter: 1, Times: 1},
		"sign-in dropped": {Path: signIn, Drop: true, Times: 1},
		"sign-in slow":    {Path: signIn, Delay: 3 * time.Second, Times: 1},
		"API 502 twice":   {Path: api, Status: 502, Times: 2},
		"API dropped":     {Path: api, Drop: true, Times: 1},
		"API slow":        {Path: api, Delay: 3 * time.Second, Times: 1},
		"API 401":         {Path: api, Status: 401, Body: `{"error":{"code":"TokenExpired","message":"Access token has expired"}}`, Times: 1},
	}
	var mu sync.Mutex
	var raw strings.Builder
	var secrets []string
	names := make([]string, 0, len(faults))
	for name := range faults {
		names = append(names, name)
	}
	distDir := dist(t)
	inParallel(len(names), len(names), func(i int) {
		name, f := names[i], faults[names[i]]
		seed := authSeed(cert)
		h, err := harness.Start(harness.Options{Dist: distDir, Seed: seed, TempDir: t.TempDir(), Debug: true})
		if !assert.NoError(t, err) {
			return
		}
		defer h.Close()
		h.Variables["PowerBI.RequestTimeoutSeconds"] = "1"
		for _, s := range schemes(cert, other) {
			h.Emulator.ClearFaults()
			h.Emulator.InjectFault(f)
			ep := s.endpoint(h)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			res, err := h.Run(ctx, harness.Step{Folder: "delete-pipeline", Endpoint: &ep, Variables: s.vars,
				Inputs: map[string]string{"pipeline": "Nothing here", "ifMissing": "Succeed"}})
			cancel()
			if !assert.NoError(t, err, "%s / %s", name, s.name) {
				continue
			}
			assert.Equal(t, s.result, res.Run.Result, "%s / %s: the fault is absorbed\n%s", name, s.name, log(res))
			mu.Lock()
			raw.Write(res.Raw)
			mu.Unlock()
		}
		mu.Lock()
		secrets = append(secrets, h.Emulator.IssuedTokens()...)
		secrets = append(secrets, seed.Azure.JobToken)
		mu.Unlock()
	})
	secrets = append(secrets, emulator.DemoAppSecret, wrongSecret, emulator.DemoUserPassword, wrongPassword, mfaPassword)
	for _, k := range []string{cert.pkcs1PEM, cert.pkcs8PEM, other.pkcs8PEM} {
		lines := strings.Split(k, "\n")
		secrets = append(secrets, lines[1], lines[len(lines)-3])
	}
	var kept []string
	for _, line := range strings.Split(raw.String(), "\n") {
		if !strings.HasPrefix(line, "##vso[task.setsecret]") {
			kept = append(kept, line)
		}
	}
	out := strings.Join(kept, "\n")
	require.NotEmpty(t, out)
	for _, s := range secrets {
		require.NotEmpty(t, s)
		if strings.Contains(out, s) {
			t.Errorf("a secret reached the log: %.12s…", s)
		}
	}
	t.Logf("%d runs, %d secrets and tokens searched for", len(faults)*len(schemes(cert, other)), len(secrets))
}
