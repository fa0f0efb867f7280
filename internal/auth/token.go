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
	Endpoint   Endpoint
	Cloud      Cloud
	HTTPClient *http.Client
	// Mask registers a derived secret with the agent's log masker (task.setsecret) before
	// anything could print it.
	Mask func(secret string)
	Now  func() time.Time
}

// TokenSource hands out Power BI access tokens: fetched on first use, cached for the process
// until shortly before they expire, and masked the moment they arrive.
type TokenSource struct {
	acquire  func(ctx context.Context) (token string, expires time.Time, err error)
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
}

// NewTokenSource builds the token source for a connection's scheme. Nothing is sent until the
// first Token call.
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
	p := cfg.Endpoint.Param
	tenant := strings.TrimSpace(p("tenantid"))
	clientID := strings.TrimSpace(p("serviceprincipalid"))
	switch strings.ToLower(cfg.Scheme) {
	case "serviceprincipal":
		if tenant == "" || clientID == "" {
			return nil, errors.New("service connection: the service principal scheme needs tenantid and serviceprincipalid; edit the connection and fill in the tenant ID and the application (client) ID")
		}
		authType := p("authenticationType")
		if authType != "" && !strings.EqualFold(authType, "spnKey") {
			return nil, fmt.Errorf("service connection: authentication type %q is not supported by this version; use a client secret (spnKey)", authType)
		}
		secret := p("serviceprincipalkey")
		if secret == "" {
			return nil, errors.New("service connection: the service principal key (client secret) is empty")
		}
		cred, err := confidential.NewCredFromSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("service connection: %w", err)
		}
		return confidentialSource(cfg, tenant, clientID, cred)
	case "":
		return nil, errors.New("service connection: the agent passed no authentication scheme (ENDPOINT_AUTH_SCHEME_<id> is empty)")
	default:
		return nil, fmt.Errorf("service connection: authentication scheme %q is not supported; expected ServicePrincipal", cfg.Scheme)
	}
}

func confidentialSource(cfg Config, tenant, clientID string, cred confidential.Credential) (*TokenSource, error) {
	authority := cfg.Cloud.AuthorityHost + "/" + tenant
	app, err := confidential.New(authority, clientID, cred,
		confidential.WithHTTPClient(cfg.HTTPClient),
		// Our own table (or the connection's Custom fields) names the authority; MSAL's network
		// discovery would only reach the public cloud.
		confidential.WithInstanceDiscovery(false))
	if err != nil {
		return nil, fmt.Errorf("service connection: authority %s: %w", authority, err)
	}
	who := fmt.Sprintf("service principal %s in tenant %s", clientID, tenant)
	return &TokenSource{
		Identity: who,
		mask:     cfg.Mask,
		now:      cfg.Now,
		acquire: func(ctx context.Context) (string, time.Time, error) {
			res, err := app.AcquireTokenByCredential(ctx, []string{cfg.Cloud.Scope})
			if err != nil {
				return "", time.Time{}, signInError(who, authority, err)
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
}

// signInError turns MSAL's error (which carries Entra's JSON reply, never the request) into a
// one-line explanation with the next step.
func signInError(who, authority string, err error) error {
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
	return e
}
