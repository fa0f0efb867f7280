package emulator_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
)

// The identity tests' world: one tenant with an app per credential kind, two users, a group, two
// managed identities and an Azure DevOps project with two service connections.
const (
	idtTenant       = "8d5c2b1e-6f0a-4c3b-9e7d-1a2b3c4d5e6f"
	idtResource     = emulator.DefaultResource
	idtScope        = idtResource + "/.default"
	idtOrgID        = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
	idtProjectID    = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d"
	idtPlanID       = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	idtJobID        = "9e8d7c6b-5a49-4837-a261-504f3e2d1c0b"
	idtJobToken     = "system-access-token-for-the-job"
	idtSecret       = "s3cret~value.for-the-app"
	idtConnProd     = "3b4c5d6e-7f80-4912-a3b4-c5d6e7f80912"
	idtConnOther    = "4c5d6e7f-8091-4a23-b4c5-d6e7f8091a23"
	idtPublicClient = "1950a258-227b-4e31-a9cf-717495945fc2" // any public client id is accepted
)

// idtApp names the seed's apps.
var idtApp = struct{ secret, wif, cert, miSystem, miUser emulator.App }{
	secret: emulator.App{ClientID: "a1a1a1a1-0000-4000-8000-000000000001", ObjectID: "b1b1b1b1-0000-4000-8000-000000000001", DisplayName: "pbi-deployer-secret", Secret: idtSecret},
	wif: emulator.App{ClientID: "a1a1a1a1-0000-4000-8000-000000000002", ObjectID: "b1b1b1b1-0000-4000-8000-000000000002", DisplayName: "pbi-deployer-wif",
		FederatedCredentials: []emulator.FederatedCredential{{Issuer: "https://vstoken.dev.azure.com/" + idtOrgID, Subject: "sc://contoso/Finance/pbi-prod"}}},
	cert:     emulator.App{ClientID: "a1a1a1a1-0000-4000-8000-000000000003", ObjectID: "b1b1b1b1-0000-4000-8000-000000000003", DisplayName: "pbi-deployer-cert"},
	miSystem: emulator.App{ClientID: "a1a1a1a1-0000-4000-8000-000000000004", ObjectID: "b1b1b1b1-0000-4000-8000-000000000004", DisplayName: "build-agent-vm", ManagedIdentity: true, SystemAssigned: true},
	miUser:   emulator.App{ClientID: "a1a1a1a1-0000-4000-8000-000000000005", ObjectID: "b1b1b1b1-0000-4000-8000-000000000005", DisplayName: "managed-identity-deployer", ManagedIdentity: true},
}

var idtUser = struct{ alice, bob emulator.User }{
	alice: emulator.User{UPN: "Alice@contoso.com", ObjectID: "c1c1c1c1-0000-4000-8000-000000000001", DisplayName: "Alice", Password: "correct horse"},
	bob:   emulator.User{UPN: "bob@contoso.com", ObjectID: "c1c1c1c1-0000-4000-8000-000000000002", DisplayName: "Bob", Password: "battery staple", MFARequired: true},
}

var idtGroup = emulator.Group{ObjectID: "d1d1d1d1-0000-4000-8000-000000000001", DisplayName: "Power BI admins"}

// idtCert is a self-signed certificate and its key, as a user would register for an app.
type idtCert struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
	pem  string
}

func newIDTCert(cn string) (*idtCert, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &idtCert{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}, nil
}

// Key generation is slow enough to do once: the registered certificate and one nobody registered.
var idtCerts = sync.OnceValues(func() ([2]*idtCert, error) {
	registered, err := newIDTCert("pbi-deployer-cert")
	if err != nil {
		return [2]*idtCert{}, err
	}
	other, err := newIDTCert("someone-else")
	return [2]*idtCert{registered, other}, err
})

