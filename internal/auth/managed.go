package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	mi "github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
)

// managedIdentitySource signs in as the agent machine's managed identity: system-assigned, or
// user-assigned when the connection names a client id. MSAL finds the identity endpoint
// (IMDS on an Azure VM, App Service, Arc, ...) from the machine's environment.
func managedIdentitySource(cfg Config, tenant string) (*TokenSource, error) {
	id := mi.SystemAssigned()
	who := "the agent's system-assigned managed identity"
	clientID := strings.TrimSpace(cfg.Endpoint.Param("clientId"))
	if clientID == "" {
		clientID = strings.TrimSpace(cfg.Endpoint.Data("clientId"))
	}
	if clientID != "" {
		id = mi.UserAssignedClientID(clientID)
		who = fmt.Sprintf("the agent's user-assigned managed identity %s", clientID)
	}
	client, err := mi.New(id, mi.WithHTTPClient(cfg.HTTPClient))
	if err != nil {
		return nil, fmt.Errorf("service connection: managed identity: %w", err)
	}
	resource := strings.TrimSuffix(cfg.Cloud.Scope, "/.default")
	return &TokenSource{
		Identity: who,
		mask:     cfg.Mask,
		now:      cfg.Now,
		acquire: func(ctx context.Context) (string, time.Time, error) {
			res, err := client.AcquireToken(ctx, resource)
			if err != nil {
				return "", time.Time{}, &SignInError{Who: who, Authority: "the managed identity endpoint", Err: err,
					Description: firstLine(err.Error()),
					Hint:        "Managed identity works only on agents running in Azure with that identity assigned to the machine; on other agents use a service principal or workload identity federation"}
			}
			return res.AccessToken, res.ExpiresOn, nil
		},
	}, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}
