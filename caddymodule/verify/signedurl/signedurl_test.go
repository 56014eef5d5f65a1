package signedurl

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := mustNew(t, "sig", testSecret)
			in := &verify.Input{Request: &http.Request{RequestURI: tc.target}, Scheme: tc.scheme, Host: tc.host}
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

// Raw non-ASCII bytes on the request line are read as UTF-8, invalid
// sequences becoming U+FFFD as the WHATWG decoder does (one per maximal
// invalid subpart, not one per byte).
func TestCanonicalRawBytes(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{"/caf\xc3\xa9?q=\xc3\xa9", "http://a/caf%C3%A9?q=%C3%A9"},
		{"/\xe2\x82A", "http://a/%EF%BF%BDA"},
		{"/\xff\xfe", "http://a/%EF%BF%BD%EF%BF%BD"},
		{"/\xf0\x9f\x98", "http://a/%EF%BF%BD"},
		{"/\xed\xa0\x80", "http://a/%EF%BF%BD%EF%BF%BD%EF%BF%BD"},
		{"/a\tb\nc\rd?e\t=f", "http://a/abcd?e=f"},
		{"/a ?b= \x01 ", "http://a/a%20?b="},
		{"/a \x01", "http://a/a"},
		{"", "http://a/"},
		{"*", "http://a/*"},
		{"?x", "http://a/?x="},
		{"/p#frag?x=1", "http://a/p"},
	} {
		got, _, _ := Canonical("http", "a", tc.target, "sig")
		if got != tc.want {
			t.Errorf("Canonical(%q) = %q, want %q", tc.target, got, tc.want)
		}
	}
}

func TestCanonicalURLErrors(t *testing.T) {
	for _, u := range []string{
		"", "/relative", "shop.example.com/x", "mailto:x@example.com", "file:///etc/passwd", "data:,x",
		"https://user:pw@shop.example.com/x", "https://@shop.example.com/x", "https:///", "https://bücher.example/",
		"https://shop.example.com:99999/", "https://shop.example.com:8o/", "https://[::1/", "https://256.1/",
	} {
		if c, _, _, err := CanonicalURL(u, "sig"); err == nil {
			t.Errorf("CanonicalURL(%q) = %q, want an error", u, c)
		}
	}
	// A fragment never reaches the server, so it is not part of the string.
	c, sig, found, err := CanonicalURL("  https://A.example:443/x?b=1&sig=ab&a=2#sig=cd  ", "sig")
	if c != "https://a.example/x?a=2&b=1" || sig != "ab" || !found || err != nil {
		t.Errorf("CanonicalURL with fragment = %q, %q, %v, %v", c, sig, found, err)
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
			got := compareUTF16([]byte(sorted[i]), []byte(sorted[j]))
			if (got < 0) != (i < j) || (got == 0) != (i == j) {
				t.Errorf("compareUTF16(%q, %q) = %d", sorted[i], sorted[j], got)
			}
		}
	}
}

// The merge sort used for long queries is stable and agrees with the
// insertion sort used for short ones.
func TestSortLong(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	names := []string{"a", "b", "B", "é", "😀", "\ue000", "ab", ""}
	for round := 0; round < 200; round++ {
		var q []string
		for i := r.IntN(100); i >= 0; i-- {
			q = append(q, url.QueryEscape(names[r.IntN(len(names))])+"="+fmt.Sprint(i))
		}
		s := new(state)
		s.parseQuery(strings.Join(q, "&"), "sig")
		want := slices.Clone(s.tuples)
		slices.SortStableFunc(want, func(a, b tuple) int {
			return compareUTF16(s.scratch[a.n0:a.n1], s.scratch[b.n0:b.n1])
		})
		s.sortTuples()
		if !slices.Equal(s.tuples, want) {
			t.Fatalf("sort of %v differs", q)
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
				err := v.Verify(in, nil)
				if (err == nil) != (want == "") {
					t.Errorf("%s: %v, want %q", path, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
