package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// minRSABits is the smallest RSA modulus accepted. 2048 bits is the floor of
// NIST SP 800-131A and of RFC 7518 §3.3; a shorter key can be factored by a
// determined attacker, who could then sign callbacks.
const minRSABits = 2048

// ParsePublicKeyPEM reads the public key a provider publishes for verifying
// its tokens. It accepts a "PUBLIC KEY" block (PKIX, what PayGlocal's
// <kid>_payglocal_mid.pem files hold), an "RSA PUBLIC KEY" block (PKCS#1) or
// a "CERTIFICATE" (whose key is taken; the certificate's own validity and
// chain are not checked, the key is trusted because the operator configured
// it). "EC PARAMETERS" blocks that openssl writes before EC keys are skipped;
// the first key or certificate block is used and anything after it ignored.
//
// Only RSA (at least 2048 bits) and EC keys on P-256, P-384 and P-521 are
// accepted, since those are what the RS*, PS* and ES* algorithms verify with.
// A private key is refused with a message that says so: a verifier needs
// only the public half, and a private key in a Caddy config is a leak waiting
// to happen. Errors never quote the file's contents.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	rest := data
	for {
		block, next := pem.Decode(rest)
		if block == nil {
			if len(rest) == len(data) {
				return nil, errors.New("no PEM block found: expected -----BEGIN PUBLIC KEY-----, RSA PUBLIC KEY or CERTIFICATE")
			}
			return nil, errors.New("PEM data holds no PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block")
		}
		rest = next
		var pub crypto.PublicKey
		var err error
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				pub = cert.PublicKey
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
			"OPENSSH PRIVATE KEY", "DSA PRIVATE KEY":
			return nil, fmt.Errorf("PEM block is a private key (%s): configure the public key only (openssl pkey -in <file> -pubout)", block.Type)
		default:
			return nil, fmt.Errorf("unsupported PEM block type %q: expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s block: %w", block.Type, err)
		}
		if err := checkPublicKey(pub); err != nil {
			return nil, err
		}
		return pub, nil
	}
}

// checkPublicKey refuses the key types and sizes no accepted algorithm can
// use safely. New calls it too, for keys built in code.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return errors.New("empty RSA public key")
		}
		if bits := k.N.BitLen(); bits < minRSABits {
			return fmt.Errorf("RSA key of %d bits is too short: at least %d bits are required", bits, minRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return errors.New("empty EC public key")
		}
		if ecAlg(k) == "" {
			return fmt.Errorf("unsupported EC curve %s: only P-256, P-384 and P-521 (ES256, ES384, ES512)", k.Curve.Params().Name)
		}
		return nil
	case ed25519.PublicKey:
		return errors.New("unsupported key type Ed25519: only RSA and EC keys are supported")
	case nil:
		return errors.New("no public key")
	default:
		return fmt.Errorf("unsupported key type %T: only RSA and EC keys are supported", pub)
	}
}

// ecAlg is the one JWS algorithm an EC key verifies: RFC 7518 §3.4 ties each
// ES algorithm to one curve, so a P-256 key never verifies ES384.
func ecAlg(k *ecdsa.PublicKey) string {
	switch k.Curve {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

// keyFingerprint names a configured public key without its material: its
// kid and a truncated SHA-256 of its PKIX DER encoding. It is what
// verify.Output.Credential holds when the key verified a token.
func keyFingerprint(kid string, pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding the key: %w", err)
	}
	return "key:" + kid + ":" + shortHash("", der), nil
}

// secretFingerprint names an HMAC secret without revealing it: a truncated
// SHA-256 of it, domain-separated so that it matches no hash of the same
// secret made elsewhere.
func secretFingerprint(secret []byte) string {
	return "secret:" + shortHash("callback_guard jwt secret\x00", secret)
}

func shortHash(domain string, b []byte) string {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:8])
}
