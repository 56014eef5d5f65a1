package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/vectors"
)

func TestCallbackVerifyCaptures(t *testing.T) {
	t.Parallel()
	e := newCmdEnv(t)
	cfg := e.file(t)
	c := &cli{t: t, dir: e.dir}
	sign := func(args ...string) []byte {
		t.Helper()
		r := c.run(nil, append([]string{"sign", "--format", "http"}, args...)...)
		r.want(t, 0)
		return []byte(r.stdout)
	}
	verify := func(capture []byte, args ...string) cliResult {
		t.Helper()
		return c.run(capture, append([]string{"verify", "--config", cfg}, args...)...)
	}
	base := "http://shop.example:8080"

	t.Run("basic_auth", func(t *testing.T) {
		capt := sign("glopal", "--to", base+"/glopal/callback", "--basic-auth", "glopal:pw-glopal")
		verify(capt).want(t, 0, "accepted: verified by basic_auth", "X-Callback-Provider: glopal", "X-Callback-Id: ")
		bad := sign("glopal", "--to", base+"/glopal/callback", "--basic-auth", "glopal:pw-glopaX")
		verify(bad).want(t, 1, "rejected: invalid_credentials", `401 {"error":"invalid_credentials"}`)
	})

	t.Run("signed_url tampered", func(t *testing.T) {
		capt := sign("glopal", "--to", base+"/glopal/confirmation/DE/ORD-1001?lang=de-DE&currency=EUR", "--signed-url", "sig=hmac-glopal")
		p := filepath.Join(e.dir, "confirmation.http")
		if err := os.WriteFile(p, capt, 0o600); err != nil {
			t.Fatal(err)
		}
		c.run(nil, "verify", "--config", cfg, p).want(t, 0, "accepted: verified by signed_url")
		// The order id changed on the way: the signature no longer fits.
		verify(bytes.Replace(capt, []byte("ORD-1001"), []byte("ORD-1002"), 1)).want(t, 1, "rejected: invalid_signature", "hint: the signature does not match")
		// The same URL signed for https is not valid over http, and is with --scheme https.
		verify(capt, "--scheme", "https").want(t, 1, "rejected: invalid_signature")
		// Without its signature.
		i := bytes.Index(capt, []byte("&sig="))
		j := bytes.Index(capt, []byte(" HTTP/1.1"))
		verify(append(append([]byte{}, capt[:i]...), capt[j:]...)).want(t, 1, "rejected: missing_signature")
		// --url checks a signed URL without a capture.
		line := string(capt[:bytes.Index(capt, []byte("\r\n"))])
		target := strings.Fields(line)[1]
		c.run(nil, "verify", "--config", cfg, "--url", base+target).want(t, 0, "accepted")
		c.run(nil, "verify", "--config", cfg, "--url", "https://shop.example:8080"+target).want(t, 1, "invalid_signature")
	})

	t.Run("query_secret removed", func(t *testing.T) {
		capt := sign("globiance", "--to", base+"/globiance/webhook", "--query-secret", "token=qs-globiance")
		verify(capt).want(t, 0, "accepted: verified by query_secret", "X-Callback-Event: payment.confirmed", "X-Callback-Outcome: success")
		verify(bytes.Replace(capt, []byte("?token=qs-globiance"), nil, 1)).want(t, 1, "rejected: missing_credentials")
	})

	t.Run("payglocal tampered and expired", func(t *testing.T) {
		capt := sign("payglocal", "--to", base+"/payglocal/callback", "--jwt-key", e.privKey, "--kid", "kid-1")
		verify(capt).want(t, 0, "accepted: verified by jwt", "X-Callback-Outcome: success", "X-Callback-Claims: ")
		// Another status's claims under this token's signature.
		other := sign("payglocal", "--to", base+"/payglocal/callback", "--jwt-key", e.privKey, "--kid", "kid-1", "--event", "AUTHORIZED")
		tok, otherTok := tokenOf(t, capt), tokenOf(t, other)
		forged := strings.Split(tok, ".")
		forged[1] = strings.Split(otherTok, ".")[1]
		verify(bytes.Replace(capt, []byte(tok), []byte(strings.Join(forged, ".")), 1)).want(t, 1, "rejected: invalid_signature")
		// An unknown kid.
		unknown := sign("payglocal", "--to", base+"/payglocal/callback", "--jwt-key", e.privKey, "--kid", "kid-2")
		verify(unknown).want(t, 1, "rejected: unknown_key")
		// Signed two hours ago: expired now (exp 300000 ms), valid as of then.
		at := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
		old := sign("payglocal", "--to", base+"/payglocal/callback", "--jwt-key", e.privKey, "--kid", "kid-1", "--time", at.Format(time.RFC3339))
		verify(old).want(t, 1, "rejected: token_expired", "--at")
		verify(old, "--at", at.Add(time.Minute).Format(time.RFC3339)).want(t, 0, "accepted: verified by jwt")
		verify(old, "--at", fmt.Sprint(at.Add(4*time.Minute).UnixMilli())).want(t, 0, "accepted")
		verify(old, "--at", at.Add(10*time.Minute).Format(time.RFC3339)).want(t, 1, "token_expired")
	})

	t.Run("two kinds, one missing", func(t *testing.T) {
		capt := sign("generic", "--to", base+"/generic/webhook", "--header-secret", "X-Shop-Secret: gs-generic", "--jwt-secret", "hs-generic")
		verify(capt).want(t, 0, "accepted: verified by header_secret,jwt", "X-Callback-Id: evt_")
		noJWT := sign("generic", "--to", base+"/generic/webhook", "--header-secret", "X-Shop-Secret: gs-generic")
		verify(noJWT).want(t, 1, "rejected: missing_token")
	})

	t.Run("hand-edited capture", func(t *testing.T) {
		// LF line ends and a body edited to another length, as an editor leaves it.
		capt := sign("avarda", "--to", base+"/avarda/completed", "--header-secret", "Authorization: Bearer tok-avarda", "--id", "p-1")
		edited := bytes.ReplaceAll(capt, []byte("\r\n"), []byte("\n"))
		edited = bytes.Replace(edited, []byte(`"p-1"`), []byte(`"p-12345"`), 1)
		r := verify(edited)
		r.want(t, 0, "accepted", "X-Callback-Id: p-12345")
		if !strings.Contains(r.stderr, "Content-Length") {
			t.Errorf("no warning about the length: %s", r)
		}
	})

	t.Run("route", func(t *testing.T) {
		capt := sign("avarda", "--to", base+"/elsewhere", "--header-secret", "Authorization: Bearer tok-avarda")
		r := verify(capt)
		if r.code != 2 || !strings.Contains(r.stderr, "no callback_guard handles /elsewhere") || !strings.Contains(r.stderr, "path /avarda/completed") {
			t.Errorf("absent route: %s", r)
		}
		verify(capt, "--route", "/avarda/completed").want(t, 0, "accepted")
		r = verify(capt, "--route", "/twice")
		if r.code != 2 || !strings.Contains(r.stderr, "2 callback_guards handle /twice") {
			t.Errorf("ambiguous route: %s", r)
		}
		r = verify([]byte("not http at all"))
		if r.code != 2 || !strings.Contains(r.stderr, "not a raw HTTP request") {
			t.Errorf("garbage capture: %s", r)
		}
	})
}

