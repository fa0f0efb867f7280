package emulator

import (
	"cmp"
	"net/http"
	"strconv"
	"strings"
)

// The managed identity endpoint, emulating the App Service source of MSAL Go's managedidentity
// package (apps/managedidentity: chosen when IDENTITY_ENDPOINT and IDENTITY_HEADER are set; GET
// IDENTITY_ENDPOINT?api-version=2019-08-01&resource=...[&client_id|object_id|mi_res_id=...] with
// header X-IDENTITY-HEADER). It is the one source that takes an endpoint from the environment:
// IMDS sits at the fixed 169.254.169.254, Azure Arc at a fixed port with a key file, Service
// Fabric pins a certificate thumbprint.

const (
	msiTokenPath  = "/msi/token"
	msiAPIVersion = "2019-08-01"
)

// ManagedIdentityEnv returns the environment variables that point MSAL's managed identity client
// at this emulator (baseURL is the server's, e.g. https://127.0.0.1:7443). The task must also
// trust the emulator's certificate.
func (id *Identity) ManagedIdentityEnv(baseURL string) map[string]string {
	return map[string]string{
		"IDENTITY_ENDPOINT": strings.TrimSuffix(baseURL, "/") + msiTokenPath,
		"IDENTITY_HEADER":   id.msiHeader,
	}
}

// msiError is the App Service identity endpoint's error body.
type msiError struct {
	StatusCode    int    `json:"statusCode"`
	Message       string `json:"message"`
	CorrelationID string `json:"correlationId"`
}

func idWriteMSIError(w http.ResponseWriter, status int, message string) {
	idWriteJSON(w, status, msiError{StatusCode: status, Message: message, CorrelationID: idNewUUID()})
}

// handleManagedIdentityToken issues a token for the system-assigned managed identity, or for
// the user-assigned one named by client_id, object_id/principal_id or mi_res_id.
func (id *Identity) handleManagedIdentityToken(w http.ResponseWriter, r *http.Request) {
	if !idSecretEqual(r.Header.Get("X-IDENTITY-HEADER"), id.msiHeader) {
		idWriteMSIError(w, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or does not hold the value of IDENTITY_HEADER.")
		return
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != msiAPIVersion {
		idWriteMSIError(w, http.StatusBadRequest, "The api-version '"+v+"' is not supported; use "+msiAPIVersion+".")
		return
	}
	resource := strings.TrimSuffix(strings.TrimSuffix(q.Get("resource"), "/.default"), "/")
	if resource == "" {
		idWriteMSIError(w, http.StatusBadRequest, "The resource parameter is required.")
		return
	}
	if _, err := id.checkScope(resource+"/.default", true); err != nil {
		idWriteMSIError(w, http.StatusBadRequest, "AADSTS"+strconv.Itoa(err.aadsts)+": "+err.msg)
		return
	}
	app, msg := id.managedIdentity(q.Get("client_id"), cmp.Or(q.Get("object_id"), q.Get("principal_id")), cmp.Or(q.Get("mi_res_id"), q.Get("msi_res_id")))
	if app == nil {
		idWriteMSIError(w, http.StatusBadRequest, msg)
		return
	}
	token, lifetime := id.issue(idAppPrincipal(app), id.resource)
	idWriteJSON(w, http.StatusOK, map[string]string{
		"access_token": token,
		"expires_on":   strconv.FormatInt(id.now().Unix()+int64(lifetime), 10),
		"resource":     q.Get("resource"),
		"token_type":   "Bearer",
		"client_id":    app.ClientID,
	})
}

// managedIdentity picks the identity a request names; with none named, the system-assigned one.
// A resource id names a user-assigned identity by its last segment, the identity's name.
func (id *Identity) managedIdentity(clientID, objectID, resourceID string) (*App, string) {
	if clientID == "" && objectID == "" && resourceID == "" {
		for _, a := range id.managedIDs {
			if a.SystemAssigned {
				return a, ""
			}
		}
		return nil, "No managed identity is assigned to this resource: enable the system-assigned identity or name a user-assigned one."
	}
	name := resourceID[strings.LastIndex(resourceID, "/")+1:]
	for _, a := range id.managedIDs {
		switch {
		case clientID != "" && strings.EqualFold(a.ClientID, clientID),
			objectID != "" && strings.EqualFold(a.ObjectID, objectID),
			resourceID != "" && name != "" && strings.EqualFold(a.DisplayName, name):
			return a, ""
		}
	}
	return nil, "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId."
}
