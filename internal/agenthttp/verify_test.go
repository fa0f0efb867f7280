package agenthttp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pbi-pipelines/azdo-extension/internal/proxytest"
)

// systemCA stands for a public root: TestMain makes it this process's only system root (where
// Go reads SSL_CERT_FILE, i.e. not on Windows or macOS), so a test can reach a server that only
// the system roots trust without the network.
var systemCA *testCA

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agenthttp-roots-")
	if err != nil {
		panic(err)
	}
	systemCA = newCA("Test Public Root")
	bundle := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(bundle, systemCA.pem(), 0o600); err != nil {
		panic(err)
	}
	os.Setenv("SSL_CERT_FILE", bundle)
	os.Setenv("SSL_CERT_DIR", filepath.Join(dir, "none"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// systemRootsAreOurs reports whether SSL_CERT_FILE decides this process's system roots.
func systemRootsAreOurs(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		t.Skip("the system roots here come from the platform, not SSL_CERT_FILE")
	}
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(serial.n)
}

func newKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func newCA(name string) *testCA {
	key := newKey()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

func (ca *testCA) file(t *testing.T) string {
	f := filepath.Join(t.TempDir(), "agent-ca.pem")
	require.NoError(t, os.WriteFile(f, ca.pem(), 0o600))
	return f
}

// leaf is a server certificate options describe, signed by ca.
type leaf struct {
	names      []string // DNS names and IP addresses
	expired    bool
	clientOnly bool // for client authentication only
	intermed   bool // signed through an intermediate CA, which the server sends along
}

func (ca *testCA) issue(l leaf) tls.Certificate {
	signer, parent := ca.key, ca.cert
	var chain [][]byte
	if l.intermed {
		mid := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: "Intermediate"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &mid.PublicKey, ca.key)
		if err != nil {
			panic(err)
		}
		midCert, _ := x509.ParseCertificate(der)
		signer, parent = mid, midCert
		chain = append(chain, der)
	}
	key := newKey()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: l.names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if l.expired {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
	}
	if l.clientOnly {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, n := range l.names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: append([][]byte{der}, chain...), PrivateKey: key}
}

// serve starts an HTTPS server with cert that answers with the host it was asked for.
func serve(t *testing.T, cert tls.Certificate) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello from "+r.Host)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// dialTo makes the transport reach every host at addr, as DNS would.
func dialTo(tr *Transport, addr string) {
	var d net.Dialer
	tr.Template.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}

func port(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// TestAgentCAFirst: with AGENT_CAINFO, a server is trusted exactly when its chain ends at the
// agent's CA or a system root and it is valid for the host asked and for server use now; and
// the system roots are loaded only when the agent's CA does not verify the server.
func TestAgentCAFirst(t *testing.T) {
	t.Parallel()
	agentCA := newCA("Agent CA")
	otherCA := newCA("Nobody's CA")
	cases := []struct {
		name      string
		ca        *testCA
		leaf      leaf
		host      string // asked for in the URL; dialled at the server's address
		wantErr   string
		wantRoots bool // the system roots had to be loaded
	}{
		{"agent CA, DNS name", agentCA, leaf{names: []string{"api.powerbi.test"}}, "api.powerbi.test", "", false},
		{"agent CA, IP address", agentCA, leaf{names: []string{"127.0.0.1"}}, "127.0.0.1", "", false},
		{"agent CA, IPv6 address", agentCA, leaf{names: []string{"::1"}}, "::1", "", false},
		{"agent CA, host name in capitals", agentCA, leaf{names: []string{"api.powerbi.test"}}, "API.PowerBI.test", "", false},
		{"agent CA through an intermediate", agentCA, leaf{names: []string{"api.powerbi.test"}, intermed: true}, "api.powerbi.test", "", false},
		{"system root", systemCA, leaf{names: []string{"api.powerbi.test"}}, "api.powerbi.test", "", true},
		{"system root, IP address", systemCA, leaf{names: []string{"127.0.0.1"}}, "127.0.0.1", "", true},
		{"system root through an intermediate", systemCA, leaf{names: []string{"login.test"}, intermed: true}, "login.test", "", true},
		{"unknown CA", otherCA, leaf{names: []string{"api.powerbi.test"}}, "api.powerbi.test", "unknown authority", true},
		{"agent CA, another name", agentCA, leaf{names: []string{"evil.test"}}, "api.powerbi.test", "not api.powerbi.test", true},
		{"agent CA, another IP address", agentCA, leaf{names: []string{"127.0.0.2"}}, "127.0.0.1", "127.0.0.1", true},
		{"agent CA, another IPv6 address", agentCA, leaf{names: []string{"::2"}}, "::1", "::1", true},
		{"agent CA, a name for an IP address", agentCA, leaf{names: []string{"localhost"}}, "127.0.0.1", "127.0.0.1", true},
		{"agent CA, expired", agentCA, leaf{names: []string{"api.powerbi.test"}, expired: true}, "api.powerbi.test", "expired", true},
		{"agent CA, client use only", agentCA, leaf{names: []string{"api.powerbi.test"}, clientOnly: true}, "api.powerbi.test", "incompatible key usage", true},
		{"system root, another name", systemCA, leaf{names: []string{"evil.test"}}, "api.powerbi.test", "not api.powerbi.test", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.ca == systemCA {
				systemRootsAreOurs(t)
			}
			t.Parallel()
			srv := serve(t, c.ca.issue(c.leaf))
			s := &Settings{CAFile: agentCA.file(t)}
			tr, err := s.Transport(nil)
			require.NoError(t, err)
			defer tr.CloseIdleConnections()
			dialTo(tr, srv.Listener.Addr().String())
			body, err := fetch(tr, "https://"+net.JoinHostPort(c.host, port(srv.Listener))+"/")
			if c.wantErr != "" {
				var verr *tls.CertificateVerificationError
				require.ErrorAs(t, err, &verr)
				assert.Contains(t, err.Error(), c.wantErr)
			} else {
				require.NoError(t, err)
				assert.Equal(t, "hello from "+net.JoinHostPort(c.host, port(srv.Listener)), body)
			}
			assert.Equal(t, c.wantRoots, tr.all != nil, "system roots loaded")
		})
	}
}

// TestAgentCAFirstKeepsEachHostApart: a connection verified for one host is never reused for
// another, each host's certificate is checked against its own name or address, and a URL with
// no host is refused rather than checked against no name.
func TestAgentCAFirstKeepsEachHostApart(t *testing.T) {
	t.Parallel()
	agentCA := newCA("Agent CA")
	srv := serve(t, agentCA.issue(leaf{names: []string{"api.powerbi.test", "10.0.0.1"}}))
	s := &Settings{CAFile: agentCA.file(t)}
	tr, err := s.Transport(nil)
	require.NoError(t, err)
	defer tr.CloseIdleConnections()
	dialTo(tr, srv.Listener.Addr().String()) // every host is this one server
	u := func(host string) string { return "https://" + net.JoinHostPort(host, port(srv.Listener)) + "/" }
	for _, c := range []struct {
		host    string
		wantErr string
	}{
		{"api.powerbi.test", ""},
		{"login.test", "not login.test"},
		{"API.POWERBI.TEST", ""},
		{"10.0.0.1", ""},
		{"10.0.0.2", "not 10.0.0.2"},
		{"10.0.0.1", ""},
		{"", "no server name"},
	} {
		_, err = fetch(tr, u(c.host))
		if c.wantErr == "" {
			assert.NoError(t, err, c.host)
		} else if assert.Error(t, err, "%s must not be served by another host's connection", c.host) {
			assert.Contains(t, err.Error(), c.wantErr)
		}
	}
}

// TestSkipCertValidationWithCAFile: AGENT_SKIPCERTVALIDATION wins over AGENT_CAINFO.
func TestSkipCertValidationWithCAFile(t *testing.T) {
	t.Parallel()
	srv := serve(t, newCA("Nobody's CA").issue(leaf{names: []string{"api.powerbi.test"}}))
	s := &Settings{CAFile: newCA("Agent CA").file(t), SkipCertVerify: true}
	tr, err := s.Transport(nil)
	require.NoError(t, err)
	defer tr.CloseIdleConnections()
	dialTo(tr, srv.Listener.Addr().String())
	_, err = fetch(tr, "https://api.powerbi.test:"+port(srv.Listener)+"/")
	assert.NoError(t, err)
}

// TestAgentCAFirstThroughHTTPSProxy: the handshake with an https proxy is checked against the
// proxy's name, the one through its tunnel against the target's.
func TestAgentCAFirstThroughHTTPSProxy(t *testing.T) {
	t.Parallel()
	agentCA := newCA("Agent CA")
	target := serve(t, agentCA.issue(leaf{names: []string{"api.powerbi.test", "10.9.8.7"}}))
	for _, proxyCert := range []struct {
		name    string
		cert    tls.Certificate
		target  string
		wantErr string
	}{
		{"proxy certificate from the agent CA", agentCA.issue(leaf{names: []string{"proxy.corp.test"}}), "api.powerbi.test", ""},
		{"proxy certificate from a system root", systemCA.issue(leaf{names: []string{"proxy.corp.test"}}), "api.powerbi.test", ""},
		{"proxy certificate for another name", agentCA.issue(leaf{names: []string{"api.powerbi.test"}}), "api.powerbi.test", "not proxy.corp.test"},
		{"target by IP address", agentCA.issue(leaf{names: []string{"proxy.corp.test"}}), "10.9.8.7", ""},
		{"target by IP address, proxy certificate for it", agentCA.issue(leaf{names: []string{"10.9.8.7"}}), "10.9.8.7", "proxy.corp.test"},
	} {
		t.Run(proxyCert.name, func(t *testing.T) {
			if strings.Contains(proxyCert.name, "system root") {
				systemRootsAreOurs(t)
			}
			t.Parallel()
			p, err := proxytest.Start(proxytest.Options{Dial: func(string) string { return target.Listener.Addr().String() }})
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, p.Close()) })
			front := tlsFront(t, proxyCert.cert, strings.TrimPrefix(p.URL, "http://"))
			s := &Settings{CAFile: agentCA.file(t), ProxyURL: "https://proxy.corp.test:" + port(front)}
			tr, err := s.Transport(nil)
			require.NoError(t, err)
			defer tr.CloseIdleConnections()
			dialTo(tr, front.Addr().String()) // only the proxy is dialled
			body, err := fetch(tr, "https://"+proxyCert.target+"/")
			if proxyCert.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), proxyCert.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "hello from "+proxyCert.target, body)
		})
	}
}

