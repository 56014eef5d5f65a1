package hmacsig_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
	"github.com/callbackguard/callbackguard/caddymodule/verify/hmacsig"
)

// TestConfigErrors: what New refuses, and that no error shows a secret.
func TestConfigErrors(t *testing.T) {
	const secret = "s3cr3t-value"
	sw := providers["standard_webhooks"].scheme
	cases := []struct {
		name   string
		scheme hmacsig.Scheme
		keys   hmacsig.Keys
		want   string
	}{
		{"no header", hmacsig.Scheme{}, hmacsig.Keys{Secrets: []string{secret}}, "not a header name"},
		{"unknown algorithm", hmacsig.Scheme{Header: "X", Algorithm: "md5"}, hmacsig.Keys{Secrets: []string{secret}}, `algorithm: unknown "md5"`},
		{"unknown encoding", hmacsig.Scheme{Header: "X", Encoding: "base32"}, hmacsig.Keys{Secrets: []string{secret}}, `encoding: unknown "base32"`},
		{"unknown secret encoding", hmacsig.Scheme{Header: "X"}, hmacsig.Keys{Secrets: []string{secret}, SecretEncoding: "rot13"}, `secret_encoding: unknown "rot13"`},
		{"bad base64 secret", hmacsig.Scheme{Header: "X"}, hmacsig.Keys{Secrets: []string{secret + "!"}, SecretEncoding: "base64"}, "not valid base64"},
		{"bad hex secret", hmacsig.Scheme{Header: "X"}, hmacsig.Keys{Secrets: []string{secret}, SecretEncoding: "hex"}, "not valid hex"},
		{"empty secret", hmacsig.Scheme{Header: "X"}, hmacsig.Keys{Secrets: []string{""}}, "empty secret"},
		{"no secret", hmacsig.Scheme{Header: "X"}, hmacsig.Keys{}, "no secret"},
		{"too many secrets", hmacsig.Scheme{Header: "X"}, hmacsig.Keys{Secrets: strings.Split("a b c d e f g h i", " ")}, "at most 8"},
		{"body in timestamp", hmacsig.Scheme{Header: "X", Signed: "{body}", Timestamp: "{body}", TolerancePast: 1, ToleranceFuture: 1}, hmacsig.Keys{Secrets: []string{secret}}, "{body} is the raw body and stands only in signed"},
		{"timestamp not signed", hmacsig.Scheme{Header: "X", Timestamp: "{header.X-Time}", TolerancePast: 1, ToleranceFuture: 1}, hmacsig.Keys{Secrets: []string{secret}}, "is not part of signed"},
		{"no tolerance", hmacsig.Scheme{Header: "X", Signed: "{header.T}{body}", Timestamp: "{header.T}"}, hmacsig.Keys{Secrets: []string{secret}}, "must be positive"},
		{"notification_url unset", hmacsig.Scheme{Header: "X", Signed: "{notification_url}{body}"}, hmacsig.Keys{Secrets: []string{secret}}, "needs notification_url"},
		{"field of a whole-value header", hmacsig.Scheme{Header: "X", Signed: "{signature.t}{body}"}, hmacsig.Keys{Secrets: []string{secret}}, "no key=value fields"},
		{"unknown placeholder", hmacsig.Scheme{Header: "X", Signed: "{http.request.uri}{body}"}, hmacsig.Keys{Secrets: []string{secret}}, "unknown placeholder {http.request.uri}"},
		{"unclosed", hmacsig.Scheme{Header: "X", Signed: "{body"}, hmacsig.Keys{Secrets: []string{secret}}, "unclosed"},
		{"public key elsewhere", hmacsig.Scheme{Header: "X"}, hmacsig.Keys{PublicKeys: []string{"whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4="}}, "only Standard Webhooks"},
		{"bad public key", sw, hmacsig.Keys{PublicKeys: []string{"whpk_" + secret}}, "Ed25519"},
		{"adyen with a header", hmacsig.Scheme{Format: hmacsig.FormatAdyen, Header: "X"}, hmacsig.Keys{Secrets: []string{"00"}, SecretEncoding: "hex"}, "do not apply"},
		{"prefix on a list", hmacsig.Scheme{Format: hmacsig.FormatStandardWebhooks, Header: "X", Prefix: "p"}, hmacsig.Keys{Secrets: []string{secret}}, "prefix applies only"},
	}
	for _, c := range cases {
		_, err := hmacsig.New(c.scheme, c.keys)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %q, want it to contain %q", c.name, err, c.want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the secret: %q", c.name, err)
		}
	}
}

// TestEd25519 signs v1a with a fresh key: v1 and v1a side by side, either
// key kind may match.
func TestEd25519(t *testing.T) {
	vecs := loadWebhookVectors(t)
	var vec webhookVector
	for _, v := range vecs {
		if v.Scheme == "standard_webhooks_ed25519" {
			vec = v
		}
	}
	sw := providers["standard_webhooks"]
	ts, _ := strconv.ParseInt(vec.Headers["webhook-timestamp"], 10, 64)
	at := time.Unix(ts, 0)
	h := http.Header{}
	for k, v := range vec.Headers {
		h.Set(k, v)
	}
	both := newVerifier(t, sw.scheme, hmacsig.Keys{Secrets: []string{swSecretOld}, PublicKeys: []string{vec.PublicKey}, SecretEncoding: "whsec"})
	hmacSig := signed(t, sw, swSecretOld, vec.Body, at, "webhook-id", vec.Headers["webhook-id"]).Get("Webhook-Signature")
	edSig := vec.Headers["webhook-signature"]
	for _, c := range []struct {
		name, sig string
		reason    verify.Reason
	}{
		{"v1a alone", edSig, ""},
		{"v1 alone", hmacSig, ""},
		{"v1 then v1a", hmacSig + " " + edSig, ""},
		{"tampered v1a", strings.Replace(edSig, "hnO3", "hnO4", 1), verify.ReasonInvalidSignature},
	} {
		if reason, _ := check(both, with(h, "Webhook-Signature", c.sig), vec.Body, at); reason != c.reason {
			t.Errorf("%s: %q, want %q", c.name, reason, c.reason)
		}
	}
	if reason, _ := check(both, with(h, "Webhook-Signature", edSig), vec.Body+" ", at); reason != verify.ReasonInvalidSignature {
		t.Errorf("tampered body under v1a: %q", reason)
	}
}
