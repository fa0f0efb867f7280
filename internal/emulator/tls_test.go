package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCertificateNames(t *testing.T) {
	t.Parallel()
	cases := []struct {
		hosts   []string
		want    []string
		wantErr string
	}{
		{nil, []string{"localhost"}, ""},
		{[]string{"API.PowerBI.com", " login.microsoftonline.us ", "api.powerbi.com", "localhost"},
			[]string{"localhost", "api.powerbi.com", "login.microsoftonline.us"}, ""},
		{[]string{"api.powerbi.com:443"}, nil, `host "api.powerbi.com:443"`},
		{[]string{"https://api.powerbi.com"}, nil, "expected a DNS name"},
		{[]string{"10.0.0.1"}, nil, "expected a DNS name"},
		{[]string{""}, nil, "expected a DNS name"},
	}
	for _, c := range cases {
		got, err := certificateNames(c.hosts)
		if c.wantErr != "" {
			assert.ErrorContains(t, err, c.wantErr, "%q", c.hosts)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, c.want, got)
	}
}

func TestStartRefusesABadHost(t *testing.T) {
	t.Parallel()
	_, err := Start(Options{Hosts: []string{"api.powerbi.com:443"}})
	assert.ErrorContains(t, err, "expected a DNS name")
}

// TestHostsAreServedUnderTheirNames reaches the emulator as real cloud hosts (a dialer stands in
// for the proxy) and checks both the certificate and the sign-in metadata name that host.
func TestHostsAreServedUnderTheirNames(t *testing.T) {
	t.Parallel()
	hosts := []string{"login.microsoftonline.us", "api.high.powerbigov.us"}
	s, err := Start(Options{Hosts: hosts})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(s.CACertPEM))
	addr := strings.TrimPrefix(s.URL, "https://")
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}

	openid := func(base string) map[string]any {
		t.Helper()
		resp, err := c.Get(base + "/" + DemoTenantID + "/v2.0/.well-known/openid-configuration")
		require.NoError(t, err, "the certificate covers %s", base)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		return m
	}
	for _, base := range []string{"https://login.microsoftonline.us", s.URL} {
		m := openid(base)
		assert.Equal(t, base+"/"+DemoTenantID+"/v2.0", m["issuer"], "MSAL checks the issuer against the authority")
		assert.Equal(t, base+"/"+DemoTenantID+"/oauth2/v2.0/token", m["token_endpoint"])
	}
	resp, err := c.Get("https://api.high.powerbigov.us/v1.0/myorg/pipelines")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "reached the API, which wants a token")

	_, err = c.Get("https://login.chinacloudapi.cn/")
	var verr *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &verr, "a name not in Hosts is not covered")
}
