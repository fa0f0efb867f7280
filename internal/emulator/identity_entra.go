package emulator

import (
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- x5t thumbprints are SHA-1 by definition (RFC 7515 §4.1.7)
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The fake Entra ID endpoints, shaped after what MSAL Go v1.10.1 sends and reads:
// apps/internal/oauth/resolvers.go (discovery), ops/authority (TenantDiscoveryResponse, issuer
// validation, UserRealm), ops/accesstokens (token requests and TokenResponse).

const (
	grantClientCredentials = "client_credentials"
	grantPassword          = "password"
	grantRefreshToken      = "refresh_token"
	jwtBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// refreshTokenLifetime is Entra's inactivity lifetime of refresh tokens.
	refreshTokenLifetime = 90 * 24 * time.Hour
	// assertionClockSkew is the leeway Entra allows on client assertions' nbf and exp.
	assertionClockSkew = 5 * time.Minute
)

// entraError is an OAuth error as Entra reports it: the HTTP status, the OAuth error code and the
// AADSTS code with its message.
type entraError struct {
	status int
	code   string
	aadsts int
	msg    string
}

func newEntraError(status int, code string, aadsts int, format string, args ...any) *entraError {
	return &entraError{status: status, code: code, aadsts: aadsts, msg: fmt.Sprintf(format, args...)}
}

func entraMissingParameter(name string) *entraError {
	return newEntraError(http.StatusBadRequest, "invalid_request", 900144,
		"The request body must contain the following parameter: '%s'.", name)
}

// writeEntraError writes err in Entra's error shape: the description repeats the trace id,
// correlation id and timestamp on lines of its own, as Entra's does.
func (id *Identity) writeEntraError(w http.ResponseWriter, r *http.Request, err *entraError) {
	traceID := idNewUUID()
	correlationID := r.Header.Get("client-request-id")
	if !idLooksLikeUUID(correlationID) {
		correlationID = idNewUUID()
	}
	ts := id.now().UTC().Format("2006-01-02 15:04:05Z")
	body := struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorCodes       []int  `json:"error_codes"`
		Timestamp        string `json:"timestamp"`
		TraceID          string `json:"trace_id"`
		CorrelationID    string `json:"correlation_id"`
		ErrorURI         string `json:"error_uri"`
	}{
		Error: err.code,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			err.aadsts, err.msg, traceID, correlationID, ts),
		ErrorCodes:    []int{err.aadsts},
		Timestamp:     ts,
		TraceID:       traceID,
		CorrelationID: correlationID,
		ErrorURI:      fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", err.aadsts),
	}
	w.Header().Set("x-ms-request-id", traceID)
	idWriteJSON(w, err.status, body)
}

// knownTenant reports whether the path's tenant is the seed's (MSAL lower-cases authorities).
// knownTenant accepts the tenant's id and the multi-tenant aliases a user sign-in may use
// (the user's home tenant is this one).
func (id *Identity) knownTenant(tenant string) bool {
	return strings.EqualFold(tenant, id.tenantID) || strings.EqualFold(tenant, "organizations") || strings.EqualFold(tenant, "common")
}

func (id *Identity) tenantNotFound(tenant string) string {
	return fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. "+
		"Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant)
}

// handleOpenIDConfiguration serves the tenant's OpenID metadata. MSAL requires
// authorization_endpoint, token_endpoint and an issuer on the authority's scheme and host.
func (id *Identity) handleOpenIDConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !id.knownTenant(tenant) {
		id.writeEntraError(w, r, newEntraError(http.StatusBadRequest, "invalid_tenant", 90002, "%s", id.tenantNotFound(tenant)))
		return
	}
	base := id.baseURL(r) + "/" + id.tenantID
	idWriteJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     "https://graph.microsoft.com/oidc/userinfo",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
			"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver",
			"at_hash", "c_hash", "email"},
		"kerberos_endpoint":     base + "/kerberos",
		"tenant_region_scope":   "WW",
		"cloud_instance_name":   "microsoftonline.com",
		"cloud_graph_host_name": "graph.windows.net",
		"msgraph_host":          "graph.microsoft.com",
		"rbac_url":              "https://pas.windows.net",
	})
}

