package caddymodule_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify/signedurl"
	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// sendRaw writes one HTTP/1.1 request line and Host header as given, byte
// for byte (Go's client would normalize some targets), and reads the
// answer.
func sendRaw(t *testing.T, base, host, target string) answer {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %q: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// A buyer holds the signed confirmation URL of their own order. Moving it
// onto another path with dot segments or backslashes, which the URL parser
// resolves before signing but the backend receives as written, is rejected
// and reaches no backend; so is a fragment appended after the signature.
// The genuine URL is forwarded with its target unchanged.
func TestSignedURLPathAttacks(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	c := testcaddy.Start(t, fmt.Sprintf(`{
	admin @ADMIN@
}
:@HTTP@ {
	handle /glopal/confirmation/* {
		callback_guard glopal {
			signed_url sig glopal-hmac-secret
		}
		reverse_proxy %s
	}
}
`, up.Addr()))
	host := strings.TrimPrefix(c.URL, "http://")
	signed, err := signedurl.Sign(c.URL+"/glopal/confirmation/DE/ORD-1001?lang=de-DE", "sig", []byte("glopal-hmac-secret"))
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(signed, c.URL) // /glopal/confirmation/DE/ORD-1001?lang=de-DE&sig=…
	query := target[strings.IndexByte(target, '?'):]
	moved := func(path string) string { return "/glopal/confirmation/DE/" + path + query }

	for _, tc := range []struct{ name, target string }{
		{"%2e%2e", moved("ORD-6666/%2e%2e/ORD-1001")},
		{"..", moved("ORD-6666/../ORD-1001")},
		{"%2E%2e", moved("ORD-6666/%2E%2e/ORD-1001")},
		{".%2E", moved("ORD-6666/.%2E/ORD-1001")},
		{"%2e.", moved("ORD-6666/%2e./ORD-1001")},
		{"%2e", moved("%2e/ORD-1001")},
		{".", moved("./ORD-1001")},
		{"backslash", moved(`ORD-6666\..\ORD-1001`)},
		{"%5c", moved("ORD-6666%5c..%5cORD-1001")},
		{"%5C", moved("ORD-6666%5C%2e%2e%5CORD-1001")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := sendRaw(t, c.URL, host, tc.target)
			if a.status != 401 {
				t.Fatalf("%s: %d %q, want 401", tc.target, a.status, a.body)
			}
			if r := errorReason(t, a); r != "invalid_signature" {
				t.Errorf("%s: reason %q, want invalid_signature", tc.target, r)
			}
			if n := up.Count(); n != 0 {
				t.Fatalf("%s reached the upstream: %+v", tc.target, up.Received())
			}
		})
	}

	// A signature over the part before '#' never passes: the handler
	// refuses such a target (400 bad_request_target), and the verifier
	// would on its own (401 invalid_signature).
	for _, tgt := range []string{target + "#&amount=0.01&status=paid", strings.Replace(target, "&sig=", "#&sig=", 1)} {
		a := sendRaw(t, c.URL, host, tgt)
		if a.status != 400 && a.status != 401 {
			t.Errorf("%s: %d %q, want it rejected", tgt, a.status, a.body)
		}
		if n := up.Count(); n != 0 {
			t.Fatalf("%s reached the upstream: %+v", tgt, up.Received())
		}
	}

	a := sendRaw(t, c.URL, host, target)
	if a.status != 200 {
		t.Fatalf("the genuine signed URL: %d %q", a.status, a.body)
	}
	got := up.Received()
	if len(got) != 1 || got[0].RequestURI != target {
		t.Fatalf("upstream received %+v, want exactly %q", got, target)
	}
	assertHeader(t, got[0].Header, "X-Callback-Verified", "signed_url")
}
