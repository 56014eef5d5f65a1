package hmacsig_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
)

// vectorClock is the time a vector was signed at: its own timestamp, so
// that the schemes' real tolerances apply.
func vectorClock(t *testing.T, v webhookVector) time.Time {
	t.Helper()
	for _, name := range []string{"webhook-timestamp", "svix-timestamp"} {
		if ts, ok := v.Headers[name]; ok {
			n, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return time.Unix(n, 0)
		}
	}
	if v.Scheme == "paddle" {
		return time.Unix(1698796800, 0) // the SDK test's fixed clock
	}
	return time.Now()
}

// TestOfficialVectors verifies every vector of the providers' own specs,
// SDK tests and docs, at the vector's own time; the invalid one must fail
// with invalid_signature.
func TestOfficialVectors(t *testing.T) {
	for _, vec := range loadWebhookVectors(t) {
		t.Run(vec.Scheme, func(t *testing.T) {
			switch vec.Scheme {
			case "stripe_hmac_primitive":
				// Stripe's key is the secret's text as given: a header of the
				// bare hex over the message, through a generic scheme.
				v := newVerifier(t, hmacsig.Scheme{Header: "X-Signature"}, hmacsig.Keys{Secrets: []string{vec.Secret}})
				if reason, _ := check(v, headers("X-Signature", vec.HMACHex), vec.Message, time.Now()); reason != "" {
					t.Fatalf("%s: %s", vec.Source, reason)
				}
				return
			case "adyen_item":
				checkAdyenVector(t, vec)
				return
			}
			name := vec.Scheme
			keys := hmacsig.Keys{SecretEncoding: providers[name].secretEncoding}
			if name == "standard_webhooks_ed25519" {
				name = "standard_webhooks"
				keys.PublicKeys = []string{vec.PublicKey}
			} else {
				keys.Secrets = []string{vec.Secret}
			}
			p, ok := providers[name]
			if !ok {
				t.Fatalf("no scheme for vector %q", vec.Scheme)
			}
			s := p.scheme
			if vec.NotificationURL != "" {
				s.NotificationURL = vec.NotificationURL
			}
			v := newVerifier(t, s, keys)
			h := http.Header{}
			for k, val := range vec.Headers {
				h.Set(k, val)
			}
			reason, cred := check(v, h, vec.Body, vectorClock(t, vec))
			switch {
			case vec.Valid && reason != "":
				t.Fatalf("%s: rejected with %s", vec.Source, reason)
			case vec.Valid && cred == "":
				t.Fatal("accepted without a credential fingerprint")
			case !vec.Valid && reason != verify.ReasonInvalidSignature:
				t.Fatalf("%s: invalid vector gave %q, want invalid_signature", vec.Source, reason)
			}
		})
	}
}

func checkAdyenVector(t *testing.T, vec webhookVector) {
	var item hmacsig.AdyenItem
	if err := json.Unmarshal(vec.Item, &item); err != nil {
		t.Fatal(err)
	}
	if got := string(item.SignedString()); got != vec.SignedString {
		t.Fatalf("signed string %q, want %q", got, vec.SignedString)
	}
	sig, err := hmacsig.SignAdyenItem(&item, vec.HMACKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	if sig != vec.HMACSignature {
		t.Fatalf("signature %s, want %s", sig, vec.HMACSignature)
	}
	v := newVerifier(t, providers["adyen"].scheme, hmacsig.Keys{Secrets: []string{vec.HMACKeyHex}, SecretEncoding: "hex"})
	body := adyenBody(t, vec.Item, vec.HMACSignature)
	if reason, _ := check(v, http.Header{}, body, time.Now()); reason != "" {
		t.Fatalf("%s: rejected with %s", vec.Source, reason)
	}
}

// adyenBody wraps items, each given its hmacSignature, in a notification.
func adyenBody(t testing.TB, item json.RawMessage, sigs ...string) string {
	t.Helper()
	var items []map[string]any
	for _, sig := range sigs {
		var m map[string]any
		if err := json.Unmarshal(item, &m); err != nil {
			t.Fatal(err)
		}
		if sig != "" {
			m["additionalData"] = map[string]any{"hmacSignature": sig}
		}
		items = append(items, map[string]any{"NotificationRequestItem": m})
	}
	b, err := json.Marshal(map[string]any{"live": "false", "notificationItems": items})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
