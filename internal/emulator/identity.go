package emulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// This file is the identity half of the emulator: a fake Entra ID tenant that MSAL signs in to
// exactly as to login.microsoftonline.com (identity_entra.go), the Azure DevOps OIDC token
// endpoint the agent exposes for workload identity federation (identity_ado.go) and an App
// Service-style managed identity endpoint (identity_msi.go). The Power BI half asks it who a
// bearer token stands for (Authenticate) and who a role assignment names (ResolvePrincipal).

// DefaultResource is the Power BI resource tokens are issued for when the seed names none.
const DefaultResource = "https://analysis.windows.net/powerbi/api"

// AzureADTokenExchange is the audience of OIDC tokens exchanged with Entra (workload identity
// federation) and the default audience of a federated credential.
const AzureADTokenExchange = "api://AzureADTokenExchange"

// expiredTokenMemory is how long an expired access token is still recognised as expired.
const expiredTokenMemory = 24 * time.Hour

// Errors returned by Authenticate. The Power BI half maps them to its 401 responses
// (Power BI answers an expired token with code TokenExpired).
var (
	ErrMissingToken = errors.New("the request has no bearer token")
	ErrInvalidToken = errors.New("the bearer token was not issued by this emulator")
	ErrExpiredToken = errors.New("the bearer token has expired")
)

// IdentityOptions tunes the fake sign-in. The zero value is usable.
type IdentityOptions struct {
	// TokenLifetime is how long access tokens last; default 1h. MSAL refuses to cache tokens that
	// expire within 5 minutes, so keep it above that.
	TokenLifetime time.Duration
	// OIDCTokenLifetime is how long the Azure DevOps OIDC tokens last; default 10m, as in the
	// service.
	OIDCTokenLifetime time.Duration
	// Now is the clock; default time.Now. Tests inject one to expire tokens.
	Now func() time.Time
	// Issuer returns the server's base URL, e.g. https://127.0.0.1:7443, known once it listens.
	// When nil, the base URL is taken from each request's Host.
	Issuer func() string
}

// Identity serves the emulator's sign-in endpoints and remembers the tokens it issued. It is safe
// for concurrent use. The seed's principals are indexed when it is created; later changes to the
// seed are not seen.
type Identity struct {
	opts      IdentityOptions
	tenantID  string
	resource  string
	key       *rsa.PrivateKey // signs OIDC and ID tokens
	keyID     string
	msiHeader string // the IDENTITY_HEADER secret the managed identity endpoint expects
	ado       adoSettings

	apps       map[string]*idApp // by lower-cased client id
	appsByOID  map[string]*App   // by lower-cased service principal object id
	users      map[string]*User  // by lower-cased UPN
	groups     map[string]*Group // by lower-cased object id
	managedIDs []*App            // apps that are managed identities, in seed order

	mu          sync.Mutex
	accessToken map[string]idGrant // by token
	refresh     map[string]idGrant // by refresh token
	oidcIssued  int
	issued      []string // every token handed out, for leak tests
}

// idApp is an app registration with its parsed certificates.
type idApp struct {
	*App
	certs []*x509.Certificate
}

// idGrant is what an issued token stands for.
type idGrant struct {
	principal Principal
	resource  string
	clientID  string // refresh tokens: the public client they were issued to
	expires   time.Time
}

// adoSettings is the seed's Azure DevOps organisation with defaults applied.
type adoSettings struct {
	orgName, orgID, projectName, projectID, jobToken string
	connections                                      []ServiceConnection
}

// NewIdentity indexes the seed's principals and credentials and creates the signing key.
func NewIdentity(seed *Seed, opts IdentityOptions) (*Identity, error) {
	if seed == nil {
		return nil, errors.New("identity: no seed")
	}
	if strings.TrimSpace(seed.TenantID) == "" {
		return nil, errors.New("identity: seed has no tenantId")
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.OIDCTokenLifetime <= 0 {
		opts.OIDCTokenLifetime = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	id := &Identity{
		opts:        opts,
		tenantID:    seed.TenantID,
		resource:    strings.TrimSuffix(seed.Resource, "/"),
		apps:        map[string]*idApp{},
		appsByOID:   map[string]*App{},
		users:       map[string]*User{},
		groups:      map[string]*Group{},
		accessToken: map[string]idGrant{},
		refresh:     map[string]idGrant{},
	}
	if id.resource == "" {
		id.resource = DefaultResource
	}
	for i := range seed.Apps {
		app := seed.Apps[i] // a copy: the index must not follow later edits of the seed
		if app.ClientID == "" {
			return nil, fmt.Errorf("identity: app %d (%q) has no clientId", i, app.DisplayName)
		}
		key := strings.ToLower(app.ClientID)
		if _, dup := id.apps[key]; dup {
			return nil, fmt.Errorf("identity: two apps have clientId %s", app.ClientID)
		}
		certs, err := idParseCertificates(app.CertificatePEM)
		if err != nil {
			return nil, fmt.Errorf("identity: app %s certificatePem: %w", app.ClientID, err)
		}
		id.apps[key] = &idApp{App: &app, certs: certs}
		if app.ObjectID != "" {
			id.appsByOID[strings.ToLower(app.ObjectID)] = &app
		}
		if app.ManagedIdentity {
			id.managedIDs = append(id.managedIDs, &app)
		}
	}
	for i := range seed.Users {
		u := seed.Users[i]
		if u.UPN == "" {
			return nil, fmt.Errorf("identity: user %d (%q) has no upn", i, u.DisplayName)
		}
		id.users[strings.ToLower(u.UPN)] = &u
	}
	for i := range seed.Groups {
		g := seed.Groups[i]
		id.groups[strings.ToLower(g.ObjectID)] = &g
	}
	id.ado = newADOSettings(seed.Azure)

	var err error
	if id.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, fmt.Errorf("identity: signing key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&id.key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("identity: signing key: %w", err)
	}
	sum := sha256.Sum256(der)
	id.keyID = base64.RawURLEncoding.EncodeToString(sum[:20])
	if id.ado.jobToken == "" {
		id.ado.jobToken = idRandomToken()
	}
	id.msiHeader = idRandomToken()
	return id, nil
}

// Register adds the identity routes to mux (Go 1.22 patterns).
func (id *Identity) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", id.handleOpenIDConfiguration)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", id.handleKeys)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", id.handleToken)
	mux.HandleFunc("GET /common/UserRealm/{username}", id.handleUserRealm)
	mux.HandleFunc("POST /{org}/{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/jobs/{job}/oidctoken", id.handleOIDCToken)
	mux.HandleFunc("GET "+msiTokenPath, id.handleManagedIdentityToken)
}

