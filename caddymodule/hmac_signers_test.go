package caddymodule_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The providers' signatures, written out by hand from their documentation
// with crypto/hmac, independently of the verifier's own signer.

func mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func whsecKey(t testing.TB, secret string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func unix(ts time.Time) string { return fmt.Sprint(ts.Unix()) }

// signedProvider describes one preset's deliveries for the end-to-end
// tests: how to sign one, and what the backend must see.
type signedProvider struct {
	preset    string
	secrets   [2]string // both configured: old, new
	sigHeader string    // "" for adyen
	// deliver makes a delivery with id, signed with secret at ts.
	deliver     func(t testing.TB, secret, id string, ts time.Time) (string, http.Header)
	wantID      func(id string) string
	wantEvent   string
	wantOutcome string
	// past and future are the tolerance (0: no timestamp).
	past, future time.Duration
	// extraSig adds a wrong signature next to the right one (schemes that
	// carry several).
	extraSig func(h http.Header)
}

const squareURL = "https://shop.example/hooks/square?x=1"

var adyenKeys = [2]string{
	"DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00",
	"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056",
}

func signedProviders() []signedProvider {
	same := func(id string) string { return id }
	hdr := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json"}}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	sw := func(prefix string) func(t testing.TB, secret, id string, ts time.Time) (string, http.Header) {
		return func(t testing.TB, secret, id string, ts time.Time) (string, http.Header) {
			body := `{"type":"invoice.paid","data":{"id":"` + id + `","note":"caf\u00e9 é"}}` + "\n"
			sig := base64.StdEncoding.EncodeToString(mac(whsecKey(t, secret), id, ".", unix(ts), ".", body))
			return body, hdr(prefix+"-id", id, prefix+"-timestamp", unix(ts), prefix+"-signature", "v1,"+sig)
		}
	}
	return []signedProvider{
		{
			preset: "stripe", secrets: [2]string{"whsec_stripe_old", "whsec_stripe_new"}, sigHeader: "Stripe-Signature",
			deliver: func(t testing.TB, secret, id string, ts time.Time) (string, http.Header) {
				body := `{"id":"evt_` + id + `","object":"event","type":"payment_intent.succeeded",` + "\n  " + `"note":"caf\u00e9 é"}`
				return body, hdr("Stripe-Signature", "t="+unix(ts)+",v1="+hex.EncodeToString(mac([]byte(secret), unix(ts), ".", body)))
			},
			wantID: func(id string) string { return "evt_" + id }, wantEvent: "payment_intent.succeeded", wantOutcome: "success",
			past: 5 * time.Minute, future: time.Minute,
			extraSig: func(h http.Header) {
				h.Set("Stripe-Signature", h.Get("Stripe-Signature")+",v1="+strings.Repeat("0f", 32))
			},
		},
		{
			preset: "github", secrets: [2]string{"gh old secret", "gh new secret"}, sigHeader: "X-Hub-Signature-256",
			deliver: func(t testing.TB, secret, id string, _ time.Time) (string, http.Header) {
				body := `{"zen":"Keep it logically awesome.","hook_id":` + "1}\n"
				return body, hdr("X-GitHub-Event", "ping", "X-GitHub-Delivery", id,
					"X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac([]byte(secret), body)))
			},
			wantID: same, wantEvent: "ping",
		},
		{
			preset: "shopify", secrets: [2]string{"shpss_old", "shpss_new"}, sigHeader: "X-Shopify-Hmac-Sha256",
			deliver: func(t testing.TB, secret, id string, _ time.Time) (string, http.Header) {
				body := `{"id":820982911946154508,"email":"jon@example.com","note":"é"}`
				return body, hdr("X-Shopify-Topic", "orders/create", "X-Shopify-Webhook-Id", id,
					"X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(mac([]byte(secret), body)))
			},
			wantID: same, wantEvent: "orders/create",
		},
		{
			preset: "standard_webhooks", sigHeader: "Webhook-Signature",
			secrets: [2]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"},
			deliver: sw("webhook"), wantID: same, wantEvent: "invoice.paid",
			past: 5 * time.Minute, future: 5 * time.Minute,
			extraSig: func(h http.Header) {
				h.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32))+" "+h.Get("Webhook-Signature"))
			},
		},
		{
			preset: "svix", sigHeader: "Svix-Signature",
			secrets: [2]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"},
			deliver: sw("svix"), wantID: same, wantEvent: "invoice.paid",
			past: 5 * time.Minute, future: 5 * time.Minute,
			extraSig: func(h http.Header) {
				h.Set("Svix-Signature", h.Get("Svix-Signature")+" v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
			},
		},
		{
			preset: "paddle", secrets: [2]string{"pdl_ntfset_old", "pdl_ntfset_new"}, sigHeader: "Paddle-Signature",
			deliver: func(t testing.TB, secret, id string, ts time.Time) (string, http.Header) {
				body := `{"event_type":"transaction.completed","notification_id":"ntf_` + id + `","data":{"id":"txn_1"}}`
				return body, hdr("Paddle-Signature", "ts="+unix(ts)+";h1="+hex.EncodeToString(mac([]byte(secret), unix(ts), ":", body)))
			},
			wantID: func(id string) string { return "ntf_" + id }, wantEvent: "transaction.completed", wantOutcome: "success",
			past: 5 * time.Second, future: 5 * time.Second,
			extraSig: func(h http.Header) {
				h.Set("Paddle-Signature", h.Get("Paddle-Signature")+";h1="+strings.Repeat("0f", 32))
			},
		},
		{
			preset: "razorpay", secrets: [2]string{"rzp old", "rzp new"}, sigHeader: "X-Razorpay-Signature",
			deliver: func(t testing.TB, secret, id string, _ time.Time) (string, http.Header) {
				body := `{"entity":"event","event":"payment.failed","payload":{}}`
				return body, hdr("X-Razorpay-Event-Id", id, "X-Razorpay-Signature", hex.EncodeToString(mac([]byte(secret), body)))
			},
			wantID: same, wantEvent: "payment.failed", wantOutcome: "failure",
		},
		{
			preset: "square", secrets: [2]string{"sq-old", "sq-new"}, sigHeader: "X-Square-Hmacsha256-Signature",
			deliver: func(t testing.TB, secret, id string, _ time.Time) (string, http.Header) {
				body := `{"merchant_id":"M1","type":"payment.updated","event_id":"` + id + `"}`
				return body, hdr("x-square-hmacsha256-signature", base64.StdEncoding.EncodeToString(mac([]byte(secret), squareURL, body)))
			},
			wantID: same, wantEvent: "payment.updated",
		},
		{
			preset: "adyen", secrets: adyenKeys,
			deliver: func(t testing.TB, secret, id string, _ time.Time) (string, http.Header) {
				return adyenNotification(t, secret, adyenItem{psp: id, event: "AUTHORISATION", success: "true"}), hdr()
			},
			wantID:    func(id string) string { return id + ":AUTHORISATION:true" },
			wantEvent: "AUTHORISATION", wantOutcome: "success",
		},
	}
}

