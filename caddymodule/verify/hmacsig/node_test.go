package hmacsig_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
)

// The providers' own SDKs (testdata/node, installed by `npm ci` there, as
// .ci/run does) sign deliveries that the verifier must accept, and verify
// the deliveries of the package's signer. The tests skip when node or the
// SDKs are absent.

const sdkDir = "testdata/node"

type sdkCase struct {
	Op              string            `json:"op"`
	Provider        string            `json:"provider"`
	Secret          string            `json:"secret"`
	Body            string            `json:"body"`
	ID              string            `json:"id,omitempty"`
	Timestamp       int64             `json:"timestamp,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	NotificationURL string            `json:"notificationUrl,omitempty"`
}

type sdkResult struct {
	Headers       map[string]string `json:"headers"`
	HMACSignature string            `json:"hmacSignature"`
	Valid         bool              `json:"valid"`
}

// runSDKs runs the cases through testdata/node/sdk.js.
func runSDKs(t *testing.T, cases []sdkCase) []sdkResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH: the providers' SDKs cannot run")
	}
	if _, err := os.Stat(filepath.Join(sdkDir, "node_modules")); err != nil {
		t.Skipf("the providers' SDKs are not installed: run `npm ci` in %s", sdkDir)
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "sdk.js")
	cmd.Dir = sdkDir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sdk.js: %v\n%s", err, stderr.String())
	}
	var res []sdkResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		t.Fatalf("sdk.js printed %q: %v", out, err)
	}
	return res
}

var sdkBodies = []string{
	`{"id":"evt_1","type":"payment_intent.succeeded"}`,
	"{\n  \"note\": \"caf\u00e9 \u2713 \\u00e9\",\n  \"amount\": 1130\n}\n",
	`{"data":{"object":{"metadata":{"k":"v=1;t=2,v1=x"}}},"s":"` + string(bytes.Repeat([]byte("x"), 5000)) + `"}`,
}

var sdkSecrets = map[string]string{
	"stripe": "whsec_test_secret", "github": "It's a Secret to Everybody", "shopify": "shpss_test",
	"standard_webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "svix": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	"paddle": "pdl_ntfset_test", "razorpay": "razorpay secret", "square": "Ibxx_5AKakO-3qeNVR61Dw",
}

// TestSDKsSign: deliveries signed by the providers' SDKs pass; the same
// with one byte changed fail.
func TestSDKsSign(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	signers := []string{"stripe", "github", "shopify", "standard_webhooks", "svix"}
	var cases []sdkCase
	for _, p := range signers {
		for _, b := range sdkBodies {
			cases = append(cases, sdkCase{Op: "sign", Provider: p, Secret: sdkSecrets[p], Body: b, ID: "msg_2a", Timestamp: now.Unix()})
		}
	}
	res := runSDKs(t, cases)
	for i, c := range cases {
		p := providers[c.Provider]
		v := newVerifier(t, p.scheme, hmacsig.Keys{Secrets: []string{c.Secret}, SecretEncoding: p.secretEncoding})
		h := http.Header{}
		for k, val := range res[i].Headers {
			h.Set(k, val)
		}
		if reason, _ := check(v, h.Clone(), c.Body, now); reason != "" {
			t.Errorf("%s SDK signature of body %d: %s (headers %v)", c.Provider, i%len(sdkBodies), reason, res[i].Headers)
		}
		if reason, _ := check(v, h, c.Body+" ", now); reason != verify.ReasonInvalidSignature {
			t.Errorf("%s: tampered body gave %q", c.Provider, reason)
		}
	}
}

// TestSDKsSignAdyen: Adyen's library signs notification items.
func TestSDKsSignAdyen(t *testing.T) {
	const key = "DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00"
	items := []string{
		`{"pspReference":"7914073381342284","merchantAccountCode":"Shop","merchantReference":"order:1","amount":{"value":1130,"currency":"EUR"},"eventCode":"AUTHORISATION","success":"true"}`,
		`{"pspReference":"8835","originalReference":"7914","merchantAccountCode":"Shop","merchantReference":"caf\u00e9","amount":{"value":0,"currency":"JPY"},"eventCode":"REFUND","success":"false"}`,
	}
	var cases []sdkCase
	for _, it := range items {
		cases = append(cases, sdkCase{Op: "sign", Provider: "adyen", Secret: key, Body: it})
	}
	res := runSDKs(t, cases)
	v := newVerifier(t, providers["adyen"].scheme, hmacsig.Keys{Secrets: []string{key}, SecretEncoding: "hex"})
	var sigs []string
	for i, it := range items {
		body := adyenBody(t, json.RawMessage(it), res[i].HMACSignature)
		if reason, _ := check(v, http.Header{}, body, time.Now()); reason != "" {
			t.Errorf("item %d signed by Adyen's library: %s", i, reason)
		}
		sigs = append(sigs, res[i].HMACSignature)
	}
	// One batch of both: each item carries its own signature.
	var all []map[string]any
	for i, it := range items {
		var m map[string]any
		_ = json.Unmarshal([]byte(it), &m)
		m["additionalData"] = map[string]any{"hmacSignature": sigs[i]}
		all = append(all, map[string]any{"NotificationRequestItem": m})
	}
	b, _ := json.Marshal(map[string]any{"live": "false", "notificationItems": all})
	if reason, _ := check(v, http.Header{}, string(b), time.Now()); reason != "" {
		t.Errorf("batch signed by Adyen's library: %s", reason)
	}
}

// TestSDKsVerify: the SDKs accept what the package's signer makes (and
// refuse it with the body changed), so the signer the end-to-end tests
// lean on is the providers' scheme.
func TestSDKsVerify(t *testing.T) {
	now := time.Now()
	var cases []sdkCase
	for _, name := range []string{"stripe", "github", "shopify", "standard_webhooks", "svix", "paddle", "razorpay", "square"} {
		p := providers[name]
		for _, b := range sdkBodies {
			h := http.Header{}
			h.Set("webhook-id", "msg_3b")
			h.Set("svix-id", "msg_3b")
			at := now
			if name == "paddle" {
				// Paddle's SDK allows 5 s of age and none ahead, and node
				// takes seconds to load the SDKs: sign a little ahead.
				at = now.Add(30 * time.Second)
			}
			if err := hmacsig.Sign(p.scheme, sdkSecrets[name], p.secretEncoding, h, []byte(b), at); err != nil {
				t.Fatal(err)
			}
			flat := map[string]string{}
			for k := range h {
				flat[k] = h.Get(k)
			}
			for _, body := range []string{b, b + " "} {
				cases = append(cases, sdkCase{Op: "verify", Provider: name, Secret: sdkSecrets[name], Body: body,
					Headers: flat, NotificationURL: p.scheme.NotificationURL})
			}
		}
	}
	res := runSDKs(t, cases)
	for i, c := range cases {
		tampered := i%2 == 1
		if res[i].Valid == tampered {
			t.Errorf("%s SDK said valid=%v for a delivery of the package's signer (tampered %v)", c.Provider, res[i].Valid, tampered)
		}
	}
}
