package emulator_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
)

// Route-level tests: what goes over the wire, for the cases MSAL does not reach or hides.

func TestOpenIDConfiguration(t *testing.T) {
	t.Parallel()
	f := newIDTFixture(t)
	tests := []struct {
		name, tenant string
		status       int
	}{
		{name: "seed tenant", tenant: idtTenant, status: http.StatusOK},
		{name: "tenant in upper case", tenant: strings.ToUpper(idtTenant), status: http.StatusOK},
		{name: "unknown tenant", tenant: "contoso.onmicrosoft.com", status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/"+tt.tenant+"/v2.0/.well-known/openid-configuration", nil)
			require.NoError(t, err)
			status, body := f.do(t, req)
			require.Equal(t, tt.status, status)
			if status != http.StatusOK {
				assert.Equal(t, "invalid_tenant", body["error"])
				assert.Equal(t, []any{90002.0}, body["error_codes"])
				assert.Contains(t, body["error_description"], "AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found.")
				return
			}
			// MSAL requires the issuer on the authority's scheme and host.
			assert.Equal(t, f.authority+"/v2.0", body["issuer"])
			assert.Equal(t, f.authority+"/oauth2/v2.0/token", body["token_endpoint"])
			assert.Equal(t, f.authority+"/oauth2/v2.0/authorize", body["authorization_endpoint"])
			assert.Equal(t, f.authority+"/oauth2/v2.0/devicecode", body["device_authorization_endpoint"])

			req, err = http.NewRequest(http.MethodGet, body["jwks_uri"].(string), nil)
			require.NoError(t, err)
			status, keys := f.do(t, req)
			require.Equal(t, http.StatusOK, status)
			assert.Len(t, keys["keys"], 1)
		})
	}
}

var idtTimestamp = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)

