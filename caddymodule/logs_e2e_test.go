package caddymodule_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/callbackguard/callbackguard/caddymodule/verify/signedurl"
	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// A run that exercises every verifier, accepted and rejected, with debug
// logging on and the documented log filters: no line of the access log
// file or of the process's own log holds a secret, password or token,
// including PayGlocal's x-gl-token header and a JWT taken from the query.
func TestLogsHoldNoSecret(t *testing.T) {
	dir := t.TempDir()
	key := newRSAKey(t, dir, "k1.pem")
	up := testcaddy.NewUpstream(t)
	secrets := map[string]string{
		"basic password":   "pw-Basic-7c1e",
		"query secret":     "qs-Secret-99a1",
		"header secret":    "hs-Secret-41bd",
		"signed_url key":   "su-Key-0d2f",
		"jwt hmac secret":  "jwt-Hmac-55e0",
		"wrong password":   "pw-Wrong-1234",
		"wrong query":      "qs-Wrong-5678",
		"bearer token val": "bearer-Static-8e8e",
	}
	cfg := fmt.Sprintf(`{
	admin @ADMIN@
	debug
	log default {
		output stderr
		format filter {
			wrap json
			fields {
				request>uri query {
					delete jwt
				}
				request>headers>X-Shop-Secret delete
				request>headers>X-Gl-Token delete
			}
		}
	}
}
:@HTTP@ {
	log {
		output file @DIR@/access.log
		format filter {
			wrap json
			fields {
				request>uri query {
					delete token
					delete jwt
				}
				request>headers>X-Shop-Secret delete
				request>headers>X-Gl-Token delete
			}
		}
	}
	handle /basic {
		callback_guard glopal {
			basic_auth glopal %[2]s
		}
		reverse_proxy %[1]s
	}
	handle /query {
		callback_guard globiance {
			query_secret token %[3]s
		}
		reverse_proxy %[1]s
	}
	handle /header {
		callback_guard generic {
			header_secret X-Shop-Secret %[4]s
			header_secret Authorization "Bearer %[8]s"
		}
		reverse_proxy %[1]s
	}
	handle /signed/* {
		callback_guard glopal {
			signed_url sig %[5]s
		}
		reverse_proxy %[1]s
	}
	handle /payglocal {
		callback_guard payglocal {
			jwt {
				key k1 %[6]s
			}
			forward_claims header
		}
		reverse_proxy %[1]s
	}
	handle /hs {
		callback_guard generic {
			jwt {
				secret %[7]s
			}
		}
		reverse_proxy %[1]s
	}
	handle /hs-query {
		callback_guard generic {
			jwt {
				from query jwt
				secret %[7]s
			}
		}
		reverse_proxy %[1]s
	}
}
`, up.Addr(), "{env.CG_BASIC}", "{env.CG_QUERY}", "{env.CG_HEADER}", "{env.CG_SIGNED}", key.pubFile, "{env.CG_HMAC}", "{env.CG_BEARER}")
	// Secrets come from the environment, as the README advises: with
	// literal secrets in the Caddyfile, Caddy's own debug log prints the
	// loaded config, and with it the secrets.
	c := testcaddy.Start(t, cfg, testcaddy.Options{Env: []string{
		"CG_BASIC=" + secrets["basic password"], "CG_QUERY=" + secrets["query secret"],
		"CG_HEADER=" + secrets["header secret"], "CG_SIGNED=" + secrets["signed_url key"],
		"CG_HMAC=" + secrets["jwt hmac secret"], "CG_BEARER=" + secrets["bearer token val"],
	}})
	base := c.URL

	// Accepted and rejected deliveries for every verifier.
	for _, pw := range []string{secrets["basic password"], secrets["wrong password"]} {
		r := newRequest(t, "POST", base+"/basic", "application/json", `{"a":1}`)
		r.SetBasicAuth("glopal", pw)
		do(t, r)
	}
	for _, q := range []string{secrets["query secret"], secrets["wrong query"]} {
		do(t, newRequest(t, "POST", base+"/query?token="+q, "application/json", `{"type":"payment","event":"confirmed","checkoutId":"c"}`))
	}
	for _, h := range []string{secrets["header secret"], "wrong-header-value"} {
		r := newRequest(t, "POST", base+"/header", "application/json", `{"id":1}`)
		r.Header.Set("X-Shop-Secret", h)
		r.Header.Set("Authorization", "Bearer "+secrets["bearer token val"])
		do(t, r)
	}
	signed, _ := signedurl.Sign(base+"/signed/DE/1?lang=de", "sig", []byte(secrets["signed_url key"]))
	do(t, newRequest(t, "GET", signed, "", ""))
	do(t, newRequest(t, "GET", strings.Replace(signed, "/1?", "/2?", 1), "", ""))
	now := time.Now()
	pgTok := sign(t, jwt.SigningMethodRS256, key.priv, map[string]any{"kid": "k1"}, jwt.MapClaims{
		"gid": "gl_log", "status": "SENT_FOR_CAPTURE", "statusUrl": "https://api.example/status?x-gl-token=inner-status-token",
		"iat": fmt.Sprint(now.UnixMilli()), "exp": 300000,
	})
	expiredTok := sign(t, jwt.SigningMethodRS256, key.priv, map[string]any{"kid": "k1"}, jwt.MapClaims{"gid": "gl_old", "exp": now.Add(-time.Hour).Unix()})
	for _, tok := range []string{pgTok, expiredTok} {
		do(t, newRequest(t, "POST", base+"/payglocal", "application/x-www-form-urlencoded", "x-gl-token="+url.QueryEscape(tok)))
	}
	// The same callback with the token in a header, as PayGlocal also sends it.
	pgHeaderTok := sign(t, jwt.SigningMethodRS256, key.priv, map[string]any{"kid": "k1"}, jwt.MapClaims{
		"gid": "gl_hdr", "status": "SENT_FOR_CAPTURE", "iat": fmt.Sprint(now.UnixMilli()), "exp": 300000,
	})
	for _, tok := range []string{pgHeaderTok, expiredTok} {
		r := newRequest(t, "POST", base+"/payglocal", "application/x-www-form-urlencoded", "")
		r.Header.Set("x-gl-token", tok)
		if a := do(t, r); tok == pgHeaderTok && a.status != 200 {
			t.Fatalf("token in the x-gl-token header: %d %q", a.status, a.body)
		}
	}
	hsTok := sign(t, jwt.SigningMethodHS256, []byte(secrets["jwt hmac secret"]), nil, jwt.MapClaims{"sub": "x"})
	badHS := sign(t, jwt.SigningMethodHS256, []byte("other"), nil, jwt.MapClaims{"sub": "x"})
	for _, tok := range []string{hsTok, badHS} {
		r := newRequest(t, "POST", base+"/hs", "text/plain", "x")
		r.Header.Set("Authorization", "Bearer "+tok)
		do(t, r)
	}
	// A JWT taken from the query stays in the forwarded URL, so
	// reverse_proxy's debug line has it as well as the access log.
	hsQueryTok := sign(t, jwt.SigningMethodHS256, []byte(secrets["jwt hmac secret"]), nil, jwt.MapClaims{"sub": "q"})
	for _, tok := range []string{hsQueryTok, badHS} {
		if a := do(t, newRequest(t, "POST", base+"/hs-query?a=1&jwt="+tok, "text/plain", "x")); tok == hsQueryTok && a.status != 200 {
			t.Fatalf("token in the query: %d %q", a.status, a.body)
		}
	}
	time.Sleep(200 * time.Millisecond)
	c.Stop()

	access, err := os.ReadFile(filepath.Join(c.Dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	logs := c.Log()
	if !strings.Contains(logs, `"level":"debug"`) || !strings.Contains(logs, "callback rejected") || !strings.Contains(logs, "upstream roundtrip") {
		t.Fatalf("the run did not log at debug:\n%s", logs)
	}
	if !strings.Contains(string(access), "handled request") || !strings.Contains(string(access), "/hs-query?a=1") {
		t.Fatalf("the access log does not show the requests:\n%s", access)
	}
	logs += "\n" + string(access)
	needles := map[string]string{
		"payglocal token": pgTok, "expired token": expiredTok, "hs token": hsTok, "bad hs token": badHS,
		"token signature": pgTok[strings.LastIndexByte(pgTok, '.')+1:], "inner status token": "inner-status-token",
		"payglocal header token": pgHeaderTok, "query token": hsQueryTok,
	}
	for k, v := range secrets {
		needles[k] = v
	}
	for what, needle := range needles {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, needle) {
				t.Errorf("a log line holds the %s:\n%s", what, line)
			}
		}
	}
	// The guard's own lines never carry the URL signature either.
	sig := signed[strings.Index(signed, "sig=")+4:]
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "callback_guard") && strings.Contains(line, sig) {
			t.Errorf("a guard log line holds the URL signature:\n%s", line)
		}
	}
}
