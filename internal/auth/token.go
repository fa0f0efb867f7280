package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// Endpoint is the part of a service connection sign-in reads (agent.Endpoint satisfies it).
type Endpoint interface {
	Param(key string) string
	Data(key string) string
}

// Config is what NewTokenSource needs: the connection and the task's surroundings.
type Config struct {
	Scheme     string // ENDPOINT_AUTH_SCHEME_<id>
	EndpointID string // the connection's id: the serviceConnectionId of workload identity
	Endpoint   Endpoint
	Cloud      Cloud
	HTTPClient *http.Client
	// Mask registers a derived secret with the agent's log masker (task.setsecret) before
	// anything could print it.
	Mask func(secret string)
	// Warn logs a warning (task.logissue type=warning).
	Warn func(format string, args ...any)
	// Getenv reads the agent's variables (workload identity needs the job's OIDC request URI
	// and token).
	Getenv func(string) string
	Now    func() time.Time
}

// TokenSource hands out Power BI access tokens: fetched on first use, cached for the process
// until shortly before they expire, and masked the moment they arrive.
type TokenSource struct {
	acquire func(ctx context.Context) (token string, expires time.Time, err error)
	// forget, when set, drops the sign-in library's own token cache too, so that the next
	// acquire really asks Entra (MSAL would otherwise hand back the refused token).
	forget   func()
	mask     func(string)
	now      func() time.Time
	Identity string // who signs in, for messages: "service principal <id> in tenant <tenant>"

	mu      sync.Mutex
	token   string
	expires time.Time
}

// refreshMargin renews a token this long before it expires, so a request never leaves with a
// token that dies in flight.
const refreshMargin = 5 * time.Minute

// Token returns a valid access token, signing in when there is none.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.expires.Add(-refreshMargin)) {
		return s.token, nil
	}
	tok, exp, err := s.acquire(ctx)
	if err != nil {
		return "", err
	}
	s.mask(tok)
	s.token, s.expires = tok, exp
	return tok, nil
}

// Invalidate drops the cached token (after a 401) so the next call signs in again.
func (s *TokenSource) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = ""
	if s.forget != nil {
		s.forget()
	}
}

// NewTokenSource builds the token source for a connection's scheme. Everything that can be
// checked without the network is checked here; nothing is sent until the first Token call.
func NewTokenSource(cfg Config) (*TokenSource, error) {
	if cfg.Mask == nil {
		return nil, errors.New("auth: Config.Mask is required: every token must be masked")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" }
	}
	if cfg.Warn == nil {
		cfg.Warn = func(string, ...any) {}
	}
	p := cfg.Endpoint.Param
	tenant := strings.TrimSpace(p("tenantid"))
	clientID := strings.TrimSpace(p("serviceprincipalid"))
	needIDs := func(scheme string) error {
		if tenant == "" || clientID == "" {
			return fmt.Errorf("service connection: the %s scheme needs the tenant ID and the application (client) ID (tenantid, serviceprincipalid); edit the connection and fill them in", scheme)
		}
		return nil
	}
	switch strings.ToLower(cfg.Scheme) {
	case "serviceprincipal":
		if err := needIDs("service principal"); err != nil {
			return nil, err
		}
		switch authType := p("authenticationType"); {
		case authType == "" && p("serviceprincipalkey") != "", strings.EqualFold(authType, "spnKey"):
			secret := p("serviceprincipalkey")
			if secret == "" {
				return nil, errors.New("service connection: the service principal key (client secret) is empty")
			}
			cred, err := confidential.NewCredFromSecret(secret)
			if err != nil {
				return nil, fmt.Errorf("service connection: %w", err)
			}
			return confidentialSource(cfg, tenant, clientID, cred, "a client secret", false, nil)
		case strings.EqualFold(authType, "spnCertificate") || authType == "":
			certs, key, err := ParseCertificatePEM(p("servicePrincipalCertificate"))
			if err != nil {
				return nil, fmt.Errorf("service connection: servicePrincipalCertificate: %w", err)
			}
			cred, err := confidential.NewCredFromCert(certs, key)
			if err != nil {
				return nil, fmt.Errorf("service connection: servicePrincipalCertificate: %w", err)
			}
			x5c := strings.EqualFold(strings.TrimSpace(p("sendX5c")), "true") || strings.EqualFold(strings.TrimSpace(cfg.Endpoint.Data("sendX5c")), "true")
			return confidentialSource(cfg, tenant, clientID, cred, "a certificate", x5c, nil)
		default:
			return nil, fmt.Errorf("service connection: authenticationType %q is not known; expected spnKey or spnCertificate", authType)
		}
	case "workloadidentityfederation":
		if err := needIDs("workload identity federation"); err != nil {
			return nil, err
		}
		oidc, err := newOIDCSource(cfg)
		if err != nil {
			return nil, err
		}
		cred := confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
			return oidc.Token(ctx)
		})
		return confidentialSource(cfg, tenant, clientID, cred, "workload identity federation", false, oidc)
	case "managedserviceidentity":
		return managedIdentitySource(cfg, tenant)
	case "usernamepassword":
		return passwordSource(cfg, tenant)
	case "":
		return nil, errors.New("service connection: the agent passed no authentication scheme (ENDPOINT_AUTH_SCHEME_<id> is empty)")
	default:
		return nil, fmt.Errorf("service connection: authentication scheme %q is not supported; expected WorkloadIdentityFederation, ServicePrincipal, ManagedServiceIdentity or UsernamePassword", cfg.Scheme)
	}
}

