package caddymodule_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// startSigned runs one Caddy with a route per signed-body preset, each
// with two secrets (rotation), in front of a recording upstream.
func startSigned(t *testing.T, ps []signedProvider) (*testcaddy.Instance, *testcaddy.Upstream) {
	t.Helper()
	up := testcaddy.NewUpstream(t)
	var routes strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&routes, "\thandle /%s {\n\t\tcallback_guard %s {\n", p.preset, p.preset)
		if p.preset == "square" {
			fmt.Fprintf(&routes, "\t\t\thmac {\n\t\t\t\tsecret %q\n\t\t\t\tsecret %q\n\t\t\t\tnotification_url %q\n\t\t\t}\n", p.secrets[0], p.secrets[1], squareURL)
		} else {
			fmt.Fprintf(&routes, "\t\t\thmac %q\n\t\t\thmac %q\n", p.secrets[0], p.secrets[1])
		}
		fmt.Fprintf(&routes, "\t\t}\n\t\treverse_proxy %s\n\t}\n", up.Addr())
	}
	c := testcaddy.Start(t, "{\n\tadmin @ADMIN@\n}\n:@HTTP@ {\n"+routes.String()+"}\n")
	return c, up
}

func post(t *testing.T, url, body string, h http.Header) answer {
	t.Helper()
	req := newRequest(t, http.MethodPost, url, "", body)
	for k, v := range h {
		req.Header[k] = v
	}
	return do(t, req)
}

// TestSignedPresetsEndToEnd: per preset, through a real Caddy, a signed
// delivery reaches the backend byte for byte with the contract's headers,
// and every way of failing is rejected with its reason and never forwarded.
func TestSignedPresetsEndToEnd(t *testing.T) {
	ps := signedProviders()
	c, up := startSigned(t, ps)
	now := time.Now()
	for _, p := range ps {
		t.Run(p.preset, func(t *testing.T) {
			url := c.URL + "/" + p.preset
			n := 0
			id := func() string { n++; return fmt.Sprintf("%s-%d-%d", p.preset, now.UnixNano(), n) }

			for i, secret := range p.secrets {
				up.Reset()
				eid := id()
				body, h := p.deliver(t, secret, eid, now)
				if a := post(t, url, body, h); a.status != 200 {
					t.Fatalf("signed with secret %d: %d %s", i+1, a.status, a.body)
				}
				got := up.Received()
				if len(got) != 1 {
					t.Fatalf("upstream received %d", len(got))
				}
				if string(got[0].Body) != body {
					t.Errorf("body not forwarded byte for byte: %q", got[0].Body)
				}
				rh := got[0].Header
				assertHeader(t, rh, "X-Callback-Provider", p.preset)
				assertHeader(t, rh, "X-Callback-Verified", "hmac")
				assertHeader(t, rh, "X-Callback-Id", p.wantID(eid))
				assertHeader(t, rh, "X-Callback-Attempt", "1")
				assertHeader(t, rh, "X-Callback-Event", p.wantEvent)
				if p.wantOutcome == "" {
					assertNoHeader(t, rh, "X-Callback-Outcome")
				} else {
					assertHeader(t, rh, "X-Callback-Outcome", p.wantOutcome)
				}
				if rh.Get("X-Callback-Deadline") == "" {
					t.Error("no X-Callback-Deadline")
				}
				if p.sigHeader != "" && rh.Get(p.sigHeader) != h.Get(p.sigHeader) {
					t.Errorf("the signature header did not reach the backend as sent")
				}
			}
			up.Reset()

			type rejection struct {
				name   string
				body   string
				h      http.Header
				reason string
			}
			var cases []rejection
			body, h := p.deliver(t, p.secrets[0], id(), now)
			tampered := body + " "
			if p.preset == "adyen" {
				// Adyen signs fields of each item, not the body's bytes.
				tampered = strings.Replace(body, "1130", "11300", 1)
			}
			cases = append(cases, rejection{"tampered body", tampered, h, "invalid_signature"})
			other := "whsec_dW5rbm93biBzZWNyZXQgb2YgMzIgYnl0ZXMhISE="
			if p.preset == "adyen" {
				other = strings.Repeat("AB", 32)
			}
			body, h = p.deliver(t, other, id(), now)
			cases = append(cases, rejection{"unknown secret", body, h, "invalid_signature"})
			if p.sigHeader != "" {
				body, h = p.deliver(t, p.secrets[1], id(), now)
				missing := h.Clone()
				delete(missing, p.sigHeader)
				cases = append(cases, rejection{"missing header", body, missing, "missing_signature"})
				twice := h.Clone()
				twice[p.sigHeader] = append(twice[p.sigHeader], twice[p.sigHeader]...)
				cases = append(cases, rejection{"repeated header", body, twice, "missing_signature"})
			}
			if p.past > 0 {
				body, h = p.deliver(t, p.secrets[0], id(), now.Add(-p.past-3*time.Second))
				cases = append(cases, rejection{"stale timestamp", body, h, "timestamp_out_of_tolerance"})
				body, h = p.deliver(t, p.secrets[0], id(), now.Add(p.future+3*time.Second))
				cases = append(cases, rejection{"future timestamp", body, h, "timestamp_out_of_tolerance"})
			}
			switch p.preset {
			case "stripe":
				body, h = p.deliver(t, p.secrets[0], id(), now)
				h.Set("Stripe-Signature", strings.Replace(h.Get("Stripe-Signature"), ",v1=", ",v0=", 1))
				cases = append(cases, rejection{"unknown signature version", body, h, "missing_signature"})
			case "standard_webhooks", "svix":
				body, h = p.deliver(t, p.secrets[0], id(), now)
				h.Set(p.sigHeader, "v2,"+strings.TrimPrefix(h.Get(p.sigHeader), "v1,"))
				cases = append(cases, rejection{"unknown signature version", body, h, "missing_signature"})
			case "adyen":
				cases = append(cases,
					rejection{"batch with one bad item", adyenNotification(t, adyenKeys[0],
						adyenItem{psp: id(), event: "AUTHORISATION", success: "true"},
						adyenItem{psp: id(), event: "CAPTURE", success: "true", sigKey: strings.Repeat("CD", 32)}), nil, "invalid_signature"},
					rejection{"item without a signature", adyenNotification(t, adyenKeys[0],
						adyenItem{psp: id(), event: "AUTHORISATION", success: "true"},
						adyenItem{psp: id(), event: "CAPTURE", success: "true", sigKey: "-"}), nil, "missing_signature"},
				)
			}
			for _, rc := range cases {
				a := post(t, url, rc.body, rc.h)
				if a.status != 401 || errorReason(t, a) != rc.reason {
					t.Errorf("%s: %d %s, want 401 %s", rc.name, a.status, a.body, rc.reason)
				}
				if up.Count() != 0 {
					t.Fatalf("%s: forwarded", rc.name)
				}
			}

			// Rotation on the sender's side: a right signature among wrong ones.
			if p.extraSig != nil {
				body, h = p.deliver(t, p.secrets[1], id(), now)
				p.extraSig(h)
				if a := post(t, url, body, h); a.status != 200 {
					t.Errorf("two signatures, one wrong: %d %s", a.status, a.body)
				}
			}
			if p.preset == "adyen" {
				body := adyenNotification(t, adyenKeys[0],
					adyenItem{psp: id(), event: "AUTHORISATION", success: "false"},
					adyenItem{psp: id(), event: "CAPTURE", success: "true", sigKey: adyenKeys[1]})
				if a := post(t, url, body, nil); a.status != 200 {
					t.Errorf("batch signed with both keys: %d %s", a.status, a.body)
				}
				if got := up.Received(); len(got) == 1 {
					assertHeader(t, got[0].Header, "X-Callback-Outcome", "failure")
				}
			}
		})
	}
}

