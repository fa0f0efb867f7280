package emulator_test

import (
	"context"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
)

// These tests sign in with the real MSAL Go clients, configured as the tasks configure them for
// a custom cloud: authority https://<host>/<tenant>, instance discovery off.

func (f *idtFixture) confidential(t *testing.T, clientID string, cred confidential.Credential) confidential.Client {
	t.Helper()
	c, err := confidential.New(f.authority, clientID, cred,
		confidential.WithHTTPClient(f.srv.Client()), confidential.WithInstanceDiscovery(false))
	require.NoError(t, err)
	return c
}

// requireMSALError checks that MSAL failed with the emulator's answer: HTTP status and AADSTS text.
func requireMSALError(t *testing.T, err error, status int, want ...string) {
	t.Helper()
	require.Error(t, err)
	var callErr msalerrors.CallErr
	require.True(t, errors.As(err, &callErr), "want an HTTP error from the token endpoint, got %v", err)
	assert.Equal(t, status, callErr.Resp.StatusCode)
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
}

func TestClientSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		clientID string
		secret   string
		scope    string
		status   int // 0: success
		want     []string
	}{
		{name: "right secret", clientID: idtApp.secret.ClientID, secret: idtSecret, scope: idtScope},
		{name: "client id in another case", clientID: "A1A1A1A1-0000-4000-8000-000000000001", secret: idtSecret, scope: idtScope},
		{name: "wrong secret", clientID: idtApp.secret.ClientID, secret: "not-the-secret", scope: idtScope,
			status: http.StatusUnauthorized, want: []string{"invalid_client", "AADSTS7000215: Invalid client secret provided"}},
		{name: "unknown client", clientID: "deadbeef-0000-4000-8000-000000000000", secret: idtSecret, scope: idtScope,
			status: http.StatusBadRequest, want: []string{"unauthorized_client", "AADSTS700016: Application with identifier 'deadbeef-0000-4000-8000-000000000000' was not found in the directory '" + idtTenant + "'"}},
		{name: "app without a secret", clientID: idtApp.wif.ClientID, secret: idtSecret, scope: idtScope,
			status: http.StatusUnauthorized, want: []string{"AADSTS7000215"}},
		{name: "another resource", clientID: idtApp.secret.ClientID, secret: idtSecret, scope: "https://management.azure.com/.default",
			status: http.StatusBadRequest, want: []string{"AADSTS500011: The resource principal named https://management.azure.com was not found"}},
		{name: "delegated permission in an app-only flow", clientID: idtApp.secret.ClientID, secret: idtSecret, scope: idtResource + "/Pipeline.Deploy",
			status: http.StatusBadRequest, want: []string{"invalid_scope", "AADSTS1002012"}},
	}
	f := newIDTFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cred, err := confidential.NewCredFromSecret(tt.secret)
			require.NoError(t, err)
			res, err := f.confidential(t, tt.clientID, cred).AcquireTokenByCredential(context.Background(), []string{tt.scope})
			if tt.status != 0 {
				requireMSALError(t, err, tt.status, tt.want...)
				assert.NotContains(t, err.Error(), tt.secret, "the secret must not be echoed")
				return
			}
			require.NoError(t, err)
			assert.GreaterOrEqual(t, len(res.AccessToken), 43, "32 random bytes, base64url")
			assert.WithinDuration(t, time.Now().Add(time.Hour), res.ExpiresOn, time.Minute)
			p, err := f.authenticate(res.AccessToken)
			require.NoError(t, err)
			assert.Equal(t, emulator.Principal{Type: "App", ObjectID: idtApp.secret.ObjectID, Identifier: idtApp.secret.ObjectID, DisplayName: idtApp.secret.DisplayName}, *p)
		})
	}
}

