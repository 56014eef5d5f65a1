package jwtauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/golang-jwt/jwt/v5"
)

// testNow is the fixed clock of the tests that do not use a real vector.
var testNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// The test keys are generated once per process: RSA generation is slow.
type keySet struct {
	rsa1, rsa2, attacker *rsa.PrivateKey
	ec256, ec384         *ecdsa.PrivateKey
	secret1, secret2     []byte
	rsa1PEM              []byte // PKIX PEM of rsa1's public key
}

var (
	keysOnce sync.Once
	theKeys  keySet
)

func testKeys() *keySet {
	keysOnce.Do(func() {
		k := &theKeys
		k.rsa1 = mustRSA(2048)
		k.rsa2 = mustRSA(2048)
		k.attacker = mustRSA(2048)
		k.ec256 = mustEC(elliptic.P256())
		k.ec384 = mustEC(elliptic.P384())
		k.secret1 = []byte("first-hmac-secret-of-32-bytes-ok")
		k.secret2 = []byte("second-hmac-secret-32-bytes-long")
		der, err := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
		if err != nil {
			panic(err)
		}
		k.rsa1PEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	})
	return &theKeys
}

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// sign builds a token from a header and a payload given as exact JSON text,
// so that tests control every byte that is signed.
func sign(tb testing.TB, alg string, key any, header, payload string) string {
	tb.Helper()
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		tb.Fatalf("no signing method %s", alg)
	}
	input := b64(header) + "." + b64(payload)
	sig, err := m.Sign(input, key)
	if err != nil {
		tb.Fatalf("sign %s: %v", alg, err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// hdr is a JOSE header with alg and, when not empty, kid.
func hdr(alg, kid string) string {
	if kid == "" {
		return `{"alg":"` + alg + `","typ":"JWT"}`
	}
	return `{"alg":"` + alg + `","kid":"` + kid + `","typ":"JWT"}`
}

// payloadWith is a payload with the given fields plus a marker.
func payloadWith(fields map[string]any) string {
	m := map[string]any{"sub": "order-42", "status": "PAID"}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// freshClaims is a payload valid at testNow.
func freshClaims() string {
	return payloadWith(map[string]any{"iat": testNow.Unix() - 10, "exp": testNow.Unix() + 300})
}

// payglocalSources are the token sources of the payglocal preset.
func payglocalSources() []Source {
	return []Source{{Kind: "form", Name: "x-gl-token"}, {Kind: "json", Name: "x-gl-token"}, {Kind: "header", Name: "x-gl-token"}}
}

func mustNew(tb testing.TB, cfg Config) *Verifier {
	tb.Helper()
	v, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return v
}

// noBody fails the test if the verifier reads r.Body: the handler has
// read it already and passes the bytes.
type noBody struct{ tb testing.TB }

func (b noBody) Read([]byte) (int, error) {
	b.tb.Errorf("r.Body was read")
	return 0, io.EOF
}
func (noBody) Close() error { return nil }

// bearer is a request carrying tok in an Authorization header.
func bearer(tb testing.TB, tok string) (*http.Request, []byte) {
	r := httptest.NewRequest(http.MethodPost, "/cb", nil)
	r.Body = noBody{tb}
	r.Header.Set("Authorization", "Bearer "+tok)
	return r, nil
}

// formPost is PayGlocal's delivery: a form body with the field name.
func formPost(tb testing.TB, name, tok string) (*http.Request, []byte) {
	r := httptest.NewRequest(http.MethodPost, "/cb", nil)
	r.Body = noBody{tb}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r, []byte(name + "=" + tok)
}

func jsonPost(tb testing.TB, name, tok string) (*http.Request, []byte) {
	r := httptest.NewRequest(http.MethodPost, "/cb", nil)
	r.Body = noBody{tb}
	r.Header.Set("Content-Type", "application/json")
	b, _ := json.Marshal(map[string]string{name: tok, "other": "x"})
	return r, b
}

func headerPost(tb testing.TB, name, tok string) (*http.Request, []byte) {
	r := httptest.NewRequest(http.MethodPost, "/cb", nil)
	r.Body = noBody{tb}
	r.Header.Set(name, tok)
	return r, nil
}

// run verifies a request at now and returns the outcome.
func run(v *Verifier, r *http.Request, body []byte, now time.Time) (*verify.Output, error) {
	out := &verify.Output{}
	err := v.Verify(&verify.Input{Request: r, Body: body, Now: now}, out)
	return out, err
}

// reasonOf is the reason class of a Verify error, "" for success.
func reasonOf(tb testing.TB, err error) verify.Reason {
	tb.Helper()
	if err == nil {
		return ""
	}
	var f *verify.Failure
	if !errors.As(err, &f) {
		tb.Fatalf("Verify returned %T (%v), want *verify.Failure", err, err)
	}
	return f.Reason
}

// assertNoLeak checks that a failure's detail holds no part of the token
// and no secret.
func assertNoLeak(tb testing.TB, err error, tok string, secrets ...[]byte) {
	tb.Helper()
	var f *verify.Failure
	if !errors.As(err, &f) {
		return
	}
	for _, part := range strings.Split(tok, ".") {
		if len(part) >= 4 && strings.Contains(f.Detail, part) {
			tb.Errorf("failure detail %q holds part of the token", f.Detail)
		}
	}
	for _, s := range secrets {
		if len(s) > 0 && strings.Contains(f.Detail, string(s)) {
			tb.Errorf("failure detail %q holds a secret", f.Detail)
		}
	}
}

// decodeClaims decodes verified claims as a consumer of Output.ClaimsJSON
// would: one JSON object, numbers as json.Number.
func decodeClaims(tb testing.TB, claimsJSON []byte) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(string(claimsJSON)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("ClaimsJSON %q: %v", claimsJSON, err)
	}
	return m
}
