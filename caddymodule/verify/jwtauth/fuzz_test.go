package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

var (
	fuzzOnce            sync.Once
	fuzzAuth, fuzzMulti *Verifier
)

// fuzzVerifiers: one on the Authorization header, one on every other kind
// of source, both with an RSA key, an EC key and two secrets.
func fuzzVerifiers(tb testing.TB) (*Verifier, *Verifier) {
	fuzzOnce.Do(func() {
		cfg := cfgMixed()
		cfg.MaxAge = time.Hour
		fuzzAuth = mustNew(tb, cfg)
		cfg.Sources = []Source{
			{Kind: "form", Name: "x-gl-token"}, {Kind: "json", Name: "x-gl-token"},
			{Kind: "header", Name: "x-gl-token"}, {Kind: "query", Name: "token"},
		}
		fuzzMulti = mustNew(tb, cfg)
	})
	return fuzzAuth, fuzzMulti
}

// fuzzRequest places s according to place.
func fuzzRequest(tb testing.TB, s string, place uint8) (*Verifier, *http.Request, []byte) {
	auth, multi := fuzzVerifiers(tb)
	r := httptest.NewRequest(http.MethodPost, "/cb", nil)
	r.Body = noBody{tb}
	switch place % 7 {
	case 0:
		r.Header["Authorization"] = []string{"Bearer " + s}
		return auth, r, nil
	case 1:
		r.Header["Authorization"] = []string{s}
		return auth, r, nil
	case 2:
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return multi, r, []byte("x-gl-token=" + s)
	case 3:
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return multi, r, []byte(s)
	case 4:
		return multi, r, []byte(s)
	case 5:
		r.Header["X-Gl-Token"] = []string{s}
		return multi, r, nil
	default:
		r.URL.RawQuery = s
		return multi, r, nil
	}
}

// FuzzVerify feeds tokens and bodies in every placement. Verify must never
// panic, must always return nil or a *verify.Failure, and must accept only a
// token that an independent check (the standard library's crypto, not
// golang-jwt) finds signed by one of the test keys with an allowed alg.
func FuzzVerify(f *testing.F) {
	k := testKeys()
	fresh := freshClaims()
	seeds := []string{
		sign(f, "RS256", k.rsa1, hdr("RS256", "k1"), fresh),
		sign(f, "PS384", k.rsa2, hdr("PS384", ""), fresh),
		sign(f, "ES256", k.ec256, hdr("ES256", "e1"), fresh),
		sign(f, "HS256", k.secret1, hdr("HS256", ""), fresh),
		sign(f, "HS512", k.secret2, hdr("HS512", "x"), `{"iat":"`+itoa(testNow.UnixMilli()-1000)+`","exp":300000}`),
		sign(f, "HS256", k.rsa1PEM, hdr("HS256", "k1"), fresh),
		sign(f, "RS256", k.attacker, hdr("RS256", "k1"), fresh),
		b64(`{"alg":"none"}`) + "." + b64(fresh) + ".",
		"a.b.c", "..", "", "Bearer x",
	}
	for _, s := range seeds {
		for place := uint8(0); place < 7; place++ {
			f.Add(s, place)
		}
	}
	f.Add(`{"x-gl-token":"`+seeds[0]+`"}`, uint8(4))
	f.Add("token="+seeds[3], uint8(6))
	f.Add("x-gl-token="+seeds[2]+"&x-gl-token="+seeds[2], uint8(3))

	f.Fuzz(func(t *testing.T, s string, place uint8) {
		v, r, body := fuzzRequest(t, s, place)
		out := &verify.Output{}
		err := v.Verify(&verify.Input{Request: r, Body: body, Now: testNow}, out)
		if err != nil {
			if _, ok := err.(*verify.Failure); !ok {
				t.Fatalf("Verify returned %T", err)
			}
			if out.ClaimsJSON != nil {
				t.Fatalf("claims set on failure")
			}
			return
		}
		tok, f := v.token(r, body)
		if f != nil {
			t.Fatalf("accepted, but token() finds none: %v", f)
		}
		payload, why := independentlyVerify(k, tok)
		if why != "" {
			t.Fatalf("accepted a token that is not signed by a test key: %s", why)
		}
		if string(out.ClaimsJSON) != string(payload) {
			t.Fatalf("ClaimsJSON is not the signed payload")
		}
	})
}

