package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// TestSignedPresetDefaults: the Presets table of the contract for the
// providers that sign their bodies.
func TestSignedPresetDefaults(t *testing.T) {
	const adyen = "{json.notificationItems.0.NotificationRequestItem."
	tests := []struct {
		preset   string
		deadline time.Duration
		dedupe   []string
		event    string
		syntax   string
		header   string
	}{
		{"stripe", 10 * time.Second, []string{"{json.id}"}, "{json.type}", SyntaxStripe, "Stripe-Signature"},
		{"github", 10 * time.Second, []string{"{http.request.header.X-GitHub-Delivery}"}, "{http.request.header.X-GitHub-Event}", SyntaxValue, "X-Hub-Signature-256"},
		{"shopify", 4500 * time.Millisecond, []string{"{http.request.header.X-Shopify-Webhook-Id}"}, "{http.request.header.X-Shopify-Topic}", SyntaxValue, "X-Shopify-Hmac-Sha256"},
		{"standard_webhooks", 10 * time.Second, []string{"{http.request.header.webhook-id}"}, "{json.type}", SyntaxStandardWebhooks, "webhook-signature"},
		{"svix", 10 * time.Second, []string{"{http.request.header.svix-id}", "{http.request.header.webhook-id}"}, "{json.type}", SyntaxStandardWebhooks, "svix-signature"},
		{"paddle", 4500 * time.Millisecond, []string{"{json.notification_id}"}, "{json.event_type}", SyntaxPaddle, "Paddle-Signature"},
		{"razorpay", 4500 * time.Millisecond, []string{"{http.request.header.X-Razorpay-Event-Id}"}, "{json.event}", SyntaxValue, "X-Razorpay-Signature"},
		{"square", 10 * time.Second, []string{"{json.event_id}"}, "{json.type}", SyntaxValue, "x-square-hmacsha256-signature"},
		{"adyen", 10 * time.Second, []string{adyen + "pspReference}:" + adyen + "eventCode}:" + adyen + "success}"}, adyen + "eventCode}", SyntaxAdyen, ""},
	}
	for _, tt := range tests {
		t.Run(tt.preset, func(t *testing.T) {
			h := &HMAC{Secrets: []string{"s"}}
			if tt.preset == "square" {
				h.NotificationURL = "https://example.com/square"
			}
			if tt.preset == "adyen" {
				h.Secrets = []string{"00ff"}
			}
			g := Guard{Preset: tt.preset, HMAC: h}
			s, err := g.Resolve()
			if err != nil {
				t.Fatal(err)
			}
			if s.Deadline != tt.deadline || s.DedupeTTL != 24*time.Hour {
				t.Errorf("deadline %s ttl %s", s.Deadline, s.DedupeTTL)
			}
			if strings.Join(s.Dedupe, " ") != strings.Join(tt.dedupe, " ") {
				t.Errorf("dedupe %q", s.Dedupe)
			}
			if s.Preset.Event != tt.event {
				t.Errorf("event %q", s.Preset.Event)
			}
			if s.HMAC.Syntax != tt.syntax || s.HMAC.HMAC.Header != tt.header {
				t.Errorf("scheme %+v", s.HMAC)
			}
			if s.Preset.Sample.Body == nil || s.Preset.Sample.Help == "" {
				t.Error("no sample delivery for the CLI")
			}
		})
	}
}

func TestSignedPresetOutcomes(t *testing.T) {
	for preset, want := range map[string]map[string]string{
		"stripe":   {"payment_intent.succeeded": "success", "checkout.session.completed": "success", "invoice.paid": "success", "charge.succeeded": "success", "payment_intent.payment_failed": "failure", "invoice.payment_failed": "failure", "charge.failed": "failure", "customer.created": ""},
		"paddle":   {"transaction.completed": "success", "transaction.paid": "success", "transaction.payment_failed": "failure", "subscription.created": ""},
		"razorpay": {"payment.captured": "success", "order.paid": "success", "payment.failed": "failure", "refund.created": ""},
		"adyen":    {"true": "success", "false": "failure"},
	} {
		p, _ := LookupPreset(preset)
		for ev, oc := range want {
			got, ok := p.Outcomes[ev]
			if !ok {
				got = p.OutcomeDefault
			}
			if got != oc {
				t.Errorf("%s %s: %q, want %q", preset, ev, got, oc)
			}
		}
	}
	if p, _ := LookupPreset("adyen"); p.Outcome != "{json.notificationItems.0.NotificationRequestItem.success}" {
		t.Errorf("adyen outcome template %q", p.Outcome)
	}
}

