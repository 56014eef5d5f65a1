package caddymodule_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/callbackguard/callbackguard/caddymodule/verify/signedurl"
	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// trusted is one running Caddy whose routes are the security review's
// targets, in front of a recording upstream that answers with the route it
// was reached on.
type trusted struct {
	caddy *testcaddy.Instance
	up    *testcaddy.Upstream
	key   *keyPair // the PayGlocal key, kid k1
}

func startTrusted(t *testing.T) *trusted {
	t.Helper()
	tr := &trusted{up: testcaddy.NewUpstream(t), key: newRSAKey(t, t.TempDir(), "k1_payglocal_mid.pem")}
	tr.up.Respond = func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "answered on %s", r.URL.Path)
	}
	// The allowlists let `_` and `.` spellings through, as a site whose
	// backend expects such headers configures them.
	tr.caddy = testcaddy.Start(t, fmt.Sprintf(`{
	admin @ADMIN@
	servers {
		expected_underscore_headers x_callback_*
		expected_dot_headers x.callback.*
	}
}
:@HTTP@ {
	handle /payglocal {
		callback_guard payglocal {
			jwt {
				key k1 %[2]s
			}
			forward_claims header
		}
		reverse_proxy %[1]s
	}
	handle /avarda/a {
		callback_guard avarda {
			header_secret Authorization "Bearer tenant-a"
		}
		reverse_proxy %[1]s
	}
	handle /avarda/b {
		callback_guard avarda {
			header_secret Authorization "Bearer tenant-b"
		}
		reverse_proxy %[1]s
	}
	handle /glopal/cb {
		callback_guard glopal {
			basic_auth glopal s3cret
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
	handle /generic {
		callback_guard generic {
			header_secret X-Secret s3cret
			dedupe {json.id}
		}
		reverse_proxy %[1]s
	}
}
`, tr.up.Addr(), tr.key.pubFile))
	return tr
}

// only returns the single request the upstream received, and forgets it.
func (tr *trusted) only(t *testing.T) testcaddy.Received {
	t.Helper()
	got := tr.up.Received()
	if len(got) != 1 {
		t.Fatalf("upstream received %d requests, want 1", len(got))
	}
	tr.up.Reset()
	return got[0]
}

func (tr *trusted) avarda(t *testing.T, tenant, body string) *http.Request {
	req := newRequest(t, "POST", tr.caddy.URL+"/avarda/"+tenant, "application/json", body)
	req.Header.Set("Authorization", "Bearer tenant-"+tenant)
	return req
}

func (tr *trusted) payglocalToken(t *testing.T, gid string) string {
	return sign(t, jwt.SigningMethodRS256, tr.key.priv, map[string]any{"kid": "k1"}, jwt.MapClaims{
		"gid": gid, "status": "SENT_FOR_CAPTURE", "iat": fmt.Sprint(time.Now().UnixMilli()), "exp": 300000,
	})
}

// rawRequest sends text as it is (Go's client would drop a fragment or
// send the whole body), with "Host: x" made the instance's, and reads the
// answer, within 3s.
func rawRequest(t *testing.T, base, text string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	text = strings.Replace(text, "\r\nHost: x\r\n", "\r\nHost: "+strings.TrimPrefix(base, "http://")+"\r\n", 1)
	if _, err := conn.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer within 3s: %v", err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}

// Issue 10.1: a Connection header naming the guard's headers, or a header
// it checked, does not make reverse_proxy drop them.
func TestConnectionCannotDropTheGuardsHeaders(t *testing.T) {
	tr := startTrusted(t)
	tests := []struct {
		name       string
		connection string
		inHeader   bool // the token in an x-gl-token header, not the form
		want       []string
	}{
		{"the guard's headers", "close, X-Callback-Verified, X-Callback-Claims", false, []string{"X-Callback-Verified", "X-Callback-Claims"}},
		{"other spellings", "x_callback_verified, X.CALLBACK.CLAIMS, X-Callback-Provider", false, []string{"X-Callback-Verified", "X-Callback-Claims", "X-Callback-Provider"}},
		{"the token header the guard checked", "x-gl-token, X-Callback-Id", true, []string{"X-Gl-Token", "X-Callback-Id"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tr.payglocalToken(t, fmt.Sprint("gl_conn_", i))
			req := newRequest(t, "POST", tr.caddy.URL+"/payglocal", "application/x-www-form-urlencoded", "x-gl-token="+url.QueryEscape(tok))
			if tt.inHeader {
				req = newRequest(t, "POST", tr.caddy.URL+"/payglocal", "", "")
				req.Header.Set("X-Gl-Token", tok)
			}
			req.Header.Set("Connection", tt.connection)
			if a := do(t, req); a.status != 200 {
				t.Fatalf("answer %d %q", a.status, a.body)
			}
			got := tr.only(t)
			for _, name := range tt.want {
				if got.Header.Get(name) == "" {
					t.Errorf("the backend did not get %s (Connection: %s)", name, tt.connection)
				}
			}
			assertHeader(t, got.Header, "X-Callback-Verified", "jwt")
		})
	}
}

// Issue 10.3: a request target holding `#` is refused by every guard, and
// nothing reaches the backend.
func TestFragmentInTheTargetIsRefused(t *testing.T) {
	tr := startTrusted(t)
	signed, err := signedurl.Sign(tr.caddy.URL+"/glopal/confirmation/DE/ORD-1?lang=de-DE", "sig", []byte("glopal-hmac-secret"))
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(signed, tr.caddy.URL)
	if status, body := rawRequest(t, tr.caddy.URL, "GET "+target+" HTTP/1.1\r\nHost: x\r\n\r\n"); status != 200 {
		t.Fatalf("the signed URL itself: %d %q", status, body)
	}
	tr.up.Reset()
	for _, tc := range []struct{ name, target, header string }{
		{"after a signed URL's query", target + "#&amount=0.01&status=paid", ""},
		{"in the path", "/glopal/confirmation/DE/ORD-1#x?" + strings.SplitN(target, "?", 2)[1], ""},
		{"behind a query secret", "/globiance?token=globiance-secret#&status=paid", ""},
		{"behind basic_auth", "/glopal/cb?x=1#frag", "Authorization: Basic Z2xvcGFsOnMzY3JldA==\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawRequest(t, tr.caddy.URL, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\n"+tc.header+"\r\n")
			if status != 400 || body != `{"error":"bad_request_target"}` {
				t.Fatalf("%d %q, want 400 bad_request_target", status, body)
			}
			if n := tr.up.Count(); n != 0 {
				t.Fatalf("the backend got %d requests", n)
			}
		})
	}
}

