package emulator

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The Azure DevOps side of workload identity federation: the Distributed Task "oidctoken" route
// (REST "Oidctoken - Create", api-version 7.1-preview.1; artifacts-common calls it with 7.1)
// that a task calls with the job's System.AccessToken to get an ID token for a service
// connection, which it then exchanges with Entra as a client assertion.

const adoIssuerPrefix = "https://vstoken.dev.azure.com/"

func newADOSettings(a AzureDevOps) adoSettings {
	s := adoSettings{
		orgName:     a.OrganizationName,
		orgID:       a.OrganizationID,
		projectName: a.ProjectName,
		projectID:   a.ProjectID,
		jobToken:    a.JobToken,
		connections: append([]ServiceConnection(nil), a.ServiceConnections...),
	}
	if s.orgName == "" {
		s.orgName = "contoso"
	}
	if s.orgID == "" {
		// Stable across runs, so federated credentials written for one run keep matching.
		s.orgID = idNameUUID("azure-devops-organization:" + strings.ToLower(s.orgName))
	}
	return s
}

// adoError is Azure DevOps' error body (a serialised VssServiceException).
type adoError struct {
	ID             string `json:"$id"`
	InnerException any    `json:"innerException"`
	Message        string `json:"message"`
	TypeName       string `json:"typeName"`
	TypeKey        string `json:"typeKey"`
	ErrorCode      int    `json:"errorCode"`
	EventID        int    `json:"eventId"`
}

func idWriteADOError(w http.ResponseWriter, status int, typeName, message string) {
	key := typeName[strings.LastIndex(typeName, ".")+1:]
	assembly := typeName[:strings.LastIndex(typeName, ".")]
	idWriteJSON(w, status, adoError{
		ID:        "1",
		Message:   message,
		TypeName:  typeName + ", " + assembly,
		TypeKey:   key,
		ErrorCode: 0,
		EventID:   3000,
	})
}

// handleOIDCToken issues an ID token for the service connection named by serviceConnectionId,
// or a pipeline-scoped one without it.
func (id *Identity) handleOIDCToken(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !strings.EqualFold(scheme, "Bearer") || !idSecretEqual(strings.TrimSpace(token), id.ado.jobToken) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		idWriteADOError(w, http.StatusUnauthorized, "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException",
			"TF400813: The user '' is not authorized to access this resource.")
		return
	}
	org, project := r.PathValue("org"), r.PathValue("project")
	if !strings.EqualFold(org, id.ado.orgName) && !strings.EqualFold(org, id.ado.orgID) {
		idWriteADOError(w, http.StatusNotFound, "Microsoft.VisualStudio.Services.Common.HostNotFoundException",
			fmt.Sprintf("TF400898: The organization '%s' could not be found.", org))
		return
	}
	if (id.ado.projectName != "" || id.ado.projectID != "") &&
		!strings.EqualFold(project, id.ado.projectName) && !strings.EqualFold(project, id.ado.projectID) {
		idWriteADOError(w, http.StatusNotFound, "Microsoft.TeamFoundation.Core.WebApi.ProjectDoesNotExistWithNameException",
			fmt.Sprintf("VS800075: The project with id 'vstfs:///Classification/TeamProject/%s' does not exist, or you do not have permission to access it.", project))
		return
	}
	// The body is the claims dictionary; the service rejects a request without one.
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	var claims map[string]any
	if err != nil || json.Unmarshal(body, &claims) != nil || claims == nil {
		idWriteADOError(w, http.StatusBadRequest, "System.ArgumentNullException",
			"Value cannot be null.\r\nParameter name: claims")
		return
	}
	projectName := id.ado.projectName
	if projectName == "" {
		projectName = project
	}
	var sub string
	if connID := idQueryFold(r, "serviceConnectionId"); connID != "" {
		conn, ok := id.serviceConnection(connID)
		if !ok {
			idWriteADOError(w, http.StatusNotFound, "Microsoft.TeamFoundation.DistributedTask.WebApi.ServiceEndpointNotFoundException",
				fmt.Sprintf("Service connection with id '%s' could not be found in project '%s', or you do not have permission to use it.", connID, projectName))
			return
		}
		sub = fmt.Sprintf("sc://%s/%s/%s", id.ado.orgName, projectName, conn.Name)
	} else {
		// Pipeline-scoped token. The emulator knows no pipeline names: the plan id stands in.
		sub = fmt.Sprintf("p://%s/%s/%s", id.ado.orgName, projectName, r.PathValue("plan"))
	}

	now := id.now()
	oidc, err := idSignJWT(id.key, id.keyID, idJWTClaims{
		Jti: idNewUUID(),
		Sub: sub,
		Aud: idAudience{AzureADTokenExchange},
		Iss: id.OIDCIssuer(),
		Nbf: now.Unix(),
		Exp: now.Add(id.opts.OIDCTokenLifetime).Unix(),
		Iat: now.Unix(),
	})
	if err != nil {
		idWriteADOError(w, http.StatusInternalServerError, "System.InvalidOperationException", "Could not sign the OIDC token.")
		return
	}
	id.mu.Lock()
	id.oidcIssued++
	id.remember(oidc)
	id.mu.Unlock()
	idWriteJSON(w, http.StatusOK, map[string]string{"oidcToken": oidc})
}

func (id *Identity) serviceConnection(connID string) (ServiceConnection, bool) {
	for _, c := range id.ado.connections {
		if strings.EqualFold(c.ID, connID) {
			return c, true
		}
	}
	return ServiceConnection{}, false
}

// idQueryFold reads a query parameter whose name may come in any case, as Azure DevOps allows.
func idQueryFold(r *http.Request, name string) string {
	for k, v := range r.URL.Query() {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// idNameUUID derives a UUID from a name (SHA-256 based, version 8), for stable default ids.
func idNameUUID(name string) string {
	sum := sha256.Sum256([]byte(name))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
