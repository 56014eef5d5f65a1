package jwtauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

// The token's field name may occur once in the whole request; the body is
// read as a form and as JSON whatever its Content-Type; the token is taken
// from the body only when the media type, as PHP reads it, says form or
// JSON.
func TestToken(t *testing.T) {
	k := testKeys()
	key := []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}
	payglocal := payglocalSources()
	const tok = "aaa.bbb.ccc"
	const forged = "xxx.yyy.zzz"
	type req struct {
		target string
		header map[string][]string
		body   string
	}
	ct := func(v string) map[string][]string { return map[string][]string{"Content-Type": {v}} }
	with := func(h map[string][]string, name string, vals ...string) map[string][]string {
		out := map[string][]string{name: vals}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	form := ct("application/x-www-form-urlencoded")
	jsonCT := ct("application/json")
	mp := ct("multipart/form-data; boundary=b")
	const missing, malformed = verify.ReasonMissingToken, verify.ReasonMalformedToken
	cases := []struct {
		name    string
		sources []Source
		req     req
		want    string        // the token, when found
		reason  verify.Reason // otherwise
	}{
		{"bearer", nil, req{header: map[string][]string{"Authorization": {"Bearer " + tok}}}, tok, ""},
		{"bearer, any case, extra spaces", nil, req{header: map[string][]string{"Authorization": {"  bEaReR   " + tok + " "}}}, tok, ""},
		{"no scheme", nil, req{header: map[string][]string{"Authorization": {tok}}}, "", missing},
		{"Basic", nil, req{header: map[string][]string{"Authorization": {"Basic " + tok}}}, "", missing},
		{"Bearer with a tab", nil, req{header: map[string][]string{"Authorization": {"Bearer\t" + tok}}}, "", missing},
		{"two Authorization headers", nil, req{header: map[string][]string{"Authorization": {"Bearer " + tok, "Bearer x.y.z"}}}, "", malformed},
		{"default ignores a form field of another name", nil, req{header: form, body: "x-gl-token=" + tok}, "", missing},

		{"form", payglocal, req{header: form, body: "x-gl-token=" + tok}, tok, ""},
		{"form among other fields", payglocal, req{header: form, body: "a=1&x-gl-token=" + tok + "&b=2"}, tok, ""},
		{"form with a charset", payglocal, req{header: ct("Application/X-WWW-Form-Urlencoded ; charset=UTF-8"), body: "x-gl-token=" + tok}, tok, ""},
		{"form media type cut at a comma, as PHP does", payglocal, req{header: ct("application/x-www-form-urlencoded, text/plain"), body: "x-gl-token=" + tok}, tok, ""},
		{"form, percent-encoded name and value", payglocal, req{header: form, body: "x%2Dgl%2dtoken=aaa%2Ebbb.ccc"}, tok, ""},
		{"form field given twice", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-token=" + forged}, "", malformed},
		{"form field given twice, second empty", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-token="}, "", malformed},
		{"form field given twice, the second percent-encoded", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-%74oken=" + forged}, "", malformed},
		{"form field and a PHP array of that name", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-token[]=" + forged}, "", malformed},
		{"a PHP array alone", payglocal, req{header: form, body: "x-gl-token[a]=" + tok}, "", malformed},
		{"form field with a bad escape", payglocal, req{header: form, body: "x-gl-token=%zz"}, "", malformed},
		{"form field empty", payglocal, req{header: form, body: "x-gl-token="}, "", missing},
		{"form field name differs in case", payglocal, req{header: form, body: "X-GL-TOKEN=" + tok}, "", missing},
		{"form body without a form Content-Type", []Source{{Kind: "form", Name: "x-gl-token"}}, req{body: "x-gl-token=" + tok}, "", missing},
		{"form body sent as text/plain", payglocal, req{header: ct("text/plain"), body: "x-gl-token=" + tok}, "", missing},
		{"form body sent as multipart", payglocal, req{header: ct("multipart/form-data; boundary=x"), body: "x-gl-token=" + tok}, "", missing},
		{"form body sent as JSON", payglocal, req{header: jsonCT, body: "x-gl-token=" + tok}, "", missing},
		{"empty form field and the header", payglocal, req{header: with(form, "X-Gl-Token", tok), body: "x-gl-token="}, "", malformed},
		{"form field and the header", payglocal, req{header: with(form, "X-Gl-Token", tok), body: "x-gl-token=" + forged}, "", malformed},
		{"header and a form body under a form type PHP reads", payglocal, req{header: with(ct("application/x-www-form-urlencoded, text/plain"), "X-Gl-Token", tok), body: "x-gl-token=" + forged}, "", malformed},
		{"header and a form field in a text/plain body", payglocal, req{header: with(ct("text/plain"), "X-Gl-Token", tok), body: "x-gl-token=" + forged}, "", malformed},
		{"form field and the query", payglocal, req{target: "/cb?x-gl-token=" + forged, header: form, body: "x-gl-token=" + tok}, "", malformed},
		{"form field with PHP's mangled name", []Source{{Kind: "form", Name: "gl_token"}}, req{header: form, body: "gl_token=" + tok + "&gl.token=" + forged}, "", malformed},

		// Names as PHP registers them: leading spaces dropped, cut at a NUL,
		// ' ', '.' and an unmatched '[' as '_'; and as Node's qs reads them.
		{"form field and a leading-space spelling PHP reads", payglocal, req{header: form, body: "x-gl-token=" + tok + "&+x-gl-token=" + forged}, "", malformed},
		{"form field and a query parameter with a leading space", payglocal, req{target: "/cb?%20x-gl-token=" + forged, header: form, body: "x-gl-token=" + tok}, "", malformed},
		{"form field and one cut at a NUL by PHP", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-token%00=" + forged}, "", malformed},
		{"form field and one cut at a NUL, then a bad escape", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-token%00%zz=" + forged}, "", malformed},
		{"form field and a PHP array with a bad escape", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-token[%zz]=" + forged}, "", malformed},
		{"form field and an unmatched '[' PHP reads as '_'", []Source{{Kind: "form", Name: "gl_token"}}, req{header: form, body: "gl_token=" + tok + "&gl[token=" + forged}, "", malformed},
		{"form field and ' ' and '.' PHP read as '_'", []Source{{Kind: "form", Name: "x_gl_token"}}, req{header: form, body: "x_gl_token=" + tok + "&x.gl+token=" + forged}, "", malformed},
		{"form field and a qs [name] in the query", payglocal, req{target: "/cb?[x-gl-token]=" + forged, header: form, body: "x-gl-token=" + tok}, "", malformed},
		{"form field and a qs object name[a[b]", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-token[a[b]=" + forged}, "", malformed},
		{"a spelling only PHP reads is no token", payglocal, req{header: form, body: "+x-gl-token=" + tok}, "", missing},
		{"a qs [name] alone is no token", payglocal, req{header: form, body: "[x-gl-token]=" + tok}, "", missing},
		{"a form field named like it is not one", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-tokens=" + forged + "&[x-gl-token=" + forged + "&%00x-gl-token=" + forged}, tok, ""},

		{"json", payglocal, req{header: jsonCT, body: `{"status":"x","x-gl-token":"` + tok + `"}`}, tok, ""},
		{"json with a +json type", payglocal, req{header: ct("application/vnd.api+json"), body: `{"x-gl-token":"` + tok + `"}`}, tok, ""},
		{"header and a multipart part of that name", payglocal, req{header: with(ct("multipart/form-data; boundary=b"), "X-Gl-Token", tok), body: multipartBody("x-gl-token", forged)}, "", malformed},
		{"header and a multipart part under a type Go refuses", payglocal, req{header: with(ct("multipart/form-data, text/plain; boundary=b"), "X-Gl-Token", tok), body: multipartBody("x-gl-token", forged)}, "", malformed},
		{"header and a multipart PHP array", payglocal, req{header: with(ct("multipart/form-data; boundary=b"), "X-Gl-Token", tok), body: multipartBody("x-gl-token[]", forged)}, "", malformed},
		{"a multipart part alone is no token", payglocal, req{header: ct("multipart/form-data; boundary=b"), body: multipartBody("x-gl-token", tok)}, "", missing},
		{"header and a multipart part of another name", payglocal, req{header: with(ct("multipart/form-data; boundary=b"), "X-Gl-Token", tok), body: multipartBody("other", forged)}, tok, ""},
		{"header and a part named twice, which Go cannot parse", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: multipartRaw(`form-data; name="y"; name="x-gl-token"`, forged)}, "", malformed},
		{"header and a part with a bare parameter", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: multipartRaw(`form-data; name=x-gl-token; foo`, forged)}, "", malformed},
		{"header and a part with a bare filename", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: multipartRaw(`form-data; name="x-gl-token"; filename`, forged)}, "", malformed},
		{"header and a part of another disposition type", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: multipartRaw(`attachment; name="x-gl-token"`, forged)}, "", malformed},
		{"header and a part named in single quotes, as PHP reads it", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: multipartRaw(`form-data; NAME='x-gl-token'`, forged)}, "", malformed},
		{"header and a part named with a leading space", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: multipartRaw(`form-data; name=" x-gl-token"`, forged)}, "", malformed},
		{"header and a part named in RFC 2231 form", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: multipartRaw(`form-data; name*=UTF-8''x-gl-token`, forged)}, "", malformed},
		{"header and a part with two Content-Dispositions", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: multipartRaw("form-data; name=\"a\"\r\nContent-Disposition: form-data; name=\"x-gl-token\"", forged)}, "", malformed},
		{"header and a part header Go cannot read", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: multipartRaw("form-data; name=\"a\"\r\nno colon", forged)}, "", malformed},
		{"header and a part with a spaced Content-Disposition name", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: "--b\r\nContent-Disposition : form-data; name=\"x-gl-token\"\r\n\r\n" + forged + "\r\n--b--\r\n"}, "", malformed},
		{"header and a part whose quoted name holds a ';'", payglocal, req{header: with(mp, "X-Gl-Token", tok), body: multipartRaw(`form-data; name="a;name=x-gl-token"`, forged)}, tok, ""},

		// JSON as Python's json.loads and Node's body-parser read it: past a
		// UTF-8 byte order mark, in UTF-16 or UTF-32, keys matched by Go in
		// any case.
		{"json with a UTF-8 BOM", payglocal, req{header: jsonCT, body: "\uFEFF{\"x-gl-token\":\"" + tok + "\"}"}, tok, ""},
		{"header and json with a UTF-8 BOM", payglocal, req{header: with(jsonCT, "X-Gl-Token", tok), body: "\uFEFF{\"x-gl-token\":\"" + forged + "\"}"}, "", malformed},
		{"header and json in UTF-16LE", payglocal, req{header: with(jsonCT, "X-Gl-Token", tok), body: utf16LE(`{"x-gl-token":"` + forged + `"}`)}, "", malformed},
		{"header and json in UTF-16BE with a BOM", payglocal, req{header: with(jsonCT, "X-Gl-Token", tok), body: utf16BE("\uFEFF" + `{"x-gl-token":"` + forged + `"}`)}, "", malformed},
		{"header and json in UTF-32LE", payglocal, req{header: with(jsonCT, "X-Gl-Token", tok), body: utf32LE(` {"x-gl-token":"` + forged + `"}`)}, "", malformed},
		{"json in UTF-16LE with the field twice", payglocal, req{header: jsonCT, body: utf16LE(`{"x-gl-token":"` + tok + `","x-gl-token":"` + forged + `"}`)}, "", malformed},
		{"json with the key in another case", payglocal, req{header: jsonCT, body: `{"x-gl-token":"` + tok + `","X-GL-TOKEN":"` + forged + `"}`}, "", malformed},
		{"json with the key under a Unicode fold (Kelvin sign)", payglocal, req{header: jsonCT, body: `{"x-gl-token":"` + tok + `","x-gl-to\u212Aen":"` + forged + `"}`}, "", malformed},
		{"header and json in UTF-7", payglocal, req{header: with(ct("application/json; charset=utf-7"), "X-Gl-Token", tok), body: "+AHsAIg-x-gl-token+ACIAOgAi-" + forged + "+ACIAfQ-"}, "", malformed},
		{"header and a body declared UTF-7-IMAP, quoted", payglocal, req{header: with(ct(`application/json;CHARSET="UTF-7-IMAP"`), "X-Gl-Token", tok), body: "&AHsAIg-x-gl-token&ACIAOgAi-" + forged + "&ACIAfQ-"}, "", malformed},
		{"header and json declared UTF-8", payglocal, req{header: with(ct("application/json; charset=utf-8"), "X-Gl-Token", tok), body: `{"a":1}`}, tok, ""},
		{"json with the key in another case alone is no token", payglocal, req{header: jsonCT, body: `{"X-Gl-Token":"` + tok + `"}`}, "", missing},
		{"json, whitespace", payglocal, req{header: jsonCT, body: " {\n \"a\" : [1, {\"b\": null}] , \"x-gl-token\" : \"" + tok + "\" }\n"}, tok, ""},
		{"json, escaped name and value", payglocal, req{header: jsonCT, body: `{"x\u002Dgl-token":"aaa\u002ebbb\/ccc"}`}, "aaa.bbb/ccc", ""},
		{"json, invalid UTF-8 decoded as encoding/json does", payglocal, req{header: jsonCT, body: "{\"x-gl-token\":\"\x9c\"}"}, "\uFFFD", ""},
		{"json without a JSON Content-Type", payglocal, req{body: `{"x-gl-token":"` + tok + `"}`}, "", missing},
		{"json sent as a form", payglocal, req{header: form, body: `{"x-gl-token":"` + tok + `"}`}, "", missing},
		{"json, nested only", payglocal, req{header: jsonCT, body: `{"data":{"x-gl-token":"` + tok + `"}}`}, "", missing},
		{"json, field twice", payglocal, req{header: jsonCT, body: `{"x-gl-token":"` + tok + `","x-gl-token":"` + forged + `"}`}, "", malformed},
		{"json, null then string", payglocal, req{header: jsonCT, body: `{"x-gl-token":null,"x-gl-token":"` + tok + `"}`}, "", malformed},
		{"json, not a string", payglocal, req{header: jsonCT, body: `{"x-gl-token":123}`}, "", malformed},
		{"json, null", payglocal, req{header: jsonCT, body: `{"x-gl-token":null}`}, "", missing},
		{"json, invalid", payglocal, req{header: jsonCT, body: `{"x-gl-token":"` + tok + `",}`}, "", missing},
		{"json, trailing data", payglocal, req{header: jsonCT, body: `{"x-gl-token":"` + tok + `"} {}`}, "", missing},
		{"json, an array", payglocal, req{header: jsonCT, body: `["x-gl-token","` + tok + `"]`}, "", missing},
		{"json with a form field in a string", payglocal, req{header: jsonCT, body: `{"x-gl-token":"` + tok + `","note":"&x-gl-token=` + forged + `&"}`}, "", malformed},
		{"json and the header", payglocal, req{header: with(jsonCT, "X-Gl-Token", forged), body: `{"x-gl-token":"` + tok + `"}`}, "", malformed},

		{"header", payglocal, req{header: map[string][]string{"X-Gl-Token": {tok}}}, tok, ""},
		{"header given twice", payglocal, req{header: map[string][]string{"X-Gl-Token": {tok, tok}}}, "", malformed},
		{"header with underscores, as PHP reads it", payglocal, req{header: map[string][]string{"X_gl_token": {tok}}}, tok, ""},
		{"header and its underscore spelling", payglocal, req{header: map[string][]string{"X-Gl-Token": {tok}, "X_gl_token": {forged}}}, "", malformed},
		{"header in the query", payglocal, req{target: "/cb?x-gl-token=" + tok}, "", missing},
		{"query", []Source{{Kind: "query", Name: "token"}}, req{target: "/cb?a=1&token=" + tok}, tok, ""},
		{"query twice", []Source{{Kind: "query", Name: "token"}}, req{target: "/cb?token=" + tok + "&token=" + tok}, "", malformed},
		{"query and a form field of a text/plain body", []Source{{Kind: "query", Name: "token"}}, req{target: "/cb?token=" + tok, header: ct("text/plain"), body: "token=" + forged}, "", malformed},
		{"two configured names, both present", []Source{{Kind: "query", Name: "token"}, {Kind: "header", Name: "X-Token"}}, req{target: "/cb?token=" + tok, header: map[string][]string{"X-Token": {forged}}}, "", malformed},
		{"nothing", payglocal, req{}, "", missing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustNew(t, Config{Keys: key, Sources: c.sources})
			target := c.req.target
			if target == "" {
				target = "/cb"
			}
			r := httptest.NewRequest(http.MethodPost, target, nil)
			r.Body = noBody{t}
			for h, vals := range c.req.header {
				r.Header[h] = vals
			}
			var body []byte
			if c.req.body != "" {
				body = []byte(c.req.body)
			}
			got, f := v.token(r, body)
			if c.want != "" {
				if f != nil || got != c.want {
					t.Fatalf("token() = %q, %v; want %q", got, f, c.want)
				}
				return
			}
			if f == nil || f.Reason != c.reason {
				t.Fatalf("token() = %q, %v; want %s", got, f, c.reason)
			}
			// Verify reports the same.
			if _, err := run(v, r, body, testNow); reasonOf(t, err) != c.reason {
				t.Errorf("Verify: %v, want %s", err, c.reason)
			}
		})
	}
}

