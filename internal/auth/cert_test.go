package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func selfSigned(t *testing.T, key *rsa.PrivateKey) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "app"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestParseCertificatePEM(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := x509.MarshalECPrivateKey(ec)
	require.NoError(t, err)
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	cert, otherCert := selfSigned(t, key), selfSigned(t, other)
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	legacyEncrypted := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1}}))

	for name, in := range map[string]string{"PKCS#1 after": cert + pkcs1, "PKCS#8 first": pkcs8 + cert, "chain, app second": otherCert + cert + pkcs8} {
		certs, k, err := ParseCertificatePEM(in)
		require.NoError(t, err, name)
		assert.True(t, k.PublicKey.Equal(certs[0].PublicKey), "%s: the app's certificate comes first", name)
	}
	cases := map[string]struct{ in, want string }{
		"empty":            {"  ", "empty"},
		"not PEM":          {"hello", "no PEM blocks"},
		"key only":         {pkcs8, "no certificate"},
		"certificate only": {cert, "no private key"},
		"foreign key":      {otherCert + pkcs1, "does not belong"},
		"encrypted PKCS#8": {cert + "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"},
		"encrypted PKCS#1": {cert + legacyEncrypted, "encrypted"},
		"EC key":           {cert + string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})), "RSA key"},
	}
	for name, c := range cases {
		_, _, err := ParseCertificatePEM(c.in)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), c.want, name)
		assert.NotContains(t, err.Error(), pkcs1[40:80], "%s: errors never quote key material", name)
		assert.NotContains(t, err.Error(), pkcs8[40:80], "%s: errors never quote key material", name)
	}
}
