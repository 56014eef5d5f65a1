package caddymodule_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// cli runs `caddy callback ...` with the built binary, as a user would.
type cli struct {
	t   *testing.T
	dir string
}

type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s\n--- stderr\n%s", r.code, r.stdout, r.stderr)
}

func (c *cli) run(stdin []byte, args ...string) cliResult {
	c.t.Helper()
	cmd := exec.Command(testcaddy.Binary(c.t), append([]string{"callback"}, args...)...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "HOME="+c.dir, "XDG_DATA_HOME="+c.dir, "XDG_CONFIG_HOME="+c.dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		c.t.Fatalf("running caddy callback %v: %v", args, err)
	}
	if strings.Contains(res.stderr, "WARNING: DATA RACE") {
		c.t.Errorf("data race in caddy callback %v:\n%s", args, res.stderr)
	}
	return res
}

// want fails the test unless the command exited with code and its stdout
// holds every substring.
func (r cliResult) want(t *testing.T, code int, subs ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d, got %s", code, r)
	}
	for _, s := range subs {
		if !strings.Contains(r.stdout, s) {
			t.Fatalf("stdout lacks %q:\n%s", s, r)
		}
	}
}

// cmdEnv is a config with a guard per preset, and the keys it needs.
type cmdEnv struct {
	dir     string
	privKey string // PKCS#8 RSA private key of kid-1
	config  string // Caddyfile text, with @HTTP@/@ADMIN@ markers and UPSTREAM
}

func newCmdEnv(t *testing.T) *cmdEnv {
	t.Helper()
	dir := t.TempDir()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	e := &cmdEnv{dir: dir, privKey: filepath.Join(dir, "signer.pem")}
	pubFile := filepath.Join(dir, "kid-1_payglocal_mid.pem")
	if err := os.WriteFile(e.privKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	e.config = `{
	admin @ADMIN@
}
:@HTTP@ {
	handle /glopal/callback {
		callback_guard glopal {
			basic_auth glopal pw-glopal
		}
		reverse_proxy UPSTREAM
	}
	handle /glopal/confirmation/* {
		callback_guard glopal {
			signed_url sig hmac-glopal
		}
		reverse_proxy UPSTREAM
	}
	handle /globiance/webhook {
		callback_guard globiance {
			query_secret token qs-globiance
		}
		reverse_proxy UPSTREAM
	}
	handle /avarda/completed {
		callback_guard avarda {
			header_secret Authorization "Bearer tok-avarda"
		}
		reverse_proxy UPSTREAM
	}
	handle /payglocal/callback {
		callback_guard payglocal {
			jwt {
				key kid-1 ` + pubFile + `
			}
			forward_claims header
		}
		reverse_proxy UPSTREAM
	}
	handle /generic/webhook {
		callback_guard generic {
			header_secret X-Shop-Secret gs-generic
			jwt {
				secret hs-generic
			}
			dedupe {json.id}
		}
		reverse_proxy UPSTREAM
	}
	route /twice {
		callback_guard generic {
			header_secret X-A a
		}
		callback_guard generic {
			header_secret X-B b
		}
		respond "ok"
	}
}
`
	return e
}

// file writes the config for offline use (verify) and returns its path.
func (e *cmdEnv) file(t *testing.T) string {
	t.Helper()
	p := filepath.Join(e.dir, "Caddyfile")
	cfg := testcaddy.Expand(strings.ReplaceAll(e.config, "UPSTREAM", "127.0.0.1:9"), 18443, "127.0.0.1:0", e.dir)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCallbackHelpDocumentsExitCodes(t *testing.T) {
	t.Parallel()
	c := &cli{t: t, dir: t.TempDir()}
	for _, args := range [][]string{{"--help"}, {"sign", "--help"}, {"send", "--help"}, {"verify", "--help"}, {}} {
		r := c.run(nil, args...)
		r.want(t, 0, "Exit codes:", "0  success", "1  verification failed", "2  usage or configuration error")
	}
	r := c.run(nil, "send", "--help")
	r.want(t, 0, "--repeat", "--concurrency", "--to")
	r = c.run(nil, "verify", "--help")
	r.want(t, 0, "--config", "--route", "--at")
}

func TestCallbackUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	c := &cli{t: t, dir: t.TempDir()}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"bogus"}, "unknown command"},
		{[]string{"sign"}, "missing preset"},
		{[]string{"sign", "nope", "--to", "http://x/"}, "unknown preset"},
		{[]string{"sign", "glopal"}, "missing --to"},
		{[]string{"sign", "glopal", "--to", "ftp://x/"}, "absolute http"},
		{[]string{"sign", "glopal", "--to", "http://x/", "--bogus"}, "unknown flag"},
		{[]string{"sign", "glopal", "--to", "http://x/", "--format", "xml"}, "--format"},
		{[]string{"sign", "payglocal", "--to", "http://x/"}, "needs --jwt-key"},
		{[]string{"sign", "glopal", "--to", "http://x/", "--jwt-key", "/nonexistent.pem"}, "--jwt-key"},
		{[]string{"send", "avarda", "--to", "http://x/", "--repeat", "0"}, "at least 1"},
		{[]string{"verify", "-"}, "missing --config"},
		{[]string{"verify", "--config", "/nonexistent/Caddyfile", "-"}, "reading --config"},
	} {
		r := c.run([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: want exit 2 and %q on stderr, got %s", tc.args, tc.msg, r)
		}
	}
}

