package cli

import (
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/callbackguard/callbackguard/config"
)

// signJWT signs the delivery's token: shaped as the preset's sample says
// (sample may be nil), else with iat and exp; --claim entries override.
func signJWT(f *signFlags, sample *config.SampleJWT, in config.SampleInput) (string, error) {
	key, alg, err := signingKey(f)
	if err != nil {
		return "", err
	}
	method := jwt.GetSigningMethod(alg)
	if method == nil || alg == "none" {
		return "", usagef("--alg %q: unknown algorithm", alg)
	}
	claims := jwt.MapClaims{}
	if sample != nil && sample.Claims != nil {
		for k, v := range sample.Claims(in) {
			claims[k] = v
		}
	} else {
		claims["iat"] = in.Time.Unix()
		claims["exp"] = in.Time.Add(time.Duration(f.jwtTTL)).Unix()
	}
	if err := addClaims(claims, f.claims); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(method, claims)
	if sample != nil {
		if sample.NoTyp {
			delete(t.Header, "typ")
		}
		for k, v := range sample.Header {
			t.Header[k] = v
		}
	}
	if f.kid != "" {
		t.Header["kid"] = f.kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", usagef("signing the JWT with %s: %v", alg, err)
	}
	return s, nil
}

// signingKey is the key of --jwt-secret or --jwt-key, and the algorithm:
// --alg, or the key's own.
func signingKey(f *signFlags) (key any, alg string, err error) {
	if f.jwtSecret != "" {
		return []byte(f.jwtSecret), cmp.Or(f.alg, "HS256"), nil
	}
	k, err := loadPrivateKey(f.jwtKey)
	if err != nil {
		return nil, "", usagef("--jwt-key %s: %v", f.jwtKey, err)
	}
	return k, cmp.Or(f.alg, defaultAlg(k)), nil
}

// addClaims sets the --claim entries: name=string or name:=<JSON>.
func addClaims(claims jwt.MapClaims, entries []string) error {
	for _, c := range entries {
		if name, raw, ok := strings.Cut(c, ":="); ok && !strings.Contains(name, "=") {
			var v any
			dec := json.NewDecoder(strings.NewReader(raw))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return usagef("--claim %s:=: %q is not JSON", name, raw)
			}
			claims[name] = v
			continue
		}
		name, value, ok := strings.Cut(c, "=")
		if !ok || name == "" {
			return usagef("--claim %q: want name=string or name:=<JSON>", c)
		}
		claims[name] = value
	}
	return nil
}

func defaultAlg(k crypto.Signer) string {
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
		return "ES256"
	case ed25519.PrivateKey:
		return "EdDSA"
	}
	return "RS256"
}

// loadPrivateKey reads an RSA, EC or Ed25519 private key (PKCS#1, SEC 1 or
// PKCS#8 PEM).
func loadPrivateKey(file string) (crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no private key PEM block (want -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)")
		}
		if block.Type == "EC PARAMETERS" {
			continue
		}
		return parsePrivateKey(block)
	}
}

func parsePrivateKey(block *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("the key is encrypted: decrypt it first (openssl pkey -in <file> -out <plain.pem>)")
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return nil, fmt.Errorf("this is a public key (%s): signing needs the private key", block.Type)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %v", block.Type, err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", k)
}
