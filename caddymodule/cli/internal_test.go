package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/callbackguard/callbackguard/config"
)

func TestCommandParseCapture(t *testing.T) {
	for _, tc := range []struct {
		name, raw, body, uri, host, scheme string
		warn                               bool
	}{
		{"exact", "POST /cb?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", "abc", "/cb?a=1", "h", "", false},
		{"LF and a final newline", "POST /cb HTTP/1.1\nHost: h\nContent-Length: 3\n\nabc\n", "abc", "/cb", "h", "", false},
		{"leading blank lines", "\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", "", "/x", "h", "", false},
		{"edited longer", "POST /cb HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcdef\n", "abcdef", "/cb", "h", "", true},
		{"edited shorter", "POST /cb HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc", "abc", "/cb", "h", "", true},
		{"no length", "POST /cb HTTP/1.1\r\nHost: h\r\n\r\n{\"a\":1}", `{"a":1}`, "/cb", "h", "", true},
		{"chunked", "POST /cb HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "abcde", "/cb", "h", "", false},
		{"absolute form", "GET https://Shop.example/c/1?x=%7E&sig=ab HTTP/1.1\r\n\r\n", "", "/c/1?x=%7E&sig=ab", "Shop.example", "https", false},
		{"absolute form, no path", "GET http://h?x=1 HTTP/1.1\r\n\r\n", "", "/?x=1", "h", "http", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCapture([]byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if string(c.body) != tc.body || c.req.RequestURI != tc.uri || c.req.Host != tc.host || c.scheme != tc.scheme {
				t.Errorf("body %q uri %q host %q scheme %q", c.body, c.req.RequestURI, c.req.Host, c.scheme)
			}
			if c.req.ContentLength != int64(len(tc.body)) {
				t.Errorf("ContentLength %d", c.req.ContentLength)
			}
			if (len(c.warnings) > 0) != tc.warn {
				t.Errorf("warnings %q", c.warnings)
			}
		})
	}
	if _, err := parseCapture([]byte("hello")); err == nil || codeOf(err) != exitUsage {
		t.Errorf("garbage: %v", err)
	}
}

func TestCommandRawHTTPRoundTrip(t *testing.T) {
	f := &signFlags{to: "http://Shop.example:8080/glopal/confirmation/DE/O 1?b=2&a=~x", signedURL: "sig=k", id: "x"}
	d, _, err := buildDelivery([]string{"glopal"}, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := d.rawHTTP()
	if err != nil {
		t.Fatal(err)
	}
	// The target is written as signed, not re-escaped by net/url.
	if !bytes.HasPrefix(raw, []byte("GET /glopal/confirmation/DE/O 1?b=2&a=~x&sig=")) {
		t.Errorf("raw %q", raw)
	}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(bytes.Replace(raw, []byte("O 1"), []byte("O%201"), 1))))
	if err != nil || r.Host != "Shop.example:8080" || r.Method != "GET" {
		t.Errorf("read back: %v %+v", err, r)
	}

	for _, tc := range []struct{ url, target string }{
		{"http://h", "/"},
		{"http://h?x=1", "/?x=1"},
		{"https://h:8443/a/b", "/a/b"},
	} {
		d := &delivery{method: "GET", url: tc.url}
		raw, _ := d.rawHTTP()
		if want := "GET " + tc.target + " HTTP/1.1\r\n"; !strings.HasPrefix(string(raw), want) {
			t.Errorf("%s: %q, want %q", tc.url, raw, want)
		}
	}
}