func TestCallbackSendEachPresetIsAccepted(t *testing.T) {
	t.Parallel()
	e := newCmdEnv(t)
	up := testcaddy.NewUpstream(t)
	inst := testcaddy.Start(t, strings.ReplaceAll(e.config, "UPSTREAM", up.Addr()))
	c := &cli{t: t, dir: e.dir}

	cases := []struct {
		name     string
		args     []string
		verified string
		event    string
		outcome  string
		check    func(t *testing.T, rec testcaddy.Received)
	}{
		{"glopal basic_auth", []string{"glopal", "--to", inst.URL + "/glopal/callback", "--basic-auth", "glopal:pw-glopal", "--event", "CHECKOUT_PURCHASE", "--id", "c-1"},
			"basic_auth", "", "", func(t *testing.T, rec testcaddy.Received) {
				if rec.Header.Get("Authorization") != "" || string(rec.Body) != `{"type":"CHECKOUT_PURCHASE","checkout_id":"c-1"}` {
					t.Errorf("glopal forwarded %q with Authorization %q", rec.Body, rec.Header.Get("Authorization"))
				}
			}},
		{"glopal signed_url", []string{"glopal", "--to", inst.URL + "/glopal/confirmation/DE/ORD-1?lang=de-DE&currency=EUR", "--signed-url", "sig=hmac-glopal"},
			"signed_url", "", "", func(t *testing.T, rec testcaddy.Received) {
				if rec.Method != "GET" || !strings.HasPrefix(rec.RequestURI, "/glopal/confirmation/DE/ORD-1?lang=de-DE&currency=EUR&sig=") {
					t.Errorf("signed URL forwarded as %s %s", rec.Method, rec.RequestURI)
				}
			}},
		{"globiance query_secret", []string{"globiance", "--to", inst.URL + "/globiance/webhook", "--query-secret", "token=qs-globiance", "--event", "checkout.cancelled"},
			"query_secret", "checkout.cancelled", "failure", func(t *testing.T, rec testcaddy.Received) {
				if strings.Contains(rec.RequestURI, "token") {
					t.Errorf("query secret reached the backend: %s", rec.RequestURI)
				}
			}},
		{"avarda header_secret", []string{"avarda", "--to", inst.URL + "/avarda/completed", "--header-secret", "Authorization: Bearer tok-avarda", "--id", "489ea341e23941089e6d0378c708512a"},
			"header_secret", "purchase.completed", "success", func(t *testing.T, rec testcaddy.Received) {
				if rec.Header.Get("X-Callback-Id") != "489ea341e23941089e6d0378c708512a" {
					t.Errorf("avarda key %q", rec.Header.Get("X-Callback-Id"))
				}
			}},
		{"payglocal jwt", []string{"payglocal", "--to", inst.URL + "/payglocal/callback", "--jwt-key", e.privKey, "--kid", "kid-1", "--event", "AUTHORIZED", "--id", "M-77"},
			"jwt", "AUTHORIZED", "pending", func(t *testing.T, rec testcaddy.Received) {
				raw, err := base64.RawURLEncoding.DecodeString(rec.Header.Get("X-Callback-Claims"))
				var claims map[string]any
				if err != nil || json.Unmarshal(raw, &claims) != nil {
					t.Fatalf("claims header %q", rec.Header.Get("X-Callback-Claims"))
				}
				if claims["merchantUniqueId"] != "M-77" || claims["gid"] != "gl_M-77" || claims["exp"] != float64(300000) {
					t.Errorf("claims %v", claims)
				}
				if iat, _ := claims["iat"].(string); len(iat) != 13 {
					t.Errorf("iat %v is not a string of milliseconds", claims["iat"])
				}
				if rec.Header.Get("X-Callback-Id") != "gl_M-77:AUTHORIZED" {
					t.Errorf("payglocal key %q", rec.Header.Get("X-Callback-Id"))
				}
				if !strings.HasPrefix(string(rec.Body), "x-gl-token=") || rec.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
					t.Errorf("payglocal body %q (%s)", rec.Body, rec.Header.Get("Content-Type"))
				}
			}},
		{"generic header_secret+jwt", []string{"generic", "--to", inst.URL + "/generic/webhook", "--header-secret", "X-Shop-Secret: gs-generic", "--jwt-secret", "hs-generic", "--claim", "sub=shop-1", "--id", "g-9"},
			"header_secret,jwt", "", "", func(t *testing.T, rec testcaddy.Received) {
				if rec.Header.Get("X-Callback-Id") != "evt_g-9" || rec.Header.Get("X-Shop-Secret") != "" || rec.Header.Get("Authorization") != "" {
					t.Errorf("generic headers %v", rec.Header)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up.Reset()
			start := time.Now()
			r := c.run(nil, append([]string{"send"}, tc.args...)...)
			r.want(t, 0, "200 OK in ")
			if time.Since(start) > 30*time.Second {
				t.Errorf("send took %s", time.Since(start))
			}
			got := up.Received()
			if len(got) != 1 {
				t.Fatalf("upstream got %d requests; %s", len(got), r)
			}
			h := got[0].Header
			if h.Get("X-Callback-Provider") != tc.args[0] || h.Get("X-Callback-Verified") != tc.verified ||
				h.Get("X-Callback-Event") != tc.event || h.Get("X-Callback-Outcome") != tc.outcome {
				t.Errorf("X-Callback headers: %v", h)
			}
			tc.check(t, got[0])
		})
	}
}

