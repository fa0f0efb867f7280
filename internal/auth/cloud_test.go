package auth

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCloudFor(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	cases := map[string]Cloud{
		"":          clouds["public"],
		"Public":    {"Public", "https://api.powerbi.com", "https://login.microsoftonline.com", "https://analysis.windows.net/powerbi/api/.default"},
		"usgov":     {"USGov", "https://api.powerbigov.us", "https://login.microsoftonline.com", "https://analysis.usgovcloudapi.net/powerbi/api/.default"},
		"USGovHigh": {"USGovHigh", "https://api.high.powerbigov.us", "https://login.microsoftonline.us", "https://high.analysis.usgovcloudapi.net/powerbi/api/.default"},
		"USGovMil":  {"USGovMil", "https://api.mil.powerbigov.us", "https://login.microsoftonline.us", "https://mil.analysis.usgovcloudapi.net/powerbi/api/.default"},
		"China":     {"China", "https://api.powerbi.cn", "https://login.chinacloudapi.cn", "https://analysis.chinacloudapi.cn/powerbi/api/.default"},
	}
	for env, want := range cases {
		got, err := CloudFor(env, none)
		require.NoError(t, err, env)
		assert.Equal(t, want, got, env)
	}
	_, err := CloudFor("Germany", none)
	assert.ErrorContains(t, err, `"Germany" is not known; expected one of China, Public, USGov, USGovHigh, USGovMil, Custom`)
}

func TestCustomCloud(t *testing.T) {
	t.Parallel()
	data := map[string]string{"apiUrl": "https://127.0.0.1:7443/", "authorityHost": "https://127.0.0.1:7443", "resource": "https://analysis.windows.net/powerbi/api"}
	c, err := CloudFor("custom", func(k string) string { return data[k] })
	require.NoError(t, err)
	assert.Equal(t, Cloud{"Custom", "https://127.0.0.1:7443", "https://127.0.0.1:7443", "https://analysis.windows.net/powerbi/api/.default"}, c)

	data["authorityHost"] = "http://127.0.0.1:7443"
	_, err = CloudFor("Custom", func(k string) string { return data[k] })
	assert.ErrorContains(t, err, "authorityHost")
	delete(data, "apiUrl")
	_, err = CloudFor("Custom", func(k string) string { return data[k] })
	assert.ErrorContains(t, err, "Custom needs apiUrl")
}