// TestCallbackVerifyRealPayGlocalToken checks PayGlocal's real 2021 token
// offline: expired now, accepted as of when it arrived.
func TestCallbackVerifyRealPayGlocalToken(t *testing.T) {
	t.Parallel()
	vec := filepath.Join(vectors.Dir(t), "payglocal")
	tok, err := os.ReadFile(filepath.Join(vec, "callback-token.jwt"))
	if err != nil {
		t.Skipf("no PayGlocal vectors beside the project (%v)", err)
	}
	dir := t.TempDir()
	const kid = "1c2a4b36-5449-4ed3-90a6-0a7999874234"
	cfg := filepath.Join(dir, "Caddyfile")
	os.WriteFile(cfg, []byte(fmt.Sprintf(":8080 {\n\tcallback_guard /pg payglocal {\n\t\tjwt {\n\t\t\tkey %s %s\n\t\t}\n\t}\n}\n",
		kid, filepath.Join(vec, kid+"_payglocal_mid.pem"))), 0o600)
	body := "x-gl-token=" + strings.TrimSpace(string(tok))
	capt := fmt.Sprintf("POST /pg HTTP/1.1\r\nHost: merchant.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	c := &cli{t: t, dir: dir}
	c.run([]byte(capt), "verify", "--config", cfg).want(t, 1, "rejected: token_expired")
	r := c.run([]byte(capt), "verify", "--config", cfg, "--at", "1636980973327")
	r.want(t, 0, "accepted: verified by jwt", "X-Callback-Event: SENT_FOR_CAPTURE", "--show-claims")
	if strings.Contains(r.stdout, "statusUrl\":") {
		t.Errorf("claims printed without --show-claims:\n%s", r)
	}
	c.run([]byte(capt), "verify", "--config", cfg, "--at", "2021-11-15T13:00:00Z", "--show-claims").want(t, 0, `"merchantUniqueId":"4YHc1Er3BdICgy4w"`)
}

// tokenOf finds the x-gl-token in a raw HTTP capture.
func tokenOf(t *testing.T, capt []byte) string {
	t.Helper()
	_, after, ok := bytes.Cut(capt, []byte("x-gl-token="))
	if !ok {
		t.Fatalf("no token in %q", capt)
	}
	return strings.TrimSpace(string(after))
}

// TestCallbackVerifyHostAndProxy: the guard is found by host as Caddy
// routes, and a signed URL is checked with the scheme and host the client
// used, through a trusted proxy with --trusted-proxy.
func TestCallbackVerifyHostAndProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "Caddyfile")
	os.WriteFile(cfg, []byte(`{
	servers {
		trusted_proxies static private_ranges
	}
}
shop.example {
	handle /confirm/* {
		callback_guard glopal {
			signed_url sig s3cret
		}
		respond "ok"
	}
}
`), 0o600)
	c := &cli{t: t, dir: dir}
	r := c.run(nil, "sign", "glopal", "--signed-url", "sig=s3cret", "--to", "https://shop.example/confirm/O-1?lang=de")
	r.want(t, 0)
	signed := strings.Trim(strings.TrimSpace(r.stdout[strings.LastIndex(r.stdout, " "):]), "'")
	target := strings.TrimPrefix(signed, "https://shop.example")

	// Straight to Caddy on :443: https is the server's scheme.
	direct := []byte("GET " + target + " HTTP/1.1\r\nHost: shop.example\r\n\r\n")
	c.run(direct, "verify", "--config", cfg).want(t, 0, "accepted: verified by signed_url", "host shop.example > path /confirm/*")
	c.run(direct, "verify", "--config", cfg, "--scheme", "http").want(t, 1, "rejected: invalid_signature", "http://shop.example/confirm/O-1")

	// Through a proxy that kept the Host but reached Caddy over http.
	proxied := []byte("GET " + target + " HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-Proto: https\r\n\r\n")
	c.run(proxied, "verify", "--config", cfg, "--scheme", "http").want(t, 1, "rejected: invalid_signature")
	c.run(proxied, "verify", "--config", cfg, "--scheme", "http", "--trusted-proxy").want(t, 0, "accepted")

	// Another Host: no guard there, and the error says where one is.
	other := []byte("GET " + target + " HTTP/1.1\r\nHost: 10.0.0.5:8080\r\n\r\n")
	r = c.run(other, "verify", "--config", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "give --host") {
		t.Errorf("other host: %s", r)
	}
	c.run(other, "verify", "--config", cfg, "--host", "shop.example").want(t, 0, "accepted")
	c.run(nil, "verify", "--config", cfg, "--url", signed).want(t, 0, "accepted")
}