func TestWorkloadIdentityFederation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		connection string
		expire     time.Duration // how far the clock moves between fetching and presenting the token
		status     int
		want       []string
	}{
		{name: "token of the trusted service connection", connection: idtConnProd},
		{name: "token within the clock skew", connection: idtConnProd, expire: 14 * time.Minute},
		{name: "token of another service connection", connection: idtConnOther, status: http.StatusBadRequest, want: []string{
			"invalid_request", "AADSTS70021: No matching federated identity record found for presented assertion.",
			"Assertion Issuer: 'https://vstoken.dev.azure.com/" + idtOrgID + "'",
			"Assertion Subject: 'sc://contoso/Finance/pbi-other'",
			"Assertion Audience: 'api://AzureADTokenExchange'",
		}},
		{name: "expired token", connection: idtConnProd, expire: 16 * time.Minute, status: http.StatusUnauthorized,
			want: []string{"AADSTS700024: Client assertion is not within its valid time range."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newIDTFixture(t) // own clock per case
			cred := confidential.NewCredFromAssertionCallback(func(ctx context.Context, o confidential.AssertionRequestOptions) (string, error) {
				assert.Equal(t, f.authority+"/oauth2/v2.0/token", o.TokenEndpoint)
				tok, err := f.fetchOIDC(ctx, tt.connection)
				f.clock.Advance(tt.expire)
				return tok, err
			})
			res, err := f.confidential(t, idtApp.wif.ClientID, cred).AcquireTokenByCredential(context.Background(), []string{idtScope})
			assert.Equal(t, 1, f.id.OIDCTokensIssued())
			if tt.status != 0 {
				requireMSALError(t, err, tt.status, tt.want...)
				return
			}
			require.NoError(t, err)
			p, err := f.authenticate(res.AccessToken)
			require.NoError(t, err)
			assert.Equal(t, idtApp.wif.ObjectID, p.Identifier)
		})
	}
}

func TestCertificateCredential(t *testing.T) {
	t.Parallel()
	certs, err := idtCerts()
	require.NoError(t, err)
	registered, other := certs[0], certs[1]
	f := newIDTFixture(t)
	tokenEndpoint := f.authority + "/oauth2/v2.0/token"
	sha1Of := func(c *x509.Certificate) []byte { s := sha1.Sum(c.Raw); return s[:] }
	handMade := func(aud string, signer *idtCert, thumbOf *x509.Certificate, exp time.Time) func(*testing.T) confidential.Credential {
		return func(t *testing.T) confidential.Credential {
			return confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
				now := f.clock.Now()
				return idtSignRS256(t, signer.key, sha1Of(thumbOf), map[string]any{
					"aud": aud, "iss": idtApp.cert.ClientID, "sub": idtApp.cert.ClientID,
					"jti": "5f0e8e2c-1111-4222-8333-944455556666", "nbf": now.Unix(), "exp": exp.Unix(),
				}), nil
			})
		}
	}
	msalCert := func(c *idtCert) func(*testing.T) confidential.Credential {
		return func(t *testing.T) confidential.Credential {
			cred, err := confidential.NewCredFromCert([]*x509.Certificate{c.cert}, c.key)
			require.NoError(t, err)
			return cred
		}
	}
	soon := f.clock.Now().Add(10 * time.Minute)
	tests := []struct {
		name   string
		cred   func(*testing.T) confidential.Credential
		status int
		want   []string
	}{
		{name: "registered certificate (MSAL: PS256, x5t#S256)", cred: msalCert(registered)},
		{name: "registered certificate (RS256, x5t)", cred: handMade(tokenEndpoint, registered, registered.cert, soon)},
		{name: "certificate nobody registered", cred: msalCert(other), status: http.StatusUnauthorized,
			want: []string{"AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application."}},
		{name: "registered thumbprint, signed with another key", cred: handMade(tokenEndpoint, other, registered.cert, soon),
			status: http.StatusUnauthorized, want: []string{"AADSTS700027: Client assertion failed signature validation."}},
		{name: "audience of another tenant", cred: handMade("https://login.microsoftonline.com/common/oauth2/v2.0/token", registered, registered.cert, soon),
			status: http.StatusUnauthorized, want: []string{"AADSTS50012: Client assertion audience claim does not match Realm issuer."}},
		{name: "expired assertion", cred: handMade(tokenEndpoint, registered, registered.cert, f.clock.Now().Add(-10*time.Minute)),
			status: http.StatusUnauthorized, want: []string{"AADSTS700024"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := f.confidential(t, idtApp.cert.ClientID, tt.cred(t)).AcquireTokenByCredential(context.Background(), []string{idtScope})
			if tt.status != 0 {
				requireMSALError(t, err, tt.status, tt.want...)
				return
			}
			require.NoError(t, err)
			p, err := f.authenticate(res.AccessToken)
			require.NoError(t, err)
			assert.Equal(t, idtApp.cert.ObjectID, p.Identifier)
		})
	}
}

func TestUsernamePassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, username, password string
		status                   int
		want                     []string
	}{
		{name: "right password", username: "alice@contoso.com", password: idtUser.alice.Password},
		{name: "wrong password", username: idtUser.alice.UPN, password: "wrong", status: http.StatusBadRequest,
			want: []string{"invalid_grant", "AADSTS50126: Error validating credentials due to invalid username or password."}},
		{name: "unknown user", username: "mallory@contoso.com", password: "whatever", status: http.StatusBadRequest,
			want: []string{"AADSTS50126"}},
		{name: "user who must use MFA", username: idtUser.bob.UPN, password: idtUser.bob.Password, status: http.StatusBadRequest,
			want: []string{"interaction_required", "AADSTS50076", "you must use multi-factor authentication to access '" + idtResource + "'"}},
	}
	f := newIDTFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pc, err := public.New(idtPublicClient, public.WithAuthority(f.authority),
				public.WithHTTPClient(f.srv.Client()), public.WithInstanceDiscovery(false))
			require.NoError(t, err)
			ctx := context.Background()
			//lint:ignore SA1019 the emulator must serve the legacy flow the tasks still offer
			res, err := pc.AcquireTokenByUsernamePassword(ctx, []string{idtScope}, tt.username, tt.password)
			if tt.status != 0 {
				requireMSALError(t, err, tt.status, tt.want...)
				assert.NotContains(t, err.Error(), tt.password, "the password must not be echoed")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, idtUser.alice.UPN, res.Account.PreferredUsername)
			assert.Equal(t, idtUser.alice.ObjectID+"."+idtTenant, res.Account.HomeAccountID)
			assert.Equal(t, idtUser.alice.ObjectID, res.IDToken.Oid)
			p, err := f.authenticate(res.AccessToken)
			require.NoError(t, err)
			assert.Equal(t, emulator.Principal{Type: "User", ObjectID: idtUser.alice.ObjectID, Identifier: idtUser.alice.UPN, DisplayName: "Alice"}, *p)

			// MSAL stored the account and token: a silent request is answered from its cache.
			silent, err := pc.AcquireTokenSilent(ctx, []string{idtScope}, public.WithSilentAccount(res.Account))
			require.NoError(t, err)
			assert.Equal(t, res.AccessToken, silent.AccessToken)
		})
	}
}

// TestManagedIdentity goes through MSAL's managedidentity package, which reads its endpoint from
// the process environment; t.Setenv keeps this test serial.
func TestManagedIdentity(t *testing.T) {
	// MSAL caches managed identity tokens in a package-level cache keyed by identity and
	// resource; a resource of this run's own keeps -count=N runs from reading tokens that an
	// earlier emulator issued.
	resource := "https://analysis.windows.net/powerbi/api/" + time.Now().Format("150405.000000000")
	f := newIDTFixture(t, func(s *emulator.Seed) { s.Resource = resource })
	for k, v := range f.id.ManagedIdentityEnv(f.srv.URL + "/") {
		t.Setenv(k, v)
	}
	src, err := managedidentity.GetSource()
	require.NoError(t, err)
	require.Equal(t, managedidentity.AppService, src)

	tests := []struct {
		name string
		id   managedidentity.ID
		want *emulator.App
		err  string
	}{
		{name: "system-assigned", id: managedidentity.SystemAssigned(), want: &idtApp.miSystem},
		{name: "user-assigned by client id", id: managedidentity.UserAssignedClientID(idtApp.miUser.ClientID), want: &idtApp.miUser},
		{name: "user-assigned by object id", id: managedidentity.UserAssignedObjectID(idtApp.miUser.ObjectID), want: &idtApp.miUser},
		{name: "user-assigned by resource id", want: &idtApp.miUser, id: managedidentity.UserAssignedResourceID(
			"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/managed-identity-deployer")},
		{name: "an app that is no managed identity", id: managedidentity.UserAssignedClientID(idtApp.secret.ClientID),
			err: "No User Assigned or Delegated Managed Identity found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mi, err := managedidentity.New(tt.id, managedidentity.WithHTTPClient(f.srv.Client()))
			require.NoError(t, err)
			res, err := mi.AcquireToken(context.Background(), resource+"/.default")
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.WithinDuration(t, time.Now().Add(time.Hour), res.ExpiresOn, time.Minute)
			p, err := f.authenticate(res.AccessToken)
			require.NoError(t, err)
			assert.Equal(t, emulator.Principal{Type: "App", ObjectID: tt.want.ObjectID, Identifier: tt.want.ObjectID, DisplayName: tt.want.DisplayName}, *p)
		})
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	f := newIDTFixture(t)
	expired := f.appToken(t)
	f.clock.Advance(time.Hour)
	valid := f.appToken(t)

	tests := []struct {
		name   string
		header string
		want   error
	}{
		{name: "valid token", header: "Bearer " + valid},
		{name: "scheme in another case", header: "bearer " + valid},
		{name: "expired token", header: "Bearer " + expired, want: emulator.ErrExpiredToken},
		{name: "token the emulator never issued", header: "Bearer eyJhbGciOiJub25lIn0.e30.", want: emulator.ErrInvalidToken},
		{name: "no header", want: emulator.ErrMissingToken},
		{name: "basic credentials", header: "Basic dXNlcjpwYXNz", want: emulator.ErrMissingToken},
		{name: "bearer without token", header: "Bearer ", want: emulator.ErrMissingToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "https://127.0.0.1/v1.0/myorg/pipelines", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			p, err := f.id.Authenticate(r)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				assert.Nil(t, p)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, idtApp.secret.ObjectID, p.Identifier)
		})
	}

	t.Run("expires exactly at its lifetime", func(t *testing.T) {
		t.Parallel()
		g := newIDTFixture(t)
		tok := g.appToken(t)
		g.clock.Advance(time.Hour - time.Second)
		_, err := g.authenticate(tok)
		require.NoError(t, err)
		g.clock.Advance(time.Second)
		_, err = g.authenticate(tok)
		assert.ErrorIs(t, err, emulator.ErrExpiredToken)
	})
}