func confidentialSource(cfg Config, tenant, clientID string, cred confidential.Credential, how string, x5c bool, oidc *oidcSource) (*TokenSource, error) {
	authority := cfg.Cloud.AuthorityHost + "/" + tenant
	opts := []confidential.Option{
		confidential.WithHTTPClient(cfg.HTTPClient),
		// Our own table (or the connection's Custom fields) names the authority; MSAL's network
		// discovery would only reach the public cloud.
		confidential.WithInstanceDiscovery(false),
	}
	if x5c {
		// Subject name / issuer authentication: Entra needs the certificate chain.
		opts = append(opts, confidential.WithX5C())
	}
	// A new client has an empty cache: Invalidate drops the old one.
	app, err := newRenewable(func() (confidential.Client, error) { return confidential.New(authority, clientID, cred, opts...) })
	if err != nil {
		return nil, fmt.Errorf("service connection: authority %s: %w", authority, err)
	}
	who := fmt.Sprintf("service principal %s in tenant %s with %s", clientID, tenant, how)
	return &TokenSource{
		Identity: who,
		mask:     cfg.Mask,
		now:      cfg.Now,
		forget:   app.forget,
		acquire: func(ctx context.Context) (string, time.Time, error) {
			client, err := app.get()
			if err != nil {
				return "", time.Time{}, err
			}
			res, err := client.AcquireTokenByCredential(ctx, []string{cfg.Cloud.Scope})
			if err != nil {
				var presented *Claims
				if oidc != nil {
					presented = oidc.LastClaims()
				}
				return "", time.Time{}, signInError(who, authority, err, presented)
			}
			return res.AccessToken, res.ExpiresOn, nil
		},
	}, nil
}

// SignInError is a failed sign-in, reduced to what a user can act on.
type SignInError struct {
	Who, Authority string
	Code           string // AADSTS code, e.g. AADSTS7000215
	Description    string // Entra's first line
	Hint           string
	Err            error
}

func (e *SignInError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sign-in to %s as %s failed", e.Authority, e.Who)
	if e.Description != "" {
		fmt.Fprintf(&b, ": %s", e.Description)
	} else if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Hint != "" {
		fmt.Fprintf(&b, ". %s", e.Hint)
	}
	return b.String()
}

func (e *SignInError) Unwrap() error { return e.Err }

var aadsts = regexp.MustCompile(`AADSTS\d+`)

