package auth

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParseCertificatePEM reads the PEM a service principal connection holds: one or more
// certificates (the first is the app's) and an unencrypted RSA private key, PKCS#1 or PKCS#8.
// Errors say what is wrong and never quote the key.
func ParseCertificatePEM(data string) ([]*x509.Certificate, *rsa.PrivateKey, error) {
	if strings.TrimSpace(data) == "" {
		return nil, nil, errors.New("empty: paste the PEM holding the certificate and its private key")
	}
	var certs []*x509.Certificate
	var key *rsa.PrivateKey
	rest := []byte(data)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("a CERTIFICATE block does not parse: %v", err)
			}
			certs = append(certs, c)
		case "RSA PRIVATE KEY":
			if _, encrypted := block.Headers["DEK-Info"]; encrypted {
				return nil, nil, errEncrypted
			}
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, nil, errors.New("the RSA PRIVATE KEY block does not parse as PKCS#1")
			}
			key = k
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, nil, errors.New("the PRIVATE KEY block does not parse as PKCS#8")
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, nil, fmt.Errorf("the private key is %T; Entra client certificates need an RSA key", k)
			}
			key = rk
		case "ENCRYPTED PRIVATE KEY":
			return nil, nil, errEncrypted
		case "EC PRIVATE KEY":
			return nil, nil, errors.New("the private key is an EC key; Entra client certificates need an RSA key")
		}
	}
	switch {
	case len(certs) == 0 && key == nil:
		return nil, nil, errors.New("no PEM blocks found: expected -----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY----- blocks")
	case len(certs) == 0:
		return nil, nil, errors.New("no certificate: the PEM must hold the certificate as well as the private key")
	case key == nil:
		return nil, nil, errors.New("no private key: the PEM must hold the certificate's unencrypted private key as well")
	}
	pub, ok := certs[0].PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		// The key may belong to another certificate of the chain: put the app's first.
		for i, c := range certs {
			if p, ok := c.PublicKey.(*rsa.PublicKey); ok && p.Equal(&key.PublicKey) {
				certs[0], certs[i] = certs[i], certs[0]
				return certs, key, nil
			}
		}
		return nil, nil, errors.New("the private key does not belong to any certificate in the PEM")
	}
	return certs, key, nil
}

var errEncrypted = errors.New("the private key is encrypted: a pipeline cannot type its password; export it without a password (e.g. openssl pkcs12 -in cert.pfx -nodes) and keep the PEM only in the service connection")