// multipartBody is a multipart/form-data body, boundary "b", of one field.
func multipartBody(name, value string) string {
	return "--b\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n--b--\r\n"
}

// multipartRaw is a multipart/form-data body, boundary "b", of one part
// whose Content-Disposition is cd.
func multipartRaw(cd, value string) string {
	return "--b\r\nContent-Disposition: " + cd + "\r\n\r\n" + value + "\r\n--b--\r\n"
}

func utf16LE(s string) string {
	return encodeTo(unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), s)
}
func utf16BE(s string) string {
	return encodeTo(unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), s)
}
func utf32LE(s string) string { return encodeTo(utf32.UTF32(utf32.LittleEndian, utf32.IgnoreBOM), s) }

func encodeTo(e encoding.Encoding, s string) string {
	out, err := e.NewEncoder().String(s)
	if err != nil {
		panic(err)
	}
	return out
}

// Nesting at encoding/json's limit and past it: a body too deep to be JSON
// holds no JSON field, and costs no more than reading it.
func TestTokenDeepJSON(t *testing.T) {
	k := testKeys()
	v := mustNew(t, Config{Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}, Sources: payglocalSources()})
	for _, n := range []int{9999, 10000, 1 << 20} {
		body := []byte(`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `,"x-gl-token":"a.b.c"}`)
		r := httptest.NewRequest(http.MethodPost, "/cb", nil)
		r.Header.Set("Content-Type", "application/json")
		tok, f := v.token(r, body)
		if valid := json.Valid(body); (f == nil) != valid || (valid && tok != "a.b.c") {
			t.Errorf("depth %d: token %q, %v; json.Valid %v", n+1, tok, f, valid)
		}
	}
}

// The form reading counts what url.ParseQuery reads: whenever the standard
// library sees the name more than once, the guard rejects the request, and
// whenever it sees exactly one non-empty value, the guard finds that value
// or rejects the request.
func FuzzTokenForm(f *testing.F) {
	for _, s := range []string{
		"x-gl-token=aaa.bbb.ccc", "a=1&x-gl-token=t&b", "x-gl-token=a&x-gl-token=b", "x%2Dgl-token=%41",
		"x-gl-token=%zz", "x-gl-token", "&&x-gl-token=+&", "x-gl-token=a;b=c", "x+gl-token=1", "x-gl-token[]=1",
	} {
		f.Add(s)
	}
	k := testKeys()
	v := mustNew(f, Config{Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}, Sources: []Source{{Kind: "form", Name: "x-gl-token"}}})
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest(http.MethodPost, "/cb", nil)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		tok, fail := v.token(r, []byte(q))
		vals, err := url.ParseQuery(q)
		if err != nil {
			return // the standard library drops the bad pair: no common ground
		}
		std := vals["x-gl-token"]
		switch {
		case len(std) > 1 && fail == nil:
			t.Fatalf("url.ParseQuery has %d values, the guard took %q", len(std), tok)
		case fail == nil && (len(std) != 1 || std[0] != tok):
			t.Fatalf("the guard took %q, url.ParseQuery has %q", tok, std)
		case len(std) == 1 && std[0] != "" && fail != nil && fail.Reason != verify.ReasonMalformedToken:
			t.Fatalf("url.ParseQuery has %q, the guard: %v", std, fail)
		}
	})
}

// The token and the claims share no memory with the body: they survive the
// caller reusing its buffer.
func TestNothingKeptSharesTheBody(t *testing.T) {
	k := testKeys()
	v := mustNew(t, Config{Sources: payglocalSources(), Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}, Leeway: time.Minute})
	tok := sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), freshClaims())
	for _, mk := range []func(testing.TB, string, string) (*http.Request, []byte){formPost, jsonPost} {
		r, body := mk(t, "x-gl-token", tok)
		orig := string(body)
		got, f := v.token(r, body)
		out, err := run(v, r, body, testNow)
		if f != nil || got != tok || err != nil {
			t.Fatalf("token %v, Verify %v", f, err)
		}
		if string(body) != orig {
			t.Fatalf("the body was modified")
		}
		claims := string(out.ClaimsJSON)
		for i := range body {
			body[i] = 'x'
		}
		if got != tok || string(out.ClaimsJSON) != claims {
			t.Errorf("the token or the claims share the body's memory")
		}
	}
}
