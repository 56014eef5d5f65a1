package jwtauth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// The configurations of the attack corpus.
func cfgRSA() Config {
	k := testKeys()
	return Config{Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}, Leeway: time.Minute}
}

func cfgMixed() Config {
	k := testKeys()
	return Config{
		Keys: []Key{
			{ID: "k1", Key: &k.rsa1.PublicKey},
			{ID: "k2", Key: &k.rsa2.PublicKey},
			{ID: "e1", Key: &k.ec256.PublicKey},
		},
		Secrets: [][]byte{k.secret1, k.secret2},
		Leeway:  time.Minute,
	}
}

func TestVerifyAttacksAndHappyPaths(t *testing.T) {
	k := testKeys()
	fresh := freshClaims()
	now := testNow
	nowMs := now.UnixMilli()
	swap := func(tok, payload string) string {
		p := strings.Split(tok, ".")
		return p[0] + "." + b64(payload) + "." + p[2]
	}
	jwkHeader := func(kid string) string {
		pub := &k.attacker.PublicKey
		jwk := map[string]string{
			"kty": "RSA", "kid": "k1",
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}
		der, _ := x509.MarshalPKIXPublicKey(pub)
		h := map[string]any{
			"alg": "RS256", "jwk": jwk, "jku": "https://attacker.example/jwks.json",
			"x5u": "https://attacker.example/cert.pem", "x5c": []string{base64.StdEncoding.EncodeToString(der)},
		}
		if kid != "" {
			h["kid"] = kid
		}
		b, _ := json.Marshal(h)
		return string(b)
	}

	type tc struct {
		name string
		cfg  func() Config
		tok  string
		req  func(testing.TB, string) (*http.Request, []byte) // default: bearer
		want verify.Reason
	}
	cases := []tc{
		// alg confusion
		{name: "alg none, empty signature", cfg: cfgRSA, tok: b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(fresh) + ".", want: verify.ReasonAlgNotAllowed},
		{name: "alg none, with signature", cfg: cfgRSA, tok: b64(`{"alg":"none"}`) + "." + b64(fresh) + "." + b64("sig"), want: verify.ReasonAlgNotAllowed},
		{name: "alg none, mixed config", cfg: cfgMixed, tok: b64(`{"alg":"none","kid":"k1"}`) + "." + b64(fresh) + ".", want: verify.ReasonAlgNotAllowed},
		{name: "alg NONE", cfg: cfgRSA, tok: b64(`{"alg":"NONE"}`) + "." + b64(fresh) + ".", want: verify.ReasonAlgNotAllowed},
		{name: "alg unknown", cfg: cfgRSA, tok: b64(`{"alg":"RS257"}`) + "." + b64(fresh) + "." + b64("sig"), want: verify.ReasonAlgNotAllowed},
		{name: "alg EdDSA, not allowed", cfg: cfgRSA, tok: b64(`{"alg":"EdDSA"}`) + "." + b64(fresh) + "." + b64("sig"), want: verify.ReasonAlgNotAllowed},
		{name: "alg missing", cfg: cfgRSA, tok: b64(`{"kid":"k1"}`) + "." + b64(fresh) + "." + b64("sig"), want: verify.ReasonMalformedToken},
		{name: "alg not a string", cfg: cfgRSA, tok: b64(`{"alg":256}`) + "." + b64(fresh) + "." + b64("sig"), want: verify.ReasonMalformedToken},
		{name: "HS256 keyed with the RSA public key PEM", cfg: cfgRSA, tok: sign(t, "HS256", k.rsa1PEM, hdr("HS256", ""), fresh), want: verify.ReasonAlgNotAllowed},
		{name: "HS256 keyed with the RSA public key PEM, kid of the RSA key", cfg: cfgRSA, tok: sign(t, "HS256", k.rsa1PEM, hdr("HS256", "k1"), fresh), want: verify.ReasonAlgNotAllowed},
		{name: "HS256 keyed with the RSA public key PEM, secrets configured too", cfg: cfgMixed, tok: sign(t, "HS256", k.rsa1PEM, hdr("HS256", "k1"), fresh), want: verify.ReasonInvalidSignature},
		{name: "kid of an EC key with RS256", cfg: cfgMixed, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "e1"), fresh), want: verify.ReasonAlgNotAllowed},
		{name: "kid of an RSA key with ES256", cfg: cfgMixed, tok: sign(t, "ES256", k.ec256, hdr("ES256", "k1"), fresh), want: verify.ReasonAlgNotAllowed},
		{name: "ES384 with a P-256 key only", cfg: cfgMixed, tok: sign(t, "ES384", k.ec384, hdr("ES384", ""), fresh), want: verify.ReasonAlgNotAllowed},

		// keys
		{name: "unknown kid", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k9"), fresh), want: verify.ReasonUnknownKey},
		{name: "kid not a string", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, `{"alg":"RS256","kid":7}`, fresh), want: verify.ReasonMalformedToken},
		{name: "signed by another RSA key", cfg: cfgRSA, tok: sign(t, "RS256", k.attacker, hdr("RS256", "k1"), fresh), want: verify.ReasonInvalidSignature},
		{name: "signed by another RSA key, no kid", cfg: cfgMixed, tok: sign(t, "RS256", k.attacker, hdr("RS256", ""), fresh), want: verify.ReasonInvalidSignature},
		{name: "signed by the other configured key under the wrong kid", cfg: cfgMixed, tok: sign(t, "RS256", k.rsa2, hdr("RS256", "k1"), fresh), want: verify.ReasonInvalidSignature},
		{name: "payload swapped after signing", cfg: cfgRSA, tok: swap(sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), fresh), payloadWith(map[string]any{"status": "SENT_FOR_CAPTURE", "iat": now.Unix()})), want: verify.ReasonInvalidSignature},
		{name: "HMAC payload swapped", cfg: cfgMixed, tok: swap(sign(t, "HS256", k.secret1, hdr("HS256", ""), fresh), payloadWith(map[string]any{"amount": "1000000"})), want: verify.ReasonInvalidSignature},
		{name: "HMAC with an unknown secret", cfg: cfgMixed, tok: sign(t, "HS256", []byte("guessed"), hdr("HS256", ""), fresh), want: verify.ReasonInvalidSignature},
		{name: "jwk/jku/x5u/x5c of an attacker key, kid k1", cfg: cfgRSA, tok: sign(t, "RS256", k.attacker, jwkHeader("k1"), fresh), want: verify.ReasonInvalidSignature},
		{name: "jwk/jku/x5u/x5c of an attacker key, no kid", cfg: cfgMixed, tok: sign(t, "RS256", k.attacker, jwkHeader(""), fresh), want: verify.ReasonInvalidSignature},
		{name: "crit header", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, `{"alg":"RS256","kid":"k1","crit":["b64"],"b64":false}`, fresh), want: verify.ReasonMalformedToken},
		{name: "signature with non-canonical base64 padding bits", cfg: cfgMixed, tok: nonCanonical(sign(t, "HS256", k.secret1, hdr("HS256", ""), fresh)), want: verify.ReasonMalformedToken},

		// times
		{name: "expired, seconds", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"exp": now.Unix() - 120})), want: verify.ReasonTokenExpired},
		{name: "expired, milliseconds", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"exp": nowMs - 120_000})), want: verify.ReasonTokenExpired},
		{name: "expired, relative ms exp", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"iat": itoa(nowMs - 600_000), "exp": 300000})), want: verify.ReasonTokenExpired},
		{name: "nbf in the future", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"nbf": now.Unix() + 120})), want: verify.ReasonTokenNotYetValid},
		{name: "iat in the future beyond leeway", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"iat": now.Unix() + 120})), want: verify.ReasonTokenIssuedInFuture},
		{name: "max_age without iat", cfg: func() Config { c := cfgRSA(); c.MaxAge = 10 * time.Minute; return c }, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"exp": now.Unix() + 60})), want: verify.ReasonTokenTooOld},
		{name: "max_age with an old iat", cfg: func() Config { c := cfgRSA(); c.MaxAge = 10 * time.Minute; return c }, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"iat": now.Unix() - 3600})), want: verify.ReasonTokenTooOld},
		{name: "iat a string of non-digits", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"iat": "yesterday"})), want: verify.ReasonInvalidClaims},
		{name: "iat a signed digit string", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"iat": "-1"})), want: verify.ReasonInvalidClaims},
		{name: "exp a string", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"exp": itoa(now.Unix() + 60)})), want: verify.ReasonInvalidClaims},
		{name: "nbf a boolean", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payloadWith(map[string]any{"nbf": true})), want: verify.ReasonInvalidClaims},

		// malformed
		{name: "garbage", cfg: cfgRSA, tok: "not-a-token", want: verify.ReasonMalformedToken},
		{name: "two segments", cfg: cfgRSA, tok: b64(hdr("RS256", "k1")) + "." + b64(fresh), want: verify.ReasonMalformedToken},
		{name: "four segments", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), fresh) + ".x", want: verify.ReasonMalformedToken},
		{name: "bad base64 header", cfg: cfgRSA, tok: "!!!." + b64(fresh) + ".c2ln", want: verify.ReasonMalformedToken},
		{name: "bad base64 signature", cfg: cfgRSA, tok: b64(hdr("RS256", "k1")) + "." + b64(fresh) + ".***", want: verify.ReasonMalformedToken},
		{name: "padded base64", cfg: cfgRSA, tok: base64.URLEncoding.EncodeToString([]byte(hdr("RS256", "k1"))) + "." + b64(fresh) + ".c2ln", want: verify.ReasonMalformedToken},
		{name: "header not JSON", cfg: cfgRSA, tok: b64("RS256") + "." + b64(fresh) + ".c2ln", want: verify.ReasonMalformedToken},
		{name: "payload not JSON", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), `{"exp":`), want: verify.ReasonMalformedToken},
		{name: "payload an array, signed", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), `[1,2]`), want: verify.ReasonMalformedToken},
		{name: "payload with text after the object, signed", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), `{"a":1} {"b":2}`), want: verify.ReasonMalformedToken},
		{name: "payload null, signed", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), `null`), want: verify.ReasonMalformedToken},
		{name: "JWE (five segments)", cfg: cfgRSA, tok: b64(`{"alg":"RSA-OAEP","enc":"A256GCM"}`) + ".a.b.c.d", want: verify.ReasonMalformedToken},

		// missing
		{name: "no Authorization header", cfg: cfgRSA, req: func(tb testing.TB, _ string) (*http.Request, []byte) {
			return httptest.NewRequest(http.MethodPost, "/cb", nil), nil
		}, want: verify.ReasonMissingToken},
		{name: "Authorization without scheme", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), fresh), req: func(tb testing.TB, tok string) (*http.Request, []byte) {
			return headerPost(tb, "Authorization", tok)
		}, want: verify.ReasonMissingToken},
		{name: "Basic credentials", cfg: cfgRSA, req: func(tb testing.TB, _ string) (*http.Request, []byte) {
			return headerPost(tb, "Authorization", "Basic dXNlcjpwYXNz")
		}, want: verify.ReasonMissingToken},
		{name: "Bearer without token", cfg: cfgRSA, req: func(tb testing.TB, _ string) (*http.Request, []byte) {
			return headerPost(tb, "Authorization", "Bearer ")
		}, want: verify.ReasonMissingToken},
		{name: "two Authorization headers", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), fresh), req: func(tb testing.TB, tok string) (*http.Request, []byte) {
			r, b := bearer(tb, tok)
			r.Header.Add("Authorization", "Bearer "+tok)
			return r, b
		}, want: verify.ReasonMalformedToken},

		// accepted
		{name: "RS256", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), fresh)},
		{name: "bearer in lower case", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), fresh), req: func(tb testing.TB, tok string) (*http.Request, []byte) {
			return headerPost(tb, "Authorization", "bearer "+tok)
		}},
		{name: "BEARER in upper case", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), fresh), req: func(tb testing.TB, tok string) (*http.Request, []byte) {
			return headerPost(tb, "Authorization", "BEARER  "+tok)
		}},
		{name: "RS256 without kid", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", ""), fresh)},
		{name: "PS256", cfg: cfgRSA, tok: sign(t, "PS256", k.rsa1, hdr("PS256", "k1"), fresh)},
		{name: "RS512", cfg: cfgRSA, tok: sign(t, "RS512", k.rsa1, hdr("RS512", "k1"), fresh)},
		{name: "ES256", cfg: cfgMixed, tok: sign(t, "ES256", k.ec256, hdr("ES256", "e1"), fresh)},
		{name: "ES256 without kid", cfg: cfgMixed, tok: sign(t, "ES256", k.ec256, hdr("ES256", ""), fresh)},
		{name: "HS512", cfg: cfgMixed, tok: sign(t, "HS512", k.secret1, hdr("HS512", ""), fresh)},
		{name: "HS256 with a kid, which secrets do not use", cfg: cfgMixed, tok: sign(t, "HS256", k.secret1, hdr("HS256", "anything"), fresh)},
		{name: "rotation: key k1", cfg: cfgMixed, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), fresh)},
		{name: "rotation: key k2", cfg: cfgMixed, tok: sign(t, "RS256", k.rsa2, hdr("RS256", "k2"), fresh)},
		{name: "rotation: key k2, no kid", cfg: cfgMixed, tok: sign(t, "RS256", k.rsa2, hdr("RS256", ""), fresh)},
		{name: "rotation: secret 1", cfg: cfgMixed, tok: sign(t, "HS256", k.secret1, hdr("HS256", ""), fresh)},
		{name: "rotation: secret 2", cfg: cfgMixed, tok: sign(t, "HS384", k.secret2, hdr("HS384", ""), fresh)},
		{name: "unknown header fields", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, `{"issued-by":"Glocal","is-digested":"false","alg":"RS256","kid":"k1"}`, fresh)},
		{name: "no time claims at all", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), `{"status":"PAID"}`)},
		{name: "payload kept exactly, whitespace inside the object and all", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), " {\"a\": 1,\n \"b\":\"x\"}\n")},
		{name: "relative ms exp, fresh", cfg: cfgRSA, tok: sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), `{"iat":"`+itoa(nowMs-60_000)+`","exp":300000,"status":"SENT_FOR_CAPTURE"}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustNew(t, c.cfg())
			mk := c.req
			if mk == nil {
				mk = bearer
			}
			r, body := mk(t, c.tok)
			out, err := run(v, r, body, now)
			t.Logf("outcome: %v", err)
			if got := reasonOf(t, err); got != c.want {
				t.Fatalf("got %q (%v), want %q", got, err, orOK(c.want))
			}
			assertNoLeak(t, err, c.tok, k.secret1, k.secret2)
			if c.want != "" {
				if out.ClaimsJSON != nil || out.Credential != "" {
					t.Errorf("a rejected token left claims or a credential in the output")
				}
				return
			}
			parts := strings.Split(c.tok, ".")
			signed, _ := base64.RawURLEncoding.DecodeString(parts[1])
			if want := bytes.Trim(signed, " \t\r\n"); string(out.ClaimsJSON) != string(want) {
				t.Errorf("ClaimsJSON = %q, want the payload's object as signed %q", out.ClaimsJSON, want)
			}
			if out.Credential == "" {
				t.Errorf("no Credential")
			}
			if decodeClaims(t, out.ClaimsJSON) == nil {
				t.Errorf("ClaimsJSON does not decode to claims")
			}
		})
	}
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// nonCanonical sets a spare bit of the last base64 character of an HS256
// signature (32 bytes: 43 characters, 2 spare bits). Lenient decoders read
// the same signature from it; strict decoding refuses it, so one signature
// has one spelling.
func nonCanonical(tok string) string {
	last := strings.IndexByte(base64URLAlphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(base64URLAlphabet[last|1])
}

func orOK(r verify.Reason) string {
	if r == "" {
		return "accepted"
	}
	return string(r)
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// The claims are the payload's bytes, so that ids and amounts keep every
// digit when read with UseNumber (or gjson).
func TestClaimsDecodedWithUseNumber(t *testing.T) {
	k := testKeys()
	v := mustNew(t, cfgRSA())
	payload := `{"amount":12345678901234567890,"ratio":0.1,"nested":{"n":1},"iat":` + itoa(testNow.Unix()) + `}`
	out, err := run(v, first(bearer(t, sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), payload))), nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	claims := decodeClaims(t, out.ClaimsJSON)
	if got, ok := claims["amount"].(json.Number); !ok || got != "12345678901234567890" {
		t.Errorf("amount = %#v, want json.Number with every digit", claims["amount"])
	}
	if got, ok := claims["nested"].(map[string]any)["n"].(json.Number); !ok || got != "1" {
		t.Errorf("nested.n = %#v", claims["nested"])
	}
}

func first(r *http.Request, _ []byte) *http.Request { return r }

// The key function never hands an HMAC verifier a public key, whatever the
// configuration: checked directly, since New already refuses HS algs
// without secrets.
func TestKeyForNeverMixesFamilies(t *testing.T) {
	k := testKeys()
	v := mustNew(t, cfgMixed())
	for _, alg := range v.algs {
		tok := sign(t, alg, signer(k, alg), hdr(alg, ""), freshClaims())
		r, _ := bearer(t, tok)
		if _, err := run(v, r, nil, testNow); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
		for _, key := range v.byAlg[alg].keys {
			_, isBytes := key.([]byte)
			_, isRSA := key.(*rsa.PublicKey)
			_, isEC := key.(*ecdsa.PublicKey)
			switch algFamilies[alg] {
			case famHMAC:
				if !isBytes {
					t.Errorf("%s candidate of type %T", alg, key)
				}
			case famRSA:
				if !isRSA {
					t.Errorf("%s candidate of type %T", alg, key)
				}
			case famEC:
				if !isEC {
					t.Errorf("%s candidate of type %T", alg, key)
				}
			}
		}
	}
}

func signer(k *keySet, alg string) any {
	switch algFamilies[alg] {
	case famHMAC:
		return k.secret2
	case famEC:
		return k.ec256
	}
	return k.rsa2
}

func TestVerifyConcurrent(t *testing.T) {
	k := testKeys()
	v := mustNew(t, cfgMixed())
	toks := []string{
		sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), freshClaims()),
		sign(t, "ES256", k.ec256, hdr("ES256", ""), freshClaims()),
		sign(t, "HS256", k.secret2, hdr("HS256", ""), freshClaims()),
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				tok := toks[(g+i)%len(toks)]
				r, _ := bearer(t, tok)
				if _, err := run(v, r, nil, testNow); err != nil {
					t.Errorf("concurrent verify: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Credential names the key or secret that verified the token, the same for
// every token it verifies and different for each credential, without
// revealing a secret.
func TestCredential(t *testing.T) {
	k := testKeys()
	v := mustNew(t, cfgMixed())
	fresh := freshClaims()
	k1, _ := keyFingerprint("k1", &k.rsa1.PublicKey)
	k2, _ := keyFingerprint("k2", &k.rsa2.PublicKey)
	e1, _ := keyFingerprint("e1", &k.ec256.PublicKey)
	s1, s2 := secretFingerprint(k.secret1), secretFingerprint(k.secret2)
	cases := []struct {
		name, tok, want string
	}{
		{"RSA key by kid", sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), fresh), k1},
		{"the other RSA key by kid", sign(t, "PS256", k.rsa2, hdr("PS256", "k2"), fresh), k2},
		{"first RSA key without kid", sign(t, "RS256", k.rsa1, hdr("RS256", ""), fresh), k1},
		{"second RSA key without kid", sign(t, "RS512", k.rsa2, hdr("RS512", ""), fresh), k2},
		{"EC key", sign(t, "ES256", k.ec256, hdr("ES256", ""), fresh), e1},
		{"first secret", sign(t, "HS256", k.secret1, hdr("HS256", ""), fresh), s1},
		{"second secret", sign(t, "HS384", k.secret2, hdr("HS384", ""), fresh), s2},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		r, _ := bearer(t, c.tok)
		out, err := run(v, r, nil, testNow)
		if err != nil || out.Credential != c.want {
			t.Errorf("%s: Credential %q (%v), want %q", c.name, out.Credential, err, c.want)
		}
		seen[out.Credential] = true
	}
	if len(seen) != 5 {
		t.Errorf("%d distinct credentials, want 5: %v", len(seen), seen)
	}
	for fp := range seen {
		if strings.Contains(fp, string(k.secret1)) || strings.Contains(fp, string(k.secret2)) {
			t.Errorf("fingerprint %q holds a secret", fp)
		}
	}
	if !strings.HasPrefix(k1, "key:k1:") || !strings.HasPrefix(s1, "secret:") {
		t.Errorf("fingerprints %q, %q", k1, s1)
	}
}