// independentlyVerify checks a token with the standard library alone and
// returns its payload, or why it is not validly signed by a test key.
func independentlyVerify(k *keySet, tok string) ([]byte, string) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, "not three segments"
	}
	dec := base64.RawURLEncoding.Strict()
	hb, err1 := dec.DecodeString(parts[0])
	payload, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, "bad base64"
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &h) != nil {
		return nil, "bad header"
	}
	input := []byte(parts[0] + "." + parts[1])
	hashes := map[byte]crypto.Hash{'2': crypto.SHA256, '3': crypto.SHA384, '5': crypto.SHA512}
	if len(h.Alg) != 5 {
		return nil, "alg " + h.Alg
	}
	hash, ok := hashes[h.Alg[2]]
	if !ok {
		return nil, "alg " + h.Alg
	}
	hh := hash.New()
	hh.Write(input)
	digest := hh.Sum(nil)
	switch h.Alg[:2] {
	case "RS":
		for _, key := range []*rsa.PrivateKey{k.rsa1, k.rsa2} {
			if rsa.VerifyPKCS1v15(&key.PublicKey, hash, digest, sig) == nil {
				return payload, ""
			}
		}
	case "PS":
		for _, key := range []*rsa.PrivateKey{k.rsa1, k.rsa2} {
			if rsa.VerifyPSS(&key.PublicKey, hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil {
				return payload, ""
			}
		}
	case "ES":
		if h.Alg == "ES256" && len(sig) == 64 {
			r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			if ecdsa.Verify(&k.ec256.PublicKey, digest, r, s) {
				return payload, ""
			}
		}
	case "HS":
		for _, secret := range [][]byte{k.secret1, k.secret2} {
			m := hmac.New(hash.New, secret)
			m.Write(input)
			if hmac.Equal(m.Sum(nil), sig) {
				return payload, ""
			}
		}
	}
	return nil, "no test key verifies alg " + h.Alg
}

// FuzzToken: finding the token alone, on arbitrary headers, bodies and
// queries. It must not panic, must not read r.Body, and a token it returns
// must be non-empty; a Bearer token must come from the header.
func FuzzToken(f *testing.F) {
	f.Add("Bearer a.b.c", "x-gl-token=a.b.c", "token=a", "application/x-www-form-urlencoded")
	f.Add("", `{"x-gl-token":"a.b.c"}`, "", "application/json")
	f.Add("bearer", "x-gl-token=%zz&x-gl-token", "token=%41&token", "")
	f.Add("", "--b\r\nContent-Disposition: form-data; name=\"x-gl-token\"\r\n\r\na.b.c\r\n--b--\r\n", "", "multipart/form-data; boundary=b")
	f.Add("", "--b\r\nContent-Disposition: form-data; name='x-gl-token'; name=y\r\n\r\na\r\n--b--\r\n", "", "multipart/form-data; boundary=b")
	f.Add("", "\xef\xbb\xbf{\"X-GL-TOKEN\":\"a.b.c\"}", "+x-gl-token%00=1&[x-gl-token]=2", "application/json")
	f.Add("", "{\x00\"\x00x\x00\"\x00:\x00\"\x00a\x00\"\x00}\x00", "", "application/json; charset=utf-16le")
	f.Fuzz(func(t *testing.T, authz, body, query, ctype string) {
		auth, multi := fuzzVerifiers(t)
		r := httptest.NewRequest(http.MethodPost, "/cb", nil)
		r.Body = noBody{t}
		r.Header["Authorization"] = []string{authz}
		r.Header["X-Gl-Token"] = []string{authz}
		r.Header["Content-Type"] = []string{ctype}
		r.URL.RawQuery = query
		for _, v := range []*Verifier{auth, multi} {
			tok, f := v.token(r, []byte(body))
			if (f == nil) != (tok != "") {
				t.Fatalf("token() = %q, %v", tok, f)
			}
			if f != nil && f.Reason != verify.ReasonMissingToken && f.Reason != verify.ReasonMalformedToken {
				t.Fatalf("token() failed with %v", f)
			}
			if f == nil && v == auth && !strings.Contains(authz, tok) {
				t.Fatalf("bearer token %q not from the header", tok)
			}
		}
	})
}
