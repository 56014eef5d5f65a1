package hmacsig_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
)

const (
	body        = `{"id":"evt_1","type":"payment_intent.succeeded"}`
	secretOld   = "whsec_old_secret_text"
	secretNew   = "whsec_new_secret_text"
	swSecretOld = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	swSecretNew = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

var now = time.Unix(1_760_000_000, 0)

// signed returns the headers of a delivery of b signed by provider p with
// secret at time ts, plus the extra headers given.
func signed(t *testing.T, p provider, secret string, b string, ts time.Time, extra ...string) http.Header {
	t.Helper()
	h := headers(extra...)
	if err := hmacsig.Sign(p.scheme, secret, p.secretEncoding, h, []byte(b), ts); err != nil {
		t.Fatal(err)
	}
	return h
}

func secretsFor(name string) (string, string) {
	if providers[name].secretEncoding == "whsec" {
		return swSecretOld, swSecretNew
	}
	return secretOld, secretNew
}

// TestSchemes runs every header scheme through the cases the contract
// names: accepted, tampered, missing and repeated header, rotation on
// either side.
func TestSchemes(t *testing.T) {
	for _, name := range []string{"stripe", "github", "shopify", "standard_webhooks", "svix", "paddle", "razorpay", "square"} {
		p := providers[name]
		old, cur := secretsFor(name)
		ids := []string{"webhook-id", "msg_1", "svix-id", "msg_1"}
		sigHeader := http.CanonicalHeaderKey(p.scheme.Header)
		t.Run(name, func(t *testing.T) {
			both := newVerifier(t, p.scheme, hmacsig.Keys{Secrets: []string{old, cur}, SecretEncoding: p.secretEncoding})
			onlyNew := newVerifier(t, p.scheme, hmacsig.Keys{Secrets: []string{cur}, SecretEncoding: p.secretEncoding})
			good := signed(t, p, old, body, now, ids...)

			if reason, cred := check(both, good.Clone(), body, now); reason != "" || cred == "" {
				t.Fatalf("signed with the old secret, both configured: %q %q", reason, cred)
			}
			_, credNew := check(both, signed(t, p, cur, body, now, ids...), body, now)
			_, credOld := check(both, good.Clone(), body, now)
			if credNew == credOld || !strings.HasPrefix(credNew, "hmac:") {
				t.Errorf("credentials %q and %q must name the secret that matched", credNew, credOld)
			}
			if strings.Contains(credNew, cur) || strings.Contains(credOld, old) {
				t.Error("the credential shows the secret")
			}
			cases := []struct {
				name   string
				v      *hmacsig.Verifier
				h      http.Header
				body   string
				reason verify.Reason
			}{
				{"old secret no longer configured", onlyNew, good.Clone(), body, verify.ReasonInvalidSignature},
				{"tampered body", both, good.Clone(), body + " ", verify.ReasonInvalidSignature},
				{"empty body", both, good.Clone(), "", verify.ReasonInvalidSignature},
				{"missing header", both, without(good, sigHeader), body, verify.ReasonMissingSignature},
				{"repeated header", both, repeated(good, sigHeader), body, verify.ReasonMissingSignature},
				{"empty header", both, with(good, sigHeader, ""), body, verify.ReasonMissingSignature},
				{"undecodable signature", both, with(good, sigHeader, garbled(name)), body, verify.ReasonInvalidSignature},
			}
			for _, c := range cases {
				if reason, _ := check(c.v, c.h, c.body, now); reason != c.reason {
					t.Errorf("%s: %q, want %q", c.name, reason, c.reason)
				}
			}
		})
	}
}

// garbled is a signature header of the provider's syntax whose signature
// does not decode.
func garbled(name string) string {
	switch name {
	case "stripe":
		return "t=1760000000,v1=zz"
	case "paddle":
		return "ts=1760000000;h1=zz"
	case "github":
		return "sha256=zz"
	case "standard_webhooks", "svix":
		return "v1,!!"
	}
	return "zz"
}

func with(h http.Header, name, value string) http.Header {
	h = h.Clone()
	h[name] = []string{value}
	return h
}

func without(h http.Header, name string) http.Header {
	h = h.Clone()
	delete(h, name)
	return h
}

func repeated(h http.Header, name string) http.Header {
	h = h.Clone()
	h[name] = append(h[name], h[name]...)
	return h
}

// TestTimestamps: stale and future timestamps, each side of the bounds,
// and a forgery with a fresh time reads invalid_signature: the signature
// is checked first.
func TestTimestamps(t *testing.T) {
	cases := []struct {
		provider     string
		past, future time.Duration
	}{
		{"stripe", 5 * time.Minute, time.Minute},
		{"standard_webhooks", 5 * time.Minute, 5 * time.Minute},
		{"svix", 5 * time.Minute, 5 * time.Minute},
		{"paddle", 5 * time.Second, 5 * time.Second},
	}
	for _, c := range cases {
		p := providers[c.provider]
		old, _ := secretsFor(c.provider)
		v := newVerifier(t, p.scheme, hmacsig.Keys{Secrets: []string{old}, SecretEncoding: p.secretEncoding})
		ids := []string{"webhook-id", "msg_1", "svix-id", "msg_1"}
		for _, tc := range []struct {
			at     time.Time
			reason verify.Reason
		}{
			{now.Add(-c.past), ""},
			{now.Add(-c.past - time.Second), verify.ReasonTimestampOutOfTolerance},
			{now.Add(c.future), ""},
			{now.Add(c.future + time.Second), verify.ReasonTimestampOutOfTolerance},
		} {
			h := signed(t, p, old, body, tc.at, ids...)
			if reason, _ := check(v, h, body, now); reason != tc.reason {
				t.Errorf("%s signed at now%+v: %q, want %q", c.provider, tc.at.Sub(now), reason, tc.reason)
			}
		}
		// A stale delivery whose body was changed: the signature speaks first.
		h := signed(t, p, old, body, now.Add(-time.Hour), ids...)
		if reason, _ := check(v, h, body+"x", now); reason != verify.ReasonInvalidSignature {
			t.Errorf("%s: stale and forged gave %q, want invalid_signature", c.provider, reason)
		}
	}
}

// TestMillisecondTimestamp: above 10^12 a timestamp is in milliseconds.
func TestMillisecondTimestamp(t *testing.T) {
	s := hmacsig.Scheme{Header: "X-Sig", Signed: "{header.X-Time}.{body}", Timestamp: "{header.X-Time}",
		TolerancePast: time.Minute, ToleranceFuture: time.Minute}
	v := newVerifier(t, s, hmacsig.Keys{Secrets: []string{"k"}})
	for _, tc := range []struct {
		ts     string
		reason verify.Reason
	}{
		{strconv.FormatInt(now.UnixMilli(), 10), ""},
		{strconv.FormatInt(now.Add(-2*time.Minute).UnixMilli(), 10), verify.ReasonTimestampOutOfTolerance},
		{"-1", verify.ReasonTimestampOutOfTolerance},
		{"1e9", verify.ReasonTimestampOutOfTolerance},
	} {
		h := headers("X-Time", tc.ts)
		if err := hmacsig.Sign(hmacsig.Scheme{Header: "X-Sig", Signed: "{header.X-Time}.{body}"}, "k", "", h, []byte(body), now); err != nil {
			t.Fatal(err)
		}
		if reason, _ := check(v, h, body, now); reason != tc.reason {
			t.Errorf("timestamp %s: %q, want %q", tc.ts, reason, tc.reason)
		}
	}
}

// TestSeveralSignatures: the sender's own rotation. Every signature is
// tried; one right among wrong ones passes; unknown versions are ignored,
// and a header with none the scheme accepts is missing_signature.
func TestSeveralSignatures(t *testing.T) {
	stripe := providers["stripe"]
	v := newVerifier(t, stripe.scheme, hmacsig.Keys{Secrets: []string{secretNew}})
	good := signed(t, stripe, secretNew, body, now).Get("Stripe-Signature")
	ts, sig, _ := strings.Cut(good, ",")
	wrong := "v1=" + strings.Repeat("ab", 32)
	sw := providers["standard_webhooks"]
	swv := newVerifier(t, sw.scheme, hmacsig.Keys{Secrets: []string{swSecretNew}, SecretEncoding: "whsec"})
	swGood := signed(t, sw, swSecretNew, body, now, "webhook-id", "msg_1")
	swSig := swGood.Get("Webhook-Signature")
	swWrong := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	cases := []struct {
		name   string
		v      *hmacsig.Verifier
		h      http.Header
		reason verify.Reason
	}{
		{"stripe wrong then right", v, headers("Stripe-Signature", ts+","+wrong+","+sig), ""},
		{"stripe right then wrong", v, headers("Stripe-Signature", ts+","+sig+","+wrong), ""},
		{"stripe v0 and unknown schemes ignored", v, headers("Stripe-Signature", ts+",v0="+strings.Repeat("00", 32)+",v9=x,"+sig), ""},
		{"stripe only v0", v, headers("Stripe-Signature", ts+",v0="+strings.Repeat("00", 32)), verify.ReasonMissingSignature},
		{"stripe only wrong", v, headers("Stripe-Signature", ts+","+wrong), verify.ReasonInvalidSignature},
		{"stripe no t", v, headers("Stripe-Signature", sig), verify.ReasonMissingSignature},
		{"stripe t twice", v, headers("Stripe-Signature", ts+","+ts+","+sig), verify.ReasonInvalidSignature},
		{"stripe spaces around items", v, headers("Stripe-Signature", ts+", "+sig), ""},
		{"stripe nine signatures", v, headers("Stripe-Signature", ts+strings.Repeat(","+wrong, 8)+","+sig), verify.ReasonInvalidSignature},
		{"stripe upper-case hex", v, headers("Stripe-Signature", ts+",v1="+strings.ToUpper(strings.TrimPrefix(sig, "v1="))), ""},
		{"sw wrong then right", swv, with(swGood, "Webhook-Signature", swWrong+" "+swSig), ""},
		{"sw unknown version ignored", swv, with(swGood, "Webhook-Signature", "v2,abc "+swSig), ""},
		{"sw only unknown version", swv, with(swGood, "Webhook-Signature", "v2,"+strings.TrimPrefix(swSig, "v1,")), verify.ReasonMissingSignature},
		{"sw v1a without a public key ignored", swv, with(swGood, "Webhook-Signature", "v1a,"+strings.TrimPrefix(swSig, "v1,")), verify.ReasonMissingSignature},
		{"sw signature of wrong length", swv, with(swGood, "Webhook-Signature", "v1,"+strings.TrimPrefix(swSig, "v1,")[:20]), verify.ReasonInvalidSignature},
		{"sw missing webhook-id", swv, without(swGood, "Webhook-Id"), verify.ReasonMissingSignature},
		{"sw repeated webhook-timestamp", swv, repeated(swGood, "Webhook-Timestamp"), verify.ReasonMissingSignature},
	}
	for _, c := range cases {
		if reason, _ := check(c.v, c.h, body, now); reason != c.reason {
			t.Errorf("%s: %q, want %q", c.name, reason, c.reason)
		}
	}
}

// TestAlternateHeaders: Svix's webhook-* names and Shopify's unprefixed
// name are read when the first names are absent; the first present wins.
func TestAlternateHeaders(t *testing.T) {
	svix := providers["svix"]
	v := newVerifier(t, svix.scheme, hmacsig.Keys{Secrets: []string{swSecretOld}, SecretEncoding: "whsec"})
	h := signed(t, svix, swSecretOld, body, now, "svix-id", "msg_2")
	renamed := http.Header{
		"Webhook-Id": h["Svix-Id"], "Webhook-Timestamp": h["Svix-Timestamp"], "Webhook-Signature": h["Svix-Signature"],
	}
	if reason, _ := check(v, renamed, body, now); reason != "" {
		t.Fatalf("webhook-* names: %s", reason)
	}
	mixed := renamed.Clone()
	mixed["Svix-Signature"] = []string{"v1,AAAA"}
	if reason, _ := check(v, mixed, body, now); reason != verify.ReasonInvalidSignature {
		t.Fatalf("svix-signature present must be read first: %q", reason)
	}
	shop := providers["shopify"]
	sv := newVerifier(t, shop.scheme, hmacsig.Keys{Secrets: []string{secretOld}})
	sh := signed(t, shop, secretOld, body, now)
	if reason, _ := check(sv, http.Header{"Shopify-Hmac-Sha256": sh["X-Shopify-Hmac-Sha256"]}, body, now); reason != "" {
		t.Fatalf("Shopify-Hmac-Sha256: %s", reason)
	}
}

// TestPrefixAndEncodings covers a generic scheme's options.
func TestPrefixAndEncodings(t *testing.T) {
	for _, tc := range []struct {
		scheme hmacsig.Scheme
		enc    string
		secret string
	}{
		{hmacsig.Scheme{Header: "X-Sig", Prefix: "sha1=", Algorithm: "sha1"}, "", "raw text"},
		{hmacsig.Scheme{Header: "X-Sig", Algorithm: "sha512", Encoding: "base64"}, "base64", "c2VjcmV0IGJ5dGVz"},
		{hmacsig.Scheme{Header: "X-Sig", Encoding: "base64url"}, "hex", "00ff10"},
	} {
		v := newVerifier(t, tc.scheme, hmacsig.Keys{Secrets: []string{tc.secret}, SecretEncoding: tc.enc})
		h := http.Header{}
		if err := hmacsig.Sign(tc.scheme, tc.secret, tc.enc, h, []byte(body), now); err != nil {
			t.Fatal(err)
		}
		if reason, _ := check(v, h.Clone(), body, now); reason != "" {
			t.Errorf("%+v: %s", tc.scheme, reason)
		}
		if tc.scheme.Encoding == "base64url" {
			unpadded := strings.TrimRight(h.Get("X-Sig"), "=")
			if reason, _ := check(v, headers("X-Sig", unpadded), body, now); reason != "" {
				t.Errorf("unpadded base64url: %s", reason)
			}
		}
		if tc.scheme.Prefix != "" {
			bare := strings.TrimPrefix(h.Get("X-Sig"), tc.scheme.Prefix)
			if reason, _ := check(v, headers("X-Sig", "sha256="+bare), body, now); reason != verify.ReasonMissingSignature {
				t.Errorf("another prefix: %q, want missing_signature", reason)
			}
		}
	}
}

// TestAdyenBatch: every item must verify; an item without a signature is
// missing_signature, one bad item among good ones invalid_signature.
func TestAdyenBatch(t *testing.T) {
	const key = "DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00"
	const other = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
	item := func(psp string, success string) json.RawMessage {
		return json.RawMessage(`{"pspReference":"` + psp + `","merchantAccountCode":"Shop","merchantReference":"order-1",` +
			`"amount":{"value":1130,"currency":"EUR"},"eventCode":"AUTHORISATION","success":"` + success + `"}`)
	}
	sign := func(raw json.RawMessage, k string) string {
		var it hmacsig.AdyenItem
		if err := json.Unmarshal(raw, &it); err != nil {
			t.Fatal(err)
		}
		s, err := hmacsig.SignAdyenItem(&it, k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	v := newVerifier(t, providers["adyen"].scheme, hmacsig.Keys{Secrets: []string{other, key}, SecretEncoding: "hex"})
	a, b := item("A1", "true"), item("B2", "false")
	batch := func(items ...string) string {
		var parts []string
		for i := 0; i+1 < len(items); i += 2 {
			var m map[string]any
			_ = json.Unmarshal([]byte(items[i]), &m)
			if items[i+1] != "" {
				m["additionalData"] = map[string]any{"hmacSignature": items[i+1]}
			}
			b, _ := json.Marshal(map[string]any{"NotificationRequestItem": m})
			parts = append(parts, string(b))
		}
		return `{"live":"false","notificationItems":[` + strings.Join(parts, ",") + `]}`
	}
	for _, c := range []struct {
		name   string
		body   string
		reason verify.Reason
	}{
		{"two good items", batch(string(a), sign(a, key), string(b), sign(b, key)), ""},
		{"items signed with either key", batch(string(a), sign(a, other), string(b), sign(b, key)), ""},
		{"one bad item", batch(string(a), sign(a, key), string(b), sign(a, key)), verify.ReasonInvalidSignature},
		{"item without signature", batch(string(a), sign(a, key), string(b), ""), verify.ReasonMissingSignature},
		{"unknown key", batch(string(a), sign(a, strings.Repeat("AB", 32))), verify.ReasonInvalidSignature},
		{"not json", "pspReference=A1", verify.ReasonMissingSignature},
		{"no items", `{"notificationItems":[]}`, verify.ReasonMissingSignature},
		{"tampered amount", strings.Replace(batch(string(a), sign(a, key)), "1130", "1", 1), verify.ReasonInvalidSignature},
		// The items verified are those PHP, Node and the templates read: keys
		// exact, the last of duplicates wins, and a key that another
		// spelling of a signed field would shadow for a Go backend refused.
		{"a forged list beside a signed one spelled otherwise",
			`{"notificationItems":[{"NotificationRequestItem":{"pspReference":"FORGED","success":"true","additionalData":{"hmacSignature":"AAAA"}}}],` +
				strings.TrimPrefix(strings.Replace(batch(string(b), sign(b, key)), "notificationItems", "NotificationItems", 1), "{"),
			verify.ReasonInvalidSignature},
		{"a signed field shadowed by another case", strings.Replace(batch(string(b), sign(b, key)), `"success":"false"`, `"success":"true","SUCCESS":"false"`, 1),
			verify.ReasonInvalidSignature},
		{"a forged item beside a signed one spelled otherwise",
			strings.Replace(batch(string(b), sign(b, key)), `{"NotificationRequestItem":`, `{"NotificationRequestItem":{"pspReference":"FORGED","success":"true","additionalData":{"hmacSignature":"AAAA"}},"notificationRequestItem":`, 1),
			verify.ReasonInvalidSignature},
		{"a signed item given twice, the forged one last",
			strings.Replace(batch(string(b), sign(b, key)), `{"NotificationRequestItem":`, `{"NotificationRequestItem":{},"NotificationRequestItem":`, 1),
			""},
		{"the signed item first, a forged one last",
			strings.TrimSuffix(batch(string(b), sign(b, key)), "}]}") + `,"NotificationRequestItem":{"pspReference":"FORGED","success":"true","additionalData":{"hmacSignature":"AAAA"}}}]}`,
			verify.ReasonInvalidSignature},
	} {
		if reason, _ := check(v, http.Header{}, c.body, now); reason != c.reason {
			t.Errorf("%s: %q, want %q", c.name, reason, c.reason)
		}
	}
}
