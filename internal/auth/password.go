package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// DefaultPublicClientID is the public client app the password flow signs in through when the
// connection names none: the one Microsoft's Power BI PowerShell module uses, which every
// Power BI tenant knows.
const DefaultPublicClientID = "ea0616ba-638b-4df5-95b9-636659ae5121"

// passwordSource signs in with a user name and password (resource owner password
// credentials). It cannot do multi-factor authentication and Microsoft is retiring it; the
// task says so in the log every time.
func passwordSource(cfg Config, tenant string) (*TokenSource, error) {
	user := strings.TrimSpace(cfg.Endpoint.Param("username"))
	pass := cfg.Endpoint.Param("password")
	if user == "" || pass == "" {
		return nil, errors.New("service connection: the username/password scheme needs both a user name and a password")
	}
	if tenant == "" {
		tenant = strings.TrimSpace(cfg.Endpoint.Data("tenantId"))
	}
	if tenant == "" {
		// The user's home tenant is found from the user name.
		tenant = "organizations"
	}
	clientID := strings.TrimSpace(cfg.Endpoint.Data("clientId"))
	if clientID == "" {
		clientID = DefaultPublicClientID
	}
	cfg.Warn("The service connection signs in with a user name and password: this cannot satisfy multi-factor authentication, and Microsoft is retiring the flow. Move to workload identity federation or a service principal.")
	authority := cfg.Cloud.AuthorityHost + "/" + tenant
	// A new client has an empty cache: after a 401 the refused token must not come back.
	app, err := newRenewable(func() (public.Client, error) {
		return public.New(clientID, public.WithAuthority(authority), public.WithHTTPClient(cfg.HTTPClient), public.WithInstanceDiscovery(false))
	})
	if err != nil {
		return nil, fmt.Errorf("service connection: authority %s: %w", authority, err)
	}
	who := fmt.Sprintf("user %s", user)
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
			scopes := []string{cfg.Cloud.Scope}
			if accounts, err := client.Accounts(ctx); err == nil && len(accounts) > 0 {
				if res, err := client.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(accounts[0])); err == nil {
					return res.AccessToken, res.ExpiresOn, nil
				}
			}
			//lint:ignore SA1019 the legacy scheme the connection chose; the task warns about it above
			res, err := client.AcquireTokenByUsernamePassword(ctx, scopes, user, pass)
			if err != nil {
				return "", time.Time{}, signInError(who, authority, err, nil)
			}
			return res.AccessToken, res.ExpiresOn, nil
		},
	}, nil
}
