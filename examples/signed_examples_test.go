package examples_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
	"github.com/callbackguard/callbackguard/config"
	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// signedExample is the Caddyfile of a signed-body preset: its route, its
// demo secret, and how the provider signs (written out from the provider's
// documentation).
type signedExample struct {
	preset, path, secret string
	sign                 func(t *testing.T, secret string, body []byte, ts time.Time, h http.Header) []byte
}

func hmacSHA256(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func signedExamples() []signedExample {
	hexHeader := func(name, prefix string) func(*testing.T, string, []byte, time.Time, http.Header) []byte {
		return func(_ *testing.T, secret string, body []byte, _ time.Time, h http.Header) []byte {
			h.Set(name, prefix+hex.EncodeToString(hmacSHA256([]byte(secret), string(body))))
			return body
		}
	}
	sw := func(prefix string) func(*testing.T, string, []byte, time.Time, http.Header) []byte {
		return func(t *testing.T, secret string, body []byte, ts time.Time, h http.Header) []byte {
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
			if err != nil {
				t.Fatal(err)
			}
			unix := fmt.Sprint(ts.Unix())
			h.Set(prefix+"-timestamp", unix)
			sig := hmacSHA256(key, h.Get(prefix+"-id"), ".", unix, ".", string(body))
			h.Set(prefix+"-signature", "v1,"+base64.StdEncoding.EncodeToString(sig))
			return body
		}
	}
	return []signedExample{
		{"stripe", "/stripe/webhook", "whsec_demo_stripe_endpoint_secret",
			func(_ *testing.T, secret string, body []byte, ts time.Time, h http.Header) []byte {
				unix := fmt.Sprint(ts.Unix())
				h.Set("Stripe-Signature", "t="+unix+",v1="+hex.EncodeToString(hmacSHA256([]byte(secret), unix, ".", string(body))))
				return body
			}},
		{"github", "/github/webhook", "demo-github-webhook-secret", hexHeader("X-Hub-Signature-256", "sha256=")},
		{"shopify", "/shopify/webhook", "demo-shopify-client-secret",
			func(_ *testing.T, secret string, body []byte, _ time.Time, h http.Header) []byte {
				h.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(hmacSHA256([]byte(secret), string(body))))
				return body
			}},
		{"standard_webhooks", "/standard-webhooks/webhook", "whsec_ZGVtby1zdGFuZGFyZC13ZWJob29rcy1zZWNyZXQhISE=", sw("webhook")},
		{"svix", "/svix/webhook", "whsec_ZGVtby1zdml4LXNpZ25pbmctc2VjcmV0", sw("svix")},
		{"paddle", "/paddle/webhook", "pdl_ntfset_demo_secret",
			func(_ *testing.T, secret string, body []byte, ts time.Time, h http.Header) []byte {
				unix := fmt.Sprint(ts.Unix())
				h.Set("Paddle-Signature", "ts="+unix+";h1="+hex.EncodeToString(hmacSHA256([]byte(secret), unix, ":", string(body))))
				return body
			}},
		{"razorpay", "/razorpay/webhook", "demo-razorpay-old-webhook-secret", hexHeader("X-Razorpay-Signature", "")},
		{"square", "/square/webhook", "demo-square-signature-key",
			func(_ *testing.T, secret string, body []byte, _ time.Time, h http.Header) []byte {
				sig := hmacSHA256([]byte(secret), "https://shop.example.com/square/webhook", string(body))
				h.Set("X-Square-Hmacsha256-Signature", base64.StdEncoding.EncodeToString(sig))
				return body
			}},
		{"adyen", "/adyen/webhook", "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056", signAdyenSample},
	}
}