// A Stripe retry of the same event, signed again at a later time, is
// answered from the store and not forwarded again.
func TestStripeRetryIsReplayed(t *testing.T) {
	ps := signedProviders()[:1]
	c, up := startSigned(t, ps)
	p := ps[0]
	id := fmt.Sprint(time.Now().UnixNano())
	body, h := p.deliver(t, p.secrets[0], id, time.Now().Add(-time.Minute))
	first := post(t, c.URL+"/stripe", body, h)
	body, h = p.deliver(t, p.secrets[0], id, time.Now())
	retry := post(t, c.URL+"/stripe", body, h)
	if first.status != 200 || retry.status != 200 || retry.body != first.body {
		t.Fatalf("first %d %q, retry %d %q", first.status, first.body, retry.status, retry.body)
	}
	if retry.header.Get("X-Callback-Replayed") != "true" || up.Count() != 1 {
		t.Fatalf("retry replayed %q, upstream saw %d", retry.header.Get("X-Callback-Replayed"), up.Count())
	}
}

// Secrets from {env.*} and {file.*} in a JSON config (no Caddyfile
// adapter), expanded when the config loads.
func TestHMACSecretsFromEnvAndFileInJSON(t *testing.T) {
	stripe := signedProviders()[0]
	up := testcaddy.NewUpstream(t)
	dir := t.TempDir()
	file := dir + "/stripe-secret"
	if err := os.WriteFile(file, []byte(stripe.secrets[1]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{
	"admin": {"listen": "@ADMIN@"},
	"apps": {"http": {"servers": {"srv0": {
		"listen": [":@HTTP@"],
		"routes": [{
			"handle": [
				{"handler": "callback_guard", "preset": "stripe",
				 "hmac": {"secrets": ["{env.CALLBACKGUARD_TEST_STRIPE}", "{file.%s}"], "tolerance": 600000000000}},
				{"handler": "reverse_proxy", "upstreams": [{"dial": %q}]}
			]
		}]
	}}}}
}`, file, up.Addr())
	c := testcaddy.Start(t, cfg, testcaddy.Options{Adapter: "json", Env: []string{"CALLBACKGUARD_TEST_STRIPE=" + stripe.secrets[0]}})
	for i, secret := range stripe.secrets {
		body, h := stripe.deliver(t, secret, fmt.Sprint("json-", i), time.Now().Add(-8*time.Minute))
		if a := post(t, c.URL+"/", body, h); a.status != 200 {
			t.Fatalf("secret %d (tolerance 10m): %d %s", i+1, a.status, a.body)
		}
	}
	body, h := stripe.deliver(t, "{env.CALLBACKGUARD_TEST_STRIPE}", "json-literal", time.Now())
	if a := post(t, c.URL+"/", body, h); a.status != 401 {
		t.Fatalf("the placeholder's text must not be a secret: %d", a.status)
	}
}