func idtSeed(t *testing.T) *emulator.Seed {
	t.Helper()
	certs, err := idtCerts()
	require.NoError(t, err)
	cert := idtApp.cert
	cert.CertificatePEM = certs[0].pem
	return &emulator.Seed{
		TenantID: idtTenant,
		Apps:     []emulator.App{idtApp.secret, idtApp.wif, cert, idtApp.miSystem, idtApp.miUser},
		Users:    []emulator.User{idtUser.alice, idtUser.bob},
		Groups:   []emulator.Group{idtGroup},
		Azure: emulator.AzureDevOps{
			OrganizationName: "contoso",
			OrganizationID:   idtOrgID,
			ProjectName:      "Finance",
			ProjectID:        idtProjectID,
			JobToken:         idtJobToken,
			ServiceConnections: []emulator.ServiceConnection{
				{ID: idtConnProd, Name: "pbi-prod"},
				{ID: idtConnOther, Name: "pbi-other"},
			},
		},
	}
}

// idtClock is the injected clock: it starts at the real time (MSAL stamps its assertions with the
// real time) and moves only when told.
type idtClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *idtClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *idtClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// idtFixture is an Identity served over TLS by httptest, as MSAL sees Entra.
type idtFixture struct {
	id        *emulator.Identity
	srv       *httptest.Server
	clock     *idtClock
	authority string
}

func newIDTFixture(t *testing.T, edit ...func(*emulator.Seed)) *idtFixture {
	t.Helper()
	seed := idtSeed(t)
	for _, e := range edit {
		e(seed)
	}
	f := &idtFixture{clock: &idtClock{now: time.Now()}}
	var err error
	f.id, err = emulator.NewIdentity(seed, emulator.IdentityOptions{
		Now:    f.clock.Now,
		Issuer: func() string { return f.srv.URL },
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	f.id.Register(mux)
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	f.authority = f.srv.URL + "/" + idtTenant
	return f
}

// do sends a request to the fixture and returns the status and the decoded JSON body.
func (f *idtFixture) do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var body map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &body), "body: %s", raw)
	}
	return resp.StatusCode, body
}

// postForm posts a token request.
func (f *idtFixture) postForm(t *testing.T, tenant string, form url.Values, header http.Header) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/"+tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return f.do(t, req)
}

// appToken signs the secret app in with a raw client credentials request.
func (f *idtFixture) appToken(t *testing.T) string {
	t.Helper()
	status, body := f.postForm(t, idtTenant, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {idtApp.secret.ClientID},
		"client_secret": {idtSecret}, "scope": {idtScope},
	}, nil)
	require.Equal(t, http.StatusOK, status, body)
	return body["access_token"].(string)
}

// oidcRequest builds the agent's request for an ID token, the way artifacts-common does.
func (f *idtFixture) oidcRequest(ctx context.Context, org, project, query, bearer, body string) (*http.Request, error) {
	u := fmt.Sprintf("%s/%s/%s/_apis/distributedtask/hubs/build/plans/%s/jobs/%s/oidctoken?%s", f.srv.URL, org, project, idtPlanID, idtJobID, query)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return req, nil
}

// fetchOIDC gets an ID token for a service connection, as a task does before signing in.
func (f *idtFixture) fetchOIDC(ctx context.Context, connectionID string) (string, error) {
	req, err := f.oidcRequest(ctx, "contoso", idtProjectID, "api-version=7.1&serviceConnectionId="+connectionID, idtJobToken, "{}")
	if err != nil {
		return "", err
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		OIDCToken string `json:"oidcToken"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK || out.OIDCToken == "" {
		return "", fmt.Errorf("oidctoken: status %d", resp.StatusCode)
	}
	return out.OIDCToken, nil
}

// authenticate asks the Identity who a bearer token stands for.
func (f *idtFixture) authenticate(token string) (*emulator.Principal, error) {
	r := httptest.NewRequest(http.MethodGet, "https://127.0.0.1/v1.0/myorg/pipelines", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return f.id.Authenticate(r)
}

// idtClaims decodes a JWT's payload without verifying it.
func idtClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	return claims
}

// idtSignRS256 builds a client assertion by hand: RS256 with an x5t (SHA-1) thumbprint, the
// older form some clients still send.
func idtSignRS256(t *testing.T, key *rsa.PrivateKey, x5t []byte, claims map[string]any) string {
	t.Helper()
	hdr, err := json.Marshal(map[string]any{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(x5t)})
	require.NoError(t, err)
	payload, err := json.Marshal(claims)
	require.NoError(t, err)
	input := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	require.NoError(t, err)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}