// TestHMACOverlay: an option left out keeps the preset's value; a header
// brings its prefix; one tolerance sets both directions.
func TestHMACOverlay(t *testing.T) {
	wide := caddy.Duration(1000 * time.Hour)
	future := caddy.Duration(2 * time.Minute)
	g := Guard{Preset: "github", HMAC: &HMAC{Secrets: []string{"a", "b"}, Algorithm: "sha512"}}
	s, err := g.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	h := s.HMAC.HMAC
	if h.Header != "X-Hub-Signature-256" || h.Prefix != "sha256=" || h.Algorithm != "sha512" || h.Encoding != "hex" || len(h.Secrets) != 2 {
		t.Errorf("github with algorithm: %+v", h)
	}
	g = Guard{Preset: "github", HMAC: &HMAC{Secrets: []string{"a"}, Header: "X-Hub-Signature"}}
	s, _ = g.Resolve()
	if s.HMAC.HMAC.Header != "X-Hub-Signature" || s.HMAC.HMAC.Prefix != "" {
		t.Errorf("a header given alone has no prefix: %+v", s.HMAC.HMAC)
	}
	g = Guard{Preset: "stripe", HMAC: &HMAC{Secrets: []string{"a"}, Tolerance: &wide}}
	s, _ = g.Resolve()
	if past, fut := s.HMAC.Tolerances(); past != 1000*time.Hour || fut != 1000*time.Hour || s.HMAC.HMAC.Signed != "{signature.t}.{body}" {
		t.Errorf("stripe tolerance alone: %s %s %+v", past, fut, s.HMAC.HMAC)
	}
	g = Guard{Preset: "stripe", HMAC: &HMAC{Secrets: []string{"a"}, Tolerance: &wide, ToleranceFuture: &future}}
	s, _ = g.Resolve()
	if past, fut := s.HMAC.Tolerances(); past != 1000*time.Hour || fut != 2*time.Minute {
		t.Errorf("stripe tolerance both: %s %s", past, fut)
	}
	g = Guard{Preset: "generic", HMAC: &HMAC{Secrets: []string{"a"}, Header: "X-Sig"}}
	s, _ = g.Resolve()
	if h := s.HMAC.HMAC; s.HMAC.Syntax != SyntaxValue || h.Algorithm != "sha256" || h.Encoding != "hex" || h.Signed != "{body}" || h.SecretEncoding != "raw" {
		t.Errorf("generic defaults: %+v", s.HMAC)
	}
	if past, fut := s.HMAC.Tolerances(); past != 5*time.Minute || fut != time.Minute {
		t.Errorf("generic tolerance %s %s", past, fut)
	}
	g = Guard{Preset: "standard_webhooks", HMAC: &HMAC{PublicKeys: []string{"whpk_x"}}}
	if _, err := g.Resolve(); err != nil {
		t.Errorf("a public key alone: %v", err)
	}
	g = Guard{Preset: "stripe", HMAC: &HMAC{Secrets: []string{"a"}}, ReportOnly: true}
	if s, _ := g.Resolve(); !s.ReportOnly {
		t.Error("report_only lost")
	}
}

func TestHMACErrors(t *testing.T) {
	sec := []string{"s"}
	tests := []struct {
		name  string
		g     Guard
		want  string
		field string
	}{
		{"square without notification_url", Guard{Preset: "square", HMAC: &HMAC{Secrets: sec}}, "add notification_url", "hmac"},
		{"generic without header", Guard{Preset: "generic", HMAC: &HMAC{Secrets: sec}}, "needs header <name> [<prefix>]", "hmac"},
		{"empty secret", Guard{Preset: "stripe", HMAC: &HMAC{Secrets: []string{""}}}, "hmac: empty secret", "hmac"},
		{"no secret", Guard{Preset: "stripe", HMAC: &HMAC{}}, "hmac: no secret", "hmac"},
		{"unknown algorithm", Guard{Preset: "github", HMAC: &HMAC{Secrets: sec, Algorithm: "md5"}}, `algorithm: unknown "md5"`, "hmac"},
		{"unknown encoding", Guard{Preset: "github", HMAC: &HMAC{Secrets: sec, Encoding: "base32"}}, `encoding: unknown "base32"`, "hmac"},
		{"unknown secret encoding", Guard{Preset: "github", HMAC: &HMAC{Secrets: sec, SecretEncoding: "rot13"}}, `secret_encoding: unknown "rot13"`, "hmac"},
		{"public key on stripe", Guard{Preset: "stripe", HMAC: &HMAC{PublicKeys: []string{"whpk_x"}}}, "only Standard Webhooks", "hmac"},
		{"adyen with a header", Guard{Preset: "adyen", HMAC: &HMAC{Secrets: sec, Header: "X"}}, "do not apply", "hmac"},
		{"prefix without header", Guard{Preset: "github", HMAC: &HMAC{Secrets: sec, Prefix: "sha1="}}, "a prefix goes with its header", "hmac"},
		{"zero tolerance", Guard{Preset: "stripe", HMAC: &HMAC{Secrets: sec, Tolerance: new(caddy.Duration)}}, "tolerance must be positive", "hmac"},
		{"body in dedupe", Guard{Preset: "stripe", HMAC: &HMAC{Secrets: sec}, Dedupe: []string{"{body}"}}, "{body} is the raw body", "dedupe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.g.Resolve()
			if err == nil {
				t.Fatal("accepted")
			}
			var fe *FieldError
			if !strings.Contains(err.Error(), tt.want) || !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("error %q (%#v), want %q in field %s", err, fe, tt.want, tt.field)
			}
		})
	}
}

func TestSignedSamples(t *testing.T) {
	at := time.Unix(1700000000, 0)
	for _, name := range PresetNames {
		p, _ := LookupPreset(name)
		if p.Signature == nil {
			continue
		}
		body, err := p.Sample.Body(SampleInput{ID: "id_1", Event: p.Sample.Event, Time: at})
		if err != nil || !json.Valid(body) {
			t.Errorf("%s: the sample body is not JSON: %s %v", name, body, err)
		}
	}
	p, _ := LookupPreset("github")
	in := SampleInput{ID: "abc", Event: "push", Time: at}
	body, _ := p.Sample.Body(in)
	hdr := p.Sample.Headers(in)
	if !strings.Contains(string(body), `"after":"abc"`) || hdr["X-GitHub-Event"] != "push" || hdr["X-GitHub-Delivery"] != "abc" {
		t.Fatalf("%s %v", body, hdr)
	}
	p, _ = LookupPreset("stripe")
	body, _ = p.Sample.Body(SampleInput{ID: "x1", Event: "charge.failed", Time: at})
	if !strings.Contains(string(body), `"type":"charge.failed"`) || !strings.Contains(string(body), `"created":1700000000`) {
		t.Fatalf("%s", body)
	}
}
