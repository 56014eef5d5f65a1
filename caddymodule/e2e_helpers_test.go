package caddymodule_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// keyPair is a test signing key with its public PEM written to a file.
type keyPair struct {
	priv    any
	pubPEM  []byte
	pubFile string
}

func newRSAKey(t testing.TB, dir, name string) *keyPair {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return writePub(t, dir, name, k, &k.PublicKey)
}

func newECKey(t testing.TB, dir, name string) *keyPair {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return writePub(t, dir, name, k, &k.PublicKey)
}

func writePub(t testing.TB, dir, name string, priv, pub any) *keyPair {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, p, 0o600); err != nil {
		t.Fatal(err)
	}
	return &keyPair{priv: priv, pubPEM: p, pubFile: file}
}

// sign makes a token with the given method, header fields and claims.
func sign(t testing.TB, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// answer is what the provider got back.
type answer struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func newRequest(t testing.TB, method, url, contentType, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// errorReason reads {"error": "..."} from a rejection.
func errorReason(t testing.TB, a answer) string {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("rejection Content-Type %q, want application/json (body %q)", ct, a.body)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(a.body), &e); err != nil {
		t.Fatalf("rejection body %q: %v", a.body, err)
	}
	return e.Error
}

// tryDo is do for goroutines: a transport error comes back as status -1
// with the error as body, for the test goroutine to report.
func tryDo(req *http.Request) answer {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{status: -1, body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}
