// Package auth signs a task in to Microsoft Entra ID for the Power BI REST API: it reads the
// service connection the agent hands the task, picks the cloud, and returns a token source
// that fetches tokens lazily, caches them for the process and masks each one in the log.
package auth

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Cloud is where a connection's Power BI API and Entra authority live.
type Cloud struct {
	Name          string // the connection's environment value: Public, USGov, ..., Custom
	APIURL        string // Power BI REST root, e.g. https://api.powerbi.com
	AuthorityHost string // Entra host, e.g. https://login.microsoftonline.com
	Scope         string // <resource>/.default
}

// clouds is CONTRACT §1's table.
var clouds = map[string]Cloud{
	"public":    {"Public", "https://api.powerbi.com", "https://login.microsoftonline.com", "https://analysis.windows.net/powerbi/api/.default"},
	"usgov":     {"USGov", "https://api.powerbigov.us", "https://login.microsoftonline.com", "https://analysis.usgovcloudapi.net/powerbi/api/.default"},
	"usgovhigh": {"USGovHigh", "https://api.high.powerbigov.us", "https://login.microsoftonline.us", "https://high.analysis.usgovcloudapi.net/powerbi/api/.default"},
	"usgovmil":  {"USGovMil", "https://api.mil.powerbigov.us", "https://login.microsoftonline.us", "https://mil.analysis.usgovcloudapi.net/powerbi/api/.default"},
	"china":     {"China", "https://api.powerbi.cn", "https://login.chinacloudapi.cn", "https://analysis.chinacloudapi.cn/powerbi/api/.default"},
}

// Environments lists the accepted environment names, for messages.
func Environments() []string {
	names := make([]string, 0, len(clouds)+1)
	for _, c := range clouds {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return append(names, "Custom")
}

// CloudFor maps a connection's environment (case-insensitive; empty means Public) to its cloud.
// Custom reads the apiUrl, authorityHost and resource data fields through data.
func CloudFor(environment string, data func(key string) string) (Cloud, error) {
	env := strings.TrimSpace(environment)
	if env == "" {
		env = "Public"
	}
	if c, ok := clouds[strings.ToLower(env)]; ok {
		return c, nil
	}
	if !strings.EqualFold(env, "Custom") {
		return Cloud{}, fmt.Errorf("service connection environment %q is not known; expected one of %s", env, strings.Join(Environments(), ", "))
	}
	c := Cloud{Name: "Custom"}
	var err error
	if c.APIURL, err = httpsURL("apiUrl", data("apiUrl")); err != nil {
		return Cloud{}, err
	}
	if c.AuthorityHost, err = httpsURL("authorityHost", data("authorityHost")); err != nil {
		return Cloud{}, err
	}
	resource, err := httpsURL("resource", data("resource"))
	if err != nil {
		return Cloud{}, err
	}
	c.Scope = strings.TrimSuffix(resource, "/.default") + "/.default"
	return c, nil
}

// httpsURL checks a Custom environment field: tokens are only ever sent over https.
func httpsURL(field, v string) (string, error) {
	v = strings.TrimRight(strings.TrimSpace(v), "/")
	if v == "" {
		return "", fmt.Errorf("service connection environment Custom needs %s: expected an https URL", field)
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("service connection field %s = %q: expected an absolute https URL", field, v)
	}
	return v, nil
}
