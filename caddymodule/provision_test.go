package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/deadline"
	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/config"
)

// The Globiance exception (payment parts may be empty) belongs to the
// preset's default template only: a user's template that could resolve to
// the same key for different events gets no key instead.
func TestOptionalPartsOnlyInThePresetDefault(t *testing.T) {
	checkout := `{"event":"cancelled","checkoutId":"c1","type":"checkout","payload":{"checkoutId":"c1"}}`
	auth := []config.QuerySecret{{Param: "token", Secret: "s"}}
	tests := []struct {
		name   string
		dedupe []string
		want   string
	}{
		{"preset default", nil, "checkout:cancelled:c1::"},
		{"user template", []string{"{json.checkoutId}:{json.payload.payment.paymentId}"}, ""},
		{"user template of optional parts only", []string{"{json.payload.payment.paymentId}"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := provisioned(t, config.Guard{Preset: "globiance", QuerySecret: auth, Dedupe: tt.dedupe})
			r := httptest.NewRequest("POST", "/cb?token=s", strings.NewReader(checkout))
			_, key := g.prepareForward(r, []byte(checkout), &verify.Output{}, time.Now())
			if key != tt.want {
				t.Fatalf("key %q, want %q", key, tt.want)
			}
			if _, has := r.Header["X-Callback-Id"]; has != (tt.want != "") {
				t.Fatalf("X-Callback-Id present %v for key %q", has, tt.want)
			}
		})
	}
}

// Headers of one exchange, and cookies (a browser's, for PayGlocal), are
// not stored for replay.
func TestAnswerOfKeepsOnlyReplayableHeaders(t *testing.T) {
	rec := deadline.NewRecorder(0)
	defer rec.Release()
	for k, v := range map[string]string{
		"Content-Type": "text/html", "Location": "/thanks", "Cache-Control": "no-store",
		"Set-Cookie": "session=abc", "Date": "x", "Content-Length": "3", "Connection": "close", "Server": "x",
	} {
		rec.Header().Set(k, v)
	}
	rec.WriteHeader(http.StatusSeeOther)
	a := answerOf(rec)
	want := []string{"Cache-Control", "Content-Type", "Location"}
	if len(a.Header) != len(want) {
		t.Fatalf("stored headers %v, want %v", a.Header, want)
	}
	for _, k := range want {
		if a.Header.Get(k) == "" {
			t.Fatalf("%s not stored", k)
		}
	}
}

// Credential fingerprints are the same for the same configuration (so that
// instances share keys) and differ for another secret; they never hold the
// secret.
func TestCredentialFingerprints(t *testing.T) {
	guard := func(secret string) config.Guard {
		return config.Guard{Preset: "avarda", HeaderSecret: []config.HeaderSecret{
			{Header: "Authorization", Value: "Bearer " + secret}, {Header: "Authorization", Value: "Bearer rotated"},
		}}
	}
	a, again, other := provisioned(t, guard("tenant-a")), provisioned(t, guard("tenant-a")), provisioned(t, guard("tenant-b"))
	fa, fb := a.groups[0].credentials, other.groups[0].credentials
	if len(fa) != 2 || fa[0] == fa[1] {
		t.Fatalf("one fingerprint per secret line, distinct: %q", fa)
	}
	if strings.Join(fa, ",") != strings.Join(again.groups[0].credentials, ",") {
		t.Fatal("the same configuration gave other fingerprints")
	}
	if fa[0] == fb[0] || fa[1] != fb[1] {
		t.Fatalf("fingerprints %q and %q: another secret must differ, the same secret must not", fa, fb)
	}
	for _, f := range fa {
		if strings.Contains(f, "tenant") || strings.Contains(f, "rotated") {
			t.Fatalf("fingerprint %q holds the secret", f)
		}
	}
}
