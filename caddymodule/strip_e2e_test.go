package caddymodule_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// callbackHeaders returns the headers an upstream received whose name,
// read as PHP and CGI read it (any case, '_' and '.' for '-'), is an
// X-Callback-* header.
func callbackHeaders(h http.Header) map[string][]string {
	found := map[string][]string{}
	for name, v := range h {
		n := strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
		if strings.HasPrefix(n, "x-callback-") {
			found[name] = v
		}
	}
	return found
}

// A site that proxies other paths to the same backend passes a client's
// X-Callback-* headers there, where the backend might trust them. The
// README's site-wide `request_header -*callback*` deletes them in every
// spelling on every route, before any handler runs, and leaves the
// guard's own headers, which the guard sets afterwards. Caddy drops
// header names with '_' or '.' unless they are allowed, as here, with
// expected_underscore_headers and expected_dot_headers (for a PHP
// backend that wants X_Callback_Verified, say): the line covers them too.
func TestSiteWideStripOfCallbackHeaders(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	c := testcaddy.Start(t, fmt.Sprintf(`{
	admin @ADMIN@
	servers {
		expected_underscore_headers X_Callback_Verified
		expected_dot_headers x.callback.provider
	}
}
http://strip.test:@HTTP@ {
	request_header -*callback*
	handle /webhook {
		callback_guard generic {
			header_secret X-Shop-Secret shop-secret
		}
		reverse_proxy %[1]s
	}
	handle {
		reverse_proxy %[1]s
	}
}
http://nostrip.test:@HTTP@ {
	reverse_proxy %[1]s
}
`, up.Addr()))
	forged := func(host, path string) *http.Request {
		r := newRequest(t, "POST", c.URL+path, "application/json", `{"id":"1"}`)
		r.Host = host
		r.Header.Set("X-Other", "kept")
		r.Header.Set("X-Callback-Verified", "header_secret")
		r.Header.Set("X-CALLBACK-OUTCOME", "success")
		r.Header["X_Callback_Verified"] = []string{"jwt"}    // as PHP's $_SERVER reads it
		r.Header["x.callback.provider"] = []string{"forged"} // Go keeps non-canonical keys as written
		r.Header["X-Callback_Claims"] = []string{"e30"}      // one CGI name, two spellings
		return r
	}

	t.Run("another route", func(t *testing.T) {
		up.Reset()
		if a := do(t, forged("strip.test", "/orders/1001/paid")); a.status != 200 {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
		got := up.Received()
		if len(got) != 1 {
			t.Fatalf("upstream received %d requests", len(got))
		}
		if h := callbackHeaders(got[0].Header); len(h) != 0 {
			t.Errorf("forged headers reached the backend: %v", h)
		}
		assertHeader(t, got[0].Header, "X-Other", "kept")
	})

	t.Run("the guarded route keeps the guard's headers", func(t *testing.T) {
		up.Reset()
		r := forged("strip.test", "/webhook")
		r.Header.Set("X-Shop-Secret", "shop-secret")
		if a := do(t, r); a.status != 200 {
			t.Fatalf("answer %d %q", a.status, a.body)
		}
		got := up.Received()
		if len(got) != 1 {
			t.Fatalf("upstream received %d requests", len(got))
		}
		for name, v := range callbackHeaders(got[0].Header) {
			if !strings.HasPrefix(name, "X-Callback-") || len(v) != 1 {
				t.Errorf("backend got %s: %q", name, v)
			}
		}
		assertHeader(t, got[0].Header, "X-Callback-Verified", "header_secret")
		assertHeader(t, got[0].Header, "X-Callback-Provider", "generic")
		assertNoHeader(t, got[0].Header, "X-Callback-Outcome")
		assertNoHeader(t, got[0].Header, "X-Callback-Claims")
	})

	// Without the line, Caddy passes them on: the line is what protects.
	t.Run("a site without it", func(t *testing.T) {
		up.Reset()
		do(t, forged("nostrip.test", "/orders/1001/paid"))
		got := up.Received()
		if len(got) != 1 {
			t.Fatalf("upstream received %d requests", len(got))
		}
		h := callbackHeaders(got[0].Header)
		if h["X_callback_verified"] == nil || h["X.callback.provider"] == nil || h["X-Callback-Outcome"] == nil {
			t.Fatalf("without request_header the backend got %v; the test no longer shows what the line prevents", h)
		}
	})
}
