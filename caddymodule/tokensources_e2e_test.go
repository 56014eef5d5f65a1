package caddymodule_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/golang-jwt/jwt/v5"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// The token's field name may occur once in the whole request, and the token
// is taken from the body only when the Content-Type, as PHP reads it, says
// form or JSON: through a real Caddy, a request that carries a second token
// (an unsigned one naming another order) anywhere a backend could read it
// is rejected and never forwarded; the accepted ones reach the backend with
// their body byte for byte and the verified claims in X-Callback-Claims,
// which payglocal sets by default.
func TestTokenSourcesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	up := testcaddy.NewUpstream(t)
	key := newRSAKey(t, dir, "k1_payglocal_mid.pem")
	inst := testcaddy.Start(t, fmt.Sprintf(`{
	admin @ADMIN@
}
:@HTTP@ {
	handle /payglocal {
		callback_guard payglocal {
			jwt {
				key k1 %[2]s
			}
		}
		reverse_proxy %[1]s
	}
	handle /mangled {
		callback_guard generic {
			jwt {
				from form gl_token
				key k1 %[2]s
			}
		}
		reverse_proxy %[1]s
	}
	handle /query {
		callback_guard generic {
			jwt {
				from query token
				key k1 %[2]s
			}
		}
		reverse_proxy %[1]s
	}
}
`, up.Addr(), key.pubFile))

	now := time.Now()
	token := func(m jwt.SigningMethod, key any, gid string) string {
		return sign(t, m, key, map[string]any{"kid": "k1"},
			jwt.MapClaims{"gid": gid, "status": "SENT_FOR_CAPTURE", "iat": fmt.Sprint(now.UnixMilli()), "exp": 300000})
	}
	// An unsigned token naming another order, which a backend reading the
	// request itself could act on.
	forged := token(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "gl_forged")
	const form, formPHP = "application/x-www-form-urlencoded", "application/x-www-form-urlencoded, text/plain"

	// In a delivery, {valid} stands for a valid token of its own (so that no
	// two deliveries share a dedupe key) and {forged} for the forged one.
	type delivery struct {
		path, contentType, body string
		header                  map[string]string
	}
	cases := []struct {
		name   string
		d      delivery
		reason string // "" when accepted
	}{
		{"PayGlocal's form post", delivery{"/payglocal", form, "x-gl-token={valid}", nil}, ""},
		{"a form PHP reads as one", delivery{"/payglocal", formPHP, "x-gl-token={valid}", nil}, ""},
		{"a JSON field", delivery{"/payglocal", "application/json", `{"x-gl-token":"{valid}"}`, nil}, ""},
		{"the header, no body", delivery{"/payglocal", "", "", map[string]string{"x-gl-token": "{valid}"}}, ""},
		// Caddy drops a header spelled with '_' (PHP's $_SERVER would read
		// it as x-gl-token) unless expected_underscore_headers keeps it.
		{"the header and its underscore spelling, which Caddy drops", delivery{"/payglocal", "", "", map[string]string{"x-gl-token": "{valid}", "X_Gl_Token": "{forged}"}}, ""},
		{"the query", delivery{"/query?token={valid}", "", "", nil}, ""},

		{"a JSON body whose text holds a forged form field", delivery{"/payglocal", "application/json",
			`{"x-gl-token":"{valid}","note":"&x-gl-token={forged}&"}`, nil}, "malformed_token"},
		{"the header and a forged form field under a form type PHP reads",
			delivery{"/payglocal", formPHP, "x-gl-token={forged}", map[string]string{"x-gl-token": "{valid}"}}, "malformed_token"},
		{"the header and a forged form field in a text/plain body",
			delivery{"/payglocal", "text/plain", "x-gl-token={forged}", map[string]string{"x-gl-token": "{valid}"}}, "malformed_token"},
		{"the header and a forged multipart part, which PHP puts in $_POST", delivery{"/payglocal", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"x-gl-token\"\r\n\r\n{forged}\r\n--b--\r\n", map[string]string{"x-gl-token": "{valid}"}}, "malformed_token"},
		{"a form field and a forged one", delivery{"/payglocal", form, "x-gl-token={valid}&x-gl-token={forged}", nil}, "malformed_token"},
		{"a form field and a forged PHP array", delivery{"/payglocal", form, "x-gl-token={valid}&x-gl-token[]={forged}", nil}, "malformed_token"},
		{"a form field and a forged one in the query", delivery{"/payglocal?x-gl-token={forged}", form, "x-gl-token={valid}", nil}, "malformed_token"},
		{"a JSON field given twice", delivery{"/payglocal", "application/json", `{"x-gl-token":"{valid}","x-gl-token":"{forged}"}`, nil}, "malformed_token"},
		{"the query and a forged form field", delivery{"/query?token={valid}", "text/plain", "token={forged}", nil}, "malformed_token"},

		// Second tokens under the names other parsers read: PHP's $_GET and
		// $_POST (leading spaces dropped, cut at a NUL, ' ', '.' and an
		// unmatched '[' as '_'), Node's qs ([name]), PHP's multipart parser,
		// Python's and Node's JSON parsers (a BOM, UTF-16), Go's encoding/json
		// (keys in any case).
		{"a form field and a forged one with a leading space", delivery{"/payglocal", form, "x-gl-token={valid}&+x-gl-token={forged}", nil}, "malformed_token"},
		{"a form field and a forged one in the query with a leading space", delivery{"/payglocal?%20x-gl-token={forged}", form, "x-gl-token={valid}", nil}, "malformed_token"},
		{"a form field and a forged one cut at a NUL", delivery{"/payglocal", form, "x-gl-token={valid}&x-gl-token%00={forged}", nil}, "malformed_token"},
		{"a form field and a forged qs [name] in the query", delivery{"/payglocal?%5Bx-gl-token%5D={forged}", form, "x-gl-token={valid}", nil}, "malformed_token"},
		{"a form field and a forged one with an unmatched '['", delivery{"/mangled", form, "gl_token={valid}&gl[token={forged}", nil}, "malformed_token"},
		{"a form field and a forged one with a space", delivery{"/mangled", form, "gl_token={valid}&+gl+token={forged}", nil}, "malformed_token"},
		{"the header and a forged part named twice", delivery{"/payglocal", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"y\"; name=\"x-gl-token\"\r\n\r\n{forged}\r\n--b--\r\n", map[string]string{"x-gl-token": "{valid}"}}, "malformed_token"},
		{"the header and a forged part with a bare parameter", delivery{"/payglocal", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=x-gl-token; foo\r\n\r\n{forged}\r\n--b--\r\n", map[string]string{"x-gl-token": "{valid}"}}, "malformed_token"},
		{"the header and a forged part with a bare filename", delivery{"/payglocal", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name=\"x-gl-token\"; filename\r\n\r\n{forged}\r\n--b--\r\n", map[string]string{"x-gl-token": "{valid}"}}, "malformed_token"},
		{"the header and a forged part named in single quotes", delivery{"/payglocal", "multipart/form-data; boundary=b",
			"--b\r\nContent-Disposition: form-data; name='x-gl-token'\r\n\r\n{forged}\r\n--b--\r\n", map[string]string{"x-gl-token": "{valid}"}}, "malformed_token"},
		{"the header and a forged JSON field past a UTF-8 BOM", delivery{"/payglocal", "application/json",
			"\uFEFF{\"x-gl-token\":\"{forged}\"}", map[string]string{"x-gl-token": "{valid}"}}, "malformed_token"},
		{"the header and a forged JSON field in UTF-16", delivery{"/payglocal", "application/json; charset=utf-16le",
			"{utf16:{\"x-gl-token\":\"{forged}\"}}", map[string]string{"x-gl-token": "{valid}"}}, "malformed_token"},
		{"the header and a body declared UTF-7", delivery{"/payglocal", "application/json; charset=utf-7",
			"+AHsAIg-x-gl-token+ACIAOgAi-{forged}+ACIAfQ-", map[string]string{"x-gl-token": "{valid}"}}, "malformed_token"},
		{"a JSON field and a forged one in capitals", delivery{"/payglocal", "application/json", `{"x-gl-token":"{valid}","X-GL-TOKEN":"{forged}"}`, nil}, "malformed_token"},
		{"a JSON field and a forged one under a Unicode fold", delivery{"/payglocal", "application/json", `{"x-gl-token":"{valid}","x-gl-to\u212Aen":"{forged}"}`, nil}, "malformed_token"},
		{"a JSON body with a UTF-8 BOM", delivery{"/payglocal", "application/json", "\uFEFF{\"x-gl-token\":\"{valid}\"}", nil}, ""},
		{"a form field whose name has '_'", delivery{"/mangled", form, "gl_token={valid}", nil}, ""},

		{"a form body sent as text/plain", delivery{"/payglocal", "text/plain", "x-gl-token={valid}", nil}, "missing_token"},
		{"a JSON body sent as a form", delivery{"/payglocal", form, `{"x-gl-token":"{valid}"}`, nil}, "missing_token"},
		{"the forged token alone", delivery{"/payglocal", form, "x-gl-token={forged}", nil}, "alg_not_allowed"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			up.Reset()
			valid := token(jwt.SigningMethodRS256, key.priv, fmt.Sprintf("gl_%d", i))
			expand := strings.NewReplacer("{valid}", valid, "{forged}", forged).Replace
			body := expand(c.d.body)
			if inner, ok := strings.CutPrefix(body, "{utf16:"); ok {
				body = string(utf16LE(strings.TrimSuffix(inner, "}")))
			}
			req := newRequest(t, http.MethodPost, inst.URL+expand(c.d.path), c.d.contentType, body)
			for name, v := range c.d.header {
				req.Header[name] = []string{expand(v)} // as spelled: X_Gl_Token stays
			}
			a := do(t, req)
			if c.reason != "" {
				if a.status != http.StatusUnauthorized || errorReason(t, a) != c.reason {
					t.Fatalf("status %d %s, want 401 %s", a.status, a.body, c.reason)
				}
				if n := up.Count(); n != 0 {
					t.Fatalf("the upstream received %d requests", n)
				}
				return
			}
			if a.status != http.StatusOK {
				t.Fatalf("status %d %s, want 200", a.status, a.body)
			}
			got := up.Received()
			if len(got) != 1 {
				t.Fatalf("the upstream received %d requests, want 1", len(got))
			}
			r := got[0]
			assertHeader(t, r.Header, "X-Callback-Verified", "jwt")
			if string(r.Body) != body {
				t.Errorf("the backend got the body %q, want it as sent", r.Body)
			}
			for name, vals := range r.Header {
				for _, v := range vals {
					if strings.Contains(v, forged) || strings.Contains(name, "_") {
						t.Errorf("the backend got %s: %s", name, v)
					}
				}
			}
			if c.d.path != "/payglocal" {
				return
			}
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(valid, ".")[1])
			assertHeader(t, r.Header, "X-Callback-Claims", base64.RawURLEncoding.EncodeToString(payload))
			assertHeader(t, r.Header, "X-Callback-Event", "SENT_FOR_CAPTURE")
			assertHeader(t, r.Header, "X-Callback-Outcome", "success")
			assertHeader(t, r.Header, "X-Callback-Id", fmt.Sprintf("gl_%d:SENT_FOR_CAPTURE", i))
			var forwarded map[string]any
			raw, _ := base64.RawURLEncoding.DecodeString(r.Header.Get("X-Callback-Claims"))
			if err := json.Unmarshal(raw, &forwarded); err != nil || forwarded["gid"] != fmt.Sprintf("gl_%d", i) {
				t.Errorf("X-Callback-Claims decodes to %v (%v)", forwarded, err)
			}
		})
	}
}

