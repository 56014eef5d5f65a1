package hmacsig

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// Secret encodings: how a secret's text becomes key bytes.
const (
	SecretRaw    = "raw"
	SecretBase64 = "base64"
	SecretHex    = "hex"
	SecretWhsec  = "whsec"
)

// Signature encodings.
const (
	EncodingHex       = "hex"
	EncodingBase64    = "base64"
	EncodingBase64URL = "base64url"
)

type encoding uint8

// Strict decoders accept one spelling per byte string.
var (
	base64Strict    = base64.StdEncoding.Strict()
	base64URLStrict = base64.URLEncoding.Strict()
	base64RawURL    = base64.RawURLEncoding.Strict()
)

const (
	encHex encoding = iota
	encBase64
	encBase64URL
)

func parseEncoding(name string) (encoding, error) {
	switch name {
	case "", EncodingHex:
		return encHex, nil
	case EncodingBase64:
		return encBase64, nil
	case EncodingBase64URL:
		return encBase64URL, nil
	}
	return 0, fmt.Errorf("encoding: unknown %q (want hex, base64 or base64url)", name)
}

// decodeSecret turns a configured secret into key bytes. Errors name the
// encoding, never the secret.
func decodeSecret(text, enc string) ([]byte, error) {
	if text == "" {
		return nil, errors.New("empty secret")
	}
	var key []byte
	var err error
	switch enc {
	case "", SecretRaw:
		return []byte(text), nil
	case SecretBase64:
		key, err = base64.StdEncoding.DecodeString(text)
	case SecretHex:
		key, err = hex.DecodeString(text)
	case SecretWhsec:
		// Standard Webhooks: the key is the base64 after the prefix.
		key, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(text, "whsec_"))
	default:
		return nil, fmt.Errorf("secret_encoding: unknown %q (want raw, base64, hex or whsec)", enc)
	}
	if err != nil {
		return nil, fmt.Errorf("the secret is not valid %s", enc)
	}
	if len(key) == 0 {
		return nil, errors.New("the secret decodes to no bytes")
	}
	return key, nil
}

// publicKey is an Ed25519 key of Standard Webhooks' v1a signatures.
type publicKey struct {
	key         ed25519.PublicKey
	fingerprint string
}

func decodePublicKey(text string) (publicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(text, "whpk_"))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return publicKey{}, errors.New("want whpk_ and the base64 of a 32-byte Ed25519 public key")
	}
	return publicKey{key: ed25519.PublicKey(b), fingerprint: fingerprint("ed25519", b)}, nil
}

// fingerprint names a key without revealing it: a truncated SHA-256 of the
// kind and the key bytes.
func fingerprint(kind string, key []byte) string {
	h := sha256.New()
	h.Write([]byte("callback_guard " + kind + "\x00"))
	h.Write(key)
	return kind + ":" + hex.EncodeToString(h.Sum(nil)[:8])
}

// decodeSignature decodes one signature into dst, which has room for the
// digest, and reports whether it is exactly one digest long. It allocates
// nothing.
func decodeSignature(enc encoding, sig string, dst []byte) bool {
	size := len(dst)
	src := unsafe.Slice(unsafe.StringData(sig), len(sig))
	var n int
	var err error
	switch enc {
	case encHex:
		if len(sig) != hex.EncodedLen(size) {
			return false
		}
		n, err = hex.Decode(dst, src)
	case encBase64:
		if len(sig) != base64.StdEncoding.EncodedLen(size) {
			return false
		}
		n, err = base64Strict.Decode(dst, src)
	case encBase64URL:
		switch len(sig) {
		case base64.URLEncoding.EncodedLen(size):
			n, err = base64URLStrict.Decode(dst, src)
		case base64.RawURLEncoding.EncodedLen(size):
			n, err = base64RawURL.Decode(dst, src)
		default:
			return false
		}
	}
	return err == nil && n == size
}

// encodeSignature is the inverse, for signers.
func encodeSignature(enc encoding, sum []byte) string {
	switch enc {
	case encBase64:
		return base64.StdEncoding.EncodeToString(sum)
	case encBase64URL:
		return base64.URLEncoding.EncodeToString(sum)
	}
	return hex.EncodeToString(sum)
}