// handleKeys serves the key that signs the ID tokens (and the OIDC tokens) as a JWKS.
func (id *Identity) handleKeys(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !id.knownTenant(tenant) {
		id.writeEntraError(w, r, newEntraError(http.StatusBadRequest, "invalid_tenant", 90002, "%s", id.tenantNotFound(tenant)))
		return
	}
	pub := id.key.PublicKey
	idWriteJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA",
		"use": "sig",
		"kid": id.keyID,
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// handleUserRealm tells MSAL's username/password flow that every account is managed (cloud
// only), so it posts the password grant here instead of looking for a federation server.
func (id *Identity) handleUserRealm(w http.ResponseWriter, r *http.Request) {
	username := r.PathValue("username")
	_, domain, _ := strings.Cut(username, "@")
	idWriteJSON(w, http.StatusOK, map[string]any{
		"ver":                 "1.0",
		"account_type":        "Managed",
		"domain_name":         domain,
		"cloud_instance_name": "microsoftonline.com",
		"cloud_audience_urn":  "urn:federation:MicrosoftOnline",
	})
}

// handleToken is the token endpoint: client credentials (secret, certificate assertion,
// federated assertion), password and refresh token grants.
func (id *Identity) handleToken(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !id.knownTenant(tenant) {
		id.writeEntraError(w, r, newEntraError(http.StatusBadRequest, "invalid_request", 90002, "%s", id.tenantNotFound(tenant)))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		id.writeEntraError(w, r, newEntraError(http.StatusBadRequest, "invalid_request", 900144,
			"The request body must be application/x-www-form-urlencoded: %v", err))
		return
	}
	var (
		resp map[string]any
		err  *entraError
	)
	switch grant := r.PostForm.Get("grant_type"); grant {
	case grantClientCredentials:
		resp, err = id.clientCredentials(r)
	case grantPassword:
		resp, err = id.passwordGrant(r)
	case grantRefreshToken:
		resp, err = id.refreshGrant(r)
	case "":
		err = entraMissingParameter("grant_type")
	default:
		err = newEntraError(http.StatusBadRequest, "unsupported_grant_type", 70003,
			"The app requested an unsupported grant type '%s'.", grant)
	}
	if err != nil {
		id.writeEntraError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	idWriteJSON(w, http.StatusOK, resp)
}

// clientCredentials signs an app in with its secret or a client assertion.
func (id *Identity) clientCredentials(r *http.Request) (map[string]any, *entraError) {
	app, err := id.authenticateClient(r)
	if err != nil {
		return nil, err
	}
	resource, err := id.checkScope(r.PostForm.Get("scope"), true)
	if err != nil {
		return nil, err
	}
	token, lifetime := id.issue(idAppPrincipal(app.App), resource)
	return map[string]any{
		"token_type":     "Bearer",
		"expires_in":     lifetime,
		"ext_expires_in": lifetime,
		"access_token":   token,
	}, nil
}

// authenticateClient finds the app and checks its credential: client_secret, or a
// client_assertion that is either the app's own certificate-signed JWT (iss = sub = client id)
// or a federated token (any other issuer) matching one of its federated credentials.
func (id *Identity) authenticateClient(r *http.Request) (*idApp, *entraError) {
	clientID := r.PostForm.Get("client_id")
	if clientID == "" {
		return nil, entraMissingParameter("client_id")
	}
	app, ok := id.apps[strings.ToLower(clientID)]
	if !ok {
		return nil, newEntraError(http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been "+
				"installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your "+
				"authentication request to the wrong tenant.", clientID, id.tenantID)
	}
	secret, assertion := r.PostForm.Get("client_secret"), r.PostForm.Get("client_assertion")
	switch {
	case secret != "":
		if !idSecretEqual(secret, app.Secret) {
			return nil, newEntraError(http.StatusUnauthorized, "invalid_client", 7000215,
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "+
					"not the client secret ID, for a secret added to app '%s'.", app.ClientID)
		}
		return app, nil
	case assertion != "":
		if t := r.PostForm.Get("client_assertion_type"); t != jwtBearerAssertionType {
			return nil, newEntraError(http.StatusBadRequest, "invalid_request", 900144,
				"The request body must contain the following parameter: 'client_assertion_type' with the value '%s'.", jwtBearerAssertionType)
		}
		jwt, err := idParseJWT(assertion)
		if err != nil {
			return nil, newEntraError(http.StatusUnauthorized, "invalid_client", 50027,
				"JWT token is invalid or malformed: %v.", err)
		}
		if strings.EqualFold(jwt.claims.Iss, app.ClientID) && strings.EqualFold(jwt.claims.Sub, app.ClientID) {
			return app, id.checkCertificateAssertion(r, app, jwt)
		}
		return app, id.checkFederatedAssertion(app, jwt)
	default:
		return nil, newEntraError(http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
}

// checkCertificateAssertion verifies a JWT the app signed with one of its registered
// certificates, found by the x5t#S256 (SHA-256) or x5t (SHA-1) thumbprint in its header.
func (id *Identity) checkCertificateAssertion(r *http.Request, app *idApp, jwt *idJWT) *entraError {
	thumb, sha256Thumb := jwt.header.X5t, false
	if jwt.header.X5tS256 != "" {
		thumb, sha256Thumb = jwt.header.X5tS256, true
	}
	given, _ := idDecodeThumbprint(thumb)
	shown := strings.ToUpper(hex.EncodeToString(given))
	var match bool
	for _, c := range app.certs {
		var sum []byte
		if sha256Thumb {
			s := sha256.Sum256(c.Raw)
			sum = s[:]
		} else {
			s := sha1.Sum(c.Raw) // #nosec G401 -- thumbprint, not a security hash
			sum = s[:]
		}
		if len(given) == 0 || string(sum) != string(given) {
			continue
		}
		match = true
		if jwt.verify(c.PublicKey.(*rsa.PublicKey)) == nil {
			return id.checkAssertionClaims(r, jwt)
		}
	}
	if match {
		return newEntraError(http.StatusUnauthorized, "invalid_client", 700027,
			"Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value., "+
				"Thumbprint of key used by client: '%s']", shown)
	}
	return newEntraError(http.StatusUnauthorized, "invalid_client", 700027,
		"The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., "+
			"Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]",
		shown, app.ClientID)
}

// checkAssertionClaims checks a certificate assertion's audience and validity window.
func (id *Identity) checkAssertionClaims(r *http.Request, jwt *idJWT) *entraError {
	base := id.baseURL(r) + "/" + id.tenantID
	// Entra accepts the token endpoint and, lately, the issuer as audience.
	accepted := []string{base + "/oauth2/v2.0/token", base + "/v2.0"}
	ok := false
	for _, aud := range jwt.claims.Aud {
		for _, a := range accepted {
			if strings.EqualFold(strings.TrimSuffix(aud, "/"), a) {
				ok = true
			}
		}
	}
	if !ok {
		return newEntraError(http.StatusUnauthorized, "invalid_client", 50012,
			"Client assertion audience claim does not match Realm issuer. Audience: '%s'; expected the token endpoint '%s'.",
			jwt.claims.Aud, accepted[0])
	}
	return id.checkAssertionTime(jwt)
}

// checkFederatedAssertion checks a token from another issuer against the app's federated
// credentials. The emulator knows one issuer's keys, its own (the Azure DevOps OIDC endpoint), so
// that is the only issuer whose tokens it can verify.
func (id *Identity) checkFederatedAssertion(app *idApp, jwt *idJWT) *entraError {
	c := jwt.claims
	matched := false
	for _, fc := range app.FederatedCredentials {
		aud := fc.Audience
		if aud == "" {
			aud = AzureADTokenExchange
		}
		if fc.Issuer == c.Iss && fc.Subject == c.Sub && slices.Contains(c.Aud, aud) {
			matched = true
			break
		}
	}
	if !matched {
		return newEntraError(http.StatusBadRequest, "invalid_request", 70021,
			"No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. "+
				"Assertion Audience: '%s'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation", c.Iss, c.Sub, c.Aud)
	}
	if jwt.header.Kid != id.keyID || jwt.verify(&id.key.PublicKey) != nil {
		return newEntraError(http.StatusUnauthorized, "invalid_client", 700027,
			"Client assertion failed signature validation. [Reason - The key used to sign the assertion was not found at the issuer '%s'.]", c.Iss)
	}
	return id.checkAssertionTime(jwt)
}

// checkAssertionTime checks nbf and exp with Entra's clock skew.
func (id *Identity) checkAssertionTime(jwt *idJWT) *entraError {
	now := id.now().UTC()
	nbf, exp := idUnixTime(jwt.claims.Nbf), idUnixTime(jwt.claims.Exp)
	if exp.IsZero() || now.After(exp.Add(assertionClockSkew)) || (!nbf.IsZero() && now.Add(assertionClockSkew).Before(nbf)) {
		const layout = "2006-01-02T15:04:05.0000000Z"
		return newEntraError(http.StatusUnauthorized, "invalid_client", 700024,
			"Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. "+
				"Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
			now.Format(layout), nbf.Format(layout), exp.Format(layout))
	}
	return nil
}

// checkScope returns the resource a scope parameter asks for. MSAL adds openid, profile and
// offline_access to every request; the rest must be the Power BI resource's /.default (client
// credentials) or, for a user, any of its permissions.
func (id *Identity) checkScope(scope string, appOnly bool) (string, *entraError) {
	var asked []string
	for _, s := range strings.Fields(scope) {
		switch strings.ToLower(s) {
		case "openid", "profile", "offline_access", "email":
		default:
			asked = append(asked, s)
		}
	}
	if len(asked) == 0 {
		return "", entraMissingParameter("scope")
	}
	for _, s := range asked {
		resource, perm := s, ""
		if i := strings.LastIndex(s, "/"); i > len("https://") {
			resource, perm = s[:i], s[i+1:]
		}
		if !strings.EqualFold(resource, id.resource) {
			return "", newEntraError(http.StatusBadRequest, "invalid_resource", 500011,
				"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been "+
					"installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your "+
					"authentication request to the wrong tenant.", resource, id.tenantID)
		}
		if appOnly && perm != ".default" {
			return "", newEntraError(http.StatusBadRequest, "invalid_scope", 1002012,
				"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed "+
					"to the resource identifier (application ID URI).", s)
		}
	}
	return id.resource, nil
}

// passwordGrant signs a user in with username and password (ROPC) through any public client.
func (id *Identity) passwordGrant(r *http.Request) (map[string]any, *entraError) {
	f := r.PostForm
	clientID := f.Get("client_id")
	if clientID == "" {
		return nil, entraMissingParameter("client_id")
	}
	if f.Get("username") == "" {
		return nil, entraMissingParameter("username")
	}
	if f.Get("password") == "" {
		return nil, entraMissingParameter("password")
	}
	user, ok := id.users[strings.ToLower(f.Get("username"))]
	if !ok || !idSecretEqual(f.Get("password"), user.Password) {
		return nil, newEntraError(http.StatusBadRequest, "invalid_grant", 50126,
			"Error validating credentials due to invalid username or password.")
	}
	resource, err := id.checkScope(f.Get("scope"), false)
	if err != nil {
		return nil, err
	}
	if user.MFARequired {
		return nil, newEntraError(http.StatusBadRequest, "interaction_required", 50076,
			"Due to a configuration change made by your administrator, or because you moved to a new location, you must use "+
				"multi-factor authentication to access '%s'.", resource)
	}
	return id.userTokens(r, user, clientID, resource, f.Get("scope"))
}

// refreshGrant redeems a refresh token issued by the password grant.
func (id *Identity) refreshGrant(r *http.Request) (map[string]any, *entraError) {
	f := r.PostForm
	rt := f.Get("refresh_token")
	if rt == "" {
		return nil, entraMissingParameter("refresh_token")
	}
	id.mu.Lock()
	g, ok := id.refresh[rt]
	id.mu.Unlock()
	switch {
	case !ok:
		return nil, newEntraError(http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
	case !id.now().Before(g.expires):
		return nil, newEntraError(http.StatusBadRequest, "invalid_grant", 700082,
			"The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.",
			g.expires.Add(-refreshTokenLifetime).UTC().Format(time.RFC3339), refreshTokenLifetime)
	case !strings.EqualFold(f.Get("client_id"), g.clientID):
		return nil, newEntraError(http.StatusBadRequest, "invalid_grant", 70000,
			"Provided grant is invalid or malformed. The refresh token was issued to a different client.")
	}
	user, ok := id.users[strings.ToLower(g.principal.Identifier)]
	if !ok {
		return nil, newEntraError(http.StatusBadRequest, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
	}
	resource, err := id.checkScope(f.Get("scope"), false)
	if err != nil {
		return nil, err
	}
	return id.userTokens(r, user, g.clientID, resource, f.Get("scope"))
}

// userTokens issues what a public client needs after a user signs in: the access token, a
// refresh token, an ID token and client_info (MSAL builds the account's home id from it).
func (id *Identity) userTokens(r *http.Request, user *User, clientID, resource, scope string) (map[string]any, *entraError) {
	p := idUserPrincipal(user)
	token, lifetime := id.issue(p, resource)
	rt := idRandomToken()
	now := id.now()
	id.mu.Lock()
	id.refresh[rt] = idGrant{principal: p, resource: resource, clientID: clientID, expires: now.Add(refreshTokenLifetime)}
	id.remember(rt)
	id.mu.Unlock()

	idToken, err := idSignJWT(id.key, id.keyID, map[string]any{
		"aud":                clientID,
		"iss":                id.baseURL(r) + "/" + id.tenantID + "/v2.0",
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(id.opts.TokenLifetime).Unix(),
		"name":               user.DisplayName,
		"oid":                user.ObjectID,
		"preferred_username": user.UPN,
		"sub":                user.ObjectID,
		"tid":                id.tenantID,
		"ver":                "2.0",
	})
	if err != nil {
		return nil, newEntraError(http.StatusInternalServerError, "server_error", 50000, "There was an error issuing a token: %v", err)
	}
	info, _ := json.Marshal(map[string]string{"uid": user.ObjectID, "utid": id.tenantID})
	return map[string]any{
		"token_type":     "Bearer",
		"scope":          scope,
		"expires_in":     lifetime,
		"ext_expires_in": lifetime,
		"access_token":   token,
		"refresh_token":  rt,
		"id_token":       idToken,
		// MSAL decodes client_info as unpadded base64url.
		"client_info": base64.RawURLEncoding.EncodeToString(info),
	}, nil
}

// idWriteJSON writes v as the JSON response body.
func idWriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// idLooksLikeUUID reports whether s has the shape of a UUID (as a client-request-id should).
func idLooksLikeUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", c):
			return false
		}
	}
	return true
}
