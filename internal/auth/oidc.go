package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// oidcSource fetches the Azure DevOps ID token that workload identity federation exchanges for
// an Entra token. It is asked each time MSAL needs an assertion (the ID token lives about ten
// minutes, the Entra token about an hour), so a long wait keeps signing in with a fresh one.
type oidcSource struct {
	url      string // full request URL, query included
	jobToken string
	http     *http.Client
	mask     func(string)

	mu   sync.Mutex
	last *Claims
}

// Claims are the parts of an ID token a user needs to set up the federated credential.
type Claims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience any    `json:"aud"`
}

func newOIDCSource(cfg Config) (*oidcSource, error) {
	env := func(k string) string { return strings.TrimSpace(cfg.Getenv(k)) }
	if cfg.EndpointID == "" {
		return nil, errors.New("workload identity federation: the service connection id is unknown")
	}
	jobToken := env("ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN")
	if jobToken == "" {
		return nil, errors.New("workload identity federation needs the job's access token (ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN), which the agent passes to every task; it is missing — is this running outside an Azure Pipelines job?")
	}
	var base string
	if uri := env("SYSTEM_OIDCREQUESTURI"); uri != "" {
		base = uri
	} else {
		// Older agents and Azure DevOps Server: build the Distributed Task oidctoken route.
		collection := env("SYSTEM_COLLECTIONURI")
		if collection == "" {
			collection = env("SYSTEM_TEAMFOUNDATIONCOLLECTIONURI")
		}
		parts := map[string]string{"SYSTEM_COLLECTIONURI": collection, "SYSTEM_TEAMPROJECTID": env("SYSTEM_TEAMPROJECTID"),
			"SYSTEM_HOSTTYPE": env("SYSTEM_HOSTTYPE"), "SYSTEM_PLANID": env("SYSTEM_PLANID"), "SYSTEM_JOBID": env("SYSTEM_JOBID")}
		var missing []string
		for _, k := range []string{"SYSTEM_COLLECTIONURI", "SYSTEM_TEAMPROJECTID", "SYSTEM_HOSTTYPE", "SYSTEM_PLANID", "SYSTEM_JOBID"} {
			if parts[k] == "" {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("workload identity federation: SYSTEM_OIDCREQUESTURI is not set and the variables to build the oidctoken route are missing too (%s)", strings.Join(missing, ", "))
		}
		base = fmt.Sprintf("%s/%s/_apis/distributedtask/hubs/%s/plans/%s/jobs/%s/oidctoken",
			strings.TrimRight(collection, "/"), url.PathEscape(parts["SYSTEM_TEAMPROJECTID"]), url.PathEscape(parts["SYSTEM_HOSTTYPE"]),
			url.PathEscape(parts["SYSTEM_PLANID"]), url.PathEscape(parts["SYSTEM_JOBID"]))
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("workload identity federation: the OIDC request URI %q is not an absolute URL", base)
	}
	q := u.Query()
	q.Set("api-version", "7.1")
	q.Set("serviceConnectionId", cfg.EndpointID)
	u.RawQuery = q.Encode()
	// The job's access token goes to the OIDC request URI's origin only: net/http would forward
	// the Authorization header across a redirect to the same host name on any port or scheme
	// (plain http too) and to its subdomains.
	hc := http.Client{}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = sameOriginRedirect
	return &oidcSource{url: u.String(), jobToken: jobToken, http: &hc, mask: cfg.Mask}, nil
}

// sameOriginRedirect follows a redirect only to the first request's scheme, host and port.
func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if from, to := origin(via[0].URL), origin(req.URL); from != to {
		return fmt.Errorf("refused to follow a redirect from %s to %s with the job's access token", from, to)
	}
	return nil
}

// origin is scheme://host:port in lower case, with the scheme's default port filled in.
func origin(u *url.URL) string {
	scheme, port := strings.ToLower(u.Scheme), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[scheme]
	}
	return scheme + "://" + strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}

// Token asks Azure DevOps for a new ID token for the service connection. The HTTP client's
// transport repeats a request answered 429 or 5xx, or cut off (see taskrun).
func (o *oidcSource) Token(ctx context.Context) (string, error) {
	return o.fetch(ctx)
}

func (o *oidcSource) fetch(ctx context.Context) (token string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader([]byte("{}")))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+o.jobToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := o.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("workload identity federation: asking Azure DevOps for an ID token: %w", stripURL(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var ado struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &ado)
		msg := ado.Message
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return "", fmt.Errorf("workload identity federation: Azure DevOps refused an ID token for service connection %s: %d %s", o.connectionID(), resp.StatusCode, msg)
	}
	var out struct {
		OIDCToken string `json:"oidcToken"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.OIDCToken == "" {
		return "", errors.New("workload identity federation: Azure DevOps answered without an ID token")
	}
	o.mask(out.OIDCToken)
	o.mu.Lock()
	o.last = decodeClaims(out.OIDCToken)
	o.mu.Unlock()
	return out.OIDCToken, nil
}

func (o *oidcSource) connectionID() string {
	u, err := url.Parse(o.url)
	if err != nil {
		return ""
	}
	return u.Query().Get("serviceConnectionId")
}

// LastClaims returns the issuer, subject and audience of the last ID token, for messages.
func (o *oidcSource) LastClaims() *Claims {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// decodeClaims reads a JWT's payload without verifying it: only to explain a refusal.
func decodeClaims(jwt string) *Claims {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	var c Claims
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	return &c
}

// stripURL keeps a transport error's cause but not the request URL (it names internals only,
// but errors should read the same on every agent).
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