// TestTokenErrorShape checks an error body field by field against Entra's.
func TestTokenErrorShape(t *testing.T) {
	t.Parallel()
	f := newIDTFixture(t)
	const correlation = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	status, body := f.postForm(t, idtTenant, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {idtApp.secret.ClientID},
		"client_secret": {"wrong"}, "scope": {idtScope},
	}, http.Header{"Client-Request-Id": {correlation}})

	require.Equal(t, http.StatusUnauthorized, status)
	assert.ElementsMatch(t, []string{"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}, idtKeys(body))
	assert.Equal(t, "invalid_client", body["error"])
	assert.Equal(t, []any{7000215.0}, body["error_codes"])
	assert.Equal(t, correlation, body["correlation_id"])
	assert.Regexp(t, idtTimestamp, body["timestamp"])
	assert.Equal(t, "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "+
		"not the client secret ID, for a secret added to app '"+idtApp.secret.ClientID+"'.\r\n"+
		"Trace ID: "+body["trace_id"].(string)+"\r\nCorrelation ID: "+correlation+"\r\nTimestamp: "+body["timestamp"].(string),
		body["error_description"])
}

func idtKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestTokenRequestErrors(t *testing.T) {
	t.Parallel()
	f := newIDTFixture(t)
	app := func(extra ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {idtApp.secret.ClientID}, "client_secret": {idtSecret}, "scope": {idtScope}}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				v.Del(extra[i])
			} else {
				v.Set(extra[i], extra[i+1])
			}
		}
		return v
	}
	tests := []struct {
		name   string
		tenant string
		form   url.Values
		status int
		error  string
		code   float64
	}{
		{name: "unknown tenant", tenant: "00000000-0000-0000-0000-000000000000", form: app(), status: 400, error: "invalid_request", code: 90002},
		{name: "no grant type", form: app("grant_type", ""), status: 400, error: "invalid_request", code: 900144},
		{name: "unsupported grant type", form: app("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), status: 400, error: "unsupported_grant_type", code: 70003},
		{name: "no client id", form: app("client_id", ""), status: 400, error: "invalid_request", code: 900144},
		{name: "no credential", form: app("client_secret", ""), status: 401, error: "invalid_client", code: 7000218},
		{name: "no scope", form: app("scope", ""), status: 400, error: "invalid_request", code: 900144},
		{name: "only OIDC scopes", form: app("scope", "openid profile offline_access"), status: 400, error: "invalid_request", code: 900144},
		{name: "resource of another cloud", form: app("scope", "https://analysis.usgovcloudapi.net/powerbi/api/.default"), status: 400, error: "invalid_resource", code: 500011},
		{name: "OIDC scopes added by MSAL are ignored", form: app("scope", idtScope+" openid profile offline_access"), status: 200},
		{name: "assertion that is no JWT", form: app("client_secret", "", "client_assertion", "not-a-jwt",
			"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), status: 401, error: "invalid_client", code: 50027},
		{name: "assertion of an unknown type", form: app("client_secret", "", "client_assertion", "a.b.c",
			"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), status: 400, error: "invalid_request", code: 900144},
		{name: "unknown refresh token", form: url.Values{"grant_type": {"refresh_token"}, "client_id": {idtPublicClient}, "refresh_token": {"nope"}, "scope": {idtScope}},
			status: 400, error: "invalid_grant", code: 9002313},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tenant := tt.tenant
			if tenant == "" {
				tenant = idtTenant
			}
			status, body := f.postForm(t, tenant, tt.form, nil)
			require.Equal(t, tt.status, status, body)
			if tt.status == http.StatusOK {
				assert.Equal(t, "Bearer", body["token_type"])
				assert.Equal(t, 3600.0, body["expires_in"])
				assert.Equal(t, 3600.0, body["ext_expires_in"])
				return
			}
			assert.Equal(t, tt.error, body["error"])
			assert.Equal(t, []any{tt.code}, body["error_codes"])
		})
	}
}

// TestPasswordAndRefreshGrants checks what a public client receives and that its refresh token
// works, without MSAL in between.
func TestPasswordAndRefreshGrants(t *testing.T) {
	t.Parallel()
	f := newIDTFixture(t)
	status, body := f.postForm(t, idtTenant, url.Values{
		"grant_type": {"password"}, "client_id": {idtPublicClient}, "client_info": {"1"},
		"username": {"alice@contoso.com"}, "password": {idtUser.alice.Password}, "scope": {idtScope + " openid offline_access profile"},
	}, nil)
	require.Equal(t, http.StatusOK, status, body)
	for _, k := range []string{"access_token", "refresh_token", "id_token", "client_info"} {
		require.NotEmpty(t, body[k], k)
	}
	info, err := base64.RawURLEncoding.DecodeString(body["client_info"].(string))
	require.NoError(t, err)
	assert.JSONEq(t, `{"uid":"`+idtUser.alice.ObjectID+`","utid":"`+idtTenant+`"}`, string(info))
	claims := idtClaims(t, body["id_token"].(string))
	assert.Equal(t, idtPublicClient, claims["aud"])
	assert.Equal(t, f.authority+"/v2.0", claims["iss"])
	assert.Equal(t, idtUser.alice.UPN, claims["preferred_username"])

	refresh := func(clientID string) (int, map[string]any) {
		return f.postForm(t, idtTenant, url.Values{
			"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {body["refresh_token"].(string)}, "scope": {idtScope},
		}, nil)
	}
	status, other := refresh("11111111-2222-4333-8444-555555555555")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, []any{70000.0}, other["error_codes"])

	f.clock.Advance(2 * time.Hour) // the access token has expired, the refresh token has not
	status, renewed := refresh(idtPublicClient)
	require.Equal(t, http.StatusOK, status, renewed)
	assert.NotEqual(t, body["access_token"], renewed["access_token"])
	p, err := f.authenticate(renewed["access_token"].(string))
	require.NoError(t, err)
	assert.Equal(t, idtUser.alice.UPN, p.Identifier)
	_, err = f.authenticate(body["access_token"].(string))
	assert.ErrorIs(t, err, emulator.ErrExpiredToken)
}

func TestOIDCTokenRoute(t *testing.T) {
	t.Parallel()
	f := newIDTFixture(t)
	const conn = "api-version=7.1-preview.1&serviceConnectionId=" + idtConnProd
	tests := []struct {
		name                  string
		org, project, query   string
		bearer, body          string
		status                int
		sub, typeKey, message string
	}{
		{name: "service connection by project id", org: "contoso", project: idtProjectID, query: conn, bearer: idtJobToken, body: "{}",
			status: 200, sub: "sc://contoso/Finance/pbi-prod"},
		{name: "project and organisation by name, any case", org: "Contoso", project: "finance", query: "API-VERSION=7.1&ServiceConnectionId=" + strings.ToUpper(idtConnProd),
			bearer: idtJobToken, body: `{"extra":"claims are accepted"}`, status: 200, sub: "sc://contoso/Finance/pbi-prod"},
		{name: "organisation by id", org: idtOrgID, project: idtProjectID, query: conn, bearer: idtJobToken, body: "{}", status: 200, sub: "sc://contoso/Finance/pbi-prod"},
		{name: "no service connection: pipeline-scoped token", org: "contoso", project: idtProjectID, query: "api-version=7.1", bearer: idtJobToken, body: "{}",
			status: 200, sub: "p://contoso/Finance/" + idtPlanID},
		{name: "no bearer", org: "contoso", project: idtProjectID, query: conn, body: "{}", status: 401, typeKey: "UnauthorizedRequestException"},
		{name: "wrong bearer", org: "contoso", project: idtProjectID, query: conn, bearer: "stale-token", body: "{}", status: 401, typeKey: "UnauthorizedRequestException"},
		{name: "unknown service connection", org: "contoso", project: idtProjectID, query: "api-version=7.1&serviceConnectionId=5d6e7f80-0000-4000-8000-000000000000",
			bearer: idtJobToken, body: "{}", status: 404, typeKey: "ServiceEndpointNotFoundException", message: "5d6e7f80-0000-4000-8000-000000000000"},
		{name: "unknown project", org: "contoso", project: "Marketing", query: conn, bearer: idtJobToken, body: "{}", status: 404, typeKey: "ProjectDoesNotExistWithNameException"},
		{name: "unknown organisation", org: "fabrikam", project: idtProjectID, query: conn, bearer: idtJobToken, body: "{}", status: 404, typeKey: "HostNotFoundException"},
		{name: "no claims body", org: "contoso", project: idtProjectID, query: conn, bearer: idtJobToken, status: 400, typeKey: "ArgumentNullException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := f.oidcRequest(context.Background(), tt.org, tt.project, tt.query, tt.bearer, tt.body)
			require.NoError(t, err)
			status, body := f.do(t, req)
			require.Equal(t, tt.status, status, body)
			if tt.status != http.StatusOK {
				assert.Equal(t, "1", body["$id"])
				assert.Equal(t, tt.typeKey, body["typeKey"])
				assert.Contains(t, body["typeName"], "."+tt.typeKey+", ")
				assert.Equal(t, 0.0, body["errorCode"])
				assert.Contains(t, body["message"], tt.message)
				return
			}
			claims := idtClaims(t, body["oidcToken"].(string))
			assert.Equal(t, "https://vstoken.dev.azure.com/"+idtOrgID, claims["iss"])
			assert.Equal(t, tt.sub, claims["sub"])
			assert.Equal(t, "api://AzureADTokenExchange", claims["aud"])
			assert.Equal(t, 600.0, claims["exp"].(float64)-claims["iat"].(float64))
			assert.Equal(t, claims["iat"], claims["nbf"])
			assert.NotEmpty(t, claims["jti"])
		})
	}
}

func TestOIDCTokensIssuedCountsRefreshes(t *testing.T) {
	t.Parallel()
	f := newIDTFixture(t)
	ctx := context.Background()
	first, err := f.fetchOIDC(ctx, idtConnProd)
	require.NoError(t, err)
	f.clock.Advance(9 * time.Minute)
	second, err := f.fetchOIDC(ctx, idtConnProd)
	require.NoError(t, err)
	assert.NotEqual(t, first, second)
	assert.Equal(t, 2, f.id.OIDCTokensIssued())
}

func TestManagedIdentityRoute(t *testing.T) {
	t.Parallel()
	f := newIDTFixture(t)
	env := f.id.ManagedIdentityEnv(f.srv.URL)
	assert.Equal(t, f.srv.URL+"/msi/token", env["IDENTITY_ENDPOINT"])
	require.NotEmpty(t, env["IDENTITY_HEADER"])
	noSystem := newIDTFixture(t, func(s *emulator.Seed) { s.Apps[3].SystemAssigned = false })

	tests := []struct {
		name    string
		f       *idtFixture
		query   string
		header  string
		status  int
		message string
	}{
		{name: "system-assigned", f: f, query: "api-version=2019-08-01&resource=" + url.QueryEscape(idtResource), header: env["IDENTITY_HEADER"], status: 200},
		{name: "wrong identity header", f: f, query: "api-version=2019-08-01&resource=" + url.QueryEscape(idtResource), header: "guess", status: 401, message: "X-IDENTITY-HEADER"},
		{name: "old api version", f: f, query: "api-version=2017-09-01&resource=" + url.QueryEscape(idtResource), header: env["IDENTITY_HEADER"], status: 400, message: "2019-08-01"},
		{name: "another resource", f: f, query: "api-version=2019-08-01&resource=https://vault.azure.net", header: env["IDENTITY_HEADER"], status: 400, message: "AADSTS500011"},
		{name: "no resource", f: f, query: "api-version=2019-08-01", header: env["IDENTITY_HEADER"], status: 400, message: "resource"},
		{name: "no system-assigned identity", f: noSystem, query: "api-version=2019-08-01&resource=" + url.QueryEscape(idtResource),
			header: noSystem.id.ManagedIdentityEnv(noSystem.srv.URL)["IDENTITY_HEADER"], status: 400, message: "No managed identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodGet, tt.f.srv.URL+"/msi/token?"+tt.query, nil)
			require.NoError(t, err)
			req.Header.Set("X-IDENTITY-HEADER", tt.header)
			status, body := tt.f.do(t, req)
			require.Equal(t, tt.status, status, body)
			if status != http.StatusOK {
				assert.Equal(t, float64(tt.status), body["statusCode"])
				assert.Contains(t, body["message"], tt.message)
				return
			}
			assert.Equal(t, "Bearer", body["token_type"])
			assert.Equal(t, idtApp.miSystem.ClientID, body["client_id"])
			assert.Regexp(t, `^\d+$`, body["expires_on"])
		})
	}
}
