package caddymodule_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// The hmac line and block adapt to the JSON config.
func TestAdaptHMAC(t *testing.T) {
	guards, err := adaptGuards(t, `:8080 {
	handle /a {
		callback_guard razorpay {
			hmac old-secret
			hmac {env.RAZORPAY_SECRET}
			report_only
		}
	}
	handle /b {
		callback_guard generic {
			hmac {
				secret          s1
				secret          s2
				secret_encoding base64
				header          X-Signature sha512=
				algorithm       sha512
				encoding        base64url
				signed          "{header.X-Time}.{body}"
				timestamp       {header.X-Time}
				tolerance       10m 30s
			}
		}
	}
	handle /c {
		callback_guard standard_webhooks {
			hmac {
				public_key whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=
				tolerance 1h
			}
		}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(guards) != 3 {
		t.Fatalf("%d guards", len(guards))
	}
	want := []map[string]any{
		{"secrets": []any{"old-secret", "{env.RAZORPAY_SECRET}"}},
		{
			"secrets": []any{"s1", "s2"}, "secret_encoding": "base64", "header": "X-Signature", "prefix": "sha512=",
			"algorithm": "sha512", "encoding": "base64url", "signed": "{http.request.header.X-Time}.{body}",
			"timestamp": "{http.request.header.X-Time}", "tolerance": float64(10 * time.Minute), "tolerance_future": float64(30 * time.Second),
		},
		{"public_keys": []any{"whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="}, "tolerance": float64(time.Hour)},
	}
	for i, g := range guards {
		if !reflect.DeepEqual(g["hmac"], want[i]) {
			t.Errorf("guard %d hmac = %#v\nwant %#v", i, g["hmac"], want[i])
		}
	}
	if guards[0]["report_only"] != true {
		t.Errorf("report_only: %v", guards[0]["report_only"])
	}
}

// Configuration errors of hmac fail `caddy adapt`, at the offending line
// where there is one.
func TestAdaptHMACErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"square without notification_url", "callback_guard square {\n hmac s\n}", "hmac: the square preset signs its notification URL: add notification_url <url> to the hmac block, exactly as configured at the provider, at Caddyfile:3"},
		{"generic block without header", "callback_guard generic {\n hmac {\n  secret s\n }\n}", "hmac: no header: the generic preset needs header <name> [<prefix>] in its hmac block, at Caddyfile:3"},
		{"unknown algorithm", "callback_guard github {\n hmac {\n  secret s\n  algorithm md5\n }\n}", `algorithm: unknown "md5"`},
		{"empty secret", "callback_guard stripe {\n hmac \"\"\n}", "hmac: empty secret"},
		{"{body} in timestamp", "callback_guard generic {\n hmac {\n  secret s\n  header X\n  timestamp {body}\n }\n}", "hmac timestamp: template \"{body}\": {body} is the raw body and stands only in signed, at Caddyfile:6"},
		{"timestamp not signed", "callback_guard generic {\n hmac {\n  secret s\n  header X\n  timestamp {header.X-Time}\n }\n}", `is not part of signed "{body}": an unsigned time proves nothing, at Caddyfile:3`},
		{"{body} in dedupe", "callback_guard stripe {\n hmac s\n dedupe {body}\n}", "{body} is the raw body"},
		{"unknown placeholder in signed", "callback_guard generic {\n hmac {\n  secret s\n  header X\n  signed {http.request.uri}{body}\n }\n}", "unknown placeholder {http.request.uri} (want {body}, {header.Name}, {signature.key} or {notification_url}), at Caddyfile:6"},
		{"option twice", "callback_guard github {\n hmac {\n  secret s\n  encoding hex\n }\n hmac {\n  encoding base64\n }\n}", "hmac encoding: given twice"},
		{"unknown option", "callback_guard github {\n hmac {\n  secret s\n  digest sha1\n }\n}", `unknown hmac subdirective "digest", at Caddyfile:5`},
		{"bad tolerance", "callback_guard stripe {\n hmac {\n  secret s\n  tolerance soon\n }\n}", `hmac tolerance: invalid duration "soon"`},
		{"adyen with a header", "callback_guard adyen {\n hmac {\n  secret 00ff\n  header X\n }\n}", "do not apply"},
		{"public key on stripe", "callback_guard stripe {\n hmac {\n  public_key whpk_x\n }\n}", "only Standard Webhooks"},
		{"report_only with an argument", "callback_guard stripe {\n hmac s\n report_only yes\n}", "report_only: want no argument, at Caddyfile:4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adaptGuards(t, ":8080 {\n"+tt.body+"\n}")
			if err == nil {
				t.Fatal("adapted without error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// Errors that need the machine (placeholders, key decoding) fail `caddy
// validate`, never a request; no message shows the secret.
func TestLoadHMACErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, body, want string }{
		{"secret empty after {env.*}", "callback_guard stripe {\n hmac {env.CALLBACKGUARD_UNSET_FOR_TEST}\n}", "provision http.handlers.callback_guard: hmac: empty secret (after placeholder expansion)"},
		{"secret empty after {file.*}", "callback_guard github {\n hmac {file." + empty + "}\n}", "provision http.handlers.callback_guard: hmac: empty secret"},
		{"relative {file.*} unreadable", "callback_guard github {\n hmac {file.secret.txt}\n}", "provision http.handlers.callback_guard: hmac: empty secret (after placeholder expansion)"},
		{"not hex", "callback_guard adyen {\n hmac not-hex-s3cr3t\n}", "provision http.handlers.callback_guard: hmac: secret 1: the secret is not valid hex"},
		{"not a whsec", "callback_guard svix {\n hmac whsec_!!s3cr3t\n}", "provision http.handlers.callback_guard: hmac: secret 1: the secret is not valid whsec"},
		{"bad public key", "callback_guard standard_webhooks {\n hmac {\n  public_key whpk_s3cr3t\n }\n}", "public_key 1: want whpk_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "Caddyfile")
			if err := os.WriteFile(cfg, []byte("{\n admin off\n}\n:0 {\n"+tt.body+"\nreverse_proxy 127.0.0.1:9\n}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := testcaddy.Run(t, dir, "validate", "--config", cfg, "--adapter", "caddyfile")
			if err == nil {
				t.Fatalf("caddy validate accepted it:\n%s", out)
			}
			if !strings.Contains(out, tt.want) {
				t.Fatalf("caddy validate said:\n%s\nwant it to contain %q", out, tt.want)
			}
			if strings.Contains(out, "s3cr3t") {
				t.Fatalf("the message shows the secret:\n%s", out)
			}
		})
	}
}
