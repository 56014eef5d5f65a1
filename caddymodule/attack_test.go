package caddymodule_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/callbackguard/callbackguard/caddymodule/verify/signedurl"
)

// Every request of the attack corpus is rejected with the right status and
// reason, and none reaches the upstream.
func TestAttackCorpus(t *testing.T) {
	g := startGuarded(t)
	base := g.caddy.URL
	now := time.Now()
	pg := func(claims jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"gid": "gl_1", "status": "SENT_FOR_CAPTURE", "iat": fmt.Sprint(now.UnixMilli()), "exp": 300000}
		for k, v := range claims {
			c[k] = v
		}
		return c
	}
	kid := func(k string) map[string]any { return map[string]any{"kid": k} }
	valid := sign(t, jwt.SigningMethodRS256, g.rsa.priv, kid("k1"), pg(nil))
	parts := strings.Split(valid, ".")
	swapped := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"gid":"gl_1","status":"SENT_FOR_CAPTURE","amount":"1000000"}`)) + "." + parts[2]
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid("k1"), pg(nil))
	hsWithPEM := sign(t, jwt.SigningMethodHS256, g.rsa.pubPEM, kid("k1"), pg(nil))
	form := func(tok string) string { return "x-gl-token=" + url.QueryEscape(tok) }
	postForm := func(path, body string) func() *http.Request {
		return func() *http.Request {
			return newRequest(t, "POST", base+path, "application/x-www-form-urlencoded", body)
		}
	}
	signedOK, _ := signedurl.Sign(base+"/glopal/confirmation/DE/ORD-1?lang=de-DE", "sig", []byte("glopal-hmac-secret"))

	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		reason string
	}{
		{"alg none", postForm("/payglocal", form(noneTok)), 401, "alg_not_allowed"},
		{"alg none, signature stripped", postForm("/payglocal", form(strings.TrimSuffix(noneTok, ".")+".")), 401, "alg_not_allowed"},
		{"HS256 signed with the public key's PEM", postForm("/payglocal", form(hsWithPEM)), 401, "alg_not_allowed"},
		{"unknown kid", postForm("/payglocal", form(sign(t, jwt.SigningMethodRS256, g.rsa.priv, kid("k9"), pg(nil)))), 401, "unknown_key"},
		{"signed by another key", postForm("/payglocal", form(sign(t, jwt.SigningMethodRS256, g.stranger.priv, kid("k1"), pg(nil)))), 401, "invalid_signature"},
		{"kid of the other configured key", postForm("/payglocal", form(sign(t, jwt.SigningMethodRS256, g.rsa.priv, kid("k2"), pg(nil)))), 401, "invalid_signature"},
		{"payload swapped after signing", postForm("/payglocal", form(swapped)), 401, "invalid_signature"},
		{"expired (relative ms exp)", postForm("/payglocal", form(sign(t, jwt.SigningMethodRS256, g.rsa.priv, kid("k1"),
			pg(jwt.MapClaims{"iat": fmt.Sprint(now.Add(-10 * time.Minute).UnixMilli())})))), 401, "token_expired"},
		{"expired (seconds)", postForm("/payglocal", form(sign(t, jwt.SigningMethodRS256, g.rsa.priv, kid("k1"),
			jwt.MapClaims{"gid": "g", "exp": now.Add(-2 * time.Minute).Unix()}))), 401, "token_expired"},
		{"not yet valid", postForm("/payglocal", form(sign(t, jwt.SigningMethodRS256, g.rsa.priv, kid("k1"),
			jwt.MapClaims{"gid": "g", "nbf": now.Add(5 * time.Minute).Unix()}))), 401, "token_not_yet_valid"},
		{"iat in the future", postForm("/payglocal", form(sign(t, jwt.SigningMethodRS256, g.rsa.priv, kid("k1"),
			pg(jwt.MapClaims{"iat": fmt.Sprint(now.Add(time.Hour).UnixMilli())})))), 401, "token_issued_in_future"},
		{"max_age without iat", func() *http.Request {
			r := newRequest(t, "POST", base+"/generic/es256", "application/json", `{"id":"1"}`)
			r.Header.Set("Authorization", "Bearer "+sign(t, jwt.SigningMethodES256, g.ec.priv, kid("ec1"), jwt.MapClaims{"sub": "x"}))
			return r
		}, 401, "token_too_old"},
		{"no token", postForm("/payglocal", "other=1"), 401, "missing_token"},
		{"garbage token", postForm("/payglocal", form("not.a.jwt")), 401, "malformed_token"},
		{"Basic instead of Bearer", func() *http.Request {
			r := newRequest(t, "POST", base+"/generic/es256", "application/json", `{"id":"1"}`)
			r.SetBasicAuth("a", "b")
			return r
		}, 401, "missing_token"},
		{"wrong basic password", func() *http.Request {
			r := newRequest(t, "POST", base+"/glopal/basic", "application/json", `{}`)
			r.SetBasicAuth("glopal", "s3cret")
			return r
		}, 401, "invalid_credentials"},
		{"unknown basic user", func() *http.Request {
			r := newRequest(t, "POST", base+"/glopal/basic", "application/json", `{}`)
			r.SetBasicAuth("admin", "s3cret-new")
			return r
		}, 401, "invalid_credentials"},
		{"missing basic auth", postForm("/glopal/basic", "a=1"), 401, "missing_credentials"},
		{"wrong query secret", postForm("/globiance?token=guess", "{}"), 401, "invalid_credentials"},
		{"missing query secret", postForm("/globiance", "{}"), 401, "missing_credentials"},
		{"query secret in another parameter", postForm("/globiance?Token=globiance-secret", "{}"), 401, "missing_credentials"},
		{"wrong header secret", func() *http.Request {
			r := newRequest(t, "POST", base+"/avarda", "application/json", `{"purchaseId":"p"}`)
			r.Header.Set("Authorization", "Bearer avarda-static-token-2")
			return r
		}, 401, "invalid_credentials"},
		{"missing header secret", postForm("/avarda", `{"purchaseId":"p"}`), 401, "missing_credentials"},
		{"spoofed X-Callback headers do not authenticate", func() *http.Request {
			r := newRequest(t, "POST", base+"/avarda", "application/json", `{"purchaseId":"p"}`)
			r.Header.Set("X-Callback-Verified", "header_secret")
			r.Header.Set("X-Callback-Provider", "avarda")
			return r
		}, 401, "missing_credentials"},
		{"signed URL tampered", func() *http.Request {
			return newRequest(t, "GET", strings.Replace(signedOK, "ORD-1", "ORD-2", 1), "", "")
		}, 401, "invalid_signature"},
		{"signed URL parameter added", func() *http.Request { return newRequest(t, "GET", signedOK+"&admin=1", "", "") }, 401, "invalid_signature"},
		{"signed URL without signature", func() *http.Request {
			return newRequest(t, "GET", base+"/glopal/confirmation/DE/ORD-1?lang=de-DE", "", "")
		}, 401, "missing_signature"},
		{"HS token with a wrong secret, right header secret", func() *http.Request {
			r := newRequest(t, "POST", base+"/generic/hs?token="+sign(t, jwt.SigningMethodHS256, []byte("guess"), nil, jwt.MapClaims{}), "text/plain", "x")
			r.Header.Set("X-Shop-Secret", "shop-secret")
			return r
		}, 401, "invalid_signature"},
		{"right HS token, missing header secret", func() *http.Request {
			return newRequest(t, "POST", base+"/generic/hs?token="+sign(t, jwt.SigningMethodHS256, []byte("hs-secret-one"), nil, jwt.MapClaims{}), "text/plain", "x")
		}, 401, "missing_credentials"},
		{"body over max_body (Content-Length)", func() *http.Request {
			r := newRequest(t, "POST", base+"/avarda", "application/json", `{"purchaseId":"`+strings.Repeat("a", 3000)+`"}`)
			r.Header.Set("Authorization", "Bearer avarda-static-token")
			return r
		}, 413, "body_too_large"},
		{"body over max_body (chunked)", func() *http.Request {
			r := newRequest(t, "POST", base+"/avarda", "application/json", "")
			r.Body = readerOnly{strings.NewReader(`{"purchaseId":"` + strings.Repeat("a", 3000) + `"}`)}
			r.ContentLength = -1
			r.Header.Set("Authorization", "Bearer avarda-static-token")
			return r
		}, 413, "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := do(t, tt.req())
			if a.status != tt.status {
				t.Fatalf("status %d (%s), want %d", a.status, a.body, tt.status)
			}
			if r := errorReason(t, a); r != tt.reason {
				t.Fatalf("reason %q, want %q", r, tt.reason)
			}
			if n := g.up.Count(); n != 0 {
				t.Fatalf("the upstream received %d requests", n)
			}
		})
	}
	for _, secret := range []string{"globiance-secret", "s3cret-new", "avarda-static-token", "glopal-hmac-secret", "hs-secret-one", "shop-secret"} {
		if strings.Contains(g.caddy.Log(), secret) {
			t.Errorf("the log holds the secret %q", secret)
		}
	}
}