// Issue 10.4: keys are scoped by the credential that verified the
// delivery: another tenant's secret, or a buyer's own signed URL, neither
// gets nor stores an answer that a delivery verified otherwise gets.
func TestDedupeKeysAreScopedByCredential(t *testing.T) {
	tr := startTrusted(t)
	body := `{"purchaseId":"p-shared"}`
	if a := do(t, tr.avarda(t, "a", body)); a.status != 200 || a.body != "answered on /avarda/a" {
		t.Fatalf("tenant a: %d %q", a.status, a.body)
	}
	b := do(t, tr.avarda(t, "b", body))
	if b.status != 200 || b.body != "answered on /avarda/b" || b.header.Get("X-Callback-Replayed") != "" {
		t.Fatalf("tenant b got %d %q replayed=%q: tenant a's answer", b.status, b.body, b.header.Get("X-Callback-Replayed"))
	}
	if again := do(t, tr.avarda(t, "a", body)); again.body != "answered on /avarda/a" || again.header.Get("X-Callback-Replayed") != "true" {
		t.Fatalf("tenant a's retry: %q replayed=%q", again.body, again.header.Get("X-Callback-Replayed"))
	}
	if n := tr.up.Count(); n != 2 {
		t.Fatalf("the backend got %d requests, want one per tenant", n)
	}
	tr.up.Reset()

	// A buyer posts a genuine callback's body to their own signed URL
	// first; the genuine delivery must still reach the backend.
	callback := `{"type":"CHECKOUT_PURCHASE","checkout_id":"c-42"}`
	signed, err := signedurl.Sign(tr.caddy.URL+"/glopal/confirmation/DE/ORD-1?lang=de-DE", "sig", []byte("glopal-hmac-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if a := do(t, newRequest(t, "POST", signed, "application/json", callback)); a.status != 200 {
		t.Fatalf("the buyer's POST: %d %q", a.status, a.body)
	}
	genuine := newRequest(t, "POST", tr.caddy.URL+"/glopal/cb", "application/json", callback)
	genuine.SetBasicAuth("glopal", "s3cret")
	a := do(t, genuine)
	if a.body != "answered on /glopal/cb" || a.header.Get("X-Callback-Replayed") != "" {
		t.Fatalf("the genuine delivery got %q replayed=%q: the buyer's stored answer", a.body, a.header.Get("X-Callback-Replayed"))
	}
	if n := tr.up.Count(); n != 2 {
		t.Fatalf("the backend got %d requests, want 2", n)
	}
	tr.up.Reset()

	// Every buyer's URL is signed with the one secret: another buyer's URL
	// with the same body neither gets nor stores the first buyer's answer.
	other, err := signedurl.Sign(tr.caddy.URL+"/glopal/confirmation/DE/ORD-2?lang=de-DE", "sig", []byte("glopal-hmac-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if a := do(t, newRequest(t, "POST", other, "application/json", callback)); a.header.Get("X-Callback-Replayed") != "" {
		t.Fatalf("another buyer's URL got the first buyer's answer %q", a.body)
	}
	if n := tr.up.Count(); n != 1 {
		t.Fatalf("the backend got %d requests, want 1", n)
	}
}

// Issue 10.5: header credentials are checked before the body is read: a
// request without them gets its 401 at once, however slowly it sends the
// body it declared.
func TestCredentialsAreCheckedBeforeTheBody(t *testing.T) {
	tr := startTrusted(t)
	for _, tc := range []struct{ name, header string }{
		{"no credentials", ""},
		{"a wrong secret", "Authorization: Bearer guess\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			status, body := rawRequest(t, tr.caddy.URL, "POST /avarda/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
				tc.header+"Content-Length: 60000\r\n\r\n{\"purchaseId\":")
			if status != 401 || time.Since(start) > 2*time.Second {
				t.Fatalf("%d %q after %s, want a 401 without waiting for the body", status, body, time.Since(start))
			}
		})
	}
	if n := tr.up.Count(); n != 0 {
		t.Fatalf("the backend got %d requests", n)
	}
}