// hints say what to do next for the Entra errors users meet most.
var hints = map[string]string{
	"AADSTS7000215": "The client secret is wrong or expired: create a new secret for the app registration and update the service connection",
	"AADSTS7000222": "The client secret has expired: create a new secret for the app registration and update the service connection",
	"AADSTS700016":  "No app with this client ID exists in the tenant: check the application (client) ID and the tenant ID on the service connection",
	"AADSTS90002":   "The tenant was not found: check the tenant ID on the service connection and the environment (cloud)",
	"AADSTS500011":  "The Power BI resource was not found in the tenant: check the connection's environment (cloud)",
	"AADSTS70021":   "The app registration has no federated credential matching the service connection: add one with the issuer and subject the service connection shows",
	"AADSTS700024":  "The ID token from Azure DevOps expired before Entra saw it: check the agent's clock, and run the job again",
	"AADSTS700027":  "The certificate is not registered on the app registration (or its key does not match): upload the certificate's public part to the app registration",
	"AADSTS50126":   "The user name or password is wrong: check the service connection",
	"AADSTS50076":   "The account needs multi-factor authentication, which a pipeline cannot do: use a service principal, workload identity federation or a managed identity instead",
	"AADSTS50079":   "The account must register for multi-factor authentication, which a pipeline cannot do: use a service principal, workload identity federation or a managed identity instead",
	"AADSTS50034":   "The user does not exist in the tenant: check the user name and the tenant ID",
	"AADSTS50053":   "The account is locked after too many failed sign-ins: wait, then check the password on the service connection",
	"AADSTS7000112": "The application is disabled in the tenant: enable it or use another app registration",
}

// signInError turns MSAL's error (which carries Entra's JSON reply, never the request) into a
// one-line explanation with the next step.
func signInError(who, authority string, err error, presented *Claims) error {
	e := &SignInError{Who: who, Authority: authority, Err: err}
	msg := err.Error()
	if i := strings.Index(msg, "{"); i >= 0 {
		var body struct {
			Description string `json:"error_description"`
		}
		if json.Unmarshal([]byte(msg[i:]), &body) == nil && body.Description != "" {
			// Entra appends Trace ID / Correlation ID / Timestamp on later lines: keep them
			// out of the headline but keep the trace id for support.
			first, rest, _ := strings.Cut(body.Description, "\r\n")
			e.Description = strings.TrimSpace(first)
			for _, line := range strings.Split(rest, "\r\n") {
				if strings.HasPrefix(line, "Trace ID:") || strings.HasPrefix(line, "Correlation ID:") {
					e.Description += " (" + strings.TrimSpace(line) + ")"
				}
			}
		}
	}
	e.Code = aadsts.FindString(msg)
	e.Hint = hints[e.Code]
	if presented != nil && federationCodes[e.Code] {
		e.Hint = fmt.Sprintf("The app registration has no federated credential for what the task presented: add one with issuer %q, subject %q and audience %q (the service connection shows them)",
			presented.Issuer, presented.Subject, presented.Audience)
	}
	return e
}

// federationCodes are Entra's answers to an assertion no federated credential matches.
var federationCodes = map[string]bool{"AADSTS70021": true, "AADSTS700213": true, "AADSTS700211": true, "AADSTS700212": true}

// renewable holds a sign-in library client. MSAL keeps its token cache in the client, so
// after a 401 (Invalidate) the client is made anew: MSAL would otherwise hand the refused
// token back until it expires. Used under TokenSource.mu.
type renewable[T any] struct {
	newClient func() (T, error)
	client    T
	stale     bool
}

func newRenewable[T any](newClient func() (T, error)) (*renewable[T], error) {
	c, err := newClient()
	if err != nil {
		return nil, err
	}
	return &renewable[T]{newClient: newClient, client: c}, nil
}

func (r *renewable[T]) get() (T, error) {
	if r.stale {
		c, err := r.newClient()
		if err != nil {
			return c, err
		}
		r.client, r.stale = c, false
	}
	return r.client, nil
}

func (r *renewable[T]) forget() { r.stale = true }