// tlsFront is an https proxy: TLS with cert in front of the plain proxy at addr.
func tlsFront(t *testing.T, cert tls.Certificate, addr string) net.Listener {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln
}

// TestHTTPSProxyByAddress: an https proxy named by its IP address gets no server name in the
// handshake, so the transport verifies the usual way (system roots plus the agent's CA, loaded
// at once); one named by a DNS name gets per-host verification.
func TestHTTPSProxyByAddress(t *testing.T) {
	t.Parallel()
	caFile := newCA("Agent CA").file(t)
	for _, c := range []struct {
		proxy   string
		perHost bool
	}{
		{"https://10.1.2.3:8443", false},
		{"https://[fd00::1]:8443", false},
		{"https://[fe80::1%25eth0]:8443", false},
		{"https://proxy.corp.test:8443", true},
		{"http://10.1.2.3:8888", true}, // no TLS with the proxy itself
	} {
		s := &Settings{CAFile: caFile, ProxyURL: c.proxy}
		tr, err := s.Transport(nil)
		require.NoError(t, err)
		if c.perHost {
			assert.NotNil(t, tr.agentCA, c.proxy)
			assert.Nil(t, tr.Template.TLSClientConfig.RootCAs, c.proxy)
			continue
		}
		assert.Nil(t, tr.agentCA, "%s: no per-host verification", c.proxy)
		assert.NotNil(t, tr.Template.TLSClientConfig.RootCAs, c.proxy)
		assert.False(t, tr.Template.TLSClientConfig.InsecureSkipVerify, c.proxy)
	}
}
