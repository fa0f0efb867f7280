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
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
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

// Transport returns the transport honouring the settings. readFile reads AGENT_CAINFO
// (os.ReadFile in production).
func (s *Settings) Transport(readFile func(string) ([]byte, error)) (*Transport, error) {
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
	t.TLSClientConfig = tlsConf
	tr := &Transport{Template: t}
	var proxy *url.URL
	if s.ProxyURL != "" {
		var err error
		proxy, err = url.Parse(s.ProxyURL)
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
	if s.CAFile != "" {
		pem, err := readFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("AGENT_CAINFO: %v", err)
		}
		agentCA := x509.NewCertPool()
		if !agentCA.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("AGENT_CAINFO: %s holds no PEM certificate", s.CAFile)
		}
		tr.caPEM = pem
		switch {
		case s.SkipCertVerify:
		case proxy != nil && proxy.Scheme == "https" && sendsNoName(proxy.Hostname()):
			// A handshake with a proxy named by its address carries no server name, so the
			// host's own verifier could not tell it from the target: verify the usual way.
			tlsConf.RootCAs = tr.roots()
		default:
			tr.agentCA = agentCA
			tr.hosts = map[string]*http.Transport{}
		}
	}
	if s.SkipCertVerify {
		tlsConf.InsecureSkipVerify = true //nolint:gosec // the agent administrator asked for it (AGENT_SKIPCERTVALIDATION)
	}
	return tr, nil
}

// Transport sends requests with the agent's settings.
//
// With AGENT_CAINFO a server is trusted when its chain ends at the agent's CA or at a
// system root, as before; but the chain is tried against the agent's CA first, and the
// system roots are loaded only when that fails. Loading them reads and parses every file of
// the system's certificate store, about 15-25 ms of each task run on Linux, which an agent
// behind a TLS-inspecting proxy (the usual reason for AGENT_CAINFO) never needs. That check
// needs the name of the host (crypto/tls hands a verifier no server name for an IP address),
// so each host gets its own http.Transport, cloned from Template on its first request.
type Transport struct {
	// Template holds what every connection shares: proxy, timeouts, TLS settings. With
	// per-host verification, changes after a host's first request do not reach that host.
	Template *http.Transport

	caPEM   []byte
	agentCA *x509.CertPool // set: verify per host, agent's CA first
	once    sync.Once
	all     *x509.CertPool // the system roots plus the agent's CA

	mu    sync.Mutex
	hosts map[string]*http.Transport
}

// RoundTrip sends r through the transport for its host.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.agentCA == nil {
		return t.Template.RoundTrip(r)
	}
	// Plain http too: its connection may still go through an https proxy.
	return t.forHost(strings.ToLower(r.URL.Hostname())).RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of every host.
func (t *Transport) CloseIdleConnections() {
	t.Template.CloseIdleConnections()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range t.hosts {
		h.CloseIdleConnections()
	}
}

func (t *Transport) forHost(host string) *http.Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h, ok := t.hosts[host]; ok {
		return h
	}
	h := t.Template.Clone()
	// Verification is VerifyConnection's alone: it does what crypto/tls would, with roots
	// chosen as above.
	h.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // verified in VerifyConnection
	h.TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
		name := cs.ServerName // the name this handshake sent: the host's, or an https proxy's
		if name == "" {
			name = host // an IP address, which crypto/tls does not send
		}
		return t.verify(cs.PeerCertificates, name)
	}
	t.hosts[host] = h
	return h
}

// verify checks a server's chain for name as crypto/tls does (Go's own verifier, the time
// now, server authentication), against the agent's CA and then against all roots.
func (t *Transport) verify(certs []*x509.Certificate, name string) error {
	if len(certs) == 0 {
		return errors.New("tls: the server sent no certificate")
	}
	if name == "" {
		// crypto/tls refuses to connect without a name; Verify would check none.
		return errors.New("tls: no server name to verify the certificate against")
	}
	opts := x509.VerifyOptions{DNSName: name, Roots: t.agentCA, Intermediates: x509.NewCertPool()}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err == nil {
		return nil
	}
	opts.Roots = t.roots()
	if _, err := certs[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}

// sendsNoName reports whether a TLS handshake with host carries no server name: crypto/tls
// sends none for an IP address, with or without an IPv6 zone.
func sendsNoName(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if i := strings.LastIndex(host, "%"); i > 0 {
		host = host[:i]
	}
	return net.ParseIP(host) != nil
}

// roots is the system's roots plus the agent's CA, loaded once.
func (t *Transport) roots() *x509.CertPool {
	t.once.Do(func() {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(t.caPEM)
		t.all = pool
	})
	return t.all
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
