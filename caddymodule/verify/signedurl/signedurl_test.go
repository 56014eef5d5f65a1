package signedurl

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

const testSecret = "unit-test-secret"

func hmacHex(secret, s string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

func mustNew(t testing.TB, param, secret string) *Verifier {
	t.Helper()
	v, err := New(param, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		param, secret string
		ok            bool
	}{
		{"sig", "Zq9-secret", true},
		{"", "Zq9-secret", false},
		{"sig", "", false},
		{"s\xffg", "Zq9-secret", false},
	} {
		v, err := New(tc.param, []byte(tc.secret))
		if (err == nil) != tc.ok {
			t.Errorf("New(%q, %q): %v", tc.param, tc.secret, err)
			continue
		}
		if err != nil {
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q reveals the secret", err)
			}
			continue
		}
		if v.Kind() != "signed_url" || v.Param() != tc.param {
			t.Errorf("Kind, Param = %q, %q", v.Kind(), v.Param())
		}
	}
}

// The secret is copied: changing the caller's slice afterwards changes
// nothing.
func TestNewCopiesSecret(t *testing.T) {
	key := []byte(testSecret)
	v := mustNew(t, "sig", string(key))
	key[0] = 'X'
	u := "/p?a=1&sig=" + hmacHex(testSecret, "https://a.example/p?a=1")
	in := &verify.Input{Request: &http.Request{RequestURI: u}, Scheme: "https", Host: "a.example"}
	wantReason(t, "after mutating the key", v.Verify(in, &verify.Output{}), "")
}

