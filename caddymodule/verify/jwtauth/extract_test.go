package jwtauth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callbackguard/callbackguard/caddymodule/verify"
)

func TestToken(t *testing.T) {
	k := testKeys()
	key := []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}
	payglocal := PayGlocalSources()
	const tok = "aaa.bbb.ccc"
	type req struct {
		method, target string
		header         map[string][]string
		body           string
	}
	form := map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}}
	cases := []struct {
		name    string
		sources []Source
		req     req
		want    string // "" when no token
	}{
		{"bearer", nil, req{header: map[string][]string{"Authorization": {"Bearer " + tok}}}, tok},
		{"bearer, any case, extra spaces", nil, req{header: map[string][]string{"Authorization": {"  bEaReR   " + tok + " "}}}, tok},
		{"no scheme", nil, req{header: map[string][]string{"Authorization": {tok}}}, ""},
		{"Basic", nil, req{header: map[string][]string{"Authorization": {"Basic " + tok}}}, ""},
		{"Bearer with a tab", nil, req{header: map[string][]string{"Authorization": {"Bearer\t" + tok}}}, ""},
		{"two Authorization headers", nil, req{header: map[string][]string{"Authorization": {"Bearer " + tok, "Bearer x.y.z"}}}, ""},
		{"default ignores the form", nil, req{header: form, body: "x-gl-token=" + tok}, ""},

		{"form", payglocal, req{header: form, body: "x-gl-token=" + tok}, tok},
		{"form among other fields", payglocal, req{header: form, body: "a=1&x-gl-token=" + tok + "&b=2"}, tok},
		{"form with a charset", payglocal, req{header: map[string][]string{"Content-Type": {"Application/X-WWW-Form-Urlencoded ; charset=UTF-8"}}, body: "x-gl-token=" + tok}, tok},
		{"form, percent-encoded name and value", payglocal, req{header: form, body: "x%2Dgl%2dtoken=aaa%2Ebbb.ccc"}, tok},
		{"form field given twice", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-token=x.y.z"}, ""},
		{"form field given twice, second empty", payglocal, req{header: form, body: "x-gl-token=" + tok + "&x-gl-token="}, ""},
		{"form field with a bad escape", payglocal, req{header: form, body: "x-gl-token=%zz"}, ""},
		{"form field name differs in case", payglocal, req{header: form, body: "X-GL-TOKEN=" + tok}, ""},
		{"form body without a form Content-Type", []Source{{Kind: "form", Name: "x-gl-token"}}, req{body: "x-gl-token=" + tok}, ""},
		{"form body sent as multipart", []Source{{Kind: "form", Name: "x-gl-token"}}, req{header: map[string][]string{"Content-Type": {"multipart/form-data; boundary=x"}}, body: "x-gl-token=" + tok}, ""},
		{"empty form field falls through to the header", payglocal, req{header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Gl-Token": {tok}}, body: "x-gl-token="}, tok},
		{"form wins over the header", payglocal, req{header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Gl-Token": {"x.y.z"}}, body: "x-gl-token=" + tok}, tok},

		{"json", payglocal, req{header: map[string][]string{"Content-Type": {"application/json"}}, body: `{"status":"x","x-gl-token":"` + tok + `"}`}, tok},
		{"json, any Content-Type, whitespace", payglocal, req{body: " {\n \"a\" : [1, {\"b\": null}] , \"x-gl-token\" : \"" + tok + "\" }\n"}, tok},
		{"json, escaped name and value", payglocal, req{body: `{"x\u002Dgl-token":"aaa\u002ebbb\/ccc"}`}, "aaa.bbb/ccc"},
		{"json, nested only", payglocal, req{body: `{"data":{"x-gl-token":"` + tok + `"}}`}, ""},
		{"json, field twice", payglocal, req{body: `{"x-gl-token":"` + tok + `","x-gl-token":"x.y.z"}`}, ""},
		{"json, null then string", payglocal, req{body: `{"x-gl-token":null,"x-gl-token":"` + tok + `"}`}, ""},
		{"json, not a string", payglocal, req{body: `{"x-gl-token":123}`}, ""},
		{"json, null", payglocal, req{body: `{"x-gl-token":null}`}, ""},
		{"json, invalid after the field", payglocal, req{body: `{"x-gl-token":"` + tok + `",}`}, ""},
		{"json, trailing data", payglocal, req{body: `{"x-gl-token":"` + tok + `"} {}`}, ""},
		{"json, an array", payglocal, req{body: `["x-gl-token","` + tok + `"]`}, ""},

		{"header", payglocal, req{header: map[string][]string{"X-Gl-Token": {tok}}}, tok},
		{"header given twice", payglocal, req{header: map[string][]string{"X-Gl-Token": {tok, tok}}}, ""},
		{"query", []Source{{Kind: "query", Name: "token"}}, req{target: "/cb?a=1&token=" + tok}, tok},
		{"query twice", []Source{{Kind: "query", Name: "token"}}, req{target: "/cb?token=" + tok + "&token=" + tok}, ""},
		{"nothing", payglocal, req{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := mustNew(t, Config{Keys: key, Sources: c.sources})
			method, target := c.req.method, c.req.target
			if method == "" {
				method = http.MethodPost
			}
			if target == "" {
				target = "/cb"
			}
			r := httptest.NewRequest(method, target, nil)
			r.Body = noBody{t}
			for h, vals := range c.req.header {
				r.Header[h] = vals
			}
			var body []byte
			if c.req.body != "" {
				body = []byte(c.req.body)
			}
			got, ok := v.Token(r, body)
			if got != c.want || ok != (c.want != "") {
				t.Errorf("Token() = %q, %v; want %q", got, ok, c.want)
			}
			// Verify reports a duplicate as malformed, an absence as missing.
			_, err := run(v, r, body, testNow)
			if reason := reasonOf(t, err); c.want == "" && reason != verify.ReasonMissingToken && reason != verify.ReasonMalformedToken {
				t.Errorf("Verify: %v, want missing_token or malformed_token", err)
			}
		})
	}
}

// The form scanner against url.ParseQuery, the JSON scanner against
// encoding/json: whenever they find a token, the standard library reads the
// same one, and whenever the standard library reads exactly one non-empty
// value, they find it. FuzzJSONField also holds isJSONObject to json.Valid.
func FuzzFormValue(f *testing.F) {
	for _, s := range []string{
		"x-gl-token=aaa.bbb.ccc", "a=1&x-gl-token=t&b", "x-gl-token=a&x-gl-token=b", "x%2Dgl-token=%41",
		"x-gl-token=%zz", "x-gl-token", "&&x-gl-token=+&", "x-gl-token=a;b=c", "x+gl-token=1",
	} {
		f.Add(s)
	}
	const name = "x-gl-token"
	f.Fuzz(func(t *testing.T, q string) {
		got, st := formValue(q, name)
		gotB, stB := formValue([]byte(q), name)
		if got != gotB || st != stB {
			t.Fatalf("string and []byte scans differ: %q/%d vs %q/%d", got, st, gotB, stB)
		}
		vals, err := url.ParseQuery(q)
		if err != nil {
			return // the standard library drops the bad pair: no common ground
		}
		std := vals[name]
		switch {
		case st == present && (len(std) != 1 || std[0] != got):
			t.Fatalf("found %q, url.ParseQuery has %q", got, std)
		case len(std) == 1 && std[0] != "" && (st != present || got != std[0]):
			t.Fatalf("url.ParseQuery has %q, scanner %q/%d", std, got, st)
		case len(std) > 1 && st != ambiguous:
			t.Fatalf("url.ParseQuery has %d values, scanner %q/%d", len(std), got, st)
		}
	})
}

func FuzzJSONField(f *testing.F) {
	for _, s := range []string{
		`{"x-gl-token":"aaa.bbb.ccc"}`, `{"a":[1,-2.5e3,{"b":null}],"x-gl-token":"t"}`, `{"x-gl-token":"a","x-gl-token":"b"}`,
		`{"x\u002dgl-token":"\u0041\/"}`, `{"x-gl-token":1}`, `{"x-gl-token":null}`, ` {} `, `[]`, `{"a":01}`,
		`{"a":"\x01"}`, `{"a":tru}`, `{"x-gl-token":"t"}x`, `{"a":1.}`, `{"a":1e}`, `{"a":-}`, `{"a":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	const name = "x-gl-token"
	f.Fuzz(func(t *testing.T, b []byte) {
		// The object check of signedPayload is json.Valid for objects.
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		if want := json.Valid(b) && len(trimmed) > 0 && trimmed[0] == '{'; isJSONObject(b) != want {
			t.Fatalf("isJSONObject = %v, json.Valid says %v", !want, want)
		}
		got, st := jsonField(b, name)
		var m map[string]any
		err := json.Unmarshal(b, &m)
		if st != absent && (err != nil || m == nil) {
			t.Fatalf("scanner %q/%d on a body encoding/json refuses (%v)", got, st, err)
		}
		if err != nil || m == nil {
			return
		}
		std, isString := m[name].(string)
		switch {
		case st == present && (!isString || std != got):
			t.Fatalf("found %q, encoding/json has %#v", got, m[name])
		case isString && std != "" && st == absent:
			t.Fatalf("encoding/json has %q, scanner finds nothing", std)
		case isString && st == ambiguous:
			// a duplicate key: encoding/json kept the last one
		}
	})
}

// Nesting at encoding/json's limit, which the fuzzer does not reach.
func TestJSONDepthLimitMatchesEncodingJSON(t *testing.T) {
	for _, n := range []int{9998, 9999, 10000, 10001} {
		doc := []byte(`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `,"x-gl-token":"t"}`)
		valid := json.Valid(doc)
		if got := isJSONObject(doc); got != valid {
			t.Errorf("depth %d: isJSONObject %v, json.Valid %v", n+1, got, valid)
		}
		if _, st := jsonField(doc, "x-gl-token"); (st == present) != valid {
			t.Errorf("depth %d: jsonField %d, json.Valid %v", n+1, st, valid)
		}
	}
}

// Tokens found in the body are read in place (extract does not copy them),
// but what escapes does not share the body's memory: Token's result and
// Verify's ClaimsJSON survive the caller reusing its buffer.
func TestNothingKeptSharesTheBody(t *testing.T) {
	k := testKeys()
	v := mustNew(t, Config{Sources: PayGlocalSources(), Keys: []Key{{ID: "k1", Key: &k.rsa1.PublicKey}}, Leeway: time.Minute})
	tok := sign(t, "RS256", k.rsa1, hdr("RS256", "k1"), freshClaims())
	for _, mk := range []func(testing.TB, string, string) (*http.Request, []byte){formPost, jsonPost} {
		r, body := mk(t, "x-gl-token", tok)
		orig := string(body)
		got, ok := v.Token(r, body)
		out, err := run(v, r, body, testNow)
		if !ok || got != tok || err != nil {
			t.Fatalf("Token %v, Verify %v", ok, err)
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
