package caddymodule_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/callbackguard/callbackguard/caddymodule/verify/signedurl"
	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// guarded is one running Caddy with a route per preset in front of a
// recording upstream.
type guarded struct {
	caddy    *testcaddy.Instance
	up       *testcaddy.Upstream
	rsa      *keyPair // kid k1, the PayGlocal key
	rsaOther *keyPair // kid k2, also configured (rotation)
	ec       *keyPair
	stranger *keyPair // not configured
}

func startGuarded(t *testing.T) *guarded {
	t.Helper()
	dir := t.TempDir()
	g := &guarded{
		up:       testcaddy.NewUpstream(t),
		rsa:      newRSAKey(t, dir, "k1_payglocal_mid.pem"),
		rsaOther: newRSAKey(t, dir, "k2_payglocal_mid.pem"),
		ec:       newECKey(t, dir, "ec.pem"),
		stranger: newRSAKey(t, dir, "stranger.pem"),
	}
	cfg := fmt.Sprintf(`{
	admin @ADMIN@
}
:@HTTP@ {
	handle /glopal/basic {
		callback_guard glopal {
			basic_auth glopal s3cret-old
			basic_auth glopal s3cret-new
		}
		reverse_proxy %[1]s
	}
	handle /glopal/query {
		callback_guard glopal {
			query_secret key glopal-query-secret
		}
		reverse_proxy %[1]s
	}
	handle /glopal/confirmation/* {
		callback_guard glopal {
			signed_url sig glopal-hmac-secret
		}
		reverse_proxy %[1]s
	}
	handle /globiance {
		callback_guard globiance {
			query_secret token globiance-secret
		}
		reverse_proxy %[1]s
	}
	handle /avarda {
		callback_guard avarda {
			header_secret Authorization "Bearer avarda-static-token"
			max_body 2KiB
		}
		reverse_proxy %[1]s
	}
	handle /payglocal {
		callback_guard payglocal {
			jwt {
				key k1 %[2]s
				key k2 %[3]s
			}
			forward_claims header
		}
		reverse_proxy %[1]s
	}
	handle /payglocal-body {
		callback_guard payglocal {
			jwt {
				key k1 %[2]s
			}
			forward_claims body
		}
		reverse_proxy %[1]s
	}
	handle /generic/es256 {
		callback_guard generic {
			jwt {
				key ec1 %[4]s
				max_age 5m
			}
			dedupe {json.id} {header.X-Delivery-Id}
		}
		reverse_proxy %[1]s
	}
	handle /generic/hs {
		callback_guard generic {
			header_secret X-Shop-Secret shop-secret
			jwt {
				from query token
				secret hs-secret-one
				secret hs-secret-two
				algs HS256 HS512
			}
		}
		reverse_proxy %[1]s
	}
}
`, g.up.Addr(), g.rsa.pubFile, g.rsaOther.pubFile, g.ec.pubFile)
	g.caddy = testcaddy.Start(t, cfg)
	return g
}

// only returns the single request the upstream received.
func (g *guarded) only(t *testing.T) testcaddy.Received {
	t.Helper()
	got := g.up.Received()
	if len(got) != 1 {
		t.Fatalf("upstream received %d requests, want 1", len(got))
	}
	g.up.Reset()
	return got[0]
}

func assertHeader(t *testing.T, h http.Header, name, want string) {
	t.Helper()
	if got := strings.Join(h.Values(name), ","); got != want {
		t.Errorf("upstream header %s = %q, want %q", name, got, want)
	}
}

func assertNoHeader(t *testing.T, h http.Header, names ...string) {
	t.Helper()
	for _, name := range names {
		if v, ok := h[http.CanonicalHeaderKey(name)]; ok {
			t.Errorf("upstream got header %s = %q, want none", name, v)
		}
	}
}

func assertDeadline(t *testing.T, h http.Header, sent time.Time, deadline time.Duration) {
	t.Helper()
	v := h.Get("X-Callback-Deadline")
	d, err := time.Parse("2006-01-02T15:04:05.000Z", v)
	if err != nil {
		t.Fatalf("X-Callback-Deadline %q is not RFC 3339 UTC with milliseconds: %v", v, err)
	}
	want := sent.Add(deadline)
	if d.Before(want.Add(-time.Second)) || d.After(want.Add(time.Second)) {
		t.Errorf("X-Callback-Deadline %s, want about %s", d, want)
	}
}

