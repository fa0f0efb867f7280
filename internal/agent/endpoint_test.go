package agent_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const epID = "0f5b3a1c-2d4e-4f60-8a9b-c0d1e2f3a4b5"

func TestEndpointLookup(t *testing.T) {
	t.Parallel()
	upper := "0F5B3A1C-2D4E-4F60-8A9B-C0D1E2F3A4B5"
	vars := map[string]string{
		"ENDPOINT_URL_" + epID:         "https://api.powerbi.com",
		"ENDPOINT_AUTH_SCHEME_" + epID: "WorkloadIdentityFederation",
	}
	tests := []struct {
		name, id string
	}{
		{"exact", epID},
		{"lower-cased", upper},
		{"trimmed", " " + epID + " "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _ := newEnv(t, vars)
			ep, err := e.Endpoint(tt.id)
			require.NoError(t, err)
			assert.Equal(t, "https://api.powerbi.com", ep.URL)
			assert.Equal(t, "WorkloadIdentityFederation", ep.Scheme)
		})
	}

	t.Run("exact spelling wins", func(t *testing.T) {
		t.Parallel()
		e, _ := newEnv(t, map[string]string{
			"ENDPOINT_URL_MyConn": "https://exact",
			"ENDPOINT_URL_myconn": "https://lower",
		})
		ep, err := e.Endpoint("MyConn")
		require.NoError(t, err)
		assert.Equal(t, "https://exact", ep.URL)
		assert.Equal(t, "MyConn", ep.ID)
	})
}

func TestEndpointMissing(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t, map[string]string{
		"ENDPOINT_URL_" + epID:         "",
		"ENDPOINT_AUTH_" + epID:        "",
		"ENDPOINT_AUTH_SCHEME_" + epID: "",
		"ENDPOINT_DATA_" + epID:        `{"environment":"Public"}`,
	})
	_, err := e.Endpoint(epID)
	require.Error(t, err, "empty variables count as unset, and data alone is not an endpoint")
	assert.Contains(t, err.Error(), epID)

	_, err = e.Endpoint("  ")
	require.Error(t, err)
}

func TestEndpointParams(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t, map[string]string{
		"ENDPOINT_URL_" + epID:                                    "https://api.powerbi.com",
		"ENDPOINT_AUTH_" + epID:                                   `{"parameters":{"tenantid":"json-tenant","serviceprincipalid":"json-app","ServicePrincipalKey":"json-key","port":443,"enabled":true},"scheme":"ServicePrincipal"}`,
		"ENDPOINT_AUTH_PARAMETER_" + epID + "_TENANTID":           "env-tenant",
		"ENDPOINT_AUTH_PARAMETER_" + epID + "_SERVICEPRINCIPALID": "",
		"ENDPOINT_DATA_" + epID:                                   `{"environment":"Custom","apiUrl":"https://json-api"}`,
		"ENDPOINT_DATA_" + epID + "_APIURL":                       "https://env-api",
		"ENDPOINT_DATA_" + epID + "_AUTHORITY_HOST":               "https://login",
	})
	ep, err := e.Endpoint(epID)
	require.NoError(t, err)

	assert.Equal(t, "ServicePrincipal", ep.Scheme, "scheme falls back to the JSON")
	tests := []struct{ key, want string }{
		{"tenantid", "env-tenant"},          // the variable wins
		{"tenantId", "env-tenant"},          // key case does not matter
		{"serviceprincipalid", "json-app"},  // an empty variable is unset: JSON fallback
		{"servicePrincipalKey", "json-key"}, // JSON keys match case-insensitively
		{"port", "443"},
		{"enabled", "true"},
		{"missing", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ep.Param(tt.key), tt.key)
	}
	assert.Equal(t, "https://env-api", ep.Data("apiUrl"))
	assert.Equal(t, "Custom", ep.Data("Environment"))
	assert.Equal(t, "https://login", ep.Data("authority.host"), "keys are normalised like variable names")
	assert.Equal(t, "", ep.Data("resource"))
}

func TestEndpointBadJSON(t *testing.T) {
	t.Parallel()
	e, _ := newEnv(t, map[string]string{
		"ENDPOINT_AUTH_" + epID:                         "{not json",
		"ENDPOINT_AUTH_SCHEME_" + epID:                  "UsernamePassword",
		"ENDPOINT_AUTH_PARAMETER_" + epID + "_USERNAME": "me",
	})
	ep, err := e.Endpoint(epID)
	require.NoError(t, err)
	assert.Equal(t, "UsernamePassword", ep.Scheme)
	assert.Equal(t, "me", ep.Param("username"))
	assert.Equal(t, "", ep.Param("password"))
}
