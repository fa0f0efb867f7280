package emulator

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Just enough JWT (RFC 7519) for the emulator: RS256 signing of the tokens it issues and
// RS256/PS256 verification of client assertions. The standard library covers it, so the
// emulator needs no JWT module.

// idJWT is a parsed, not yet verified, compact JWS.
type idJWT struct {
	header       idJWTHeader
	claims       idJWTClaims
	signingInput string // header.payload, as signed
	signature    []byte
}

type idJWTHeader struct {
	Alg     string `json:"alg"`
	Typ     string `json:"typ,omitempty"`
	Kid     string `json:"kid,omitempty"`
	X5t     string `json:"x5t,omitempty"`
	X5tS256 string `json:"x5t#S256,omitempty"`
}

// idJWTClaims are the registered claims the emulator reads or writes; Extra carries the rest
// when signing.
type idJWTClaims struct {
	Iss string     `json:"iss,omitempty"`
	Sub string     `json:"sub,omitempty"`
	Aud idAudience `json:"aud,omitempty"`
	Exp int64      `json:"exp,omitempty"`
	Nbf int64      `json:"nbf,omitempty"`
	Iat int64      `json:"iat,omitempty"`
	Jti string     `json:"jti,omitempty"`
}

// idAudience is the aud claim: a string or an array of strings.
type idAudience []string

func (a idAudience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *idAudience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = idAudience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

func (a idAudience) String() string { return strings.Join(a, ",") }

// idParseJWT splits and decodes a compact JWS without verifying it. Numeric dates may be
// fractional; they are truncated to seconds.
func idParseJWT(token string) (*idJWT, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS (header.payload.signature)")
	}
	var t idJWT
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if err := json.Unmarshal(hdr, &t.header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	var raw struct {
		idJWTClaims
		// Shadow the numeric dates: they may be fractional.
		Exp json.Number `json:"exp"`
		Nbf json.Number `json:"nbf"`
		Iat json.Number `json:"iat"`
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	t.claims = raw.idJWTClaims
	for _, f := range []struct {
		n   json.Number
		dst *int64
	}{{raw.Exp, &t.claims.Exp}, {raw.Nbf, &t.claims.Nbf}, {raw.Iat, &t.claims.Iat}} {
		if f.n == "" {
			continue
		}
		v, err := f.n.Float64()
		if err != nil {
			return nil, fmt.Errorf("payload: numeric date %q: %w", f.n, err)
		}
		*f.dst = int64(v)
	}
	if t.signature, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	t.signingInput = parts[0] + "." + parts[1]
	return &t, nil
}

// verify checks the signature with pub: RS256 or PS256, the algorithms Entra accepts for client
// assertions (MSAL Go signs with PS256).
func (t *idJWT) verify(pub *rsa.PublicKey) error {
	digest := sha256.Sum256([]byte(t.signingInput))
	switch t.header.Alg {
	case "RS256":
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], t.signature)
	case "PS256":
		return rsa.VerifyPSS(pub, crypto.SHA256, digest[:], t.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	default:
		return fmt.Errorf("unsupported alg %q", t.header.Alg)
	}
}

// idSignJWT signs claims (any JSON object) with RS256 and the given key id.
func idSignJWT(key *rsa.PrivateKey, kid string, claims any) (string, error) {
	hdr, err := json.Marshal(idJWTHeader{Alg: "RS256", Typ: "JWT", Kid: kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// idDecodeThumbprint decodes an x5t / x5t#S256 header. RFC 7515 says base64url, but MSAL Go
// sends standard base64, and Entra takes both.
func idDecodeThumbprint(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// idUnixTime turns a numeric date into a time; zero stays zero.
func idUnixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
