package cli_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// signedCase is a signed-body preset: the route and secret of its guard in
// examples/caddyfiles/<example>.Caddyfile, which signedConfig repeats.
type signedCase struct {
	preset  string
	example string // "": no example file (generic's signs nothing)
	route   string
	secret  string
	wrong   string   // another secret of the same form
	args    []string // what the preset needs besides --secret
	stamped bool     // the scheme signs a timestamp
	event   string   // X-Callback-Event of the default sample
}

var signedCases = []signedCase{
	{"stripe", "stripe", "/stripe/webhook", "whsec_demo_stripe_endpoint_secret", "whsec_other", nil, true, "payment_intent.succeeded"},
	{"github", "github", "/github/webhook", "demo-github-webhook-secret", "other", nil, false, "push"},
	{"shopify", "shopify", "/shopify/webhook", "demo-shopify-client-secret", "other", nil, false, "orders/paid"},
	{"standard_webhooks", "standard_webhooks", "/standard-webhooks/webhook", "whsec_ZGVtby1zdGFuZGFyZC13ZWJob29rcy1zZWNyZXQhISE=", "whsec_b3RoZXI=", nil, true, "invoice.paid"},
	{"svix", "svix", "/svix/webhook", "whsec_ZGVtby1zdml4LXNpZ25pbmctc2VjcmV0", "whsec_b3RoZXI=", nil, true, "invoice.paid"},
	{"paddle", "paddle", "/paddle/webhook", "pdl_ntfset_demo_secret", "other", nil, true, "transaction.completed"},
	{"razorpay", "razorpay", "/razorpay/webhook", "demo-razorpay-webhook-secret", "other", nil, false, "payment.captured"},
	{"square", "square", "/square/webhook", "demo-square-signature-key", "other",
		[]string{"--notification-url", "https://shop.example.com/square/webhook"}, false, "payment.updated"},
	{"adyen", "adyen", "/adyen/webhook", "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056", "00112233", nil, false, "AUTHORISATION"},
	{"generic", "", "/generic/signed", "demo-generic-hmac-secret", "other",
		[]string{"--hmac", "header=X-Signature", "--hmac", "prefix=sha256=", "--hmac", "signed={header.X-Timestamp}.{body}", "--hmac", "timestamp={header.X-Timestamp}"}, true, ""},
}

// signedConfig is a guard per signed preset, as the example files have
// them, plus a generic hmac block.
func signedConfig() string {
	var b strings.Builder
	b.WriteString("{\n\tadmin @ADMIN@\n}\n:@HTTP@ {\n")
	for _, c := range signedCases {
		b.WriteString("\thandle " + c.route + " {\n\t\tcallback_guard " + c.preset + " {\n")
		switch c.preset {
		case "square":
			b.WriteString("\t\t\thmac {\n\t\t\t\tsecret " + c.secret + "\n\t\t\t\tnotification_url https://shop.example.com/square/webhook\n\t\t\t}\n")
		case "generic":
			b.WriteString("\t\t\thmac {\n\t\t\t\tsecret " + c.secret + "\n\t\t\t\theader X-Signature sha256=\n" +
				"\t\t\t\tsigned {header.X-Timestamp}.{body}\n\t\t\t\ttimestamp {header.X-Timestamp}\n\t\t\t}\n\t\t\tdedupe {json.id}\n")
		default:
			b.WriteString("\t\t\thmac " + c.secret + "\n")
		}
		b.WriteString("\t\t}\n\t\treverse_proxy UPSTREAM\n\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (c signedCase) signArgs(url, secret string, extra ...string) []string {
	args := append([]string{c.preset, "--to", url, "--secret", secret}, c.args...)
	return append(args, extra...)
}

// TestCallbackSignedPresetsVerifyOffline: what sign prints verifies with
// verify against the preset's example Caddyfile; a wrong secret and a
// stale timestamp are rejected with their reasons.
func TestCallbackSignedPresetsVerifyOffline(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := &cli{t: t, dir: dir}
	inline := filepath.Join(dir, "Caddyfile")
	cfg := testcaddy.Expand(strings.ReplaceAll(signedConfig(), "UPSTREAM", "127.0.0.1:9"), 18080, "127.0.0.1:0", dir)
	if err := os.WriteFile(inline, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range signedCases {
		t.Run(tc.preset, func(t *testing.T) {
			config := inline
			if tc.example != "" {
				config = filepath.Join("..", "..", "examples", "caddyfiles", tc.example+".Caddyfile")
				config, _ = filepath.Abs(config)
			}
			url := "http://localhost:8080" + tc.route
			verify := func(capt []byte, extra ...string) cliResult {
				return c.run(capt, append([]string{"verify", "--config", config}, extra...)...)
			}
			signed := c.run(nil, append([]string{"sign"}, tc.signArgs(url, tc.secret, "--format", "http")...)...)
			signed.want(t, 0)
			verify([]byte(signed.stdout)).want(t, 0, "accepted: verified by hmac", "X-Callback-Provider: "+tc.preset)

			wrong := c.run(nil, append([]string{"sign"}, tc.signArgs(url, tc.wrong, "--format", "http")...)...)
			verify([]byte(wrong.stdout)).want(t, 1, "rejected: invalid_signature", `401 {"error":"invalid_signature"}`)

			if !tc.stamped {
				return
			}
			past := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
			stale := c.run(nil, append([]string{"sign"}, tc.signArgs(url, tc.secret, "--format", "http", "--timestamp", past.Format(time.RFC3339))...)...)
			verify([]byte(stale.stdout)).want(t, 1, "rejected: timestamp_out_of_tolerance", "--at")
			// As of when it was signed, it verifies.
			verify([]byte(stale.stdout), "--at", past.Add(time.Second).Format(time.RFC3339)).want(t, 0, "accepted")
		})
	}
}

// TestCallbackSignedPresetsSend: send signs and delivers through a real
// Caddy guard, which forwards it; a wrong secret and a stale timestamp are
// answered 401 and never forwarded.
func TestCallbackSignedPresetsSend(t *testing.T) {
	t.Parallel()
	up := testcaddy.NewUpstream(t)
	inst := testcaddy.Start(t, strings.ReplaceAll(signedConfig(), "UPSTREAM", up.Addr()))
	c := &cli{t: t, dir: t.TempDir()}
	for _, tc := range signedCases {
		t.Run(tc.preset, func(t *testing.T) {
			up.Reset()
			url := inst.URL + tc.route
			r := c.run(nil, append([]string{"send"}, tc.signArgs(url, tc.secret)...)...)
			r.want(t, 0, "200 OK in ")
			got := up.Received()
			if len(got) != 1 {
				t.Fatalf("upstream got %d requests; %s", len(got), r)
			}
			h := got[0].Header
			if h.Get("X-Callback-Provider") != tc.preset || h.Get("X-Callback-Verified") != "hmac" || h.Get("X-Callback-Event") != tc.event {
				t.Errorf("X-Callback headers: %v", h)
			}

			r = c.run(nil, append([]string{"send"}, tc.signArgs(url, tc.wrong)...)...)
			r.want(t, 1, "401 Unauthorized", `{"error":"invalid_signature"}`)
			if tc.stamped {
				past := time.Now().Add(-time.Hour).Unix()
				r = c.run(nil, append([]string{"send"}, tc.signArgs(url, tc.secret, "--timestamp", strconv.FormatInt(past, 10))...)...)
				r.want(t, 1, "401 Unauthorized", `{"error":"timestamp_out_of_tolerance"}`)
			}
			if n := up.Count(); n != 1 {
				t.Errorf("rejected deliveries reached the backend: %d in all", n)
			}
		})
	}
}
