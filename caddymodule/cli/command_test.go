package cli_test

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
		{[]string{"sign", "stripe", "--to", "http://x/", "--timestamp", "1"}, "need --secret"},
		{[]string{"sign", "generic", "--to", "http://x/", "--secret", "s"}, "--hmac header=<Name>"},
		{[]string{"sign", "generic", "--to", "http://x/", "--secret", "s", "--hmac", "bogus=1"}, "unknown option"},
		{[]string{"sign", "stripe", "--to", "http://x/", "--secret", "s", "--timestamp", "yesterday"}, "--timestamp"},
		{[]string{"sign", "adyen", "--to", "http://x/", "--secret", "not-hex"}, "adyen: --secret"},
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