// Authenticate returns who the request's bearer token stands for: ErrMissingToken without one,
// ErrInvalidToken for a token this emulator did not issue, ErrExpiredToken once it has expired.
func (id *Identity) Authenticate(r *http.Request) (*Principal, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, ErrMissingToken
	}
	id.mu.Lock()
	g, found := id.accessToken[token]
	id.mu.Unlock()
	switch {
	case !found:
		return nil, ErrInvalidToken
	case !id.now().Before(g.expires):
		return nil, ErrExpiredToken
	}
	p := g.principal
	return &p, nil
}

// ResolvePrincipal finds the principal a Power BI role assignment names: a User by UPN (any
// case), an App by its service principal object id, a Group by object id.
func (id *Identity) ResolvePrincipal(identifier, principalType string) (*Principal, bool) {
	key := strings.ToLower(strings.TrimSpace(identifier))
	switch strings.ToLower(principalType) {
	case "user":
		if u, ok := id.users[key]; ok {
			p := idUserPrincipal(u)
			return &p, true
		}
	case "app":
		if a, ok := id.appsByOID[key]; ok {
			p := idAppPrincipal(a)
			return &p, true
		}
	case "group":
		if g, ok := id.groups[key]; ok {
			return &Principal{Type: "Group", ObjectID: g.ObjectID, Identifier: g.ObjectID, DisplayName: g.DisplayName}, true
		}
	}
	return nil, false
}

// OIDCTokensIssued counts the OIDC tokens the Azure DevOps endpoint has issued, so tests can
// show a task fetching a fresh one when the last has expired.
func (id *Identity) OIDCTokensIssued() int {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.oidcIssued
}

// JobToken is the bearer token (System.AccessToken) the OIDC endpoint accepts: the seed's, or a
// random one when the seed has none.
func (id *Identity) JobToken() string { return id.ado.jobToken }

// OIDCIssuer is the issuer of the OIDC tokens: https://vstoken.dev.azure.com/<organization id>.
// Federated credentials that trust them name it.
func (id *Identity) OIDCIssuer() string { return adoIssuerPrefix + id.ado.orgID }

func idUserPrincipal(u *User) Principal {
	return Principal{Type: "User", ObjectID: u.ObjectID, Identifier: u.UPN, DisplayName: u.DisplayName}
}

func idAppPrincipal(a *App) Principal {
	return Principal{Type: "App", ObjectID: a.ObjectID, Identifier: a.ObjectID, DisplayName: a.DisplayName}
}

func (id *Identity) now() time.Time { return id.opts.Now() }

// baseURL is the server's scheme and host, without a trailing slash.
func (id *Identity) baseURL(r *http.Request) string {
	if id.opts.Issuer != nil {
		if u := strings.TrimSuffix(id.opts.Issuer(), "/"); u != "" {
			return u
		}
	}
	return "https://" + r.Host
}

// issue remembers a new access token for principal and returns it with its lifetime in seconds.
func (id *Identity) issue(p Principal, resource string) (string, int) {
	token := idRandomToken()
	now := id.now()
	id.mu.Lock()
	defer id.mu.Unlock()
	// Forget tokens long expired so a long-running demo does not grow without bound; recently
	// expired ones stay known, so their callers hear "expired" rather than "invalid".
	for k, g := range id.accessToken {
		if now.Sub(g.expires) > expiredTokenMemory {
			delete(id.accessToken, k)
		}
	}
	id.accessToken[token] = idGrant{principal: p, resource: resource, expires: now.Add(id.opts.TokenLifetime)}
	id.remember(token)
	return token, int(id.opts.TokenLifetime / time.Second)
}

// idRandomToken returns 32 random bytes, base64url-encoded.
func idRandomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// idNewUUID returns a random (version 4) UUID.
func idNewUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// idSecretEqual compares secrets in constant time.
func idSecretEqual(given, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(given), []byte(want)) == 1
}

// idParseCertificates reads the CERTIFICATE blocks of a PEM document (other blocks, such as a
// private key pasted along, are ignored). Only RSA keys are supported, as MSAL Go signs with
// RSA.
func idParseCertificates(pemText string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(pemText)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("certificate %q does not hold an RSA key", c.Subject)
		}
		certs = append(certs, c)
	}
	if strings.TrimSpace(pemText) != "" && len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE block found")
	}
	return certs, nil
}