func TestCommandBuildDelivery(t *testing.T) {
	at := "2026-01-02T03:04:05Z"
	d, _, err := buildDelivery([]string{"globiance"}, &signFlags{to: "http://h/w?x=1", querySecret: "token=a b", event: "checkout.completed", id: "C1", at: at}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.url != "http://h/w?x=1&token=a+b" || d.method != "POST" || d.getHeader("Content-Type") != "application/json" {
		t.Errorf("%+v", d)
	}
	var body map[string]any
	if err := json.Unmarshal(d.body, &body); err != nil || body["type"] != "checkout" || body["event"] != "completed" ||
		body["checkoutId"] != "C1" || body["payload"].(map[string]any)["checkoutId"] != "C1" {
		t.Errorf("body %s", d.body)
	}
	// The same flags make the same delivery: a retry.
	d2, _, _ := buildDelivery([]string{"globiance"}, &signFlags{to: "http://h/w?x=1", querySecret: "token=a b", event: "checkout.completed", id: "C1", at: at}, nil)
	if !bytes.Equal(d.body, d2.body) {
		t.Errorf("not deterministic:\n%s\n%s", d.body, d2.body)
	}

	d, _, err = buildDelivery([]string{"generic"}, &signFlags{to: "http://h/", jwtSecret: "s", jwtIn: "query:t", claims: []string{"n:=42", "s=str"}, jwtTTL: caddy.Duration(time.Minute), body: "x=1", bodySet: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.url, "http://h/?t=ey") || string(d.body) != "x=1" || d.getHeader("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("%+v", d)
	}

	for _, tc := range []struct {
		args []string
		f    signFlags
	}{
		{[]string{"glopal"}, signFlags{to: "http://h/", basicAuth: "nocolon"}},
		{[]string{"glopal"}, signFlags{to: "http://h/", basicAuth: "a:b", headers: []string{"Authorization: x"}}},
		{[]string{"globiance"}, signFlags{to: "http://h/", event: "confirmed"}},
		{[]string{"avarda"}, signFlags{to: "http://h/", event: "other"}},
		{[]string{"generic"}, signFlags{to: "http://h/", kid: "k"}},
		{[]string{"generic"}, signFlags{to: "http://h/", jwtSecret: "s", jwtIn: "body:x"}},
		{[]string{"payglocal"}, signFlags{to: "http://h/", jwtSecret: "s", body: "{}", bodySet: true}},
		{[]string{"glopal"}, signFlags{to: "http://h/?sig=1", signedURL: "sig=k"}},
		{[]string{"glopal", "extra"}, signFlags{to: "http://h/"}},
	} {
		if _, _, err := buildDelivery(tc.args, &tc.f, nil); err == nil || codeOf(err) != exitUsage {
			t.Errorf("%v %+v: %v", tc.args, tc.f, err)
		}
	}
}

func TestCommandHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"plain":         "plain",
		"a:b@c/d.e=f":   "a:b@c/d.e=f",
		"it's":          `'it'\''s'`,
		"":              "''",
		"a b":           "'a b'",
		`{"x":"$HOME"}`: `'{"x":"$HOME"}'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[[2]string]string{
		{"http://h/p", "x"}:      "http://h/p?k=x",
		{"http://h/p?", "x"}:     "http://h/p?k=x",
		{"http://h/p?a=1", "x"}:  "http://h/p?a=1&k=x",
		{"http://h/p?a=1&", "/"}: "http://h/p?a=1&k=%2F",
	} {
		if got := appendQuery(in[0], "k", in[1]); got != want {
			t.Errorf("appendQuery(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]int64{
		"2021-11-15T12:56:13Z":     1636980973000,
		"2021-11-15T12:56:13.327Z": 1636980973327,
		"1636980973":               1636980973000,
		"1636980973327":            1636980973327,
	} {
		if got, err := parseAt(in); err != nil || got.UnixMilli() != want {
			t.Errorf("parseAt(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseAt("yesterday"); err == nil {
		t.Error("parseAt accepted yesterday")
	}
	// Duration flags read as Caddy reads a duration.
	var d durationFlag
	if err := d.Set("1d12h"); err != nil || time.Duration(d) != 36*time.Hour {
		t.Errorf("--jwt-ttl 1d12h: %v, %v", time.Duration(d), err)
	}
	if err := d.Set("soon"); err == nil {
		t.Error("a duration flag accepted soon")
	}
}

// The sign command's help describes each preset's sample as the preset
// does.
func TestSignHelpListsEveryPreset(t *testing.T) {
	help := signLong()
	for _, name := range config.PresetNames {
		p, _ := config.LookupPreset(name)
		first, _, _ := strings.Cut(p.Sample.Help, "\n")
		if !strings.Contains(help, fmt.Sprintf("  %-10s %s\n", name, first)) {
			t.Errorf("sign --help lacks %s's sample:\n%s", name, help)
		}
	}
}
