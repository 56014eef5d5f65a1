package hmacsig_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
)

// A 1 KiB event body, about the size of a provider's webhook.
var benchBody = []byte(`{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","note":"` +
	strings.Repeat("x", 1024-100) + `"}}}`)

func benchVerify(b *testing.B, v *hmacsig.Verifier, h http.Header, body []byte) {
	b.Helper()
	r, _ := http.NewRequest(http.MethodPost, "http://example.com/hook", nil)
	r.Header = h
	in := &verify.Input{Request: r, Body: body, Now: now}
	var out verify.Output
	if err := v.Verify(in, &out); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := v.Verify(in, &out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, name := range []string{"stripe", "github", "shopify", "standard_webhooks", "paddle"} {
		b.Run(name, func(b *testing.B) {
			p := providers[name]
			old, _ := secretsFor(name)
			h := headers("webhook-id", "msg_1")
			if err := hmacsig.Sign(p.scheme, old, p.secretEncoding, h, benchBody, now); err != nil {
				b.Fatal(err)
			}
			v := newVerifier(b, p.scheme, hmacsig.Keys{Secrets: []string{old}, SecretEncoding: p.secretEncoding})
			benchVerify(b, v, h, benchBody)
		})
	}
	b.Run("stripe/two secrets two signatures", func(b *testing.B) {
		p := providers["stripe"]
		h := http.Header{}
		if err := hmacsig.Sign(p.scheme, secretNew, "", h, benchBody, now); err != nil {
			b.Fatal(err)
		}
		h.Set("Stripe-Signature", h.Get("Stripe-Signature")+",v1="+strings.Repeat("ab", 32))
		v := newVerifier(b, p.scheme, hmacsig.Keys{Secrets: []string{secretOld, secretNew}})
		benchVerify(b, v, h, benchBody)
	})
	b.Run("adyen", func(b *testing.B) {
		const key = "DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00"
		raw := json.RawMessage(`{"pspReference":"A1","merchantAccountCode":"Shop","merchantReference":"order-1",` +
			`"amount":{"value":1130,"currency":"EUR"},"eventCode":"AUTHORISATION","success":"true"}`)
		var it hmacsig.AdyenItem
		_ = json.Unmarshal(raw, &it)
		sig, _ := hmacsig.SignAdyenItem(&it, key)
		body := []byte(adyenBody(b, raw, sig))
		v := newVerifier(b, providers["adyen"].scheme, hmacsig.Keys{Secrets: []string{key}, SecretEncoding: "hex"})
		benchVerify(b, v, http.Header{}, body)
	})
}