// TestVerify walks through what a provider sees for requests to
// https://shop.example.com signed with testSecret.
func TestVerify(t *testing.T) {
	sign := func(canonical string) string { return hmacHex(testSecret, canonical) }
	good := sign("https://shop.example.com/DE/ORD-1?currency=EUR&lang=de-DE")
	for _, tc := range []struct {
		name, scheme, host, target string
		want                       verify.Reason
	}{
		{"glopal", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good, ""},
		{"order of parameters is irrelevant", "https", "shop.example.com", "/DE/ORD-1?sig=" + good + "&currency=EUR&lang=de-DE", ""},
		{"host case and default port", "HTTPS", "SHOP.example.com:443", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good, ""},
		{"upper-case hex", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + strings.ToUpper(good), ""},
		{"encoded parameter name", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&s%69g=" + good, ""},
		{"first occurrence wins", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&sig=" + good + "&currency=EUR&sig=00", ""},
		{"first occurrence is junk", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&sig=00&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
		{"first occurrence is empty", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&sig=&currency=EUR&sig=" + good, verify.ReasonMissingSignature},
		{"no query", "https", "shop.example.com", "/DE/ORD-1", verify.ReasonMissingSignature},
		{"name without value", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&sig", verify.ReasonMissingSignature},
		{"other name", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&SIG=" + good, verify.ReasonMissingSignature},
		{"odd length", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good[:63], verify.ReasonInvalidSignature},
		{"not hex", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + strings.Repeat("g", 64), verify.ReasonInvalidSignature},
		{"too long", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good + "00", verify.ReasonInvalidSignature},
		{"http instead of https", "http", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
		{"other host", "https", "evil.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
		{"explicit other port", "https", "shop.example.com:8443", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
		{"path case", "https", "shop.example.com", "/de/ORD-1?lang=de-DE&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
		{"value changed", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=USD&sig=" + good, verify.ReasonInvalidSignature},
		{"parameter added", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&paid=1&sig=" + good, verify.ReasonInvalidSignature},
		{"parameter repeated", "https", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
		{"invalid port", "https", "shop.example.com:99999", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
		{"invalid host", "https", "shop example", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
		{"no host", "https", "", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
		{"unknown scheme", "gopher", "shop.example.com", "/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
		{"absolute-form target", "https", "shop.example.com", "https://ignored.example/DE/ORD-1?lang=de-DE&currency=EUR&sig=" + good, ""},
		{"absolute-form target with a dot segment", "https", "shop.example.com", "https://ignored.example/DE/x/../ORD-1?lang=de-DE&currency=EUR&sig=" + good, verify.ReasonInvalidSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := mustNew(t, "sig", testSecret)
			in := &verify.Input{Request: serverRequest(t, tc.target), Scheme: tc.scheme, Host: tc.host}
			err := v.Verify(in, &verify.Output{})
			wantReason(t, tc.target, err, tc.want)
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("failure %q reveals the secret", err)
			}
		})
	}
}

// Without a request line (a request built in a test or by a handler) the
// parsed URL stands in for it.
func TestVerifyFallsBackToURL(t *testing.T) {
	v := mustNew(t, "sig", testSecret)
	sig := hmacHex(testSecret, "https://shop.example.com/a%20b?x=%7E")
	r, err := http.NewRequest(http.MethodGet, "https://shop.example.com/a%20b?x=~&sig="+sig, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := &verify.Input{Request: r, Scheme: "https", Host: r.Host}
	wantReason(t, "from URL", v.Verify(in, &verify.Output{}), "")
}

// serverRequest is the request Go's HTTP server makes of a request line
// with this target.
func serverRequest(t *testing.T, target string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: shop.example.com\r\n\r\n")))
	if err != nil {
		t.Fatalf("%q: %v", target, err)
	}
	return r
}

// TestVerifyRejectsRewrittenTargets: a target that the URL parser would
// change in meaning before signing (dot segments, backslashes, a fragment,
// tabs, invalid UTF-8) is rejected even with the signature of what the
// parser makes of it, because the backend receives it as written. Each
// signature here is the valid one for the target's canonical form, the one
// a buyer holds for another order.
func TestVerifyRejectsRewrittenTargets(t *testing.T) {
	v := mustNew(t, "sig", testSecret)
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"/DE/ORD-6666/%2e%2e/ORD-1001?lang=de", false},
		{"/DE/ORD-6666/../ORD-1001?lang=de", false},
		{"/DE/ORD-6666/%2E%2e/ORD-1001?lang=de", false},
		{"/DE/ORD-6666/.%2E/ORD-1001?lang=de", false},
		{"/DE/ORD-6666/%2e./ORD-1001?lang=de", false},
		{"/DE/ORD-6666/..", false},
		{"/DE/./ORD-1001?lang=de", false},
		{"/DE/%2e/ORD-1001?lang=de", false},
		{"/DE/%2E/ORD-1001", false},
		{"/DE/ORD-1001/.", false},
		{"/DE\\ORD-1001?lang=de", false},
		{"/DE/ORD-6666\\..\\ORD-1001", false},
		{"/DE%5cORD-1001", false},
		{"/DE%5CORD-1001", false},
		{"/DE/ORD-\t1001", false},
		{"/DE/ORD-1001?lang=de\n", false},
		{"/DE/ORD-1001?lang=de ", false},
		{"/DE/caf\xe9", false},
		{"/DE/ORD-1001?a=%FF&b=\xff", false},
		// Not dot segments, nor backslashes: accepted.
		{"/DE/.../ORD-1001?lang=de", true},
		{"/DE/.%2e./ORD-1001", true},
		{"/DE/%2e%2e%2e/ORD-1001", true},
		{"/DE/%2e%2f/ORD-1001", true},
		{"/DE/ORD-1001./x.?q=..&r=%2e%2e", true},
		{"/DE/a%5/b", true},
		{"/DE/ORD-1001?back=\\&slash=%5C", true},
	} {
		canonical, _, _, err := canonicalRequest("https", "shop.example.com", tc.target, "sig")
		if err != nil {
			t.Fatalf("%q: %v", tc.target, err)
		}
		sep := "?"
		if strings.Contains(tc.target, "?") {
			sep = "&"
		}
		in := &verify.Input{
			Request: &http.Request{RequestURI: tc.target + sep + "sig=" + hmacHex(testSecret, canonical)},
			Scheme:  "https", Host: "shop.example.com",
		}
		want := verify.ReasonInvalidSignature
		if tc.ok {
			want = ""
		}
		wantReason(t, in.Request.RequestURI, v.Verify(in, &verify.Output{}), want)
	}
}

// A fragment never reaches the backend through a browser, but a client can
// send '#' on the request line and the backend may read what follows. A
// signature over the part before '#' must not pass.
func TestVerifyRejectsFragment(t *testing.T) {
	v := mustNew(t, "sig", testSecret)
	signed, err := Sign("https://shop.example.com/DE/ORD-1?lang=de-DE", "sig", []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	_, _, target := splitURL(t, signed)
	for _, tgt := range []string{
		target + "#&amount=0.01&status=paid",
		target + "#",
		strings.Replace(target, "&sig=", "#&sig=", 1),
	} {
		in := &verify.Input{Request: &http.Request{RequestURI: tgt}, Scheme: "https", Host: "shop.example.com"}
		wantReason(t, tgt, v.Verify(in, &verify.Output{}), verify.ReasonInvalidSignature)
	}
	in := &verify.Input{Request: &http.Request{RequestURI: target}, Scheme: "https", Host: "shop.example.com"}
	wantReason(t, target, v.Verify(in, &verify.Output{}), "")
}

// canonicalRequest on what is not a plain request: raw non-ASCII, control
// characters and the URL parser's clean-up of tabs and trailing white
// space, invalid UTF-8 after percent-decoding in the query (one U+FFFD per
// maximal invalid subpart, as the WHATWG decoder does), and targets that
// are not a path.
func TestCanonicalRequestOddTargets(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{"/caf\xc3\xa9?q=\xc3\xa9", "http://a/caf%C3%A9?q=%C3%A9"},
		{"/p?q=%E2%82A&r=%FF%FE&s=%ED%A0%80", "http://a/p?q=%EF%BF%BDA&r=%EF%BF%BD%EF%BF%BD&s=%EF%BF%BD%EF%BF%BD%EF%BF%BD"},
		{"/a\tb\nc\rd?e\t=f", "http://a/abcd?e=f"},
		{"/a ?b= \x01 ", "http://a/a%20?b="},
		{"/a \x01", "http://a/a"},
		{"/a\x01b", "http://a/a%01b"},
		{"", "http://a/"},
		{"?x", "http://a/?x="},
		{"/p#frag?x=1", "http://a/p"},
	} {
		got, _, _, err := canonicalRequest("http", "a", tc.target, "sig")
		if err != nil || got != tc.want {
			t.Errorf("canonicalRequest(%q) = %q, %v, want %q", tc.target, got, err, tc.want)
		}
	}
	for _, target := range []string{"*", "a/b", "@evil/x"} {
		if got, _, _, err := canonicalRequest("http", "a", target, "sig"); err == nil {
			t.Errorf("canonicalRequest(%q) = %q, want an error", target, got)
		}
	}
}

func TestCanonicalURLErrors(t *testing.T) {
	for _, u := range []string{
		"", "/relative", "shop.example.com/x", "mailto:x@example.com", "file:///etc/passwd", "data:,x",
		"https://user:pw@shop.example.com/x", "https://@shop.example.com/x", "https:///", "https:///x",
		"https://shop.example.com:99999/", "https://shop.example.com:8o/", "https://[::1/", "https://256.1/",
		"gopher://shop.example.com/x",
	} {
		if c, _, _, _, err := canonicalURL(u, "sig"); err == nil {
			t.Errorf("canonicalURL(%q) = %q, want an error", u, c)
		}
	}
	// A fragment never reaches the server, so it is not part of the string.
	c, sig, found, target, err := canonicalURL("  https://A.example:443/x?b=1&sig=ab&a=2#sig=cd  ", "sig")
	if c != "https://a.example/x?a=2&b=1" || sig != "ab" || !found || target != "/x?b=1&sig=ab&a=2" || err != nil {
		t.Errorf("canonicalURL with fragment = %q, %q, %v, %q, %v", c, sig, found, target, err)
	}
}

func TestSign(t *testing.T) {
	v := mustNew(t, "sig", testSecret)
	for _, tc := range []struct{ in, want string }{
		{"https://shop.example.com/DE/ORD-1?lang=de-DE&currency=EUR", "https://shop.example.com/DE/ORD-1?lang=de-DE&currency=EUR&sig="},
		{"https://shop.example.com", "https://shop.example.com?sig="},
		{"https://shop.example.com/p?", "https://shop.example.com/p?sig="},
		{"https://shop.example.com/p?a=1&", "https://shop.example.com/p?a=1&sig="},
		{"https://shop.example.com/p?a=?", "https://shop.example.com/p?a=?&sig="},
		{" https://shop.example.com/p?a=1 ", "https://shop.example.com/p?a=1&sig="},
		{"https://shop.example.com/p?a=1#top", "https://shop.example.com/p?a=1&sig="},
	} {
		signed, err := Sign(tc.in, "sig", []byte(testSecret))
		if err != nil {
			t.Errorf("Sign(%q): %v", tc.in, err)
			continue
		}
		if !strings.HasPrefix(signed, tc.want) {
			t.Errorf("Sign(%q) = %q, want %q + hex", tc.in, signed, tc.want)
		}
		if strings.Contains(tc.in, "#") && !strings.HasSuffix(signed, "#top") {
			t.Errorf("Sign(%q) = %q lost the fragment", tc.in, signed)
		}
		// What the client sends: everything before the fragment.
		sent, _, _ := strings.Cut(signed, "#")
		wantReason(t, "round trip "+signed, v.Verify(request(t, sent), &verify.Output{}), "")
	}
	for _, bad := range []struct{ u, param, secret string }{
		{"https://shop.example.com/p?sig=1", "sig", testSecret},
		{"https://shop.example.com/p?s%69g", "sig", testSecret},
		{"https://shop.example.com/p", "sig", ""},
		{"https://shop.example.com/p", "", testSecret},
		{"https://user@shop.example.com/p", "sig", testSecret},
		{"not a url", "sig", testSecret},
		{"https://shop.example.com/DE/x/../ORD-1", "sig", testSecret},
		{"https://shop.example.com/DE/x/%2E%2e/ORD-1", "sig", testSecret},
		{"https://shop.example.com/DE\\ORD-1", "sig", testSecret},
		{"https://shop.example.com/DE%5cORD-1", "sig", testSecret},
	} {
		if got, err := Sign(bad.u, bad.param, []byte(bad.secret)); err == nil {
			t.Errorf("Sign(%q, %q) = %q, want an error", bad.u, bad.param, got)
		} else if bad.secret != "" && strings.Contains(err.Error(), bad.secret) {
			t.Errorf("error %q reveals the secret", err)
		}
	}
}

// Sign, then Verify, over the random differential URLs: whatever Sign
// accepts verifies, and fails once the secret differs.
func TestSignVerifyRoundTrip(t *testing.T) {
	v := mustNew(t, "sig", testSecret)
	other := mustNew(t, "sig", testSecret+"2")
	n := 0
	for _, c := range randomCases(2000) {
		signed, err := Sign(c.scheme+"://"+c.host+c.target, "sig", []byte(testSecret))
		if err != nil {
			continue
		}
		n++
		in := request(t, signed)
		wantReason(t, signed, v.Verify(in, &verify.Output{}), "")
		wantReason(t, signed, other.Verify(in, &verify.Output{}), verify.ReasonInvalidSignature)
	}
	if n < 300 {
		t.Fatalf("only %d URLs signed", n)
	}
}

func TestCompareUTF16(t *testing.T) {
	// Sorted in JavaScript's order (UTF-16 code units).
	sorted := []string{"", "A", "B", "_", "a", "ab", "b", "é", "\u4e00", "\ud7ff", "😀", "😀a", "😁", "\U0010FFFF", "\ue000", "ａ", "\uffff"}
	for i := range sorted {
		for j := range sorted {
			got := compareUTF16(sorted[i], sorted[j])
			if (got < 0) != (i < j) || (got == 0) != (i == j) {
				t.Errorf("compareUTF16(%q, %q) = %d", sorted[i], sorted[j], got)
			}
		}
	}
}

// One verifier, many goroutines, mixed outcomes: run with -race.
func TestVerifyConcurrent(t *testing.T) {
	v := mustNew(t, "sig", testSecret)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				path := fmt.Sprintf("/order/%d-%d", g, i)
				sig := hmacHex(testSecret, "https://shop.example.com"+path+"?n="+fmt.Sprint(i))
				want := verify.Reason("")
				if i%3 == 0 {
					flipped := "0"
					if sig[63] == '0' {
						flipped = "1"
					}
					sig = sig[:63] + flipped
					want = verify.ReasonInvalidSignature
				}
				in := &verify.Input{Request: &http.Request{RequestURI: path + "?sig=" + sig + "&n=" + fmt.Sprint(i)}, Scheme: "https", Host: "shop.example.com"}
				err := v.Verify(in, &verify.Output{})
				if (err == nil) != (want == "") {
					t.Errorf("%s: %v, want %q", path, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
