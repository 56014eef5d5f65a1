package caddymodule_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
	"github.com/callbackguard/callbackguard/internal/vectors"
)

type webhookVector = vectors.Webhook

// vectorGuard is the route and guard a vector is checked through: the
// preset, with a tolerance wide enough for the vectors' old timestamps.
func vectorGuard(v webhookVector) (route, guard string) {
	const wide = "tolerance 100000h"
	switch v.Scheme {
	case "standard_webhooks":
		return "/sw", fmt.Sprintf("standard_webhooks {\n hmac {\n  secret %q\n  %s\n }\n}", v.Secret, wide)
	case "standard_webhooks_ed25519":
		return "/sw-ed25519", fmt.Sprintf("standard_webhooks {\n hmac {\n  public_key %q\n  %s\n }\n}", v.PublicKey, wide)
	case "paddle":
		return "/paddle", fmt.Sprintf("paddle {\n hmac {\n  secret %q\n  %s\n }\n}", v.Secret, wide)
	case "square":
		return "/square", fmt.Sprintf("square {\n hmac {\n  secret %q\n  notification_url %q\n }\n}", v.Secret, v.NotificationURL)
	case "stripe_hmac_primitive":
		// Stripe's SDK tests make whole headers at run time (see the node
		// tests); the primitive is checked as a bare hex header.
		return "/stripe-primitive", fmt.Sprintf("generic {\n hmac {\n  secret %q\n  header X-Signature\n }\n}", v.Secret)
	case "adyen_item":
		return "/adyen", fmt.Sprintf("adyen {\n hmac %q\n}", v.HMACKeyHex)
	}
	return "/" + v.Scheme, fmt.Sprintf("%s {\n hmac %q\n}", v.Scheme, v.Secret)
}

// vectorRequest is the delivery of a vector as its provider sent it.
func vectorRequest(t *testing.T, v webhookVector) (string, http.Header) {
	h := http.Header{}
	for k, val := range v.Headers {
		h.Set(k, val)
	}
	switch v.Scheme {
	case "stripe_hmac_primitive":
		h.Set("X-Signature", v.HMACHex)
		return v.Message, h
	case "adyen_item":
		var item map[string]any
		if err := json.Unmarshal(v.Item, &item); err != nil {
			t.Fatal(err)
		}
		item["additionalData"] = map[string]any{"hmacSignature": v.HMACSignature}
		b, err := json.Marshal(map[string]any{"live": "false", "notificationItems": []any{map[string]any{"NotificationRequestItem": item}}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b), h
	}
	return v.Body, h
}

// TestWebhookVectorsThroughCaddy: every official vector verifies through
// the real guard and reaches the backend byte for byte; the invalid one is
// rejected and never forwarded.
func TestWebhookVectorsThroughCaddy(t *testing.T) {
	vecs := vectors.Webhooks(t)
	up := testcaddy.NewUpstream(t)
	var routes strings.Builder
	seen := map[string]bool{}
	for _, v := range vecs {
		route, guard := vectorGuard(v)
		if seen[route] {
			continue
		}
		seen[route] = true
		// Two vectors share a webhook-id: no deduplication here.
		guard = strings.TrimSuffix(guard, "}") + "dedupe off\n}"
		fmt.Fprintf(&routes, "handle %s {\ncallback_guard %s\nreverse_proxy %s\n}\n", route, guard, up.Addr())
	}
	c := testcaddy.Start(t, "{\n\tadmin @ADMIN@\n}\n:@HTTP@ {\n"+routes.String()+"}\n")
	for _, v := range vecs {
		route, _ := vectorGuard(v)
		t.Run(v.Scheme, func(t *testing.T) {
			up.Reset()
			body, h := vectorRequest(t, v)
			a := post(t, c.URL+route, body, h)
			if v.Scheme != "stripe_hmac_primitive" && v.Scheme != "adyen_item" && !v.Valid {
				if a.status != 401 || errorReason(t, a) != "invalid_signature" || up.Count() != 0 {
					t.Fatalf("invalid vector (%s): %d %s, upstream %d", v.Source, a.status, a.body, up.Count())
				}
				return
			}
			if a.status != 200 {
				t.Fatalf("%s: %d %s", v.Source, a.status, a.body)
			}
			got := up.Received()
			if len(got) != 1 || string(got[0].Body) != body {
				t.Fatalf("upstream got %d requests, want 1 with the body byte for byte", len(got))
			}
			assertHeader(t, got[0].Header, "X-Callback-Verified", "hmac")
		})
	}
}