func TestCallbackSendRepeatShowsDeduplication(t *testing.T) {
	t.Parallel()
	e := newCmdEnv(t)
	up := testcaddy.NewUpstream(t)
	inst := testcaddy.Start(t, strings.ReplaceAll(e.config, "UPSTREAM", up.Addr()))
	c := &cli{t: t, dir: e.dir}
	r := c.run(nil, "send", "avarda", "--to", inst.URL+"/avarda/completed",
		"--header-secret", "Authorization: Bearer tok-avarda", "--repeat", "6", "--concurrency", "3")
	r.want(t, 0, "6 sent, 3 at a time: 6× 200 OK", "replayed by the guard (X-Callback-Replayed: true): 5; not replayed: 1", "(replayed)")
	if n := up.Count(); n != 1 {
		t.Errorf("the backend got %d deliveries, want 1", n)
	}
	// A new --id is a new delivery; the same one again is a retry.
	for i, want := range []int{2, 2} {
		r := c.run(nil, "send", "avarda", "--to", inst.URL+"/avarda/completed",
			"--header-secret", "Authorization: Bearer tok-avarda", "--id", "same-id")
		r.want(t, 0, "200 OK")
		if up.Count() != want {
			t.Errorf("send %d: backend count %d, want %d", i, up.Count(), want)
		}
		if i == 1 && !strings.Contains(r.stdout, "X-Callback-Replayed: true") {
			t.Errorf("the second send of the same id is not replayed:\n%s", r)
		}
	}
}

func TestCallbackSendRejectedExits1(t *testing.T) {
	t.Parallel()
	e := newCmdEnv(t)
	up := testcaddy.NewUpstream(t)
	inst := testcaddy.Start(t, strings.ReplaceAll(e.config, "UPSTREAM", up.Addr()))
	c := &cli{t: t, dir: e.dir}
	r := c.run(nil, "send", "glopal", "--to", inst.URL+"/glopal/callback", "--basic-auth", "glopal:wrong")
	r.want(t, 1, "401 Unauthorized", `{"error":"invalid_credentials"}`)
	r = c.run(nil, "send", "globiance", "--to", inst.URL+"/globiance/webhook")
	r.want(t, 1, "401 Unauthorized", `{"error":"missing_credentials"}`)
	if !strings.Contains(r.stderr, "no credentials given") {
		t.Errorf("no warning without credentials: %s", r)
	}
	if up.Count() != 0 {
		t.Errorf("rejected deliveries reached the backend")
	}
	// Nothing listening: exit 1 too.
	r = c.run(nil, "send", "avarda", "--to", fmt.Sprintf("http://127.0.0.1:%d/x", testcaddy.FreePort(t)), "--header-secret", "Authorization: x", "--timeout", "5s")
	r.want(t, 1, "no answer")
}

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
	root, err := testcaddy.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	vec := filepath.Join(root, "..", "shared", "vectors", "payglocal")
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