func TestResolvePrincipal(t *testing.T) {
	t.Parallel()
	f := newIDTFixture(t)
	tests := []struct {
		identifier, principalType string
		want                      *emulator.Principal
	}{
		{"alice@contoso.com", "User", &emulator.Principal{Type: "User", ObjectID: idtUser.alice.ObjectID, Identifier: "Alice@contoso.com", DisplayName: "Alice"}},
		{"ALICE@CONTOSO.COM", "User", &emulator.Principal{Type: "User", ObjectID: idtUser.alice.ObjectID, Identifier: "Alice@contoso.com", DisplayName: "Alice"}},
		{idtApp.secret.ObjectID, "App", &emulator.Principal{Type: "App", ObjectID: idtApp.secret.ObjectID, Identifier: idtApp.secret.ObjectID, DisplayName: idtApp.secret.DisplayName}},
		{idtGroup.ObjectID, "Group", &emulator.Principal{Type: "Group", ObjectID: idtGroup.ObjectID, Identifier: idtGroup.ObjectID, DisplayName: idtGroup.DisplayName}},
		{idtApp.secret.ClientID, "App", nil}, // apps are named by service principal object id, not client id
		{idtUser.alice.ObjectID, "User", nil},
		{idtGroup.ObjectID, "User", nil},
		{"nobody@contoso.com", "User", nil},
		{"alice@contoso.com", "Robot", nil},
	}
	for _, tt := range tests {
		t.Run(tt.principalType+" "+tt.identifier, func(t *testing.T) {
			t.Parallel()
			p, ok := f.id.ResolvePrincipal(tt.identifier, tt.principalType)
			assert.Equal(t, tt.want != nil, ok)
			assert.Equal(t, tt.want, p)
		})
	}
}

func TestNewIdentityRejectsBadSeeds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*emulator.Seed)
		nil  bool
		want string
	}{
		{name: "no seed", nil: true, want: "no seed"},
		{name: "no tenant", edit: func(s *emulator.Seed) { s.TenantID = "" }, want: "tenantId"},
		{name: "app without client id", edit: func(s *emulator.Seed) { s.Apps[0].ClientID = "" }, want: "no clientId"},
		{name: "two apps with one client id", edit: func(s *emulator.Seed) { s.Apps[1].ClientID = s.Apps[0].ClientID }, want: "two apps"},
		{name: "certificate that is no PEM", edit: func(s *emulator.Seed) { s.Apps[0].CertificatePEM = "MIIB..." }, want: "no CERTIFICATE block"},
		{name: "user without upn", edit: func(s *emulator.Seed) { s.Users[0].UPN = "" }, want: "no upn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seed *emulator.Seed
			if !tt.nil {
				seed = idtSeed(t)
				tt.edit(seed)
			}
			id, err := emulator.NewIdentity(seed, emulator.IdentityOptions{})
			require.Error(t, err)
			assert.Nil(t, id)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
