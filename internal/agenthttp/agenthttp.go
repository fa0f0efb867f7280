// Package agenthttp builds the HTTP transport a task uses for sign-in and API calls from the
// agent's proxy and certificate settings. The agent does not set HTTPS_PROXY for tasks; it
// passes AGENT_PROXYURL, AGENT_PROXYUSERNAME, SECRET_AGENT_PROXYPASSWORD,
// AGENT_PROXYBYPASSLIST (a JSON array of regular expressions), AGENT_CAINFO and
// AGENT_SKIPCERTVALIDATION instead.
package agenthttp

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Settings are the agent's network settings as a task sees them.
type Settings struct {
	ProxyURL       string
	ProxyUsername  string
	ProxyPassword  string
	ProxyBypass    []*regexp.Regexp
	CAFile         string
	SkipCertVerify bool
	// ResponseTimeout bounds the wait for one response's headers (one try); 0 means 2 minutes.
	// Set by the pipeline variable PowerBI.RequestTimeoutSeconds.
	ResponseTimeout time.Duration
}

// RequestTimeoutVariable is the pipeline variable (as the agent passes it) that sets
// ResponseTimeout, in seconds.
const RequestTimeoutVariable = "POWERBI_REQUESTTIMEOUTSECONDS"

// FromEnv reads the agent's variables. A malformed value is an error naming the variable.
func FromEnv(getenv func(string) string) (*Settings, error) {
	s := &Settings{
		ProxyURL:       strings.TrimSpace(getenv("AGENT_PROXYURL")),
		ProxyUsername:  getenv("AGENT_PROXYUSERNAME"),
		ProxyPassword:  getenv("SECRET_AGENT_PROXYPASSWORD"),
		CAFile:         strings.TrimSpace(getenv("AGENT_CAINFO")),
		SkipCertVerify: strings.EqualFold(strings.TrimSpace(getenv("AGENT_SKIPCERTVALIDATION")), "true"),
	}
	if v := strings.TrimSpace(getenv(RequestTimeoutVariable)); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || !(secs >= 0.1 && secs <= 3600) {
			return nil, fmt.Errorf("variable PowerBI.RequestTimeoutSeconds: expected a number of seconds from 0.1 to 3600, got %q", v)
		}
		s.ResponseTimeout = time.Duration(secs * float64(time.Second))
	}
	if bypass := strings.TrimSpace(getenv("AGENT_PROXYBYPASSLIST")); bypass != "" {
		var patterns []string
		if err := json.Unmarshal([]byte(bypass), &patterns); err != nil {
			return nil, fmt.Errorf("AGENT_PROXYBYPASSLIST: expected a JSON array of regular expressions: %v", err)
		}
		for _, p := range patterns {
			re, err := regexp.Compile("(?i)" + p)
			if err != nil {
				return nil, fmt.Errorf("AGENT_PROXYBYPASSLIST: %q is not a regular expression: %v", p, err)
			}
			s.ProxyBypass = append(s.ProxyBypass, re)
		}
	}
	return s, nil
}

// Transport returns an http.Transport honouring the settings. readFile reads AGENT_CAINFO
// (os.ReadFile in production).
func (s *Settings) Transport(readFile func(string) ([]byte, error)) (*http.Transport, error) {
	if readFile == nil {
		readFile = os.ReadFile
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // never the process environment's proxy: the agent's settings are the truth
	t.TLSHandshakeTimeout = 30 * time.Second
	t.ResponseHeaderTimeout = s.ResponseTimeout
	if t.ResponseHeaderTimeout <= 0 {
		t.ResponseHeaderTimeout = 2 * time.Minute
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := readFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("AGENT_CAINFO: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("AGENT_CAINFO: %s holds no PEM certificate", s.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	if s.SkipCertVerify {
		tlsConf.InsecureSkipVerify = true //nolint:gosec // the agent administrator asked for it (AGENT_SKIPCERTVALIDATION)
	}
	t.TLSClientConfig = tlsConf
	if s.ProxyURL != "" {
		proxy, err := url.Parse(s.ProxyURL)
		if err != nil || proxy.Host == "" {
			return nil, fmt.Errorf("AGENT_PROXYURL: expected an absolute URL such as http://proxy:8888")
		}
		if s.ProxyUsername != "" {
			proxy.User = url.UserPassword(s.ProxyUsername, s.ProxyPassword)
		}
		bypass := s.ProxyBypass
		t.Proxy = func(r *http.Request) (*url.URL, error) {
			if direct(r.URL.Hostname()) {
				return nil, nil
			}
			for _, re := range bypass {
				if re.MatchString(r.URL.String()) || re.MatchString(r.URL.Host) {
					return nil, nil
				}
			}
			return proxy, nil
		}
	}
	return t, nil
}

// direct reports whether a host is never proxied: loopback, as the agent's own proxy treats it,
// and link-local, where Azure's instance metadata (managed identity) lives.
func direct(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsLinkLocalUnicast())
}