type adyenItem struct {
	psp, event, success string
	// sigKey overrides the key this item is signed with ("" for the
	// notification's; "-" for no signature).
	sigKey string
}

// adyenNotification is a standard notification of the items, each signed
// as Adyen documents: base64 HMAC-SHA256, hex key, over
// pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success.
func adyenNotification(t testing.TB, hexKey string, items ...adyenItem) string {
	t.Helper()
	var wrapped []any
	for _, it := range items {
		key := hexKey
		if it.sigKey != "" {
			key = it.sigKey
		}
		fields := map[string]any{
			"pspReference": it.psp, "merchantAccountCode": "DemoShop", "merchantReference": "order-" + it.psp,
			"amount": map[string]any{"value": 1130, "currency": "EUR"}, "eventCode": it.event, "success": it.success,
			"eventDate": "2026-01-01T00:00:00+01:00",
		}
		if key != "-" {
			k, err := hex.DecodeString(key)
			if err != nil {
				t.Fatal(err)
			}
			signed := strings.Join([]string{it.psp, "", "DemoShop", "order-" + it.psp, "1130", "EUR", it.event, it.success}, ":")
			fields["additionalData"] = map[string]any{"hmacSignature": base64.StdEncoding.EncodeToString(mac(k, signed))}
		}
		wrapped = append(wrapped, map[string]any{"NotificationRequestItem": fields})
	}
	b, err := json.Marshal(map[string]any{"live": "false", "notificationItems": wrapped})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
