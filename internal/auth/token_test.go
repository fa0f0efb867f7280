package auth

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
)

// endpoint is a connection's parameters and data.
type endpoint map[string]string

func (e endpoint) Param(k string) string { return e[k] }
func (e endpoint) Data(k string) string  { return e["data:"+k] }

func emulatorCloud(t *testing.T) (*emulator.Server, Cloud) {
	t.Helper()
	emu, err := emulator.Start(emulator.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { emu.Close() })
	cloud, err := CloudFor("Custom", func(k string) string {
		return map[string]string{"apiUrl": emu.URL, "authorityHost": emu.URL, "resource": emu.Resource()}[k]
	})
	require.NoError(t, err)
	return emu, cloud
}

func TestSecretTokenIsMaskedCachedAndRenewedAfterInvalidate(t *testing.T) {
	t.Parallel()
	emu, cloud := emulatorCloud(t)
	var masked []string
	ts, err := NewTokenSource(Config{
		Scheme: "ServicePrincipal", Cloud: cloud, HTTPClient: emu.Client(),
		Endpoint: endpoint{"tenantid": emulator.DemoTenantID, "serviceprincipalid": emulator.DemoAppClientID,
			"authenticationType": "spnKey", "serviceprincipalkey": emulator.DemoAppSecret},
		Mask: func(s string) { masked = append(masked, s) },
	})
	require.NoError(t, err)
	ctx := context.Background()
	first, err := ts.Token(ctx)
	require.NoError(t, err)
	again, err := ts.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, first, again, "cached for the process")
	ts.Invalidate()
	renewed, err := ts.Token(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, first, renewed, "a refused token is not handed out again")
	assert.Equal(t, []string{first, renewed}, masked, "every token masked as it arrives")
}

func TestNewTokenSourceRejectsBadConnectionsBeforeSigningIn(t *testing.T) {
	t.Parallel()
	cases := []struct {
		scheme string
		ep     endpoint
		want   string
	}{
		{"ServicePrincipal", endpoint{"serviceprincipalid": "x", "serviceprincipalkey": "s"}, "tenant ID"},
		{"ServicePrincipal", endpoint{"tenantid": "t", "serviceprincipalid": "x", "authenticationType": "spnKey"}, "client secret) is empty"},
		{"ServicePrincipal", endpoint{"tenantid": "t", "serviceprincipalid": "x", "authenticationType": "spnCertificate"}, "servicePrincipalCertificate: empty"},
		{"ServicePrincipal", endpoint{"tenantid": "t", "serviceprincipalid": "x", "authenticationType": "magic"}, `"magic" is not known`},
		{"WorkloadIdentityFederation", endpoint{"tenantid": "t", "serviceprincipalid": "x"}, "service connection id is unknown"},
		{"UsernamePassword", endpoint{"username": "u"}, "needs both a user name and a password"},
		{"Token", endpoint{}, `"Token" is not supported`},
		{"", endpoint{}, "no authentication scheme"},
	}
	for _, c := range cases {
		_, err := NewTokenSource(Config{Scheme: c.scheme, Endpoint: c.ep, Mask: func(string) {}})
		assert.ErrorContains(t, err, c.want, c.scheme)
	}
	_, err := NewTokenSource(Config{Scheme: "WorkloadIdentityFederation", EndpointID: "id", Endpoint: endpoint{"tenantid": "t", "serviceprincipalid": "x"}, Mask: func(string) {},
		Getenv: func(k string) string {
			return map[string]string{"ENDPOINT_AUTH_PARAMETER_SYSTEMVSSCONNECTION_ACCESSTOKEN": "job"}[k]
		}})
	assert.ErrorContains(t, err, "SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECTID, SYSTEM_HOSTTYPE, SYSTEM_PLANID, SYSTEM_JOBID")
}