func sha(b string) string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}

func TestPresetsEndToEnd(t *testing.T) {
	g := startGuarded(t)
	base := g.caddy.URL

	t.Run("glopal basic_auth", func(t *testing.T) {
		body := `{"type":"INVENTORY_CHECK","checkout_id":"c-1","items":[{"sku":"A~*","qty":1}]}`
		req := newRequest(t, "POST", base+"/glopal/basic", "application/json", body)
		req.SetBasicAuth("glopal", "s3cret-new")
		req.Header.Set("X-Callback-Id", "forged")
		req.Header.Set("x-callback-verified", "forged")
		req.Header.Set("X-CALLBACK-Anything", "forged")
		sent := time.Now()
		a := do(t, req)
		if a.status != 200 || a.body != "ok" {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
		got := g.only(t)
		if string(got.Body) != body || got.ContentLength != int64(len(body)) {
			t.Fatalf("body %q (len %d), want %q byte for byte", got.Body, got.ContentLength, body)
		}
		assertNoHeader(t, got.Header, "Authorization", "X-Callback-Anything", "X-Callback-Claims", "X-Callback-Event", "X-Callback-Outcome")
		assertHeader(t, got.Header, "X-Callback-Provider", "glopal")
		assertHeader(t, got.Header, "X-Callback-Verified", "basic_auth")
		assertHeader(t, got.Header, "X-Callback-Id", sha(body))
		assertHeader(t, got.Header, "X-Callback-Attempt", "1")
		assertDeadline(t, got.Header, sent, 4500*time.Millisecond)
		assertHeader(t, got.Header, "Content-Type", "application/json")
	})

	t.Run("glopal query_secret is stripped, other parameters kept as written", func(t *testing.T) {
		body := `{"type":"CHECKOUT_PURCHASE"}`
		a := do(t, newRequest(t, "POST", base+"/glopal/query?b=%7E1&key=glopal-query-secret&a=x+y", "application/json", body))
		if a.status != 200 {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
		got := g.only(t)
		if got.RequestURI != "/glopal/query?b=%7E1&a=x+y" {
			t.Errorf("upstream URI %q", got.RequestURI)
		}
		assertHeader(t, got.Header, "X-Callback-Verified", "query_secret")
	})

	t.Run("glopal signed_url confirmation redirect", func(t *testing.T) {
		u, err := signedurl.Sign(base+"/glopal/confirmation/DE/ORD-1?lang=de-DE&currency=EUR&note=a+b~", "sig", []byte("glopal-hmac-secret"))
		if err != nil {
			t.Fatal(err)
		}
		a := do(t, newRequest(t, "GET", u, "", ""))
		if a.status != 200 {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
		got := g.only(t)
		if !strings.Contains(got.RequestURI, "sig=") || got.Method != "GET" || len(got.Body) != 0 {
			t.Errorf("upstream got %s %q body %q; the signature is no secret and stays", got.Method, got.RequestURI, got.Body)
		}
		assertHeader(t, got.Header, "X-Callback-Verified", "signed_url")
		// GET carries no body: no key.
		assertNoHeader(t, got.Header, "X-Callback-Id")
	})

	t.Run("globiance payment event", func(t *testing.T) {
		body := `{"event":"refund success","checkoutId":"1234567890","storeId":"store123","type":"payment","payload":{"payment":{"paymentId":"payment123","timestamp":"2023-05-30T12:34:56Z"}}}`
		sent := time.Now()
		a := do(t, newRequest(t, "POST", base+"/globiance?token=globiance-secret", "application/json", body))
		if a.status != 200 {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
		got := g.only(t)
		if got.RequestURI != "/globiance" {
			t.Errorf("upstream URI %q: the query secret must be gone", got.RequestURI)
		}
		assertHeader(t, got.Header, "X-Callback-Provider", "globiance")
		assertHeader(t, got.Header, "X-Callback-Event", "payment.refund success")
		assertNoHeader(t, got.Header, "X-Callback-Outcome")
		assertHeader(t, got.Header, "X-Callback-Id", "payment:refund success:1234567890:payment123:2023-05-30T12:34:56Z")
		assertDeadline(t, got.Header, sent, 10*time.Second)
	})

	t.Run("globiance checkout outcomes", func(t *testing.T) {
		for event, outcome := range map[string]string{"completed": "success", "cancelled": "failure", "expired": "failure"} {
			body := `{"event":"` + event + `","checkoutId":"c9","storeId":"s","type":"checkout","payload":{"checkoutId":"c9"}}`
			a := do(t, newRequest(t, "POST", base+"/globiance?token=globiance-secret", "application/json", body))
			if a.status != 200 {
				t.Fatalf("answer %d %q", a.status, a.body)
			}
			got := g.only(t)
			assertHeader(t, got.Header, "X-Callback-Event", "checkout."+event)
			assertHeader(t, got.Header, "X-Callback-Outcome", outcome)
			assertHeader(t, got.Header, "X-Callback-Id", "checkout:"+event+":c9::")
		}
		body := `{"event":"settled","checkoutId":"c9","type":"payment","payload":{"payment":{"paymentId":"p1","timestamp":"t"}}}`
		do(t, newRequest(t, "POST", base+"/globiance?token=globiance-secret", "application/json", body))
		assertHeader(t, g.only(t).Header, "X-Callback-Outcome", "success")
	})

	t.Run("avarda static Authorization header", func(t *testing.T) {
		body := `{"purchaseId":"489ea341e23941089e6d0378c708512a"}`
		req := newRequest(t, "POST", base+"/avarda", "application/json", body)
		req.Header.Set("Authorization", "Bearer avarda-static-token")
		a := do(t, req)
		if a.status != 200 {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
		got := g.only(t)
		assertNoHeader(t, got.Header, "Authorization")
		assertHeader(t, got.Header, "X-Callback-Verified", "header_secret")
		assertHeader(t, got.Header, "X-Callback-Id", "489ea341e23941089e6d0378c708512a")
		assertHeader(t, got.Header, "X-Callback-Event", "purchase.completed")
		assertHeader(t, got.Header, "X-Callback-Outcome", "success")
		if string(got.Body) != body {
			t.Errorf("body %q", got.Body)
		}
	})

	payglocalClaims := func(status string, gid ...string) jwt.MapClaims {
		now := time.Now()
		id := "gl_0001"
		if len(gid) > 0 {
			id = gid[0]
		}
		return jwt.MapClaims{
			"gid": id, "x-gl-gid": id, "merchantUniqueId": "order-1", "status": status,
			"statusUrl": "https://api.example/status?x-gl-token=inner", "x-gl-merchantId": "m1",
			"iat": fmt.Sprint(now.UnixMilli()), "exp": 300000,
		}
	}
	pgHeader := func(kid string) map[string]any {
		return map[string]any{"kid": kid, "issued-by": "GlobalDemo", "is-digested": "false"}
	}

	t.Run("payglocal form token, claims in a header", func(t *testing.T) {
		for _, tc := range []struct{ status, outcome, kid string }{
			{"SENT_FOR_CAPTURE", "success", "k1"},
			{"AUTHORIZED", "pending", "k2"},
			{"ISSUER_DECLINE", "failure", "k1"},
		} {
			key := g.rsa
			if tc.kid == "k2" {
				key = g.rsaOther
			}
			tok := sign(t, jwt.SigningMethodRS256, key.priv, pgHeader(tc.kid), payglocalClaims(tc.status))
			body := "x-gl-token=" + url.QueryEscape(tok)
			a := do(t, newRequest(t, "POST", base+"/payglocal", "application/x-www-form-urlencoded", body))
			if a.status != 200 {
				t.Fatalf("%s: answer %d %q", tc.status, a.status, a.body)
			}
			got := g.only(t)
			if string(got.Body) != body {
				t.Errorf("body changed: %q", got.Body)
			}
			assertHeader(t, got.Header, "X-Callback-Verified", "jwt")
			assertHeader(t, got.Header, "X-Callback-Id", "gl_0001:"+tc.status)
			assertHeader(t, got.Header, "X-Callback-Event", tc.status)
			assertHeader(t, got.Header, "X-Callback-Outcome", tc.outcome)
			raw, err := base64.RawURLEncoding.DecodeString(got.Header.Get("X-Callback-Claims"))
			if err != nil {
				t.Fatalf("X-Callback-Claims is not unpadded base64url: %v", err)
			}
			var claims map[string]any
			if err := json.Unmarshal(raw, &claims); err != nil || claims["status"] != tc.status || claims["merchantUniqueId"] != "order-1" {
				t.Errorf("claims %s (%v)", raw, err)
			}
		}
	})

	t.Run("payglocal token as header and as JSON field", func(t *testing.T) {
		tok := sign(t, jwt.SigningMethodRS256, g.rsa.priv, pgHeader("k1"), payglocalClaims("SENT_FOR_CAPTURE", "gl_hdr"))
		req := newRequest(t, "POST", base+"/payglocal", "", "")
		req.Header.Set("x-gl-token", tok)
		if a := do(t, req); a.status != 200 {
			t.Fatalf("header: %d %q", a.status, a.body)
		}
		got := g.only(t)
		if got.Header.Get("X-Gl-Token") != tok {
			t.Error("a token taken from another header than Authorization stays")
		}
		tok = sign(t, jwt.SigningMethodRS256, g.rsa.priv, pgHeader("k1"), payglocalClaims("SENT_FOR_CAPTURE", "gl_json"))
		body := `{"x-gl-token":"` + tok + `"}`
		if a := do(t, newRequest(t, "POST", base+"/payglocal", "application/json", body)); a.status != 200 {
			t.Fatalf("json: %d %q", a.status, a.body)
		}
		assertHeader(t, g.only(t).Header, "X-Callback-Id", "gl_json:SENT_FOR_CAPTURE")
	})

	t.Run("payglocal forward_claims body", func(t *testing.T) {
		tok := sign(t, jwt.SigningMethodRS256, g.rsa.priv, pgHeader("k1"), payglocalClaims("SENT_FOR_CAPTURE", "gl_body"))
		a := do(t, newRequest(t, "POST", base+"/payglocal-body", "application/x-www-form-urlencoded", "x-gl-token="+tok))
		if a.status != 200 {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
		got := g.only(t)
		assertHeader(t, got.Header, "Content-Type", "application/json")
		var claims map[string]any
		if err := json.Unmarshal(got.Body, &claims); err != nil || claims["gid"] != "gl_body" {
			t.Fatalf("body %q is not the claims: %v", got.Body, err)
		}
		if got.ContentLength != int64(len(got.Body)) {
			t.Errorf("Content-Length %d for %d bytes", got.ContentLength, len(got.Body))
		}
	})

	t.Run("generic ES256 from Authorization, chunked body, fallback template", func(t *testing.T) {
		tok := sign(t, jwt.SigningMethodES256, g.ec.priv, map[string]any{"kid": "ec1"}, jwt.MapClaims{"iat": time.Now().Unix(), "sub": "x"})
		body := `{"no":"id field"}`
		req := newRequest(t, "PUT", base+"/generic/es256", "application/json", "")
		req.Body = readerOnly{strings.NewReader(body)}
		req.ContentLength = -1 // chunked
		req.Header.Set("Authorization", "bearer "+tok)
		req.Header.Set("X-Delivery-Id", "dlv-7")
		if a := do(t, req); a.status != 200 {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
		got := g.only(t)
		if string(got.Body) != body || got.ContentLength != int64(len(body)) {
			t.Errorf("chunked body forwarded as %q with Content-Length %d", got.Body, got.ContentLength)
		}
		assertNoHeader(t, got.Header, "Authorization")
		assertHeader(t, got.Header, "X-Callback-Id", "dlv-7")
	})

	t.Run("generic header_secret and HS512 token in the query: both kinds", func(t *testing.T) {
		tok := sign(t, jwt.SigningMethodHS512, []byte("hs-secret-two"), nil, jwt.MapClaims{"sub": "x"})
		req := newRequest(t, "POST", base+"/generic/hs?token="+tok, "text/plain", "hello")
		req.Header.Set("X-Shop-Secret", "shop-secret")
		if a := do(t, req); a.status != 200 {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
		got := g.only(t)
		assertHeader(t, got.Header, "X-Callback-Verified", "header_secret,jwt")
		assertNoHeader(t, got.Header, "X-Shop-Secret")
		if !strings.Contains(got.RequestURI, "token=") {
			t.Error("a token taken from the query stays where it was")
		}
		assertNoHeader(t, got.Header, "X-Callback-Id") // generic: dedupe off
	})
}

// readerOnly hides the concrete reader type so the client sends chunked.
type readerOnly struct{ r *strings.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r readerOnly) Close() error               { return nil }