// Issue 10.9: values taken from the request reach the backend as safe
// header values; a long key is sent as its hash; neither makes the
// forward fail.
func TestDerivedHeaderValuesAreSafe(t *testing.T) {
	tr := startTrusted(t)
	long := strings.Repeat("k", 300)
	tests := []struct {
		name, body, wantID string
	}{
		{"CR LF", `{"purchaseId":"x\r\nX-Callback-Verified: forged"}`, "x%0D%0AX-Callback-Verified: forged"},
		{"percent and non-ASCII", `{"purchaseId":"100% caf\u00e9"}`, "100%25 caf%C3%A9"},
		{"NUL and DEL", `{"purchaseId":"a\u0000b\u007f"}`, "a%00b%7F"},
		{"over 256 bytes", `{"purchaseId":"` + long + `"}`, "sha256:" + sha(long)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for attempt := range 2 {
				a := do(t, tr.avarda(t, "a", tt.body))
				if a.status != 200 {
					t.Fatalf("delivery %d: %d %q", attempt+1, a.status, a.body)
				}
				if attempt == 1 && a.header.Get("X-Callback-Replayed") != "true" {
					t.Fatal("the retry was not replayed")
				}
			}
			got := tr.only(t)
			assertHeader(t, got.Header, "X-Callback-Id", tt.wantID)
			assertHeader(t, got.Header, "X-Callback-Verified", "header_secret")
		})
	}
	t.Run("event", func(t *testing.T) {
		body := `{"event":"refund\r\n\u00e9","checkoutId":"c1","type":"payment","payload":{"payment":{"paymentId":"p1","timestamp":"t"}}}`
		if a := do(t, newRequest(t, "POST", tr.caddy.URL+"/globiance?token=globiance-secret", "application/json", body)); a.status != 200 {
			t.Fatalf("%d %q", a.status, a.body)
		}
		got := tr.only(t)
		assertHeader(t, got.Header, "X-Callback-Event", "payment.refund%0D%0A%C3%A9")
		assertHeader(t, got.Header, "X-Callback-Id", "payment:refund%0D%0A%C3%A9:c1:p1:t")
	})
}

// Issue 10.10: only the methods that are deduplicated carry a key and an
// attempt number.
func TestIdAndAttemptOnlyOnDeduplicatedMethods(t *testing.T) {
	tr := startTrusted(t)
	for _, m := range []string{"DELETE", "PURGE", "GET", "OPTIONS"} {
		req := newRequest(t, m, tr.caddy.URL+"/generic", "application/json", `{"id":"m-1"}`)
		req.Header.Set("X-Secret", "s3cret")
		if a := do(t, req); a.status != 200 {
			t.Fatalf("%s: %d %q", m, a.status, a.body)
		}
		got := tr.only(t)
		assertNoHeader(t, got.Header, "X-Callback-Id", "X-Callback-Attempt")
		assertHeader(t, got.Header, "X-Callback-Verified", "header_secret")
	}
	req := newRequest(t, "POST", tr.caddy.URL+"/generic", "application/json", `{"id":"m-1"}`)
	req.Header.Set("X-Secret", "s3cret")
	do(t, req)
	got := tr.only(t)
	assertHeader(t, got.Header, "X-Callback-Id", "m-1")
	assertHeader(t, got.Header, "X-Callback-Attempt", "1")
}

// Issue 10.11: `_` and `.` spellings of X-Callback-* in any case are
// stripped too, where Caddy's allowlists let them in: PHP maps them to the
// same $_SERVER key.
func TestForgedSpellingsAreStripped(t *testing.T) {
	tr := startTrusted(t)
	req := tr.avarda(t, "a", `{"purchaseId":"spell-1"}`)
	for _, name := range []string{"X_Callback_Verified", "x_callback_id", "X.Callback.Provider", "x.callback.event"} {
		req.Header[name] = []string{"forged"}
	}
	if a := do(t, req); a.status != 200 {
		t.Fatalf("%d %q", a.status, a.body)
	}
	got := tr.only(t)
	for name, values := range got.Header {
		for _, v := range values {
			if v == "forged" {
				t.Errorf("the backend got %s: %s", name, v)
			}
		}
	}
	assertHeader(t, got.Header, "X-Callback-Verified", "header_secret")
}