// signAdyenSample sets each notification item's hmacSignature, computed
// with Adyen's own field order by hmacsig.SignAdyenItem (checked against
// Adyen's vector and library in its tests).
func signAdyenSample(t *testing.T, key string, body []byte, _ time.Time, _ http.Header) []byte {
	var n struct {
		Live  string `json:"live"`
		Items []struct {
			Item map[string]any `json:"NotificationRequestItem"`
		} `json:"notificationItems"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		t.Fatal(err)
	}
	for _, w := range n.Items {
		raw, _ := json.Marshal(w.Item)
		var it hmacsig.AdyenItem
		if err := json.Unmarshal(raw, &it); err != nil {
			t.Fatal(err)
		}
		sig, err := hmacsig.SignAdyenItem(&it, key)
		if err != nil {
			t.Fatal(err)
		}
		w.Item["additionalData"] = map[string]any{"hmacSignature": sig}
	}
	out, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sampleDelivery is the preset's sample delivery, signed.
func sampleDelivery(t *testing.T, ex signedExample, secret, id string, ts time.Time) ([]byte, http.Header) {
	p, ok := config.LookupPreset(ex.preset)
	if !ok || p.Sample.Body == nil {
		t.Fatalf("preset %s has no sample", ex.preset)
	}
	in := config.SampleInput{ID: id, Event: p.Sample.Event, Time: ts}
	body, err := p.Sample.Body(in)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if p.Sample.Headers != nil {
		for k, v := range p.Sample.Headers(in) {
			h.Set(k, v)
		}
	}
	return ex.sign(t, secret, body, ts, h), h
}

func postSigned(t *testing.T, url string, body []byte, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSignedExampleCaddyfiles: each new preset's example Caddyfile, as
// written, accepts the provider's signed sample delivery and forwards it,
// and refuses one signed with another secret.
func TestSignedExampleCaddyfiles(t *testing.T) {
	root, err := testcaddy.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range signedExamples() {
		t.Run(ex.preset, func(t *testing.T) {
			up := testcaddy.NewUpstream(t)
			inst := testcaddy.Start(t, exampleCaddyfile(t, root, ex.preset, up.Addr()))
			body, h := sampleDelivery(t, ex, ex.secret, "ex_1", time.Now())
			if status, answer := postSigned(t, inst.URL+ex.path, body, h); status != 200 {
				t.Fatalf("signed sample: %d %s\n%s", status, answer, inst.Log())
			}
			got := up.Received()
			if len(got) != 1 || string(got[0].Body) != string(body) || got[0].Header.Get("X-Callback-Verified") != "hmac" {
				t.Fatalf("upstream got %d requests", len(got))
			}
			other := strings.Repeat("0A", 32)
			if !strings.HasPrefix(ex.secret, "44782D") {
				other = "whsec_b3RoZXIgc2VjcmV0"
			}
			body, h = sampleDelivery(t, ex, other, "ex_2", time.Now())
			if status, _ := postSigned(t, inst.URL+ex.path, body, h); status != 401 || up.Count() != 1 {
				t.Fatalf("another secret: %d, upstream %d", status, up.Count())
			}
		})
	}
}

// TestStripeToPHPBackend walks the README's Stripe section: a delivery
// signed with the endpoint secret reaches the PHP example backend, which
// records the event; a retry is answered from the store.
func TestStripeToPHPBackend(t *testing.T) {
	php, err := exec.LookPath("php")
	if err != nil {
		t.Skip("php is not installed (apt-get install php-cli)")
	}
	root, err := testcaddy.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	be := startBackend(t, root, backendRuntimes[0], php)
	inst := testcaddy.Start(t, exampleCaddyfile(t, root, "stripe", be.addr))
	ex := signedExamples()[0]
	body, h := sampleDelivery(t, ex, ex.secret, "php_1", time.Now())
	status, answer := postSigned(t, inst.URL+"/stripe/webhook", body, h)
	if status != 200 || !strings.Contains(answer, `"ok":true`) {
		t.Fatalf("stripe delivery: %d %s\n%s", status, answer, be.log())
	}
	o := be.order(t, "evt_php_1")
	if o.Status != "paid" || len(o.Events) != 1 || o.LastHeaders["X-Callback-Verified"] != "hmac" ||
		o.LastHeaders["X-Callback-Event"] != "payment_intent.succeeded" || o.LastHeaders["X-Callback-Outcome"] != "success" {
		t.Fatalf("order after the delivery: %+v", o)
	}
	file := be.file(t)
	body, h = sampleDelivery(t, ex, ex.secret, "php_1", time.Now().Add(time.Second))
	req, _ := http.NewRequest(http.MethodPost, inst.URL+"/stripe/webhook", strings.NewReader(string(body)))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Callback-Replayed") != "true" || string(be.file(t)) != string(file) {
		t.Fatalf("Stripe's retry was not answered from the store")
	}
}
