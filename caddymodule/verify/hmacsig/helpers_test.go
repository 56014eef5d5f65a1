package hmacsig_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
	"github.com/callbackguard/callbackguard/internal/vectors"
)

// provider is a provider's scheme as its documentation defines it, written
// out here independently of the presets in package config (the end-to-end
// tests check the presets against the same vectors).
type provider struct {
	scheme         hmacsig.Scheme
	secretEncoding string
}

var providers = map[string]provider{
	"stripe": {scheme: hmacsig.Scheme{
		Format: hmacsig.FormatStripe, Header: "Stripe-Signature",
		Signed: "{signature.t}.{body}", Timestamp: "{signature.t}",
		TolerancePast: 5 * time.Minute, ToleranceFuture: time.Minute,
	}},
	"github": {scheme: hmacsig.Scheme{Header: "X-Hub-Signature-256", Prefix: "sha256="}},
	"shopify": {scheme: hmacsig.Scheme{
		Header: "X-Shopify-Hmac-Sha256", Encoding: "base64",
		Alternates: map[string]string{"X-Shopify-Hmac-Sha256": "Shopify-Hmac-Sha256"},
	}},
	"standard_webhooks": {secretEncoding: "whsec", scheme: hmacsig.Scheme{
		Format: hmacsig.FormatStandardWebhooks, Header: "webhook-signature", Encoding: "base64",
		Signed:    "{header.webhook-id}.{header.webhook-timestamp}.{body}",
		Timestamp: "{header.webhook-timestamp}", TolerancePast: 5 * time.Minute, ToleranceFuture: 5 * time.Minute,
	}},
	"svix": {secretEncoding: "whsec", scheme: hmacsig.Scheme{
		Format: hmacsig.FormatStandardWebhooks, Header: "svix-signature", Encoding: "base64",
		Signed:    "{http.request.header.svix-id}.{http.request.header.svix-timestamp}.{body}",
		Timestamp: "{http.request.header.svix-timestamp}", TolerancePast: 5 * time.Minute, ToleranceFuture: 5 * time.Minute,
		Alternates: map[string]string{"svix-signature": "webhook-signature", "svix-id": "webhook-id", "svix-timestamp": "webhook-timestamp"},
	}},
	"paddle": {scheme: hmacsig.Scheme{
		Format: hmacsig.FormatPaddle, Header: "Paddle-Signature",
		Signed: "{signature.ts}:{body}", Timestamp: "{signature.ts}",
		TolerancePast: 5 * time.Second, ToleranceFuture: 5 * time.Second,
	}},
	"razorpay": {scheme: hmacsig.Scheme{Header: "X-Razorpay-Signature"}},
	"square": {scheme: hmacsig.Scheme{
		Header: "x-square-hmacsha256-signature", Encoding: "base64", Signed: "{notification_url}{body}",
		NotificationURL: "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9",
	}},
	"adyen": {secretEncoding: "hex", scheme: hmacsig.Scheme{Format: hmacsig.FormatAdyen, Encoding: "base64"}},
}

// webhookVector is one official signature vector.
type webhookVector = vectors.Webhook

func loadWebhookVectors(t testing.TB) []webhookVector { return vectors.Webhooks(t) }

func newVerifier(t testing.TB, s hmacsig.Scheme, k hmacsig.Keys) *hmacsig.Verifier {
	t.Helper()
	v, err := hmacsig.New(s, k)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// check runs v on a request with the headers and body at time now and
// returns the reason ("" when it passes) and the credential.
func check(v *hmacsig.Verifier, h http.Header, body string, now time.Time) (verify.Reason, string) {
	r, _ := http.NewRequest(http.MethodPost, "http://example.com/hook", strings.NewReader(body))
	r.Header = h
	var out verify.Output
	err := v.Verify(&verify.Input{Request: r, Body: []byte(body), Now: now}, &out)
	if err == nil {
		return "", out.Credential
	}
	return err.(*verify.Failure).Reason, ""
}

// headers builds a header map with canonical names, as net/http's server
// does.
func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}
