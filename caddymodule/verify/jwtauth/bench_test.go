package jwtauth

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// payglocalLike is a payload shaped like PayGlocal's callback: the same
// fields and sizes (statusUrl carries a token of its own), iat a string of
// milliseconds, exp a relative lifetime.
func payglocalLike(now time.Time) string {
	inner := strings.Repeat("A", 1200)
	return `{"gid":"gl_a64a176f-9bac-4170-950d-4dc625a35ca9","statusUrl":"https:\/\/api.dev.payglocal.in\/gl\/v1\/payments\/gl_a64a176f-9bac-4170-950d-4dc625a35ca9\/status?x-gl-token=` + inner +
		`","merchantUniqueId":"4YHc1Er3BdICgy4w","exp":300000,"iat":"` + itoa(now.UnixMilli()-2000) +
		`","status":"SENT_FOR_CAPTURE","x-gl-gid":"gl_a64a176f-9bac-4170-950d-4dc625a35ca9","x-gl-merchantId":"yogesh_dem"}`
}

func benchVerify(b *testing.B, v *Verifier, r *http.Request, body []byte) {
	b.Helper()
	in := &verify.Input{Request: r, Body: body, Now: testNow}
	var out verify.Output
	if err := v.Verify(in, &out); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		out = verify.Output{}
		if err := v.Verify(in, &out); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// reportCPU adds the metric cpu-ns/op: the process's CPU time (user and
// system, garbage collection included) per operation since start. Unlike
// ns/op, it does not count the time other processes hold the CPU, so it
// varies far less on a busy machine, and it is what the guard's budget
// (CPU per request) is stated in.
func reportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

func BenchmarkVerifyRS256(b *testing.B) {
	k := testKeys()
	v := mustNew(b, cfgRSA())
	r, _ := bearer(b, sign(b, "RS256", k.rsa1, hdr("RS256", "k1"), freshClaims()))
	benchVerify(b, v, r, nil)
}

func BenchmarkVerifyES256(b *testing.B) {
	k := testKeys()
	v := mustNew(b, Config{Keys: []Key{{ID: "e1", Key: &k.ec256.PublicKey}}, Leeway: time.Minute})
	r, _ := bearer(b, sign(b, "ES256", k.ec256, hdr("ES256", "e1"), freshClaims()))
	benchVerify(b, v, r, nil)
}

func BenchmarkVerifyHS256(b *testing.B) {
	k := testKeys()
	v := mustNew(b, Config{Secrets: [][]byte{k.secret1}, Leeway: time.Minute})
	r, _ := bearer(b, sign(b, "HS256", k.secret1, hdr("HS256", ""), freshClaims()))
	benchVerify(b, v, r, nil)
}

// Two secrets, the token signed with the second: both are tried.
func BenchmarkVerifyHS256SecondSecret(b *testing.B) {
	k := testKeys()
	v := mustNew(b, Config{Secrets: [][]byte{k.secret1, k.secret2}, Leeway: time.Minute})
	r, _ := bearer(b, sign(b, "HS256", k.secret2, hdr("HS256", ""), freshClaims()))
	benchVerify(b, v, r, nil)
}

func BenchmarkVerifyPayGlocalForm(b *testing.B) {
	k := testKeys()
	v := mustNew(b, Config{
		Sources: payglocalSources(), Keys: []Key{{ID: payglocalKid, Key: &k.rsa1.PublicKey}},
		Algs: []string{"RS256"}, Leeway: time.Minute,
	})
	tok := sign(b, "RS256", k.rsa1, `{"issued-by":"Glocal","is-digested":"false","alg":"RS256","kid":"`+payglocalKid+`"}`, payglocalLike(testNow))
	r, body := formPost(b, "x-gl-token", tok)
	benchVerify(b, v, r, body)
}

// The same token, forged (signature of another key): what an attacker's
// request costs.
func BenchmarkVerifyPayGlocalFormForged(b *testing.B) {
	k := testKeys()
	v := mustNew(b, Config{
		Sources: payglocalSources(), Keys: []Key{{ID: payglocalKid, Key: &k.rsa1.PublicKey}},
		Algs: []string{"RS256"}, Leeway: time.Minute,
	})
	tok := sign(b, "RS256", k.attacker, `{"alg":"RS256","kid":"`+payglocalKid+`"}`, payglocalLike(testNow))
	r, body := formPost(b, "x-gl-token", tok)
	in := &verify.Input{Request: r, Body: body, Now: testNow}
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if err := v.Verify(in, &verify.Output{}); err == nil {
			b.Fatal("forged token accepted")
		}
	}
	reportCPU(b, start)
}

// The floor: the standard library's RSA-2048 PKCS#1 v1.5 verify of the same
// signing input, with nothing around it.
func BenchmarkRSAVerifyPKCS1v15(b *testing.B) {
	k := testKeys()
	tok := sign(b, "RS256", k.rsa1, hdr("RS256", "k1"), freshClaims())
	i := strings.LastIndexByte(tok, '.')
	digest := sha256.Sum256([]byte(tok[:i]))
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	pub := &k.rsa1.PublicKey
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

func BenchmarkTokenForm(b *testing.B) {
	k := testKeys()
	v := mustNew(b, Config{Sources: payglocalSources(), Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}})
	r, body := formPost(b, "x-gl-token", sign(b, "RS256", k.rsa1, hdr("RS256", "k1"), payglocalLike(testNow)))
	b.ReportAllocs()
	for b.Loop() {
		if _, f := v.token(r, body); f != nil {
			b.Fatal(f)
		}
	}
}

func BenchmarkTokenJSON(b *testing.B) {
	k := testKeys()
	v := mustNew(b, Config{Sources: payglocalSources(), Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}})
	r, body := jsonPost(b, "x-gl-token", sign(b, "RS256", k.rsa1, hdr("RS256", "k1"), payglocalLike(testNow)))
	b.ReportAllocs()
	for b.Loop() {
		if _, f := v.token(r, body); f != nil {
			b.Fatal(f)
		}
	}
}