// utf16LE encodes s in UTF-16, little-endian, without a byte order mark.
func utf16LE(s string) []byte {
	units := utf16.Encode([]rune(s))
	out := make([]byte, 0, 2*len(units))
	for _, u := range units {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

// {form.*} reads a body exactly when PHP fills $_POST from it: the
// Content-Type cut at ';', ',' or white space, in any case.
func TestFormTemplateMediaTypeEndToEnd(t *testing.T) {
	up := testcaddy.NewUpstream(t)
	inst := testcaddy.Start(t, fmt.Sprintf(`{
	admin @ADMIN@
}
:@HTTP@ {
	callback_guard generic {
		query_secret key s3cret
		dedupe {form.order}
	}
	reverse_proxy %s
}
`, up.Addr()))
	for i, c := range []struct {
		contentType string
		keyed       bool
	}{
		{"application/x-www-form-urlencoded", true},
		{"Application/X-WWW-Form-Urlencoded;charset=UTF-8", true},
		{"application/x-www-form-urlencoded, text/plain", true},
		{"application/x-www-form-urlencoded text/plain", true},
		{"text/plain", false},
		{"multipart/form-data; boundary=x", false},
	} {
		up.Reset()
		order := fmt.Sprintf("ORD-%d", i)
		a := do(t, newRequest(t, http.MethodPost, inst.URL+"/cb?key=s3cret", c.contentType, "order="+url.QueryEscape(order)))
		if a.status != http.StatusOK || up.Count() != 1 {
			t.Fatalf("%q: status %d, %d forwarded", c.contentType, a.status, up.Count())
		}
		id := up.Received()[0].Header.Get("X-Callback-Id")
		if keyed := id != ""; keyed != c.keyed || keyed && !strings.HasSuffix(id, order) {
			t.Errorf("%q: X-Callback-Id %q, want a key from the form: %v", c.contentType, id, c.keyed)
		}
	}
}
